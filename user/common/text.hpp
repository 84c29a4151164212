// SPDX-License-Identifier: GPL-2.0-only
// Strings from the traced world (comm, argv, module names) are attacker
// controlled: everything printed goes through these functions first.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace nfsleuth {

// The bytes of a fixed-size C char array up to its first NUL.
std::string_view bounded_cstr(const char* data, std::size_t capacity);

// Length of the valid UTF-8 sequence at s[i] (lead byte >= 0x80), its code
// point in `cp`; 0 when the bytes there are not valid UTF-8 (truncated,
// overlong, a surrogate, beyond U+10FFFF).
std::size_t utf8_sequence_length(std::string_view s, std::size_t i, char32_t& cp);

// Splits a NUL-separated argv block (as in /proc/PID/cmdline).
std::vector<std::string> split_args(std::string_view block);

// Joins argv with single spaces, for display and grepping.
std::string join_args(const std::vector<std::string>& argv);

// Makes a string safe for a terminal line: printable ASCII and valid UTF-8
// above U+009F pass; backslash, double quote, control characters (C0, DEL,
// C1), invisible or bidi-override characters, and bytes that are not valid
// UTF-8 become backslash escapes (\\, \", \n, \t, \r, \xNN per byte).
std::string escape_for_terminal(std::string_view s);

// The basename of a path ("/sbin/modprobe" -> "modprobe").
std::string_view path_basename(std::string_view path);

}  // namespace nfsleuth
