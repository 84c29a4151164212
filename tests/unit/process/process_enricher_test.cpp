// SPDX-License-Identifier: GPL-2.0-only
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "process/process_enricher.hpp"

namespace {

using nfsleuth::CgroupResolver;
using nfsleuth::ProcessEnricher;

TEST(ProcessEnricher, ReadsALiveProcesssCommandLine) {
    CgroupResolver cgroups;
    ProcessEnricher enrich(cgroups);
    auto cmdline = enrich.cmdline(static_cast<uint32_t>(::getpid()));
    ASSERT_TRUE(cmdline);
    EXPECT_NE(cmdline->find("unit_tests"), std::string::npos) << *cmdline;
}

// The sender of a drop may be gone, or exiting, by the time it is looked
// up: the answer is "unknown", never an exception that loses the event.
TEST(ProcessEnricher, ExitedOrExitingProcessesAreUnknownNotErrors) {
    CgroupResolver cgroups;
    ProcessEnricher enrich(cgroups);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) ::_exit(0);
    // Exited but not reaped: its /proc entry is there, its memory is gone.
    ::usleep(100 * 1000);
    std::optional<std::string> zombie;
    EXPECT_NO_THROW(zombie = enrich.cmdline(static_cast<uint32_t>(child)));
    EXPECT_FALSE(zombie);
    ::waitpid(child, nullptr, 0);
    std::optional<std::string> gone;
    EXPECT_NO_THROW(gone = enrich.cmdline(static_cast<uint32_t>(child)));
    EXPECT_FALSE(gone);
    EXPECT_NO_THROW(enrich.cgroup(0));
    EXPECT_NO_THROW(enrich.netns_name(1));
}

}  // namespace
