// SPDX-License-Identifier: GPL-2.0-only
#include "daemon/journal.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <vector>

#include "common/error.hpp"

namespace nfsleuth {

namespace {

constexpr mode_t kFileMode = 0640;

std::string directory_of(const std::string& path) {
    std::string dir = std::filesystem::path(path).parent_path().string();
    return dir.empty() ? "." : dir;
}

uint64_t count_lines(std::string_view text) {
    return static_cast<uint64_t>(std::count(text.begin(), text.end(), '\n'));
}

// The pid the lock holder wrote into the lock file, or "unknown" if it has
// not written it yet (it locks first, then writes).
std::string lock_holder(int fd) {
    char buf[32];
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    std::string pid;
    for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i) pid += buf[i];
    return pid.empty() ? "unknown" : pid;
}

// Makes the renames of a rotation durable; a failure here costs nothing but
// the ordering guarantee after a crash, so it is not reported.
void sync_directory(const std::string& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    ::fsync(fd);
    ::close(fd);
}

bool same_file(const struct stat& a, const struct stat& b) { return a.st_dev == b.st_dev && a.st_ino == b.st_ino; }

std::string octal_mode(mode_t mode) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
    return buf;
}

// Why the open file `what` must not be written, or "" if it may: it has to
// be a regular file with no other name, since a hard link elsewhere would
// be cut and overwritten with it.
std::string not_a_private_file(int fd, const std::string& what) {
    struct stat st{};
    if (::fstat(fd, &st) != 0) return "cannot inspect " + what + ": " + describe_errno(errno);
    if (!S_ISREG(st.st_mode)) return what + " is not a regular file";
    if (st.st_nlink > 1) return what + " has other names (hard links), so writing it would change other files";
    return {};
}

}  // namespace

Journal::Fd& Journal::Fd::operator=(Fd&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = other.release();
    }
    return *this;
}

Journal::Fd::~Fd() {
    if (fd_ >= 0) ::close(fd_);
}

Journal::Journal(JournalOptions options) : options_(std::move(options)) {
    const std::string& path = options_.path;
    const std::string remedy = "choose another --journal path";
    if (path.empty()) throw Failure(ExitCode::usage, "the journal path is empty", "give --journal a file name");

    // Checked up front so the message names the real problem rather than
    // whatever open() of the lock file happens to report.
    const std::string dir = directory_of(path);
    struct stat st{};
    if (::stat(dir.c_str(), &st) != 0) {
        int err = errno;
        if (err == ENOENT)
            throw Failure(ExitCode::failure, "the directory " + dir + " for the journal does not exist",
                          "create it first (nfsleuth does not create directories), or " + remedy);
        throw Failure(ExitCode::failure,
                      "cannot reach the directory " + dir + " for the journal: " + describe_errno(err), remedy);
    }
    if (!S_ISDIR(st.st_mode))
        throw Failure(ExitCode::failure, dir + " is not a directory, so it cannot hold the journal", remedy);
    // Whoever may write the directory may put links where the journal, its
    // lock and its rotated names go; the sticky bit lets them replace only
    // their own entries.
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
        throw Failure(ExitCode::failure,
                      "the directory " + dir + " for the journal is writable by other users (mode " +
                          octal_mode(st.st_mode) + "), who could replace the journal with a link to another file",
                      "remove their write permission (chmod go-w " + dir + ") or set the sticky bit, or " + remedy);
    if (::lstat(path.c_str(), &st) == 0) {
        if (S_ISLNK(st.st_mode))
            throw Failure(ExitCode::failure, "the journal path " + path + " is a symbolic link",
                          "nfsleuth writes only the file named, never a link's target: give the real path, or " +
                              remedy);
        if (S_ISDIR(st.st_mode))
            throw Failure(ExitCode::failure, "the journal path " + path + " is a directory",
                          "give a file name, e.g. " + path + "/nfsleuth.jsonl");
        if (!S_ISREG(st.st_mode))
            throw Failure(ExitCode::failure, "the journal path " + path + " is not a regular file",
                          "the journal is rotated and truncated, so " + remedy + " naming a regular file");
    } else if (errno != ENOENT) {
        throw Failure(ExitCode::failure, "cannot reach the journal " + path + ": " + describe_errno(errno), remedy);
    }

    // The lock comes before the journal is touched: repairing the tail of a
    // file another process is still writing would destroy its lines.
    take_lock();

    std::string error;
    fd_ = open_journal(error);
    if (!fd_) throw Failure(ExitCode::failure, error, "check the permissions of " + path + ", or " + remedy);
    if (!repair_tail(fd_.get()))
        throw Failure(ExitCode::failure, "cannot repair the end of the journal " + path + ": " + last_error_,
                      "move the file away, or " + remedy);
    last_sync_ = std::chrono::steady_clock::now();
}

Journal::~Journal() {
    try {
        flush();
        if (dirty_) sync_now(std::chrono::steady_clock::now());
    } catch (...) {
        // Only allocation can throw here; the descriptors close regardless.
    }
}

void Journal::take_lock() {
    const std::string lock_path = options_.path + ".lock";
    // O_NOFOLLOW: a link planted at the lock's name would have us write
    // our pid into its target.
    int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, kFileMode);
    const std::string remedy = "choose another --journal path";
    if (fd < 0 && errno == ELOOP)
        throw Failure(ExitCode::failure, "the journal's lock file " + lock_path + " is a symbolic link",
                      "remove it (nfsleuth creates the lock file itself), or " + remedy);
    if (fd < 0) {
        int err = errno;
        throw Failure(ExitCode::failure,
                      "cannot create the journal's lock file " + lock_path + ": " + describe_errno(err),
                      err == EACCES || err == EROFS || err == EPERM
                          ? "make " + directory_of(options_.path) + " writable for nfsleuth, or " + remedy
                          : remedy);
    }
    lock_ = Fd(fd);
    if (std::string error = not_a_private_file(fd, "the journal's lock file " + lock_path); !error.empty())
        throw Failure(ExitCode::failure, error, "remove it (nfsleuth creates the lock file itself), or " + remedy);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        if (err == EWOULDBLOCK)
            throw Failure(ExitCode::failure,
                          "the journal " + options_.path + " is in use by another nfsleuth (pid " +
                              lock_holder(fd) + ")",
                          "stop that process first, or give this one another --journal path");
        throw Failure(ExitCode::failure, "cannot lock " + lock_path + ": " + describe_errno(err),
                      "put the journal on a file system that supports flock()");
    }
    // Only for the message of a second instance; failing to write it is harmless.
    const std::string pid = std::to_string(::getpid()) + "\n";
    bool written = ::ftruncate(fd, 0) == 0 && ::pwrite(fd, pid.data(), pid.size(), 0) > 0;
    (void)written;
}

Journal::Fd Journal::open_journal(std::string& error) const {
    const std::string& path = options_.path;
    // O_RDWR rather than O_WRONLY: repair_tail() reads the end of this very
    // file, whatever name it has by then.
    // O_NOFOLLOW: a link put at the path, also between a rotation's rename
    // and this open, must not make us cut and append to its target.
    Fd fd(::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, kFileMode));
    if (!fd) {
        error = errno == ELOOP ? "the journal path " + path + " is a symbolic link"
                               : "cannot open the journal " + path + ": " + describe_errno(errno);
        return fd;
    }
    error = not_a_private_file(fd.get(), "the journal " + path);
    return error.empty() ? std::move(fd) : Fd();
}

bool Journal::repair_tail(int fd) {
    struct stat st{};
    if (::fstat(fd, &st) != 0) {
        note_error("cannot inspect the journal " + options_.path, errno);
        return false;
    }
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    if (size == 0) return true;
    std::vector<char> block(std::min<uint64_t>(size, 64 << 10));
    uint64_t end = size;
    uint64_t cut = 0;  // no '\n' at all: nothing in the file is a complete line
    while (end > 0) {
        const std::size_t n = static_cast<std::size_t>(std::min<uint64_t>(end, block.size()));
        const uint64_t off = end - n;
        ssize_t got = ::pread(fd, block.data(), n, static_cast<off_t>(off));
        if (got < 0 && errno == EINTR) continue;
        if (got != static_cast<ssize_t>(n)) {
            note_error("cannot read the journal " + options_.path, got < 0 ? errno : EIO);
            return false;
        }
        if (const void* nl = ::memrchr(block.data(), '\n', n)) {
            cut = off + static_cast<uint64_t>(static_cast<const char*>(nl) - block.data()) + 1;
            break;
        }
        end = off;
    }
    if (cut == size) return true;
    if (::ftruncate(fd, static_cast<off_t>(cut)) != 0) {
        note_error("cannot cut the partial last line of the journal " + options_.path, errno);
        return false;
    }
    stats_.torn_bytes_repaired += size - cut;
    return true;
}

void Journal::append(std::string_view line) {
    if (line.find('\n') != std::string_view::npos)
        throw std::logic_error("a journal line must be a single line; it contains '\\n'");
    // Writing early keeps memory bounded without dropping events.
    if (!buffer_.empty() && buffer_.size() + line.size() + 1 > options_.max_buffered_bytes) flush();
    buffer_.append(line);
    buffer_.push_back('\n');
}

std::size_t Journal::chunk_end(std::size_t pos, uint64_t size) const {
    if (options_.max_bytes == 0) return buffer_.size();
    const std::size_t left = buffer_.size() - pos;
    const uint64_t room = size >= options_.max_bytes ? 0 : options_.max_bytes - size;
    if (left <= room) return buffer_.size();
    if (room > 0) {
        std::size_t nl = buffer_.rfind('\n', pos + static_cast<std::size_t>(room) - 1);
        if (nl != std::string::npos && nl >= pos) return nl + 1;
    }
    // A line longer than max_bytes still goes out whole, alone in a fresh file.
    if (size == 0) return buffer_.find('\n', pos) + 1;
    return pos;
}

std::size_t Journal::write_chunk(std::size_t pos, std::size_t end, uint64_t size) {
    std::size_t done = 0;
    int err = 0;
    while (pos + done < end) {
        ssize_t n = ::write(fd_.get(), buffer_.data() + pos + done, end - pos - done);
        if (n > 0) {
            done += static_cast<std::size_t>(n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            err = n < 0 ? errno : EIO;  // 0 for a regular file would loop forever
            break;
        }
    }
    std::size_t whole = done;
    if (pos + done < end) {
        // Keep the lines that made it whole; cut the rest so that the next
        // line does not get glued to a fragment.
        whole = 0;
        if (done > 0) {
            std::size_t nl = buffer_.rfind('\n', pos + done - 1);
            if (nl != std::string::npos && nl >= pos) whole = nl + 1 - pos;
        }
        ++stats_.write_errors;
        note_error("cannot write to the journal " + options_.path, err);
        if (whole != done && ::ftruncate(fd_.get(), static_cast<off_t>(size + whole)) != 0) {
            torn_ = true;
            note_error("cannot cut a partial line from the journal " + options_.path, errno);
        }
    }
    stats_.lines += count_lines(std::string_view(buffer_).substr(pos, whole));
    stats_.bytes += whole;
    if (whole > 0) dirty_ = true;
    return pos + whole;
}

bool Journal::flush() {
    if (buffer_.empty()) return true;
    bool ok = true;
    std::size_t pos = 0;
    auto lose_rest = [&] {
        stats_.lines_lost += count_lines(std::string_view(buffer_).substr(pos));
        ok = false;
    };
    // A fragment we could not cut earlier: appending now would glue a line to it.
    if (torn_) {
        if (repair_tail(fd_.get())) {
            torn_ = false;
        } else {
            ++stats_.write_errors;
            lose_rest();
        }
    }
    bool just_rotated = false;
    while (ok && pos < buffer_.size()) {
        // The real size, not a running count: logrotate's copytruncate may
        // have emptied the file, and a cut after a short write must be exact.
        struct stat st{};
        if (::fstat(fd_.get(), &st) != 0) {
            ++stats_.write_errors;
            note_error("cannot inspect the journal " + options_.path, errno);
            lose_rest();
            break;
        }
        const uint64_t size = static_cast<uint64_t>(st.st_size);
        std::size_t end = chunk_end(pos, size);
        if (end == pos) {
            if (!just_rotated && rotate()) {
                just_rotated = true;
                continue;
            }
            // Rotation failed: an oversized file beats lost events.
            end = buffer_.size();
        }
        just_rotated = false;
        std::size_t written = write_chunk(pos, end, size);
        pos = written;
        if (written != end) lose_rest();
    }
    buffer_.clear();
    if (dirty_ && options_.fsync_interval.count() == 0) ok = sync_now(std::chrono::steady_clock::now()) && ok;
    return ok;
}

bool Journal::rotate() {
    const std::string& path = options_.path;
    if (options_.keep == 0) {
        if (::ftruncate(fd_.get(), 0) != 0) {
            ++stats_.write_errors;
            note_error("cannot truncate the journal " + path + " for rotation", errno);
            return false;
        }
        ++stats_.rotations;
        return true;
    }
    // Rotated files are complete and durable before they are renamed away.
    if (dirty_) sync_now(std::chrono::steady_clock::now());

    // Only rename path if it still is our file: after logrotate moved it
    // away (and before SIGHUP), path is absent or someone else's new file.
    struct stat ours{}, named{};
    bool still_ours = ::fstat(fd_.get(), &ours) == 0 && ::lstat(path.c_str(), &named) == 0 && same_file(ours, named);
    if (still_ours) {
        for (unsigned i = options_.keep - 1; i >= 1; --i) {
            std::string from = path + "." + std::to_string(i);
            std::string to = path + "." + std::to_string(i + 1);
            if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT)
                note_error("cannot rename " + from + " to " + to, errno);  // the chain has a gap, nothing worse
        }
        if (::rename(path.c_str(), (path + ".1").c_str()) != 0) {
            ++stats_.write_errors;
            note_error("cannot rename the journal " + path + " for rotation", errno);
            return false;
        }
    }
    std::string error;
    Fd fresh = open_journal(error);
    if (!fresh) {
        ++stats_.write_errors;
        last_error_ = error;
        // Put the current file back under its name so that writing on to it
        // keeps the journal where readers look for it.
        if (still_ours) (void)::rename((path + ".1").c_str(), path.c_str());
        return false;
    }
    fd_ = std::move(fresh);
    dirty_ = false;
    torn_ = false;
    sync_directory(directory_of(path));
    ++stats_.rotations;
    return true;
}

bool Journal::sync_now(std::chrono::steady_clock::time_point now) {
    // A failed sync is retried only at the next interval, not on every call.
    last_sync_ = now;
    if (::fdatasync(fd_.get()) != 0) {
        ++stats_.write_errors;
        note_error("cannot sync the journal " + options_.path, errno);
        return false;
    }
    ++stats_.fsyncs;
    dirty_ = false;
    return true;
}

bool Journal::sync_if_due(std::chrono::steady_clock::time_point now) {
    if (!dirty_ || now - last_sync_ < options_.fsync_interval) return true;
    return sync_now(now);
}

bool Journal::reopen() {
    bool ok = flush();
    std::string error;
    Fd fresh = open_journal(error);
    if (!fresh) {
        ++stats_.write_errors;
        last_error_ = error;
        return false;
    }
    if (!repair_tail(fresh.get())) {
        ++stats_.write_errors;
        return false;
    }
    if (dirty_) ok = sync_now(std::chrono::steady_clock::now()) && ok;
    fd_ = std::move(fresh);
    dirty_ = false;
    torn_ = false;
    return ok;
}

void Journal::note_error(const std::string& what, int err) { last_error_ = what + ": " + describe_errno(err); }

}  // namespace nfsleuth
