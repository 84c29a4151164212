// SPDX-License-Identifier: GPL-2.0-only
#include "why/journal_input.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

#include "common/error.hpp"

namespace nfsleuth {

namespace {

UniqueFd open_regular_file(const std::string& path) {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
    // writer. It changes nothing for reading a regular file.
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    if (!fd) throw std::runtime_error("cannot open " + path + ": " + describe_errno(-errno));
    struct stat st{};
    if (::fstat(fd.get(), &st) != 0) throw std::runtime_error("cannot inspect " + path + ": " + describe_errno(-errno));
    if (!S_ISREG(st.st_mode)) throw std::runtime_error(path + " is not a regular file");
    return fd;
}

}  // namespace

LineRead read_bounded_line(std::istream& in, std::string& line, std::size_t limit) {
    line.clear();
    std::streambuf* buf = in.rdbuf();
    bool any = false;
    bool too_long = false;
    for (int c = buf->sbumpc(); c != std::char_traits<char>::eof(); c = buf->sbumpc()) {
        any = true;
        if (c == '\n') break;
        if (line.size() < limit)
            line.push_back(static_cast<char>(c));
        else
            too_long = true;
    }
    if (!any) return LineRead::end;
    return too_long ? LineRead::too_long : LineRead::ok;
}

bool json_nesting_exceeds(std::string_view text, std::size_t limit) {
    std::size_t depth = 0;
    bool in_string = false;
    bool escaped = false;
    for (char c : text) {
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > limit) return true;
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return false;
}

JournalInput::JournalInput(const std::string& path)
    : fd_(open_regular_file(path)), buffer_(fd_.get()), stream_(&buffer_) {}

JournalInput::FdBuffer::int_type JournalInput::FdBuffer::underflow() {
    ssize_t n;
    do {
        n = ::read(fd_, data_, sizeof data_);
    } while (n < 0 && errno == EINTR);
    // A read error ends the file like its end does: what was read stands.
    if (n <= 0) return traits_type::eof();
    setg(data_, data_, data_ + n);
    return traits_type::to_int_type(data_[0]);
}

}  // namespace nfsleuth
