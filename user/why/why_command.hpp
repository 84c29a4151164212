// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include <optional>
#include <string>

#include "cli/cli.hpp"
#include "common/error.hpp"

namespace nfsleuth {

// Explains why MODULE is loaded or active, and what to do about it.
ExitCode run_why(const CommonOptions& options, const WhyOptions& why);

}  // namespace nfsleuth
