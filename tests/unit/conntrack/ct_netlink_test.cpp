// SPDX-License-Identifier: GPL-2.0-only
#include "conntrack/ct_netlink.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/unique_fd.hpp"
#include "kernel/netns.hpp"

using nfsleuth::CtCreation;
using nfsleuth::CtEventSources;
using nfsleuth::CtEventSubscription;
using nfsleuth::parse_ct_new_message;

namespace {

constexpr uint32_t kNetns = 4026531840u;
// How the kernel labels conntrack events (ctnetlink_conntrack_event).
constexpr uint16_t kCtNew = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
constexpr uint16_t kCtDelete = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;
constexpr uint16_t kCreated = NLM_F_CREATE | NLM_F_EXCL;

using Ct = std::unique_ptr<nf_conntrack, void (*)(nf_conntrack*)>;

Ct new_ct() {
    Ct ct(nfct_new(), nfct_destroy);
    if (!ct) throw std::bad_alloc();
    return ct;
}

std::array<uint8_t, 16> addr(int family, const char* text) {
    std::array<uint8_t, 16> out{};
    EXPECT_EQ(inet_pton(family, text, out.data()), 1) << text;
    return out;
}

uint32_t v4(const char* text) {
    uint32_t a = 0;
    EXPECT_EQ(inet_pton(AF_INET, text, &a), 1) << text;
    return a;
}

// An IPv4 entry with distinct original and reply tuples, as after DNAT, so
// taking the wrong direction shows.
Ct ipv4_ct(uint8_t proto, uint16_t sport, uint16_t dport) {
    auto ct = new_ct();
    nfct_set_attr_u8(ct.get(), ATTR_ORIG_L3PROTO, AF_INET);
    nfct_set_attr_u32(ct.get(), ATTR_ORIG_IPV4_SRC, v4("10.1.2.3"));
    nfct_set_attr_u32(ct.get(), ATTR_ORIG_IPV4_DST, v4("192.0.2.80"));
    nfct_set_attr_u8(ct.get(), ATTR_ORIG_L4PROTO, proto);
    nfct_set_attr_u16(ct.get(), ATTR_ORIG_PORT_SRC, htons(sport));
    nfct_set_attr_u16(ct.get(), ATTR_ORIG_PORT_DST, htons(dport));
    nfct_set_attr_u8(ct.get(), ATTR_REPL_L3PROTO, AF_INET);
    nfct_set_attr_u32(ct.get(), ATTR_REPL_IPV4_SRC, v4("172.16.9.9"));
    nfct_set_attr_u32(ct.get(), ATTR_REPL_IPV4_DST, v4("10.1.2.3"));
    nfct_set_attr_u8(ct.get(), ATTR_REPL_L4PROTO, proto);
    nfct_set_attr_u16(ct.get(), ATTR_REPL_PORT_SRC, htons(8080));
    nfct_set_attr_u16(ct.get(), ATTR_REPL_PORT_DST, htons(sport));
    return ct;
}

Ct ipv6_ct(uint8_t proto) {
    auto ct = new_ct();
    const auto src = addr(AF_INET6, "2001:db8::1");
    const auto dst = addr(AF_INET6, "2001:db8:ffff::53");
    nfct_set_attr_u8(ct.get(), ATTR_ORIG_L3PROTO, AF_INET6);
    nfct_set_attr(ct.get(), ATTR_ORIG_IPV6_SRC, src.data());
    nfct_set_attr(ct.get(), ATTR_ORIG_IPV6_DST, dst.data());
    nfct_set_attr_u8(ct.get(), ATTR_ORIG_L4PROTO, proto);
    nfct_set_attr_u8(ct.get(), ATTR_REPL_L3PROTO, AF_INET6);
    nfct_set_attr(ct.get(), ATTR_REPL_IPV6_SRC, dst.data());
    nfct_set_attr(ct.get(), ATTR_REPL_IPV6_DST, src.data());
    nfct_set_attr_u8(ct.get(), ATTR_REPL_L4PROTO, proto);
    return ct;
}

// nlmsghdr + nfgenmsg + the entry's attributes, labelled like a kernel event.
// The headers of a conntrack event at the start of buf.
nlmsghdr* put_event_headers(std::vector<uint8_t>& buf, uint16_t type, uint16_t flags, uint8_t family) {
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = flags;
    auto* nfh = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
    nfh->nfgen_family = family;
    nfh->version = NFNETLINK_V0;
    nfh->res_id = 0;
    return nlh;
}

std::vector<uint8_t> message(const nf_conntrack* ct, uint8_t family, uint16_t type = kCtNew,
                             uint16_t flags = kCreated) {
    std::vector<uint8_t> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = put_event_headers(buf, type, flags, family);
    EXPECT_EQ(nfct_nlmsg_build(nlh, ct), 0);
    buf.resize(nlh->nlmsg_len);
    return buf;
}

std::optional<CtCreation> parse(const std::vector<uint8_t>& msg) {
    return parse_ct_new_message(msg.data(), msg.size(), kNetns);
}

CtCreation expected(uint8_t family, uint8_t proto, const char* src, const char* dst, uint16_t sport,
                     uint16_t dport, uint16_t zone = 0) {
    CtCreation c;
    c.netns_ino = kNetns;
    c.family = family;
    c.proto = proto;
    c.saddr = addr(family, src);
    c.daddr = addr(family, dst);
    c.sport = sport;
    c.dport = dport;
    c.zone = zone;
    return c;
}

void expect_creation(const std::optional<CtCreation>& got, const CtCreation& want) {
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->netns_ino, want.netns_ino);
    EXPECT_EQ(got->family, want.family);
    EXPECT_EQ(got->proto, want.proto);
    EXPECT_EQ(got->saddr, want.saddr);
    EXPECT_EQ(got->daddr, want.daddr);
    EXPECT_EQ(got->sport, want.sport);
    EXPECT_EQ(got->dport, want.dport);
    EXPECT_EQ(got->zone, want.zone);
}

}  // namespace

TEST(CtNetlinkParse, Ipv4TcpWithZone) {
    auto ct = ipv4_ct(IPPROTO_TCP, 40000, 443);
    nfct_set_attr_u16(ct.get(), ATTR_ZONE, 7);
    expect_creation(parse(message(ct.get(), AF_INET)),
                    expected(AF_INET, IPPROTO_TCP, "10.1.2.3", "192.0.2.80", 40000, 443, 7));
}

TEST(CtNetlinkParse, Ipv4Udp) {
    auto ct = ipv4_ct(IPPROTO_UDP, 5353, 53);
    expect_creation(parse(message(ct.get(), AF_INET)),
                    expected(AF_INET, IPPROTO_UDP, "10.1.2.3", "192.0.2.80", 5353, 53));
}

TEST(CtNetlinkParse, Ipv6Udp) {
    auto ct = ipv6_ct(IPPROTO_UDP);
    nfct_set_attr_u16(ct.get(), ATTR_ORIG_PORT_SRC, htons(61000));
    nfct_set_attr_u16(ct.get(), ATTR_ORIG_PORT_DST, htons(53));
    nfct_set_attr_u16(ct.get(), ATTR_REPL_PORT_SRC, htons(53));
    nfct_set_attr_u16(ct.get(), ATTR_REPL_PORT_DST, htons(61000));
    nfct_set_attr_u16(ct.get(), ATTR_ZONE, 65535);
    expect_creation(parse(message(ct.get(), AF_INET6)),
                    expected(AF_INET6, IPPROTO_UDP, "2001:db8::1", "2001:db8:ffff::53", 61000, 53, 65535));
}

TEST(CtNetlinkParse, IcmpEcho) {
    auto ct = new_ct();
    nfct_set_attr_u8(ct.get(), ATTR_ORIG_L3PROTO, AF_INET);
    nfct_set_attr_u32(ct.get(), ATTR_ORIG_IPV4_SRC, v4("198.51.100.7"));
    nfct_set_attr_u32(ct.get(), ATTR_ORIG_IPV4_DST, v4("203.0.113.1"));
    nfct_set_attr_u8(ct.get(), ATTR_ORIG_L4PROTO, IPPROTO_ICMP);
    nfct_set_attr_u8(ct.get(), ATTR_ICMP_TYPE, 8);
    nfct_set_attr_u8(ct.get(), ATTR_ICMP_CODE, 3);  // not a real echo code: shows it lands in the low byte
    nfct_set_attr_u16(ct.get(), ATTR_ICMP_ID, htons(0x1234));
    nfct_set_attr_u16(ct.get(), ATTR_ZONE, 2);
    expect_creation(parse(message(ct.get(), AF_INET)),
                    expected(AF_INET, IPPROTO_ICMP, "198.51.100.7", "203.0.113.1", 0x1234, 0x0803, 2));
}

TEST(CtNetlinkParse, Icmpv6Echo) {
    auto ct = ipv6_ct(IPPROTO_ICMPV6);
    nfct_set_attr_u8(ct.get(), ATTR_ICMP_TYPE, 128);
    nfct_set_attr_u8(ct.get(), ATTR_ICMP_CODE, 0);
    nfct_set_attr_u16(ct.get(), ATTR_ICMP_ID, htons(77));
    expect_creation(parse(message(ct.get(), AF_INET6)),
                    expected(AF_INET6, IPPROTO_ICMPV6, "2001:db8::1", "2001:db8:ffff::53", 77, 0x8000));
}

TEST(CtNetlinkParse, OriginalDirectionZoneWins) {
    // A zone for one direction only travels inside that direction's tuple.
    auto ct = ipv4_ct(IPPROTO_TCP, 1, 2);
    nfct_set_attr_u16(ct.get(), ATTR_ZONE, 5);
    nfct_set_attr_u16(ct.get(), ATTR_ORIG_ZONE, 9);
    nfct_set_attr_u16(ct.get(), ATTR_REPL_ZONE, 11);
    auto got = parse(message(ct.get(), AF_INET));
    ASSERT_TRUE(got);
    EXPECT_EQ(got->zone, 9);
}

TEST(CtNetlinkParse, OnlyCreations) {
    auto ct = ipv4_ct(IPPROTO_TCP, 40000, 443);
    EXPECT_TRUE(parse(message(ct.get(), AF_INET)));
    EXPECT_FALSE(parse(message(ct.get(), AF_INET, kCtNew, 0))) << "update";
    EXPECT_FALSE(parse(message(ct.get(), AF_INET, kCtDelete, 0))) << "destroy";
    EXPECT_FALSE(parse(message(ct.get(), AF_INET, kCtDelete, kCreated))) << "destroy, odd flags";
    EXPECT_FALSE(parse(message(ct.get(), AF_INET, (NFNL_SUBSYS_CTNETLINK_EXP << 8) | IPCTNL_MSG_CT_NEW)))
        << "expectation";
    EXPECT_FALSE(parse(message(ct.get(), AF_INET, NLMSG_ERROR))) << "error";
}

TEST(CtNetlinkParse, FamilyMustMatchAddresses) {
    auto ct = ipv4_ct(IPPROTO_UDP, 1, 2);
    EXPECT_FALSE(parse(message(ct.get(), AF_INET6)));
    EXPECT_FALSE(parse(message(ct.get(), AF_BRIDGE)));
    auto ct6 = ipv6_ct(IPPROTO_UDP);
    EXPECT_FALSE(parse(message(ct6.get(), AF_INET)));
}

TEST(CtNetlinkParse, LengthHandling) {
    auto ct = ipv4_ct(IPPROTO_UDP, 1000, 2000);
    auto msg = message(ct.get(), AF_INET);
    EXPECT_FALSE(parse_ct_new_message(nullptr, msg.size(), kNetns));
    // Bytes after nlmsg_len (the next message of a datagram) are not read.
    auto longer = msg;
    longer.resize(msg.size() + 64, 0xff);
    EXPECT_EQ(parse_ct_new_message(longer.data(), longer.size(), kNetns), parse(msg));
    // nlmsg_len beyond the buffer.
    EXPECT_FALSE(parse_ct_new_message(msg.data(), msg.size() - 1, kNetns));
}

namespace {

// Built by hand as the kernel would, with knobs for what libnetfilter_conntrack
// refuses to build: a reply tuple only, a port of the wrong size.
std::vector<uint8_t> hand_built(uint16_t tuple_type, bool wide_port) {
    std::vector<uint8_t> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = put_event_headers(buf, kCtNew, kCreated, AF_INET);
    nlattr* tuple = mnl_attr_nest_start(nlh, tuple_type);
    nlattr* ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
    mnl_attr_put_u32(nlh, CTA_IP_V4_SRC, v4("10.0.0.1"));
    mnl_attr_put_u32(nlh, CTA_IP_V4_DST, v4("10.0.0.2"));
    mnl_attr_nest_end(nlh, ip);
    nlattr* proto = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
    mnl_attr_put_u8(nlh, CTA_PROTO_NUM, IPPROTO_UDP);
    if (wide_port)
        mnl_attr_put_u32(nlh, CTA_PROTO_SRC_PORT, htonl(1234));
    else
        mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(1234));
    mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(53));
    mnl_attr_nest_end(nlh, proto);
    mnl_attr_nest_end(nlh, tuple);
    buf.resize(nlh->nlmsg_len);
    return buf;
}

}  // namespace

TEST(CtNetlinkParse, HandBuiltMessages) {
    expect_creation(parse(hand_built(CTA_TUPLE_ORIG, false)),
                    expected(AF_INET, IPPROTO_UDP, "10.0.0.1", "10.0.0.2", 1234, 53));
    EXPECT_FALSE(parse(hand_built(CTA_TUPLE_ORIG, true))) << "a 4-byte port";
    EXPECT_FALSE(parse(hand_built(CTA_TUPLE_REPLY, false))) << "no original tuple";
}

// Every prefix of a valid message, each in a heap block of exactly that size
// so that a sanitizer build catches any read past it.
TEST(CtNetlinkParse, TruncationsNeverReadPastTheEnd) {
    auto ct4 = ipv4_ct(IPPROTO_TCP, 40000, 443);
    nfct_set_attr_u16(ct4.get(), ATTR_ZONE, 7);
    auto ct6 = ipv6_ct(IPPROTO_ICMPV6);
    nfct_set_attr_u8(ct6.get(), ATTR_ICMP_TYPE, 128);
    nfct_set_attr_u16(ct6.get(), ATTR_ICMP_ID, htons(1));
    nfct_set_attr_u16(ct6.get(), ATTR_ORIG_ZONE, 3);
    for (const auto& [msg, family] : {std::pair{message(ct4.get(), AF_INET), AF_INET},
                                      std::pair{message(ct6.get(), AF_INET6), AF_INET6}}) {
        const auto full = parse(msg);
        ASSERT_TRUE(full);
        for (std::size_t len = 0; len < msg.size(); ++len) {
            auto block = std::make_unique<uint8_t[]>(len);
            std::copy_n(msg.begin(), len, block.get());
            // As received: the header still claims the full length.
            EXPECT_FALSE(parse_ct_new_message(block.get(), len, kNetns)) << "len " << len;
            // As if the sender had stopped early: the header agrees.
            if (len >= sizeof(nlmsghdr)) {
                reinterpret_cast<nlmsghdr*>(block.get())->nlmsg_len = static_cast<uint32_t>(len);
                auto got = parse_ct_new_message(block.get(), len, kNetns);
                if (got) {
                    // Only a trailing CTA_ZONE can go missing without the tuple.
                    EXPECT_EQ(got->family, family);
                    EXPECT_EQ(got->proto, full->proto);
                    EXPECT_EQ(got->saddr, full->saddr);
                    EXPECT_EQ(got->daddr, full->daddr);
                    EXPECT_EQ(got->sport, full->sport);
                    EXPECT_EQ(got->dport, full->dport);
                    EXPECT_TRUE(got->zone == full->zone || got->zone == 0) << "len " << len;
                }
            }
        }
    }
}

TEST(CtNetlinkParse, RandomCorruptionIsSurvived) {
    auto ct = ipv4_ct(IPPROTO_TCP, 40000, 443);
    nfct_set_attr_u16(ct.get(), ATTR_ZONE, 7);
    const auto msg = message(ct.get(), AF_INET);
    std::mt19937 rng(20261123);
    std::uniform_int_distribution<std::size_t> pos(sizeof(nlmsghdr), msg.size() - 1);
    std::uniform_int_distribution<int> byte(0, 255);
    for (int round = 0; round < 20000; ++round) {
        auto block = std::make_unique<uint8_t[]>(msg.size());
        std::copy(msg.begin(), msg.end(), block.get());
        for (int flips = 1 + round % 4; flips > 0; --flips) block[pos(rng)] = static_cast<uint8_t>(byte(rng));
        auto got = parse_ct_new_message(block.get(), msg.size(), kNetns);
        if (got) {
            EXPECT_TRUE(got->family == AF_INET || got->family == AF_INET6);
        }
    }
}

// ---- sources without privileges ----------------------------------------------

namespace {

nfsleuth::NetnsInfo missing_namespace() {
    return {12345, "gone", "/nonexistent/nfsleuth/ns/net", std::nullopt, std::nullopt, std::nullopt};
}

}  // namespace

TEST(CtNetlinkSources, InitialNamespaceFailureIsFatal) {
    CtEventSources sources;
    EXPECT_THROW(sources.refresh({missing_namespace()}), nfsleuth::Failure);
}

TEST(CtNetlinkSources, LaterFailuresAreCountedOnce) {
    CtEventSources sources;
    sources.refresh({});
    sources.refresh({missing_namespace()});
    sources.refresh({missing_namespace()});
    EXPECT_EQ(sources.unreachable(), 1u);
    EXPECT_EQ(sources.refused(), 0u);
    EXPECT_EQ(sources.subscriptions(), 0u);
    sources.refresh({});  // gone from the list: a comeback counts again
    sources.refresh({missing_namespace()});
    EXPECT_EQ(sources.unreachable(), 2u);
    EXPECT_EQ(sources.drain_all([](const CtCreation&) {}), 0u);
}

// ---- against the running kernel (root) ---------------------------------------

namespace {

int sh(const std::string& command) { return std::system(command.c_str()); }

// A named network namespace that is deleted whatever the test's outcome.
// A namespace named PREFIX<pid>. One left by an earlier run that died
// without its destructors (a sanitizer abort) is removed first.
class TempNetns {
public:
    explicit TempNetns(const std::string& prefix) : name_(prefix + std::to_string(::getpid())) {
        remove_orphans(prefix);
        sh("ip netns del " + name_ + " 2>/dev/null");
        created_ = sh("ip netns add " + name_) == 0;
    }
    ~TempNetns() { remove(); }
    TempNetns(const TempNetns&) = delete;
    TempNetns& operator=(const TempNetns&) = delete;

    bool created() const { return created_; }
    const std::string& name() const { return name_; }
    int exec(const std::string& command) const { return sh("ip netns exec " + name_ + " " + command); }
    void remove() {
        if (created_) sh("ip netns del " + name_);
        created_ = false;
    }

private:
    static void remove_orphans(const std::string& prefix) {
        std::error_code ec;
        for (std::filesystem::directory_iterator it("/run/netns", ec), end; !ec && it != end; it.increment(ec)) {
            const std::string name = it->path().filename().string();
            if (name.rfind(prefix, 0) != 0) continue;
            const std::string pid = name.substr(prefix.size());
            if (pid.empty() || pid.size() > 9 || pid.find_first_not_of("0123456789") != std::string::npos) continue;
            if (::kill(std::stoi(pid), 0) != 0 && errno == ESRCH) sh("ip netns del " + name);
        }
    }

    std::string name_;
    bool created_ = false;
};

bool have_root_and_tools() {
    return ::geteuid() == 0 && sh("command -v ip >/dev/null && command -v iptables >/dev/null") == 0;
}

std::optional<nfsleuth::NetnsInfo> find_namespace(const std::string& name) {
    for (auto& ns : nfsleuth::list_network_namespaces())
        if (ns.name == name) return ns;
    return std::nullopt;
}

}  // namespace

TEST(CtNetlinkRuntime, SocketIsNonBlockingCloexecWithLargeBuffer) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    // This thread's own namespace: subscribed without setns.
    struct stat st{};
    ASSERT_EQ(::stat("/proc/thread-self/ns/net", &st), 0);
    const nfsleuth::NetnsInfo here{st.st_ino, "self", "/proc/thread-self/ns/net", std::nullopt, std::nullopt, std::nullopt};
    CtEventSubscription sub(here);
    ASSERT_GE(sub.fd(), 0);
    EXPECT_TRUE(::fcntl(sub.fd(), F_GETFL) & O_NONBLOCK);
    EXPECT_TRUE(::fcntl(sub.fd(), F_GETFD) & FD_CLOEXEC);
    int size = 0;
    socklen_t len = sizeof size;
    ASSERT_EQ(::getsockopt(sub.fd(), SOL_SOCKET, SO_RCVBUF, &size, &len), 0);
    EXPECT_GE(size, 8 << 20);
    EXPECT_EQ(sub.netns_inode(), here.inode);
}

TEST(CtNetlinkRuntime, UdpCreationsInATemporaryNamespace) {
    if (!have_root_and_tools()) GTEST_SKIP() << "needs root, ip and iptables";
    const auto started = std::chrono::steady_clock::now();
    TempNetns netns("nfsl-ctnl-");
    if (!netns.created()) GTEST_SKIP() << "ip netns add failed (no CAP_SYS_ADMIN?)";
    ASSERT_EQ(netns.exec("ip link set lo up"), 0);
    // A conntrack match makes the namespace register conntrack's hooks.
    ASSERT_EQ(netns.exec("iptables -A OUTPUT -m conntrack --ctstate NEW -j ACCEPT"), 0);
    const auto ns = find_namespace(netns.name());
    ASSERT_TRUE(ns);

    CtEventSources sources;
    sources.refresh({*ns});
    ASSERT_EQ(sources.subscriptions(), 1u);
    ASSERT_TRUE(sources.subscribed(ns->inode));

    const std::set<uint16_t> ports{47001, 47002, 47003};
    int sent = 0;
    ASSERT_TRUE(nfsleuth::run_in_netns(ns->path, [&] {
        nfsleuth::UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        if (!s) return;
        for (uint16_t port : ports) {
            sockaddr_in to{};
            to.sin_family = AF_INET;
            to.sin_port = htons(port);
            to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            if (::sendto(s.get(), "x", 1, 0, reinterpret_cast<const sockaddr*>(&to), sizeof to) == 1) ++sent;
        }
    }));
    ASSERT_EQ(sent, 3);

    std::vector<CtCreation> got;
    auto collect = [&](const CtCreation& c) { got.push_back(c); };
    auto wait_and_drain = [&](std::chrono::milliseconds budget) {
        const auto deadline = std::chrono::steady_clock::now() + budget;
        for (;;) {
            sources.drain_all(collect);
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (got.size() >= 3 || left.count() <= 0) return;
            epoll_event ev{};
            ::epoll_wait(sources.epoll_fd(), &ev, 1, static_cast<int>(left.count()));
        }
    };
    wait_and_drain(std::chrono::milliseconds(2000));
    ASSERT_EQ(got.size(), 3u);
    // Nothing else follows: the ICMP port unreachable replies are RELATED
    // to these entries and create none.
    wait_and_drain(std::chrono::milliseconds(100));
    EXPECT_EQ(got.size(), 3u);

    std::set<uint16_t> dports;
    const auto loopback = addr(AF_INET, "127.0.0.1");
    for (const auto& c : got) {
        EXPECT_EQ(c.netns_ino, ns->inode);
        EXPECT_EQ(c.family, AF_INET);
        EXPECT_EQ(c.proto, IPPROTO_UDP);
        EXPECT_EQ(c.saddr, loopback);
        EXPECT_EQ(c.daddr, loopback);
        EXPECT_EQ(c.sport, got.front().sport);  // one socket, one source port
        EXPECT_NE(c.sport, 0);
        EXPECT_EQ(c.zone, 0);
        dports.insert(c.dport);
    }
    EXPECT_EQ(dports, ports);
    EXPECT_EQ(sources.overruns(), 0u);
    EXPECT_GE(sources.messages(), 3u);
    EXPECT_EQ(sources.unreachable(), 0u);
    EXPECT_EQ(sources.refused(), 0u);

    // Once deleted the namespace is listed nowhere (only our socket holds it).
    netns.remove();
    std::vector<nfsleuth::NetnsInfo> still;
    for (auto& n : nfsleuth::list_network_namespaces())
        if (n.inode == ns->inode) still.push_back(n);
    EXPECT_TRUE(still.empty());
    sources.refresh(still);
    EXPECT_EQ(sources.subscriptions(), 0u);
    EXPECT_GE(sources.messages(), 3u);  // closed subscriptions still count
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));
}
