// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include <stdexcept>
#include <string>

namespace nfsleuth {

// The process exit codes are part of the CLI contract.
enum class ExitCode : int {
    ok = 0,
    failure = 1,
    usage = 2,
    unsupported = 3,  // the kernel lacks what the command needs
    privilege = 4,    // missing capabilities
};

// A fatal condition: one sentence saying what is wrong, and the remedy.
class Failure : public std::runtime_error {
public:
    Failure(ExitCode code, const std::string& what, std::string remedy = {})
        : std::runtime_error(what), code_(code), remedy_(std::move(remedy)) {}
    ExitCode code() const noexcept { return code_; }
    const std::string& remedy() const noexcept { return remedy_; }

private:
    ExitCode code_;
    std::string remedy_;
};

// "Operation not permitted (EPERM)" for an errno value, also a negative
// one as libbpf returns them.
std::string describe_errno(int err);

}  // namespace nfsleuth
