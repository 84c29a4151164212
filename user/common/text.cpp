// SPDX-License-Identifier: GPL-2.0-only
#include "common/text.hpp"

#include <cstdio>
#include <cstring>

namespace nfsleuth {

std::string_view bounded_cstr(const char* data, std::size_t capacity) {
    const void* nul = std::memchr(data, '\0', capacity);
    return {data, nul ? static_cast<std::size_t>(static_cast<const char*>(nul) - data) : capacity};
}

std::vector<std::string> split_args(std::string_view block) {
    std::vector<std::string> out;
    while (!block.empty()) {
        auto nul = block.find('\0');
        out.emplace_back(block.substr(0, nul));
        if (nul == std::string_view::npos) break;
        block.remove_prefix(nul + 1);
    }
    return out;
}

std::string join_args(const std::vector<std::string>& argv) {
    std::string out;
    for (const auto& a : argv) {
        if (!out.empty()) out += ' ';
        out += a;
    }
    return out;
}

std::size_t utf8_sequence_length(std::string_view s, std::size_t i, char32_t& cp) {
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char lead = byte(i);
    std::size_t len;
    if (lead >= 0xC2 && lead <= 0xDF) { len = 2; cp = lead & 0x1F; }
    else if (lead >= 0xE0 && lead <= 0xEF) { len = 3; cp = lead & 0x0F; }
    else if (lead >= 0xF0 && lead <= 0xF4) { len = 4; cp = lead & 0x07; }
    else return 0;
    if (i + len > s.size()) return 0;
    for (std::size_t k = 1; k < len; ++k) {
        if ((byte(i + k) & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (byte(i + k) & 0x3F);
    }
    bool overlong = (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
    if (overlong || surrogate || cp > 0x10FFFF) return 0;
    return len;
}

namespace {

// Length of the valid UTF-8 sequence starting at s[i] whose code point is
// not a control character, or 0.
std::size_t printable_utf8_length(std::string_view s, std::size_t i) {
    char32_t cp;
    std::size_t len = utf8_sequence_length(s, i, cp);
    if (!len) return 0;
    bool c1_control = cp >= 0x80 && cp <= 0x9F;
    // Invisible and direction-changing characters can make a line read
    // differently from what it contains (zero-width, bidi overrides, line
    // separators, byte order mark).
    bool invisible = (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202E) ||
                     (cp >= 0x2060 && cp <= 0x206F) || cp == 0xFEFF;
    if (c1_control || invisible) return 0;
    return len;
}

}  // namespace

std::string escape_for_terminal(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c == '\\' || c == '"') {
            out += '\\';
            out += static_cast<char>(c);
            ++i;
        } else if (c >= 0x20 && c < 0x7F) {
            out += static_cast<char>(c);
            ++i;
        } else if (c == '\n') { out += "\\n"; ++i; }
        else if (c == '\t') { out += "\\t"; ++i; }
        else if (c == '\r') { out += "\\r"; ++i; }
        else if (std::size_t n = c >= 0x80 ? printable_utf8_length(s, i) : 0; n) {
            out.append(s.substr(i, n));
            i += n;
        } else {
            char buf[5];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
            ++i;
        }
    }
    return out;
}

std::string_view path_basename(std::string_view path) {
    auto slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace nfsleuth
