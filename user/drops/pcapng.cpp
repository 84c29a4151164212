// SPDX-License-Identifier: GPL-2.0-only
#include "drops/pcapng.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "common/error.hpp"

namespace nfsleuth {

namespace {

constexpr uint32_t kSectionHeaderType = 0x0A0D0D0A;
constexpr uint32_t kInterfaceDescriptionType = 0x00000001;
constexpr uint32_t kEnhancedPacketType = 0x00000006;
constexpr uint32_t kByteOrderMagic = 0x1A2B3C4D;

constexpr uint16_t kOptEndOfOpt = 0;
constexpr uint16_t kOptComment = 1;
constexpr uint16_t kShbUserAppl = 4;
constexpr uint16_t kIfName = 2;
constexpr uint16_t kIfDescription = 3;
constexpr uint16_t kIfTsresol = 9;
constexpr uint8_t kTsresolNanoseconds = 9;  // 10^-9 s

constexpr mode_t kFileMode = 0640;
constexpr uint64_t kOneSecondNs = 1'000'000'000;

std::size_t padding_to_32_bits(std::size_t size) { return (4 - size % 4) % 4; }

// `value` cut to what an option can hold, never inside a UTF-8 character:
// if the cut falls on a continuation byte (10xxxxxx), it moves back to the
// start of that character, at most 3 bytes away.
std::string_view fit_option_value(std::string_view value) {
    if (value.size() <= kPcapngMaxOptionLength) return value;
    std::size_t end = kPcapngMaxOptionLength;
    for (int i = 0; i < 3 && (static_cast<unsigned char>(value[end]) & 0xC0) == 0x80; ++i) --end;
    return value.substr(0, end);
}

// One block being built: type, total length (filled in by finish), body,
// total length again.
class Block {
public:
    explicit Block(uint32_t type) {
        put_u32(type);
        put_u32(0);
    }

    void put_u8(uint8_t v) { put_raw(&v, sizeof v); }
    void put_u16(uint16_t v) { put_raw(&v, sizeof v); }
    void put_u32(uint32_t v) { put_raw(&v, sizeof v); }
    void put_u64(uint64_t v) { put_raw(&v, sizeof v); }
    void put_padded(std::string_view data) {
        bytes_.append(data);
        bytes_.append(padding_to_32_bits(data.size()), '\0');
    }
    void put_option(uint16_t code, std::string_view value) {
        value = fit_option_value(value);
        put_u16(code);
        put_u16(static_cast<uint16_t>(value.size()));
        put_padded(value);
    }
    void put_end_of_options() {
        put_u16(kOptEndOfOpt);
        put_u16(0);
    }

    std::string finish() && {
        std::size_t total = bytes_.size() + sizeof(uint32_t);
        if (total > std::numeric_limits<uint32_t>::max())
            throw std::length_error("a pcapng block cannot hold " + std::to_string(total) + " bytes");
        auto total32 = static_cast<uint32_t>(total);
        put_u32(total32);
        std::memcpy(bytes_.data() + sizeof(uint32_t), &total32, sizeof total32);
        return std::move(bytes_);
    }

private:
    void put_raw(const void* p, std::size_t n) { bytes_.append(static_cast<const char*>(p), n); }

    std::string bytes_;
};

}  // namespace

std::string pcapng_section_header(std::string_view application) {
    Block b(kSectionHeaderType);
    b.put_u32(kByteOrderMagic);
    b.put_u16(1);  // major version
    b.put_u16(0);  // minor version
    b.put_u64(std::numeric_limits<uint64_t>::max());  // section length -1: not known up front
    b.put_option(kShbUserAppl, application);
    b.put_end_of_options();
    return std::move(b).finish();
}

std::string pcapng_interface(uint16_t linktype, uint32_t snaplen, std::string_view name,
                             std::string_view description) {
    Block b(kInterfaceDescriptionType);
    b.put_u16(linktype);
    b.put_u16(0);  // reserved
    b.put_u32(snaplen);
    b.put_option(kIfName, name);
    b.put_option(kIfDescription, description);
    const char tsresol = static_cast<char>(kTsresolNanoseconds);
    b.put_option(kIfTsresol, std::string_view(&tsresol, 1));
    b.put_end_of_options();
    return std::move(b).finish();
}

std::string pcapng_packet(uint32_t interface_id, uint64_t timestamp_ns, uint32_t original_length,
                          std::string_view captured, std::string_view comment) {
    // Refused before building anything: the captured length field is 32 bits.
    if (captured.size() > std::numeric_limits<uint32_t>::max())
        throw std::length_error("a pcapng block cannot hold a packet of " + std::to_string(captured.size()) +
                                " bytes");
    auto captured_length = static_cast<uint32_t>(captured.size());
    Block b(kEnhancedPacketType);
    b.put_u32(interface_id);
    b.put_u32(static_cast<uint32_t>(timestamp_ns >> 32));
    b.put_u32(static_cast<uint32_t>(timestamp_ns & 0xFFFFFFFFu));
    b.put_u32(captured_length);
    b.put_u32(std::max(original_length, captured_length));
    b.put_padded(captured);
    if (!comment.empty()) b.put_option(kOptComment, comment);
    b.put_end_of_options();
    return std::move(b).finish();
}

PcapngFile PcapngFile::create(const std::string& path, std::string_view application) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, kFileMode));
    if (!fd) throw std::runtime_error("cannot create the pcapng file " + path + ": " + describe_errno(errno));
    PcapngFile file(std::move(fd), path);
    file.write_block(pcapng_section_header(application) +
                     pcapng_interface(kLinktypeRaw, kInterfaceSnaplen, "nfsleuth",
                                      "packets of flows conntrack dropped"));
    return file;
}

void PcapngFile::write_packet(uint64_t timestamp_ns, uint32_t original_length, std::string_view captured,
                              std::string_view comment) {
    captured = captured.substr(0, kInterfaceSnaplen);
    write_block(pcapng_packet(0, timestamp_ns, original_length, captured, comment));
    ++packets_written_;
}

void PcapngFile::write_block(const std::string& block) {
    if (torn_)
        throw std::runtime_error("cannot write to the pcapng file " + path_ +
                                 ": an earlier failed write left a partial block at its end");
    std::size_t done = 0;
    while (done < block.size()) {
        ssize_t n = ::write(fd_.get(), block.data() + done, block.size() - done);
        if (n > 0) {
            done += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        int err = n < 0 ? errno : EIO;  // 0 for a regular file would loop forever
        // A reader stops at a torn block; cut it off so that the next
        // packets are still read.
        if (done > 0) {
            auto whole = static_cast<off_t>(bytes_written_);
            if (::ftruncate(fd_.get(), whole) != 0 || ::lseek(fd_.get(), whole, SEEK_SET) != whole) torn_ = true;
        }
        throw std::runtime_error("cannot write to the pcapng file " + path_ + ": " + describe_errno(err));
    }
    bytes_written_ += block.size();
}

CaptureLimiter::CaptureLimiter(CaptureLimits limits) : limits_(limits) {
    limits_.max_flows = std::max<std::size_t>(limits_.max_flows, 1);
}

bool CaptureLimiter::admit(const std::string& flow_key, uint64_t now_ns) {
    // A packet over both limits counts as skipped per flow: that limit
    // would skip it in any second.
    auto flow = admitted_per_flow_.find(flow_key);
    uint32_t admitted_of_flow = flow == admitted_per_flow_.end() ? 0 : flow->second;
    if (admitted_of_flow >= limits_.packets_per_flow) {
        ++skipped_per_flow_;
        return false;
    }

    bool window_over =
        !window_open_ || (now_ns >= window_start_ns_ && now_ns - window_start_ns_ >= kOneSecondNs);
    uint32_t admitted_in_window = window_over ? 0 : admitted_in_window_;
    if (admitted_in_window >= limits_.packets_per_second) {
        ++skipped_rate_;
        return false;
    }
    if (window_over) {
        window_open_ = true;
        window_start_ns_ = now_ns;
        admitted_in_window_ = 0;
    }

    ++admitted_in_window_;
    ++admitted_;
    if (flow != admitted_per_flow_.end())
        ++flow->second;
    else
        remember(flow_key);
    return true;
}

void CaptureLimiter::remember(const std::string& flow_key) {
    if (admitted_per_flow_.size() >= limits_.max_flows) {
        admitted_per_flow_.erase(flows_by_age_.front());
        flows_by_age_.pop_front();
        ++flows_forgotten_;
    }
    admitted_per_flow_.emplace(flow_key, 1);
    flows_by_age_.push_back(flow_key);
}

}  // namespace nfsleuth
