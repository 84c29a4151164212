// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include "cli/cli.hpp"
#include "common/error.hpp"

namespace nfsleuth {

// Traces module events until Ctrl-C/SIGTERM or --duration; returns the exit code.
ExitCode run_modules(const CommonOptions& options);

}  // namespace nfsleuth
