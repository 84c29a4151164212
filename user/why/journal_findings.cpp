// SPDX-License-Identifier: GPL-2.0-only
#include "why/journal_findings.hpp"

#include <filesystem>
#include <string_view>

#include "common/error.hpp"
#include "common/text.hpp"
#include "why/journal_input.hpp"

namespace nfsleuth {

namespace {

// Rotated journals looked for: FILE.1 .. FILE.N (watch keeps 5 by default).
constexpr int kMaxRotatedJournals = 20;

// The fields of a counter_mismatch event, as scalars only: nothing nested
// from the file is copied.
nlohmann::ordered_json mismatch_fields(const nlohmann::ordered_json& ev) {
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    for (const char* k : {"ts", "netns", "netns_name", "counter", "direction", "kernel_min", "kernel_max", "nfsleuth",
                          "message"}) {
        auto it = ev.find(k);
        if (it != ev.end() && (it->is_string() || it->is_number())) out[k] = *it;
    }
    return out;
}

std::string field_text(const nlohmann::ordered_json& ev, const char* key) {
    auto it = ev.find(key);
    if (it == ev.end()) return "?";
    return it->is_string() ? it->get<std::string>() : it->dump();
}

}  // namespace

std::optional<std::string> journal_to_read(const std::optional<std::string>& given) {
    if (given) return given;
    std::error_code ec;
    if (std::filesystem::exists(kPackagedJournal, ec)) return std::string(kPackagedJournal);
    return std::nullopt;
}

std::vector<std::string> journal_files_oldest_first(const std::string& path) {
    std::vector<std::string> files;
    for (int n = kMaxRotatedJournals; n >= 1; --n) {
        std::string rotated = path + "." + std::to_string(n);
        std::error_code ec;
        if (std::filesystem::exists(std::filesystem::symlink_status(rotated, ec))) files.push_back(rotated);
    }
    files.push_back(path);
    return files;
}

void read_journal_files(const std::string& path, const std::function<void(std::istream&)>& read,
                        const std::function<void(const std::string& reason)>& passed_over, const char* remedy) {
    for (const auto& file : journal_files_oldest_first(path)) {
        try {
            JournalInput in(file);
            read(in.stream());
        } catch (const std::runtime_error& e) {
            if (file == path) throw Failure(ExitCode::failure, std::string("cannot read the journal: ") + e.what(), remedy);
            passed_over(e.what());
        }
    }
}

void read_mismatches(std::istream& journal, MismatchHistory& history) {
    static constexpr std::string_view kMarker = "\"counter_mismatch\"";
    std::string line;
    for (LineRead r; (r = read_bounded_line(journal, line, kMaxJournalLine)) != LineRead::end;) {
        if (r == LineRead::too_long) {
            ++history.skipped_lines;
            continue;
        }
        if (line.find(kMarker) == std::string::npos) continue;
        if (json_nesting_exceeds(line, kMaxJournalDepth)) {
            ++history.skipped_lines;
            continue;
        }
        auto ev = nlohmann::ordered_json::parse(line, nullptr, false);
        if (ev.is_discarded() || !ev.is_object()) {
            ++history.skipped_lines;
            continue;
        }
        auto type = ev.find("type");
        if (type == ev.end() || *type != "counter_mismatch") continue;
        ++history.mismatches;
        history.last.push_back(mismatch_fields(ev));
        if (history.last.size() > MismatchHistory::kKept) history.last.pop_front();
    }
}

std::string describe_mismatch(const nlohmann::ordered_json& event) {
    std::string s = field_text(event, "ts") + " netns " + field_text(event, "netns");
    if (event.contains("netns_name")) s += " (" + field_text(event, "netns_name") + ")";
    return escape_for_terminal(s + ": " + field_text(event, "message"));
}

}  // namespace nfsleuth
