// SPDX-License-Identifier: GPL-2.0-only
#include <iostream>
#include <string_view>

#include "cli/cli.hpp"
#include "common/error.hpp"
#include "daemon/watch_command.hpp"
#include "doctor/doctor.hpp"
#include "drops/drops_command.hpp"
#include "kernel/bpf_support.hpp"
#include "kernel/netns_broker.hpp"
#include "modules/modules_command.hpp"
#include "why/why_command.hpp"

int main(int argc, char** argv) {
    using namespace nfsleuth;
    // `watch` runs itself again as its netns broker; not a command.
    if (argc == 2 && std::string_view(argv[1]) == kBrokerEntry) return run_netns_broker(kBrokerChannelFd);
    auto parsed = parse_command_line(argc, argv, std::cout, std::cerr);
    if (!parsed.invocation) return parsed.exit_code;
    const Invocation& inv = *parsed.invocation;
    install_libbpf_logging(inv.options.verbose);
    try {
        ExitCode code = inv.command == "doctor"  ? run_doctor(inv.options, inv.doctor)
                        : inv.command == "drops" ? run_drops(inv.options, inv.drops)
                        : inv.command == "watch" ? run_watch(inv.options, inv.drops, inv.watch)
                        : inv.command == "why"   ? run_why(inv.options, inv.why)
                                                 : run_modules(inv.options);
        return static_cast<int>(code);
    } catch (const Failure& f) {
        std::cout.flush();
        std::cerr << "nfsleuth: " << f.what() << "\n";
        if (!f.remedy().empty()) std::cerr << "  " << f.remedy() << "\n";
        return static_cast<int>(f.code());
    } catch (const std::exception& e) {
        std::cerr << "nfsleuth: " << e.what() << "\n";
        return static_cast<int>(ExitCode::failure);
    }
}
