// SPDX-License-Identifier: GPL-2.0-only
// Where the daemon's events go: its journal, stdout (JSON or terminal
// lines, nothing with --quiet), and for warnings stderr too.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/cli.hpp"
#include "daemon/journal.hpp"

namespace nfsleuth {

class DaemonOutput {
public:
    // Opens the journal of --journal (throws Failure for an unusable one).
    DaemonOutput(const CommonOptions& options, const WatchOptions& watch);

    // An event: to the journal, and to stdout unless --quiet.
    void emit(const nlohmann::ordered_json& event, const std::string& human);
    // An event also said on stderr whatever the output mode; stdout gets the
    // JSON only (a terminal reader has seen it on stderr).
    void warn(const nlohmann::ordered_json& event, const std::string& human);
    // The exit summary: to the journal, and to stdout unless --quiet.
    void summary(const nlohmann::ordered_json& summary, const std::string& human);
    // Writes out stdout and the journal (fsync when due); called after each batch.
    void flush();
    // SIGHUP: the journal reopened after an outside rotation.
    void reopen();

    const Journal* journal() const { return journal_.get(); }

private:
    bool json_;
    bool quiet_;
    std::unique_ptr<Journal> journal_;
};

}  // namespace nfsleuth
