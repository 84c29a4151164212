// SPDX-License-Identifier: GPL-2.0-only
#include "conntrack/ruleset.hpp"

#include <algorithm>
#include <array>
#include <regex>
#include <sstream>

namespace nfsleuth {

namespace {

std::string_view trim(std::string_view s) {
    const auto first = s.find_first_not_of(" \t");
    if (first == std::string_view::npos) return {};
    const auto last = s.find_last_not_of(" \t\r");
    return s.substr(first, last - first + 1);
}

std::vector<std::string_view> lines_of(std::string_view text) {
    std::vector<std::string_view> out;
    while (!text.empty()) {
        const auto nl = text.find('\n');
        out.push_back(text.substr(0, nl));
        if (nl == std::string_view::npos) break;
        text.remove_prefix(nl + 1);
    }
    return out;
}

// nftables statements and expressions that use conntrack. `notrack` is
// absent: it exempts packets from tracking (the remedy, not the cause).
const std::regex& nft_needs() {
    static const std::regex re(R"((^|[\s{])(ct\s+[a-z]+|masquerade|snat|dnat|redirect)(?=$|[\s;,}]))");
    return re;
}

// iptables matches and targets that use conntrack (CT is left out: in
// practice it is `-j CT --notrack`).
constexpr std::array<std::string_view, 9> iptables_matches = {
    "conntrack", "state", "connmark", "connlimit", "connbytes", "connlabel", "helper", "cluster", "ipvs"};
constexpr std::array<std::string_view, 7> iptables_targets = {"MASQUERADE", "SNAT",     "DNAT",   "REDIRECT",
                                                              "NETMAP",     "CONNMARK", "CLUSTERIP"};

std::string iptables_needs(const std::vector<std::string>& words) {
    for (std::size_t i = 0; i + 1 < words.size(); ++i) {
        const std::string& opt = words[i];
        const std::string& arg = words[i + 1];
        if (opt == "-m" || opt == "--match") {
            for (auto m : iptables_matches)
                if (arg == m) return "-m " + arg;
        } else if (opt == "-j" || opt == "--jump") {
            for (auto t : iptables_targets)
                if (arg == t) return "-j " + arg;
        }
    }
    return {};
}

}  // namespace

std::vector<ConntrackRule> conntrack_rules_from_nft(std::string_view listing) {
    static const std::regex table_re(R"(^table\s+(\S+)\s+(\S+)\s*\{)");
    static const std::regex chain_re(R"(^chain\s+(\S+)\s*\{)");
    static const std::regex handle_re(R"(\s*# handle (\d+)$)");
    std::vector<ConntrackRule> out;
    std::string table, chain;
    int depth = 0;  // braces open: 1 in a table, 2 in a chain, set, map, ...
    bool in_chain = false;
    for (std::string_view raw : lines_of(listing)) {
        const std::string line(trim(raw));
        std::smatch m;
        if (line.empty()) continue;
        if (depth == 0 && std::regex_search(line, m, table_re)) {
            table = m[1].str() + " " + m[2].str();
            depth = 1;
            continue;
        }
        if (depth == 1 && std::regex_search(line, m, chain_re)) {
            chain = m[1].str();
            in_chain = true;
            depth = 2;
            continue;
        }
        // In a chain, a line that leaves the depth as it was is a rule
        // (anonymous sets open and close on its line); other lines open or
        // close a block (a set, a map, an element list, the chain itself).
        const int before = depth;
        for (char c : line) depth += c == '{' ? 1 : c == '}' ? -1 : 0;
        depth = std::max(depth, 0);
        if (depth < 2) in_chain = false;
        if (!in_chain || before != 2 || depth != 2) continue;
        if (line.rfind("type ", 0) == 0 || line.rfind("policy ", 0) == 0) continue;
        std::smatch handle;
        if (!std::regex_search(line, handle, handle_re)) continue;  // listed without -a
        const std::string rule = line.substr(0, static_cast<std::size_t>(handle.position(0)));
        if (std::regex_search(rule, m, nft_needs()))
            out.push_back({"nftables", table, chain, rule, m[2].str(),
                           "nft delete rule " + table + " " + chain + " handle " + handle[1].str()});
    }
    return out;
}

std::vector<ConntrackRule> conntrack_rules_from_iptables_save(std::string_view listing, const std::string& source) {
    std::vector<ConntrackRule> out;
    std::string table;
    for (std::string_view raw : lines_of(listing)) {
        const std::string line(trim(raw));
        if (line.empty() || line[0] == '#') continue;
        if (line[0] == '*') {
            table = line.substr(1);
            continue;
        }
        if (line.rfind("-A ", 0) != 0) continue;
        std::istringstream in(line);
        std::vector<std::string> words;
        for (std::string w; in >> w;) words.push_back(w);
        if (words.size() < 2) continue;
        std::string needs = iptables_needs(words);
        if (!needs.empty())
            out.push_back({source, table, words[1], line, needs, source + " -t " + table + " -D" + line.substr(2)});
    }
    return out;
}

}  // namespace nfsleuth
