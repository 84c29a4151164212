// SPDX-License-Identifier: GPL-2.0-only
// The JSON-lines event journal of `watch --journal FILE`: events appended to
// a file with size-based rotation, scheduled fsync and reopen on SIGHUP. A
// reader can parse every complete line: no line is ever written in part and
// then continued, and a torn tail left by a killed writer is cut at open.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace nfsleuth {

struct JournalOptions {
    std::string path;
    uint64_t max_bytes = 64 << 20;  // rotate before the file would exceed this (0 = never)
    unsigned keep = 5;              // rotated files kept: path.1 (newest) .. path.keep; 0 = truncate instead
    std::chrono::milliseconds fsync_interval{1000};  // 0 = fsync after every flush
    std::size_t max_buffered_bytes = 4 << 20;        // append() flushes before the buffer would exceed this
};

struct JournalStats {
    uint64_t lines = 0;                // lines written whole
    uint64_t bytes = 0;                // bytes of those lines, newlines included
    uint64_t rotations = 0;
    uint64_t fsyncs = 0;
    uint64_t write_errors = 0;         // failed write/fsync/rotation calls
    uint64_t lines_lost = 0;           // lines dropped because a write failed
    uint64_t torn_bytes_repaired = 0;  // bytes of partial lines cut from the file's tail
};

// Single-threaded, like the event loop that owns it.
class Journal {
public:
    // Takes the lock file path + ".lock", opens (creating, mode 0640) the
    // journal and cuts a torn tail. Throws Failure for an unusable path, a
    // directory other users may write (without the sticky bit), a journal or
    // lock that is a symbolic link or has other hard links, or a journal in
    // use by another process; never creates directories. Links are never
    // followed, at rotation and reopen either.
    explicit Journal(JournalOptions options);
    // Flushes, fsyncs and closes; never throws.
    ~Journal();
    Journal(const Journal&) = delete;
    Journal& operator=(const Journal&) = delete;

    // Buffers one event. The line must not contain '\n' (std::logic_error):
    // the caller passes single-line JSON. Flushes first if the buffer would
    // otherwise outgrow max_buffered_bytes.
    void append(std::string_view line);
    // Writes every buffered line, rotating when needed, in as few write()
    // calls as possible. I/O errors do not throw: the lines concerned are
    // counted in stats().lines_lost, last_error() says why, and the result is
    // false. The buffer is empty afterwards either way.
    bool flush();
    // fdatasync when something was written and fsync_interval has passed
    // since the last sync. False if the sync failed.
    bool sync_if_due(std::chrono::steady_clock::time_point now);
    // For SIGHUP after logrotate moved the file away: flushes, then opens
    // path anew and syncs and closes the old file. If path cannot be opened
    // the old file stays in use and the result is false.
    bool reopen();

    const JournalStats& stats() const { return stats_; }
    // The most recent I/O error as one sentence, empty if none happened.
    const std::string& last_error() const { return last_error_; }
    const std::string& path() const { return options_.path; }

private:
    // Owns one file descriptor.
    class Fd {
    public:
        Fd() = default;
        explicit Fd(int fd) : fd_(fd) {}
        Fd(Fd&& other) noexcept : fd_(other.release()) {}
        Fd& operator=(Fd&& other) noexcept;
        Fd(const Fd&) = delete;
        Fd& operator=(const Fd&) = delete;
        ~Fd();
        int get() const { return fd_; }
        explicit operator bool() const { return fd_ >= 0; }
        int release() {
            int fd = fd_;
            fd_ = -1;
            return fd;
        }

    private:
        int fd_ = -1;
    };

    void take_lock();
    // Opens (creating) path; on failure an invalid Fd and `error` says why.
    Fd open_journal(std::string& error) const;
    // Cuts fd's file back to just after its last '\n'; false on I/O error.
    bool repair_tail(int fd);
    // End (exclusive) of the longest run of buffered lines from `pos` that
    // fits in a file of `size` bytes; `pos` if rotation must come first.
    std::size_t chunk_end(std::size_t pos, uint64_t size) const;
    // Writes buffer_[pos, end) at the end of the file of `size` bytes; on
    // failure cuts the file back to the last whole line and returns the
    // offset into the buffer up to which lines were written.
    std::size_t write_chunk(std::size_t pos, std::size_t end, uint64_t size);
    bool rotate();
    bool sync_now(std::chrono::steady_clock::time_point now);
    void note_error(const std::string& what, int err);

    JournalOptions options_;
    Fd lock_;
    Fd fd_;
    std::string buffer_;  // complete lines, each ending in '\n'
    bool dirty_ = false;  // written since the last successful sync
    bool torn_ = false;   // a failed write left a partial line we could not cut
    std::chrono::steady_clock::time_point last_sync_;
    JournalStats stats_;
    std::string last_error_;
};

}  // namespace nfsleuth
