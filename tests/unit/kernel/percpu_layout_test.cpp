// SPDX-License-Identifier: GPL-2.0-only
#include "kernel/percpu_layout.hpp"

#include <bpf/btf.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <sstream>
#include <optional>
#include <vector>

using nfsleuth::find_percpu_layout;
using nfsleuth::PerCpuLayout;

namespace {

// A small kernel BTF built in memory: the types the per-CPU variables need,
// the variables, and the data section that places them.
class KernelBtf {
public:
    KernelBtf() : btf_(btf__new_empty(), btf__free) {
        EXPECT_NE(btf_.get(), nullptr);
        int_ = check(btf__add_int(get(), "int", 4, BTF_INT_SIGNED));
        ulong_ = check(btf__add_int(get(), "long unsigned int", 8, 0));
        u8_ = check(btf__add_int(get(), "u8", 1, 0));
        rq_ = check(btf__add_struct(get(), "rq", 3392));
        task_ptr_ = check(btf__add_ptr(get(), check(btf__add_fwd(get(), "task_struct", BTF_FWD_STRUCT))));
    }

    btf* get() { return btf_.get(); }
    int int_type() const { return int_; }
    int ulong_type() const { return ulong_; }
    int rq_type() const { return rq_; }

    // A flat struct pcpu_hot:
    // { current_task; preempt_count; cpu_number; ... } with preempt_count at 8.
    int flat_pcpu_hot() {
        const int id = check(btf__add_struct(get(), "pcpu_hot", 64));
        check(btf__add_field(get(), "current_task", task_ptr_, 0, 0));
        check(btf__add_field(get(), "preempt_count", int_, 64, 0));
        check(btf__add_field(get(), "cpu_number", int_, 96, 0));
        check(btf__add_field(get(), "top_of_stack", ulong_, 128, 0));
        return id;
    }

    // struct pcpu_hot as 6.2 to 6.14 declare it: the members inside an
    // anonymous struct inside an anonymous union padding it to 64 bytes.
    int nested_pcpu_hot() {
        const int inner = check(btf__add_struct(get(), nullptr, 24));
        check(btf__add_field(get(), "current_task", task_ptr_, 0, 0));
        check(btf__add_field(get(), "preempt_count", int_, 64, 0));
        check(btf__add_field(get(), "cpu_number", int_, 96, 0));
        check(btf__add_field(get(), "top_of_stack", ulong_, 128, 0));
        const int pad = check(btf__add_array(get(), int_, u8_, 64));
        const int anon_union = check(btf__add_union(get(), nullptr, 64));
        check(btf__add_field(get(), nullptr, inner, 0, 0));
        check(btf__add_field(get(), "pad", pad, 0, 0));
        const int id = check(btf__add_struct(get(), "pcpu_hot", 64));
        check(btf__add_field(get(), nullptr, anon_union, 0, 0));
        return id;
    }

    struct Placed {
        const char* name;
        int type;
        uint32_t offset;
        uint32_t size;
    };

    // Adds the variables, then a data section placing them in this order.
    void section(const char* name, const std::vector<Placed>& vars) {
        std::vector<int> ids;
        for (const auto& v : vars) ids.push_back(check(btf__add_var(get(), v.name, BTF_VAR_GLOBAL_ALLOCATED, v.type)));
        uint32_t size = 0;
        for (const auto& v : vars) size = std::max(size, v.offset + v.size);
        check(btf__add_datasec(get(), name, size));
        for (std::size_t i = 0; i < vars.size(); ++i)
            check(btf__add_datasec_var_info(get(), ids[i], vars[i].offset, vars[i].size));
    }

    void percpu(const std::vector<Placed>& vars) { section(".data..percpu", vars); }

private:
    static int check(int id) {
        EXPECT_GE(id, 0) << "building the BTF failed";
        return id;
    }

    std::unique_ptr<btf, decltype(&btf__free)> btf_;
    int int_ = 0;
    int ulong_ = 0;
    int u8_ = 0;
    int rq_ = 0;
    int task_ptr_ = 0;
};

constexpr uint32_t kRunqueues = 0x32f40;
constexpr uint32_t kThisCpuOff = 0x1a048;
constexpr uint32_t kPreemptCount = 0x1a0d0;

}  // namespace

TEST(PerCpuLayout, VariablesAtTheirOffsets) {
    KernelBtf b;
    b.percpu({
        {"fixed_percpu_data", b.ulong_type(), 0, 8},
        {"runqueues", b.rq_type(), kRunqueues, 3392},
        {"this_cpu_off", b.ulong_type(), kThisCpuOff, 8},
        {"cpu_number", b.int_type(), 0x1a050, 4},
        {"__preempt_count", b.int_type(), kPreemptCount, 4},
    });
    const auto layout = find_percpu_layout(b.get());
    ASSERT_TRUE(layout);
    EXPECT_EQ(layout->runqueues, kRunqueues);
    EXPECT_EQ(layout->this_cpu_off, kThisCpuOff);
    EXPECT_EQ(layout->preempt_count, kPreemptCount);
    EXPECT_TRUE(layout->complete());
}

TEST(PerCpuLayout, PreemptCountInsidePcpuHot) {
    KernelBtf b;
    const int hot = b.flat_pcpu_hot();
    b.percpu({
        {"runqueues", b.rq_type(), kRunqueues, 3392},
        {"pcpu_hot", hot, 4096, 64},
        {"this_cpu_off", b.ulong_type(), kThisCpuOff, 8},
    });
    const auto layout = find_percpu_layout(b.get());
    ASSERT_TRUE(layout);
    EXPECT_EQ(layout->preempt_count, 4104u);
    EXPECT_TRUE(layout->complete());
}

// From 6.2 to 6.14 the members of struct pcpu_hot sit in an anonymous struct
// inside an anonymous union: the search looks inside anonymous members.
TEST(PerCpuLayout, PreemptCountInsideAnonymousMembersOfPcpuHot) {
    KernelBtf b;
    const int hot = b.nested_pcpu_hot();
    b.percpu({
        {"runqueues", b.rq_type(), kRunqueues, 3392},
        {"pcpu_hot", hot, 4096, 64},
        {"this_cpu_off", b.ulong_type(), kThisCpuOff, 8},
    });
    const auto layout = find_percpu_layout(b.get());
    ASSERT_TRUE(layout);
    EXPECT_EQ(layout->preempt_count, 4104u);
}

TEST(PerCpuLayout, PreemptCountVariableWinsOverPcpuHot) {
    for (bool hot_first : {true, false}) {
        KernelBtf b;
        const int hot = b.flat_pcpu_hot();
        const KernelBtf::Placed hot_var{"pcpu_hot", hot, 4096, 64};
        const KernelBtf::Placed count_var{"__preempt_count", b.int_type(), kPreemptCount, 4};
        b.percpu({hot_first ? hot_var : count_var, hot_first ? count_var : hot_var});
        const auto layout = find_percpu_layout(b.get());
        ASSERT_TRUE(layout);
        EXPECT_EQ(layout->preempt_count, kPreemptCount) << (hot_first ? "pcpu_hot first" : "pcpu_hot last");
    }
}

TEST(PerCpuLayout, NoPerCpuSection) {
    KernelBtf b;
    b.section(".data", {{"runqueues", b.rq_type(), kRunqueues, 3392}});
    EXPECT_EQ(find_percpu_layout(b.get()), std::nullopt);
}

TEST(PerCpuLayout, EmptyBtf) {
    KernelBtf b;
    EXPECT_EQ(find_percpu_layout(b.get()), std::nullopt);
}

TEST(PerCpuLayout, NullBtf) {
    EXPECT_EQ(find_percpu_layout(nullptr), std::nullopt);
}

TEST(PerCpuLayout, MissingThisCpuOffIsIncomplete) {
    KernelBtf b;
    b.percpu({
        {"runqueues", b.rq_type(), kRunqueues, 3392},
        {"__preempt_count", b.int_type(), kPreemptCount, 4},
    });
    const auto layout = find_percpu_layout(b.get());
    ASSERT_TRUE(layout);
    EXPECT_EQ(layout->runqueues, kRunqueues);
    EXPECT_EQ(layout->this_cpu_off, 0u);
    EXPECT_EQ(layout->preempt_count, kPreemptCount);
    EXPECT_FALSE(layout->complete());
}

TEST(PerCpuLayout, MissingRunqueuesIsIncomplete) {
    KernelBtf b;
    b.percpu({{"this_cpu_off", b.ulong_type(), kThisCpuOff, 8}});
    const auto layout = find_percpu_layout(b.get());
    ASSERT_TRUE(layout);
    EXPECT_EQ(layout->runqueues, 0u);
    EXPECT_EQ(layout->this_cpu_off, kThisCpuOff);
    EXPECT_EQ(layout->preempt_count, 0u);
    EXPECT_FALSE(layout->complete());
}

// Debian's 5.10 BTF has no variables; its kallsyms lists the per-CPU
// symbols at their offsets in the per-CPU area.
TEST(PerCpuLayoutFromKallsyms, PerCpuSymbolsAtTheirOffsets) {
    std::istringstream kallsyms(
        "0000000000000000 A fixed_percpu_data\n"
        "0000000000000000 A __per_cpu_start\n"
        "000000000001a048 A this_cpu_off\n"
        "000000000001a0d0 A __preempt_count\n"
        "0000000000032f40 A runqueues\n"
        "ffffffff81000000 T _text\n"
        "ffffffffc0a00000 t nf_nat_init\t[nf_nat]\n");
    const auto layout = nfsleuth::percpu_layout_from_kallsyms(kallsyms, nullptr);
    ASSERT_TRUE(layout);
    EXPECT_EQ(layout->runqueues, kRunqueues);
    EXPECT_EQ(layout->this_cpu_off, kThisCpuOff);
    EXPECT_EQ(layout->preempt_count, kPreemptCount);
}

// Architectures that link the per-CPU area at its real address count from
// __per_cpu_start.
TEST(PerCpuLayoutFromKallsyms, OffsetsCountFromPerCpuStart) {
    std::istringstream kallsyms(
        "ffff800081a00000 D __per_cpu_start\n"
        "ffff800081a1a048 D this_cpu_off\n"
        "ffff800081a1a0d0 D __preempt_count\n"
        "ffff800081a32f40 D runqueues\n");
    const auto layout = nfsleuth::percpu_layout_from_kallsyms(kallsyms, nullptr);
    ASSERT_TRUE(layout);
    EXPECT_EQ(layout->runqueues, kRunqueues);
    EXPECT_EQ(layout->this_cpu_off, kThisCpuOff);
    EXPECT_EQ(layout->preempt_count, kPreemptCount);
}

TEST(PerCpuLayoutFromKallsyms, PreemptCountInsidePcpuHotFromBtf) {
    KernelBtf b;
    b.flat_pcpu_hot();
    std::istringstream kallsyms(
        "0000000000001000 A pcpu_hot\n"
        "000000000001a048 A this_cpu_off\n"
        "0000000000032f40 A runqueues\n");
    const auto layout = nfsleuth::percpu_layout_from_kallsyms(kallsyms, b.get());
    ASSERT_TRUE(layout);
    EXPECT_EQ(layout->preempt_count, 0x1008u);
}

// Addresses hidden by kptr_restrict, or a kallsyms without data symbols
// (CONFIG_KALLSYMS_ALL not set), give no layout rather than a wrong one.
TEST(PerCpuLayoutFromKallsyms, HiddenOrMissingSymbolsGiveNothing) {
    std::istringstream hidden(
        "0000000000000000 A this_cpu_off\n"
        "0000000000000000 A __preempt_count\n"
        "0000000000000000 A runqueues\n");
    EXPECT_FALSE(nfsleuth::percpu_layout_from_kallsyms(hidden, nullptr));
    std::istringstream text_only("ffffffff81000000 T _text\nffffffff81001000 T startup_64\n");
    EXPECT_FALSE(nfsleuth::percpu_layout_from_kallsyms(text_only, nullptr));
    std::istringstream garbage("zz A runqueues\n\n  \nA\n0x10 A this_cpu_off extra\n");
    EXPECT_FALSE(nfsleuth::percpu_layout_from_kallsyms(garbage, nullptr));
}

// Found by fuzzing (btf_layout_fuzz): a --btf file is anyone's, and its
// per-CPU section may name a type that does not exist, or one that is not a
// variable. Such entries are passed over.
TEST(PerCpuLayout, SectionEntriesOfMissingOrWrongTypesArePassedOver) {
    KernelBtf k;
    const int var = btf__add_var(k.get(), "runqueues", BTF_VAR_GLOBAL_ALLOCATED, k.rq_type());
    ASSERT_GT(var, 0);
    ASSERT_GT(btf__add_datasec(k.get(), ".data..percpu", 8192), 0);
    ASSERT_EQ(btf__add_datasec_var_info(k.get(), 9999, 0, 8), 0);           // no such type
    ASSERT_EQ(btf__add_datasec_var_info(k.get(), k.int_type(), 8, 4), 0);  // not a variable
    ASSERT_EQ(btf__add_datasec_var_info(k.get(), var, 4096, 3392), 0);
    auto layout = find_percpu_layout(k.get());
    ASSERT_TRUE(layout);
    EXPECT_EQ(layout->runqueues, 4096u);
    EXPECT_EQ(layout->this_cpu_off, 0u);
}

// Found by fuzzing too: typedefs that lead to each other end the search
// instead of looping forever.
TEST(PerCpuLayout, TypedefLoopsEndTheSearch) {
    KernelBtf k;
    const int first = btf__add_typedef(k.get(), "loop_a", 0);
    ASSERT_GT(first, 0);
    ASSERT_GT(btf__add_typedef(k.get(), "loop_b", first), 0);
    btf_type* a = const_cast<btf_type*>(btf__type_by_id(k.get(), first));
    a->type = first + 1;  // loop_a -> loop_b -> loop_a
    const int hot = btf__add_var(k.get(), "pcpu_hot", BTF_VAR_GLOBAL_ALLOCATED, first);
    const int rq = btf__add_var(k.get(), "runqueues", BTF_VAR_GLOBAL_ALLOCATED, k.rq_type());
    ASSERT_GT(btf__add_datasec(k.get(), ".data..percpu", 8192), 0);
    ASSERT_EQ(btf__add_datasec_var_info(k.get(), hot, 0, 64), 0);
    ASSERT_EQ(btf__add_datasec_var_info(k.get(), rq, 4096, 3392), 0);
    auto layout = find_percpu_layout(k.get());
    ASSERT_TRUE(layout);
    EXPECT_EQ(layout->runqueues, 4096u);
    EXPECT_EQ(layout->preempt_count, 0u);
}
