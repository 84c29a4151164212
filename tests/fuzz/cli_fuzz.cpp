// SPDX-License-Identifier: GPL-2.0-only
// Command lines: the input split at NUL bytes into arguments, as
// /proc/PID/cmdline holds them.
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli.hpp"
#include "common/text.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    std::vector<std::string> args = nfsleuth::split_args(nfsleuth_fuzz::as_text(data, size));
    if (args.size() > 64) return 0;
    args.insert(args.begin(), "nfsleuth");
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    std::ostringstream out, err;
    (void)nfsleuth::parse_command_line(static_cast<int>(argv.size()), argv.data(), out, err);
    return 0;
}
