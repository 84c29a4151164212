// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include "cli/cli.hpp"
#include "common/error.hpp"

namespace nfsleuth {

// Traces conntrack drops until Ctrl-C/SIGTERM or --duration; returns the exit code.
ExitCode run_drops(const CommonOptions& options, const DropOptions& drop_options);

}  // namespace nfsleuth
