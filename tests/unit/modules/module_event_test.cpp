// SPDX-License-Identifier: GPL-2.0-only
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "modules/module_event.hpp"

using nfsleuth::Ancestor;
using nfsleuth::decode_module_event;
using nfsleuth::ModuleEvent;
using nfsleuth::ModuleEventType;

namespace {

// A zeroed record, as the BPF side reserves it, with the fields every test needs.
nfs_module_event blank(uint32_t type = NFS_MOD_LOAD) {
    nfs_module_event raw;
    std::memset(&raw, 0, sizeof raw);
    raw.type = type;
    raw.ts_boot_ns = 123'456'789'000;
    std::memcpy(raw.module, "nf_conntrack", sizeof "nf_conntrack");
    raw.proc.pid = 2000;
    raw.proc.tid = 2001;
    std::memcpy(raw.proc.comm, "modprobe", sizeof "modprobe");
    return raw;
}

template <std::size_t N>
void set_args(nfs_module_event& raw, const char (&block)[N]) {
    static_assert(N - 1 <= NFS_ARGS_LEN);
    std::memcpy(raw.proc.args, block, N - 1);  // without the literal's own NUL
    raw.proc.args_len = N - 1;
}

ModuleEvent decode(const nfs_module_event& raw) {
    auto ev = decode_module_event(&raw, sizeof raw);
    EXPECT_TRUE(ev.has_value());
    return ev.value_or(ModuleEvent{});
}

TEST(DecodeModuleEvent, EachTypeMapsToItsEventType) {
    EXPECT_EQ(decode(blank(NFS_MOD_REQUEST)).type, ModuleEventType::request);
    EXPECT_EQ(decode(blank(NFS_MOD_LOAD)).type, ModuleEventType::load);
    EXPECT_EQ(decode(blank(NFS_MOD_LOAD_ERROR)).type, ModuleEventType::load_error);
    EXPECT_EQ(decode(blank(NFS_MOD_FREE)).type, ModuleEventType::free);
}

TEST(DecodeModuleEvent, TypeNames) {
    EXPECT_STREQ(to_string(ModuleEventType::request), "module_request");
    EXPECT_STREQ(to_string(ModuleEventType::load), "module_load");
    EXPECT_STREQ(to_string(ModuleEventType::load_error), "module_load_error");
    EXPECT_STREQ(to_string(ModuleEventType::free), "module_free");
}

TEST(DecodeModuleEvent, UnknownTypeIsRejected) {
    for (uint32_t type : {0u, 5u, 42u, 0xffffffffu}) {
        nfs_module_event raw = blank(type);
        EXPECT_FALSE(decode_module_event(&raw, sizeof raw).has_value()) << "type " << type;
    }
}

TEST(DecodeModuleEvent, TooShortBufferIsRejected) {
    nfs_module_event raw = blank();
    EXPECT_FALSE(decode_module_event(&raw, sizeof raw - 1).has_value());
    EXPECT_FALSE(decode_module_event(&raw, offsetof(nfs_module_event, proc)).has_value());
    EXPECT_FALSE(decode_module_event(&raw, 0).has_value());
    EXPECT_FALSE(decode_module_event(nullptr, 0).has_value());
}

TEST(DecodeModuleEvent, OversizedRecordIsRejected) {
    // A longer record means the BPF object and the binary disagree on the ABI.
    std::vector<unsigned char> buf(sizeof(nfs_module_event) + 8, 0);
    nfs_module_event raw = blank();
    std::memcpy(buf.data(), &raw, sizeof raw);
    EXPECT_FALSE(decode_module_event(buf.data(), buf.size()).has_value());
}

TEST(DecodeModuleEvent, ScalarFields) {
    nfs_module_event raw = blank(NFS_MOD_LOAD_ERROR);
    raw.wait = 1;
    raw.error = -17;
    raw.proc.uid = 1000;
    raw.proc.gid = 1001;
    raw.proc.cgroup_id = 0x1234'5678'9abcull;
    raw.proc.netns_ino = 4026531840u;
    const ModuleEvent ev = decode(raw);
    EXPECT_EQ(ev.ts_boot_ns, 123'456'789'000u);
    EXPECT_EQ(ev.module, "nf_conntrack");
    EXPECT_TRUE(ev.wait);
    EXPECT_EQ(ev.error, -17);
    EXPECT_EQ(ev.proc.pid, 2000u);
    EXPECT_EQ(ev.proc.tid, 2001u);
    EXPECT_EQ(ev.proc.uid, 1000u);
    EXPECT_EQ(ev.proc.gid, 1001u);
    EXPECT_EQ(ev.proc.cgroup_id, 0x1234'5678'9abcull);
    EXPECT_EQ(ev.proc.netns, 4026531840u);
    EXPECT_EQ(ev.proc.comm, "modprobe");
    EXPECT_FALSE(ev.proc.kernel_thread);
    EXPECT_FALSE(ev.proc.args_truncated);
    EXPECT_FALSE(ev.proc.args_unreadable);
}

TEST(DecodeModuleEvent, AnyNonZeroWaitIsTrue) {
    nfs_module_event raw = blank(NFS_MOD_REQUEST);
    EXPECT_FALSE(decode(raw).wait);
    raw.wait = 7;
    EXPECT_TRUE(decode(raw).wait);
}

TEST(DecodeModuleEvent, DecodesFromUnalignedBuffer) {
    nfs_module_event raw = blank();
    std::vector<unsigned char> buf(sizeof raw + 1);
    std::memcpy(buf.data() + 1, &raw, sizeof raw);
    auto ev = decode_module_event(buf.data() + 1, sizeof raw);
    ASSERT_TRUE(ev.has_value());
    EXPECT_EQ(ev->module, "nf_conntrack");
    EXPECT_EQ(ev->proc.pid, 2000u);
}

TEST(DecodeModuleEvent, ModuleNameFillingTheFieldWithoutNulIsBounded) {
    nfs_module_event raw = blank();
    std::memset(raw.module, 'm', NFS_MODNAME_LEN);
    raw.kstack[0] = 0x4141414141414141ull;  // "AAAAAAAA" right after the name
    const ModuleEvent ev = decode(raw);
    EXPECT_EQ(ev.module, std::string(NFS_MODNAME_LEN, 'm'));
}

TEST(DecodeModuleEvent, CommFillingTheFieldWithoutNulIsBounded) {
    nfs_module_event raw = blank();
    std::memset(raw.proc.comm, 'c', NFS_COMM_LEN);
    raw.proc.n_ancestors = 1;
    std::memset(raw.proc.ancestors[0].comm, 'p', NFS_COMM_LEN);
    const ModuleEvent ev = decode(raw);
    EXPECT_EQ(ev.proc.comm, std::string(NFS_COMM_LEN, 'c'));
    ASSERT_EQ(ev.proc.ancestors.size(), 1u);
    EXPECT_EQ(ev.proc.ancestors[0].comm, std::string(NFS_COMM_LEN, 'p'));
}

TEST(DecodeModuleEvent, ArgsBlockBecomesArgv) {
    nfs_module_event raw = blank();
    set_args(raw, "/sbin/modprobe\0-q\0--\0iptable_nat\0");
    const ModuleEvent ev = decode(raw);
    EXPECT_EQ(ev.proc.argv, (std::vector<std::string>{"/sbin/modprobe", "-q", "--", "iptable_nat"}));
    EXPECT_EQ(ev.proc.cmdline(), "/sbin/modprobe -q -- iptable_nat");
}

TEST(DecodeModuleEvent, ArgsLenLimitsWhatIsRead) {
    nfs_module_event raw = blank();
    set_args(raw, "abc\0def\0");
    raw.proc.args_len = 5;
    EXPECT_EQ(decode(raw).proc.argv, (std::vector<std::string>{"abc", "d"}));
    raw.proc.args_len = 0;
    EXPECT_TRUE(decode(raw).proc.argv.empty());
}

TEST(DecodeModuleEvent, ArgsLenLargerThanTheBufferIsClamped) {
    nfs_module_event raw = blank();
    // 100 'a', NUL, then 'b' up to the very end of the buffer (no final NUL).
    std::memset(raw.proc.args, 'a', 100);
    raw.proc.args[100] = '\0';
    std::memset(raw.proc.args + 101, 'b', NFS_ARGS_LEN - 101);
    raw.proc.args_len = 100'000;
    // What follows args in memory must not leak into argv.
    raw.proc.n_ancestors = 1;
    raw.proc.ancestors[0].pid = 0x43434343;
    std::memcpy(raw.proc.ancestors[0].comm, "zzzz", 4);
    raw.proc.flags = NFS_PROC_ARGS_TRUNCATED;
    const ModuleEvent ev = decode(raw);
    ASSERT_EQ(ev.proc.argv.size(), 2u);
    EXPECT_EQ(ev.proc.argv[0], std::string(100, 'a'));
    EXPECT_EQ(ev.proc.argv[1], std::string(NFS_ARGS_LEN - 101, 'b'));
    EXPECT_TRUE(ev.proc.args_truncated);
}

TEST(DecodeModuleEvent, ProcessFlags) {
    nfs_module_event raw = blank();
    raw.proc.flags = NFS_PROC_KTHREAD | NFS_PROC_ARGS_UNREADABLE;
    ModuleEvent ev = decode(raw);
    EXPECT_TRUE(ev.proc.kernel_thread);
    EXPECT_FALSE(ev.proc.args_truncated);
    EXPECT_TRUE(ev.proc.args_unreadable);
    raw.proc.flags = NFS_PROC_ARGS_TRUNCATED;
    ev = decode(raw);
    EXPECT_FALSE(ev.proc.kernel_thread);
    EXPECT_TRUE(ev.proc.args_truncated);
    EXPECT_FALSE(ev.proc.args_unreadable);
}

TEST(DecodeModuleEvent, AncestorsParentFirstWithKernelThreadFlag) {
    nfs_module_event raw = blank();
    raw.proc.n_ancestors = 2;
    raw.proc.ancestors[0] = {77, NFS_PROC_KTHREAD, "kworker/u8:1"};
    raw.proc.ancestors[1] = {2, NFS_PROC_KTHREAD | NFS_PROC_ARGS_UNREADABLE, "kthreadd"};
    raw.proc.ancestors[2] = {1, 0, "systemd"};  // beyond n_ancestors: ignored
    const ModuleEvent ev = decode(raw);
    ASSERT_EQ(ev.proc.ancestors.size(), 2u);
    EXPECT_EQ(ev.proc.ancestors[0].pid, 77u);
    EXPECT_EQ(ev.proc.ancestors[0].comm, "kworker/u8:1");
    EXPECT_TRUE(ev.proc.ancestors[0].kernel_thread);
    EXPECT_EQ(ev.proc.ancestors[1].pid, 2u);
    EXPECT_EQ(ev.proc.ancestors[1].comm, "kthreadd");
    EXPECT_TRUE(ev.proc.ancestors[1].kernel_thread);
    EXPECT_TRUE(ev.proc.spawned_by_kernel());
}

TEST(DecodeModuleEvent, UserAncestorsAreNotKernelThreads) {
    nfs_module_event raw = blank();
    raw.proc.n_ancestors = 3;
    raw.proc.ancestors[0] = {1200, 0, "bash"};
    raw.proc.ancestors[1] = {900, 0, "sshd"};
    raw.proc.ancestors[2] = {1, 0, "systemd"};
    const ModuleEvent ev = decode(raw);
    ASSERT_EQ(ev.proc.ancestors.size(), 3u);
    for (const Ancestor& a : ev.proc.ancestors) EXPECT_FALSE(a.kernel_thread) << a.comm;
    EXPECT_FALSE(ev.proc.spawned_by_kernel());
}

TEST(DecodeModuleEvent, AncestorCountIsClamped) {
    nfs_module_event raw = blank();
    raw.proc.n_ancestors = 1000;
    for (uint32_t i = 0; i < NFS_MAX_ANCESTORS; ++i) {
        raw.proc.ancestors[i].pid = 100 + i;
        raw.proc.ancestors[i].comm[0] = static_cast<char>('a' + i);
    }
    const ModuleEvent ev = decode(raw);
    ASSERT_EQ(ev.proc.ancestors.size(), static_cast<std::size_t>(NFS_MAX_ANCESTORS));
    EXPECT_EQ(ev.proc.ancestors.front().pid, 100u);
    EXPECT_EQ(ev.proc.ancestors.front().comm, "a");
    EXPECT_EQ(ev.proc.ancestors.back().pid, 100u + NFS_MAX_ANCESTORS - 1);
    EXPECT_EQ(ev.proc.ancestors.back().comm, std::string(1, static_cast<char>('a' + NFS_MAX_ANCESTORS - 1)));
}

TEST(DecodeModuleEvent, KernelStackFrames) {
    nfs_module_event raw = blank(NFS_MOD_REQUEST);
    raw.kstack[0] = 0xffffffff81001010;
    raw.kstack[1] = 0xffffffff81002020;
    raw.kstack[2] = 0xffffffff81003030;
    raw.kstack[3] = 0xdeadbeef;  // beyond kstack_bytes
    raw.kstack_bytes = 3 * sizeof(uint64_t);
    const ModuleEvent ev = decode(raw);
    EXPECT_EQ(ev.kstack, (std::vector<uint64_t>{0xffffffff81001010, 0xffffffff81002020, 0xffffffff81003030}));
    EXPECT_EQ(ev.kstack_error, 0);
}

TEST(DecodeModuleEvent, PartialFrameBytesAreDropped) {
    nfs_module_event raw = blank(NFS_MOD_REQUEST);
    raw.kstack[0] = 1;
    raw.kstack[1] = 2;
    raw.kstack[2] = 3;
    raw.kstack_bytes = 20;  // two and a half frames
    EXPECT_EQ(decode(raw).kstack, (std::vector<uint64_t>{1, 2}));
}

TEST(DecodeModuleEvent, KernelStackBytesBeyondTheArrayAreClamped) {
    nfs_module_event raw = blank(NFS_MOD_REQUEST);
    for (unsigned i = 0; i < NFS_KSTACK_DEPTH; ++i) raw.kstack[i] = 0x1000u + i;
    raw.kstack_bytes = 100'000;
    const ModuleEvent ev = decode(raw);
    ASSERT_EQ(ev.kstack.size(), static_cast<std::size_t>(NFS_KSTACK_DEPTH));
    EXPECT_EQ(ev.kstack.back(), 0x1000u + NFS_KSTACK_DEPTH - 1);
}

TEST(DecodeModuleEvent, NegativeKstackBytesIsAnError) {
    nfs_module_event raw = blank(NFS_MOD_REQUEST);
    raw.kstack[0] = 0xffffffff81001010;
    raw.kstack_bytes = -14;  // -EFAULT
    const ModuleEvent ev = decode(raw);
    EXPECT_EQ(ev.kstack_error, -14);
    EXPECT_TRUE(ev.kstack.empty());
}

TEST(DecodeModuleEvent, ZeroKstackBytesIsEmptyWithoutError) {
    const ModuleEvent ev = decode(blank(NFS_MOD_LOAD));
    EXPECT_TRUE(ev.kstack.empty());
    EXPECT_EQ(ev.kstack_error, 0);
}

}  // namespace
