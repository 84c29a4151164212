// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include "cli/cli.hpp"
#include "common/error.hpp"

namespace nfsleuth {

// The daemon: module events, drops, conntrack activation and pressure together, with
// metrics and a journal, until SIGINT/SIGTERM or --duration.
ExitCode run_watch(const CommonOptions& options, const DropOptions& drop_options, const WatchOptions& watch);

}  // namespace nfsleuth
