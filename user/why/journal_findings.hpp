// SPDX-License-Identifier: GPL-2.0-only
// What a `watch` journal says about nfsleuth itself: the disagreements with
// the kernel's own counters it recorded (counter_mismatch events), for
// `doctor` to report after the fact.
#pragma once
#include <nlohmann/json.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <istream>
#include <optional>
#include <string>
#include <vector>

namespace nfsleuth {

// Where the packaged service (packaging/nfsleuth.default) keeps its journal.
inline constexpr const char* kPackagedJournal = "/var/log/nfsleuth/events.jsonl";

// The journal a reader takes: the one given, else the packaged daemon's
// when it exists, else none.
std::optional<std::string> journal_to_read(const std::optional<std::string>& given);

// A journal's files in the order they were written: the rotated FILE.N ..
// FILE.1 that exist, then FILE itself; each listed whatever it is, for the
// caller to open (JournalInput) or refuse.
std::vector<std::string> journal_files_oldest_first(const std::string& path);

// Gives each of a journal's files, oldest first, to `read`. FILE itself
// must open as a regular file (else Failure, with `remedy`); a rotated file
// that does not is passed over, its reason given to `passed_over`.
void read_journal_files(const std::string& path, const std::function<void(std::istream&)>& read,
                        const std::function<void(const std::string& reason)>& passed_over, const char* remedy);

struct MismatchHistory {
    static constexpr std::size_t kKept = 3;
    uint64_t mismatches = 0;                  // counter_mismatch events read
    uint64_t skipped_lines = 0;               // lines too long or not JSON objects, among the candidates
    std::deque<nlohmann::ordered_json> last;  // the newest kKept of them, oldest first
};

// Adds the counter_mismatch events of one journal file. Only lines naming
// the event are parsed, and none longer than a journal line can be.
void read_mismatches(std::istream& journal, MismatchHistory& history);

// One line per event kept, for people: "TS netns N (NAME): DETAIL".
std::string describe_mismatch(const nlohmann::ordered_json& event);

}  // namespace nfsleuth
