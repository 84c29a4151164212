// SPDX-License-Identifier: GPL-2.0-only
// Reading a journal someone else may have written (or replaced): only
// regular files are read, opening never blocks on a FIFO or a device, and
// lines and JSON nesting are bounded so that memory and stack stay bounded
// whatever the file holds.
#pragma once
#include <cstddef>
#include <istream>
#include <streambuf>
#include <string>
#include <string_view>

#include "common/unique_fd.hpp"

namespace nfsleuth {

// No event nfsleuth writes comes near this; a longer line is not one of its.
inline constexpr std::size_t kMaxJournalLine = 1 << 20;
// nfsleuth's events nest three levels deep; far deeper is not one of its.
inline constexpr std::size_t kMaxJournalDepth = 64;

enum class LineRead { ok, too_long, end };

// One line without its newline, at most `limit` bytes kept; the rest of a
// longer line is read and discarded.
LineRead read_bounded_line(std::istream& in, std::string& line, std::size_t limit);

// Whether the JSON text nests arrays and objects deeper than `limit`,
// found by scanning, so that such a document is never parsed.
bool json_nesting_exceeds(std::string_view text, std::size_t limit);

// A regular file open for reading, as a std::istream. Throws
// std::runtime_error naming the path when it cannot be opened or is not a
// regular file.
class JournalInput {
public:
    explicit JournalInput(const std::string& path);
    JournalInput(const JournalInput&) = delete;
    JournalInput& operator=(const JournalInput&) = delete;

    std::istream& stream() { return stream_; }

private:
    // Reads the descriptor through a fixed buffer.
    class FdBuffer : public std::streambuf {
    public:
        explicit FdBuffer(int fd) : fd_(fd) {}

    protected:
        int_type underflow() override;

    private:
        int fd_;
        char data_[64 << 10];
    };

    UniqueFd fd_;
    FdBuffer buffer_;
    std::istream stream_;
};

}  // namespace nfsleuth
