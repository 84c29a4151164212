// SPDX-License-Identifier: GPL-2.0-only
#include "kernel/bpf_support.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <vector>

namespace nfsleuth {

namespace {

int print_warnings(enum libbpf_print_level level, const char* fmt, va_list args) {
    if (level == LIBBPF_DEBUG || level == LIBBPF_INFO) return 0;
    return std::vfprintf(stderr, fmt, args);
}

int print_everything(enum libbpf_print_level, const char* fmt, va_list args) {
    return std::vfprintf(stderr, fmt, args);
}

int print_nothing(enum libbpf_print_level, const char*, va_list) { return 0; }

}  // namespace

void install_libbpf_logging(bool verbose) { libbpf_set_print(verbose ? print_everything : print_warnings); }

QuietLibbpf::QuietLibbpf() : previous_(libbpf_set_print(print_nothing)) {}
QuietLibbpf::~QuietLibbpf() { libbpf_set_print(previous_); }

Link attach_program(bpf_program* prog) {
    bpf_link* link = bpf_program__attach(prog);
    if (!link) {
        int err = -errno;
        throw Failure(ExitCode::unsupported,
                      std::string("cannot attach BPF program ") + bpf_program__name(prog) + ": " + describe_errno(err),
                      "run `nfsleuth doctor` to see which attach types this kernel supports");
    }
    return Link(link);
}

RingBuffer::RingBuffer(int map_fd, Handler handler) : handlers_{std::move(handler)} {
    rb_ = ring_buffer__new(map_fd, on_record, &handlers_.back(), nullptr);
    if (!rb_) throw Failure(ExitCode::failure, "cannot set up the BPF ring buffer: " + describe_errno(-errno));
}

void RingBuffer::add(int map_fd, Handler handler) {
    handlers_.push_back(std::move(handler));
    int err = ring_buffer__add(rb_, map_fd, on_record, &handlers_.back());
    if (err) {
        handlers_.pop_back();
        throw Failure(ExitCode::failure, "cannot set up the BPF ring buffer: " + describe_errno(err));
    }
}

RingBuffer::~RingBuffer() { ring_buffer__free(rb_); }

int RingBuffer::epoll_fd() const { return ring_buffer__epoll_fd(rb_); }

void RingBuffer::drain() {
    int n = ring_buffer__consume(rb_);
    if (n < 0 && n != -EINTR) throw Failure(ExitCode::failure, "reading the BPF ring buffer failed: " + describe_errno(n));
}

int RingBuffer::on_record(void* ctx, void* data, std::size_t size) noexcept {
    // Exceptions must not unwind through libbpf's C frames.
    try {
        (*static_cast<Handler*>(ctx))(data, size);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "nfsleuth: dropped an event: %s\n", e.what());
    } catch (...) {
        std::fprintf(stderr, "nfsleuth: dropped an event\n");
    }
    return 0;
}

uint64_t sum_percpu_counter(int map_fd, uint32_t index) {
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0) return 0;
    std::vector<uint64_t> values(static_cast<std::size_t>(ncpu));
    if (bpf_map_lookup_elem(map_fd, &index, values.data()) != 0) return 0;
    uint64_t total = 0;
    for (auto v : values) total += v;
    return total;
}

}  // namespace nfsleuth
