// SPDX-License-Identifier: GPL-2.0-only
// The one place that talks to libbpf directly: logging, RAII for skeletons
// and ring buffers.
#pragma once
#include <bpf/libbpf.h>

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/error.hpp"

struct ring_buffer;

namespace nfsleuth {

// Routes libbpf's messages to stderr: warnings only, or everything with -v.
void install_libbpf_logging(bool verbose);

// Silences libbpf while expected failures happen (feature probing).
class QuietLibbpf {
public:
    QuietLibbpf();
    ~QuietLibbpf();
    QuietLibbpf(const QuietLibbpf&) = delete;
    QuietLibbpf& operator=(const QuietLibbpf&) = delete;

private:
    libbpf_print_fn_t previous_;
};

// Owns a bpftool-generated skeleton (the C++ helpers bpftool emits give
// every skeleton the same static open/load/attach/destroy interface).
template <class Skel>
class Skeleton {
public:
    // btf_path: kernel BTF to use instead of /sys/kernel/btf/vmlinux.
    explicit Skeleton(const std::optional<std::string>& btf_path = std::nullopt) {
        LIBBPF_OPTS(bpf_object_open_opts, opts);
        if (btf_path) opts.btf_custom_path = btf_path->c_str();
        skel_.reset(Skel::open(&opts));
        if (!skel_) throw Failure(ExitCode::failure, "cannot open the BPF object: " + describe_errno(-errno));
    }
    Skel* operator->() const { return skel_.get(); }
    Skel* get() const { return skel_.get(); }
    // Returns 0 or a negative errno; the caller decides how fatal it is.
    int load() { return Skel::load(skel_.get()); }

private:
    struct Destroy {
        void operator()(Skel* s) const { Skel::destroy(s); }
    };
    std::unique_ptr<Skel, Destroy> skel_;
};

// Owns one bpf_link.
class Link {
public:
    Link() = default;
    explicit Link(bpf_link* l) : link_(l) {}
    explicit operator bool() const { return static_cast<bool>(link_); }

private:
    struct Destroy {
        void operator()(bpf_link* l) const { bpf_link__destroy(l); }
    };
    std::unique_ptr<bpf_link, Destroy> link_;
};

// Attaches a program by its section's own attach type and target.
// Returns the link or throws Failure naming the program.
Link attach_program(bpf_program* prog);

// Owns a libbpf ring_buffer consuming BPF ringbuf maps, one handler each.
// A handler gets each record of its map; an exception it throws is reported
// and the record dropped.
class RingBuffer {
public:
    using Handler = std::function<void(const void* data, std::size_t size)>;
    RingBuffer(int map_fd, Handler handler);
    ~RingBuffer();
    RingBuffer(const RingBuffer&) = delete;
    RingBuffer& operator=(const RingBuffer&) = delete;

    // Consumes another map through the same epoll fd and drain(), after
    // the maps added before it.
    void add(int map_fd, Handler handler);
    int epoll_fd() const;
    // Consumes everything available without blocking.
    void drain();

private:
    static int on_record(void* ctx, void* data, std::size_t size) noexcept;
    std::deque<Handler> handlers_;  // libbpf holds their addresses: a deque keeps them
    ring_buffer* rb_ = nullptr;
};

// Sums a per-CPU u64 array map entry over all CPUs.
uint64_t sum_percpu_counter(int map_fd, uint32_t index);

}  // namespace nfsleuth
