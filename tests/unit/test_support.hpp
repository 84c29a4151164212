// SPDX-License-Identifier: GPL-2.0-only
// Helpers the unit tests share.
#pragma once
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

#include "common/error.hpp"
#include "process/cgroup_identity.hpp"

namespace nfsleuth_test {

// A new directory under /tmp ("/tmp/PREFIX-XXXXXX"), removed with all it
// holds when this goes.
class TempDir {
public:
    explicit TempDir(const std::string& prefix) {
        std::string pattern = "/tmp/" + prefix + "-XXXXXX";
        if (!::mkdtemp(pattern.data())) throw std::runtime_error("cannot create " + pattern);
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

// A cgroup as the resolver makes it from a path.
inline nfsleuth::CgroupIdentity cgroup_at(const std::string& path) {
    return {path, nfsleuth::parse_cgroup_path(path)};
}

// The Failure `fn` throws (the test fails if it throws none).
template <class Fn>
nfsleuth::Failure failure_of(Fn fn) {
    try {
        fn();
    } catch (const nfsleuth::Failure& f) {
        return f;
    }
    ADD_FAILURE() << "no Failure thrown";
    return nfsleuth::Failure(nfsleuth::ExitCode::ok, "");
}

}  // namespace nfsleuth_test
