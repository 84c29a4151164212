// SPDX-License-Identifier: GPL-2.0-only
#include <gtest/gtest.h>

#include "process/process.hpp"

using nfsleuth::Process;

namespace {

TEST(Process, SpawnedByKernelLooksAtTheParentOnly) {
    Process p;
    EXPECT_FALSE(p.spawned_by_kernel());  // no ancestry known
    p.ancestors = {{77, "kworker/u8:1", true}, {2, "kthreadd", true}};
    EXPECT_TRUE(p.spawned_by_kernel());
    p.ancestors = {{1200, "bash", false}, {2, "kthreadd", true}};
    EXPECT_FALSE(p.spawned_by_kernel());
    p.ancestors = {{1200, "bash", false}};
    p.kernel_thread = true;  // the task's own flag does not matter
    EXPECT_FALSE(p.spawned_by_kernel());
}

TEST(Process, FormatTaskAndAncestryEscape) {
    EXPECT_EQ(nfsleuth::format_task("iptables", 1234), "iptables[1234]");
    EXPECT_EQ(nfsleuth::format_task("evil\x1b[2J", 5), "evil\\x1b[2J[5]");
    EXPECT_EQ(nfsleuth::format_ancestry({}), "");
    EXPECT_EQ(nfsleuth::format_ancestry({{1200, "bash", false}, {900, "sshd", false}, {1, "systemd", false}}),
              "bash[1200] <- sshd[900] <- systemd[1]");
    EXPECT_EQ(nfsleuth::format_ancestry({{7, "a\nb", false}}), "a\\nb[7]");
}

}  // namespace
