// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include "cli/cli.hpp"
#include "common/error.hpp"

namespace nfsleuth {

// Probes the kernel and prints the report; returns the exit code.
ExitCode run_doctor(const CommonOptions& options, const DoctorOptions& doctor);

}  // namespace nfsleuth
