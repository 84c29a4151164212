// SPDX-License-Identifier: GPL-2.0-only
#include "daemon/daemon_output.hpp"

#include <chrono>
#include <iostream>

#include "common/json_line.hpp"

namespace nfsleuth {

DaemonOutput::DaemonOutput(const CommonOptions& options, const WatchOptions& watch)
    : json_(options.json), quiet_(watch.quiet) {
    if (!watch.journal) return;
    JournalOptions jo;
    jo.path = *watch.journal;
    jo.max_bytes = watch.journal_max_bytes;
    jo.keep = watch.journal_keep;
    jo.fsync_interval = std::chrono::milliseconds(static_cast<int64_t>(watch.journal_fsync_s * 1000));
    journal_ = std::make_unique<Journal>(jo);
    if (journal_->stats().torn_bytes_repaired)
        std::cerr << "nfsleuth: warning: cut " << journal_->stats().torn_bytes_repaired
                  << " bytes of a partly written last line from " << jo.path << "\n";
}

void DaemonOutput::emit(const nlohmann::ordered_json& event, const std::string& human) {
    if (journal_) journal_->append(json_line(event));
    if (!quiet_) std::cout << (json_ ? json_line(event) : human) << '\n';
}

void DaemonOutput::warn(const nlohmann::ordered_json& event, const std::string& human) {
    std::cerr << human << std::endl;
    if (journal_) journal_->append(json_line(event));
    if (json_ && !quiet_) std::cout << json_line(event) << '\n';
}

void DaemonOutput::summary(const nlohmann::ordered_json& summary, const std::string& human) {
    if (journal_) {
        journal_->append(json_line(summary));
        journal_->flush();
    }
    if (!quiet_) std::cout << (json_ ? json_line(summary) : human) << std::endl;
}

void DaemonOutput::flush() {
    std::cout.flush();
    if (!journal_) return;
    if (!journal_->flush() || !journal_->sync_if_due(std::chrono::steady_clock::now()))
        std::cerr << "nfsleuth: warning: journal: " << journal_->last_error() << "\n";
}

void DaemonOutput::reopen() {
    if (journal_ && !journal_->reopen()) std::cerr << "nfsleuth: warning: journal: " << journal_->last_error() << "\n";
}

}  // namespace nfsleuth
