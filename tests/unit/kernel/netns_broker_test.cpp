// SPDX-License-Identifier: GPL-2.0-only
#include "kernel/netns_broker.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "kernel/netns.hpp"
#include "kernel/netns_broker_protocol.hpp"
#include "test_support.hpp"

using nfsleuth::BrokerClient;
using nfsleuth::BrokerOp;
using nfsleuth::BrokerReply;
using nfsleuth::BrokerRequest;
using nfsleuth::KprobeTarget;
using nfsleuth::NetnsFile;
using nfsleuth::NetnsStatus;
using nfsleuth::UniqueFd;

namespace {

std::string name_of(std::size_t n) { return std::string(n, 'n'); }

BrokerRequest files_request(const std::string& path, uint8_t what = nfsleuth::kAllNetnsFiles, uint64_t inode = 0) {
    return {BrokerOp::open_files, what, {path, inode}};
}

BrokerRequest kprobe_request(KprobeTarget target, bool retprobe) {
    return {BrokerOp::open_kprobe, static_cast<uint8_t>(target), {}, retprobe};
}

std::array<uint8_t, nfsleuth::kBrokerRequestSize> encoded(const BrokerRequest& r) {
    auto w = nfsleuth::encode_request(r);
    EXPECT_TRUE(w);
    return w ? *w : std::array<uint8_t, nfsleuth::kBrokerRequestSize>{};
}

uint64_t own_netns_inode() {
    struct stat st{};
    EXPECT_EQ(::stat("/proc/self/ns/net", &st), 0);
    return st.st_ino;
}

}  // namespace

// ---- paths ------------------------------------------------------------------

TEST(NetnsBrokerPaths, AcceptsTheFixedShapes) {
    for (const std::string& p : std::vector<std::string>{"/proc/self/ns/net", "/proc/1/ns/net", "/proc/4194304/ns/net", "/proc/1234567890/ns/net",
                                "/run/netns/blue", "/run/netns/a..b", "/run/netns/.hidden", "/run/netns/" + name_of(255)})
        EXPECT_TRUE(nfsleuth::valid_broker_netns_path(p)) << p;
}

TEST(NetnsBrokerPaths, RefusesEverythingElse) {
    for (const std::string& p : std::vector<std::string>{
             "", "/", "/proc", "/proc/ns/net", "/proc//ns/net", "/proc/thread-self/ns/net", "/proc/01/ns/net",
          "/proc/-1/ns/net", "/proc/+1/ns/net", "/proc/12345678901/ns/net", "/proc/1/ns/mnt", "/proc/1/ns/net/",
          "/proc/1/ns/netx", "/proc/1/../1/ns/net", "/proc/self/../1/ns/net", "/proc/1/task/1/ns/net",
          "proc/1/ns/net", "/run/netns/", "/run/netns/.", "/run/netns/..", "/run/netns/a/b", "/run/netns/../../etc/x",
          "/run/netns//x", "/run/netns/" + name_of(256), "/etc/passwd", "/run/netns", std::string("/run/netns/a\0b", 14),
          std::string("/proc/1\0/ns/net", 15)})
        EXPECT_FALSE(nfsleuth::valid_broker_netns_path(p)) << p;
}

// ---- requests ---------------------------------------------------------------

TEST(NetnsBrokerRequests, RoundTripEveryOp) {
    const std::vector<BrokerRequest> requests = {
        files_request("/proc/self/ns/net"),
        files_request("/run/netns/x", nfsleuth::file_bit(NetnsFile::conntrack_stat), 4026531840),
        {BrokerOp::open_socket, static_cast<uint8_t>(nfsleuth::NetnsSocket::conntrack_new_events), {"/proc/77/ns/net", 9}},
        {BrokerOp::open_socket, static_cast<uint8_t>(nfsleuth::NetnsSocket::nfnetlink), {"/proc/1/ns/net", 0}},
        {BrokerOp::run_tool, static_cast<uint8_t>(nfsleuth::RuleTool::ip6tables_legacy_save), {"/run/netns/" + name_of(255), 1}},
        kprobe_request(KprobeTarget::nf_conntrack_alloc, true),  // the first target
        kprobe_request(KprobeTarget::nf_ct_helper_log, false),   // the last
    };
    for (const auto& r : requests) {
        auto wire = encoded(r);
        auto back = nfsleuth::decode_request(wire.data(), wire.size());
        ASSERT_TRUE(back) << r.target.path;
        EXPECT_EQ(back->op, r.op);
        EXPECT_EQ(back->what, r.what);
        EXPECT_EQ(back->target.path, r.target.path);
        EXPECT_EQ(back->target.inode, r.target.inode);
        EXPECT_EQ(back->retprobe, r.retprobe);
    }
}

TEST(NetnsBrokerRequests, EncodingRefusesWhatTheBrokerWould) {
    EXPECT_FALSE(nfsleuth::encode_request(files_request("/tmp/x")));
    EXPECT_FALSE(nfsleuth::encode_request(files_request("/proc/self/ns/net", 0)));
    EXPECT_FALSE(nfsleuth::encode_request(files_request("/proc/self/ns/net", 8)));
    EXPECT_FALSE(nfsleuth::encode_request({BrokerOp::open_socket, 2, {"/proc/self/ns/net", 0}}));
    EXPECT_FALSE(nfsleuth::encode_request({BrokerOp::run_tool, 3, {"/proc/self/ns/net", 0}}));
    EXPECT_FALSE(nfsleuth::encode_request({static_cast<BrokerOp>(9), 0, {"/proc/self/ns/net", 0}}));
    // A kprobe: one of the targets, and no namespace.
    EXPECT_FALSE(nfsleuth::encode_request({BrokerOp::open_kprobe, nfsleuth::kKprobeTargetCount, {}, false}));
    EXPECT_FALSE(nfsleuth::encode_request({BrokerOp::open_kprobe, 0, {"/proc/self/ns/net", 0}, false}));
    EXPECT_FALSE(nfsleuth::encode_request({BrokerOp::open_kprobe, 0, {"", 1}, true}));
    // A retprobe only for a kprobe; a namespace for everything else.
    EXPECT_FALSE(nfsleuth::encode_request({BrokerOp::open_files, 1, {"/proc/self/ns/net", 0}, true}));
    EXPECT_FALSE(nfsleuth::encode_request({BrokerOp::open_socket, 0, {}, false}));
}

TEST(NetnsBrokerRequests, DecodingRefusesMalformedRecords) {
    const auto good = encoded(files_request("/run/netns/blue"));
    ASSERT_TRUE(nfsleuth::decode_request(good.data(), good.size()));
    EXPECT_FALSE(nfsleuth::decode_request(good.data(), good.size() - 1));
    std::vector<uint8_t> longer(good.begin(), good.end());
    longer.push_back(0);
    EXPECT_FALSE(nfsleuth::decode_request(longer.data(), longer.size()));
    EXPECT_FALSE(nfsleuth::decode_request(good.data(), 0));

    auto broken = [&](std::size_t offset, uint8_t value) {
        auto w = good;
        w[offset] = value;
        return nfsleuth::decode_request(w.data(), w.size());
    };
    EXPECT_FALSE(broken(0, 0x00));   // magic
    EXPECT_FALSE(broken(4, 0));      // op 0
    EXPECT_FALSE(broken(4, 4));      // open_kprobe with a namespace
    EXPECT_FALSE(broken(4, 5));      // op 5
    EXPECT_FALSE(broken(5, 0));      // no file asked
    EXPECT_FALSE(broken(5, 0x08));   // an unknown file
    EXPECT_FALSE(broken(6, 1));      // retprobe, not a kprobe
    EXPECT_FALSE(broken(6, 2));      // an unknown flag
    EXPECT_FALSE(broken(7, 1));      // reserved
    EXPECT_FALSE(broken(16 + 11, '/'));  // /run/netns//lue
    EXPECT_FALSE(broken(16 + 20, 'x'));  // garbage after the NUL
    EXPECT_FALSE(broken(nfsleuth::kBrokerRequestSize - 1, 'x'));

    // No NUL at all.
    auto w = good;
    std::memset(w.data() + 16, 'a', w.size() - 16);
    EXPECT_FALSE(nfsleuth::decode_request(w.data(), w.size()));

    auto socket = encoded({BrokerOp::open_socket, 1, {"/proc/self/ns/net", 0}});
    socket[5] = 2;
    EXPECT_FALSE(nfsleuth::decode_request(socket.data(), socket.size()));
    auto tool = encoded({BrokerOp::run_tool, 2, {"/proc/self/ns/net", 0}});
    tool[5] = 3;
    EXPECT_FALSE(nfsleuth::decode_request(tool.data(), tool.size()));

    const auto kprobe = encoded(kprobe_request(KprobeTarget::nf_ct_delete_part, true));
    ASSERT_TRUE(nfsleuth::decode_request(kprobe.data(), kprobe.size()));
    auto broken_kprobe = [&](std::size_t offset, uint8_t value) {
        auto w = kprobe;
        w[offset] = value;
        return nfsleuth::decode_request(w.data(), w.size());
    };
    EXPECT_TRUE(broken_kprobe(5, nfsleuth::kKprobeTargetCount - 1));  // the last target
    EXPECT_FALSE(broken_kprobe(5, nfsleuth::kKprobeTargetCount));     // an unknown target
    EXPECT_FALSE(broken_kprobe(5, 0xff));
    // 5, the first value past the five targets, and up to the old count of
    // 8: the broker no longer opens nf_hook_slow, nf_conntrack_in or
    // __nf_conntrack_confirm, and no value stands for them.
    EXPECT_EQ(nfsleuth::kKprobeTargetCount, 5u);
    for (uint8_t what = 5; what < 8; ++what) {
        EXPECT_FALSE(broken_kprobe(5, what)) << int(what);
        EXPECT_FALSE(nfsleuth::encode_request({BrokerOp::open_kprobe, what, {}, false})) << int(what);
    }
    EXPECT_FALSE(broken_kprobe(6, 3));                 // an unknown flag
    EXPECT_FALSE(broken_kprobe(7, 1));                 // reserved
    EXPECT_FALSE(broken_kprobe(8, 1));                 // an inode
    EXPECT_FALSE(broken_kprobe(16, '/'));              // a path
    EXPECT_FALSE(broken_kprobe(17, 'x'));              // garbage after the (empty) path
    EXPECT_FALSE(broken_kprobe(nfsleuth::kBrokerRequestSize - 1, 'x'));
    // Any kind of path: a kprobe is in no namespace.
    auto with_path = kprobe;
    std::memcpy(with_path.data() + 16, "/proc/self/ns/net", 17);
    EXPECT_FALSE(nfsleuth::decode_request(with_path.data(), with_path.size()));
}

// ---- replies ----------------------------------------------------------------

TEST(NetnsBrokerReplies, RoundTripAndChecks) {
    BrokerReply r;
    r.status = NetnsStatus::failed;
    r.error = EACCES;
    r.file_errors = {0, ENOENT, 0};
    r.fd_count = 2;
    auto wire = nfsleuth::encode_reply(r);
    auto back = nfsleuth::decode_reply(wire.data(), wire.size());
    ASSERT_TRUE(back);
    EXPECT_EQ(back->status, r.status);
    EXPECT_EQ(back->error, r.error);
    EXPECT_EQ(back->file_errors, r.file_errors);
    EXPECT_EQ(back->fd_count, 2);
    EXPECT_FALSE(nfsleuth::decode_reply(wire.data(), wire.size() - 1));

    auto bad = [&](std::size_t offset, uint8_t value) {
        auto w = wire;
        w[offset] = value;
        return nfsleuth::decode_reply(w.data(), w.size());
    };
    EXPECT_FALSE(bad(0, 0));     // magic
    EXPECT_FALSE(bad(4, 5));     // status
    EXPECT_FALSE(bad(5, 4));     // fd count
    EXPECT_FALSE(bad(6, 1));     // reserved
    EXPECT_FALSE(bad(11, 0x80));  // negative error
    EXPECT_FALSE(bad(15, 0x80));  // negative file error

    auto hello = nfsleuth::encode_hello({0x283000});
    ASSERT_TRUE(nfsleuth::decode_hello(hello.data(), hello.size()));
    EXPECT_EQ(nfsleuth::decode_hello(hello.data(), hello.size())->capabilities, 0x283000u);
    EXPECT_FALSE(nfsleuth::decode_hello(wire.data(), wire.size()));
}

TEST(NetnsBrokerReplies, ExpectedDescriptors) {
    const auto files = files_request("/proc/self/ns/net", 0b101);
    BrokerReply r;
    EXPECT_EQ(nfsleuth::expected_fd_count(files, r), 2);
    r.file_errors = {ENOENT, 0, 0};
    EXPECT_EQ(nfsleuth::expected_fd_count(files, r), 1);
    r.file_errors = {0, ENOENT, 0};  // an error for a file not asked
    EXPECT_FALSE(nfsleuth::expected_fd_count(files, r));
    r = {};
    r.status = NetnsStatus::unreachable;
    EXPECT_EQ(nfsleuth::expected_fd_count(files, r), 0);
    EXPECT_EQ(nfsleuth::expected_fd_count({BrokerOp::open_socket, 1, {"/proc/self/ns/net", 0}}, BrokerReply{}), 1);
    const auto kprobe = kprobe_request(KprobeTarget::early_drop, true);
    EXPECT_EQ(nfsleuth::expected_fd_count(kprobe, BrokerReply{}), 1);
    r.status = NetnsStatus::failed;
    EXPECT_EQ(nfsleuth::expected_fd_count(kprobe, r), 0);
}

// ---- the numbers of the conntrack files -----------------------------------------
// One parser for the sysctl numbers, whether read from a descriptor the
// broker opened (read_conntrack_files) or from a file (read_number_file).

TEST(NetnsNumbers, AsTheKernelWritesThem) {
    EXPECT_EQ(nfsleuth::parse_number("262144\n"), 262144u);
    EXPECT_EQ(nfsleuth::parse_number("0\n"), 0u);
    EXPECT_EQ(nfsleuth::parse_number("7"), 7u);
    EXPECT_EQ(nfsleuth::parse_number("  42\n"), 42u);
    EXPECT_EQ(nfsleuth::parse_number("18446744073709551615\n"), UINT64_MAX);
    // Only the number counts: what follows it is not looked at.
    EXPECT_EQ(nfsleuth::parse_number("12 34\n"), 12u);
    EXPECT_EQ(nfsleuth::parse_number("12abc"), 12u);
}

TEST(NetnsNumbers, AnythingElseIsNone) {
    for (const char* s : {"", "\n", " ", "abc", "-1\n", "+5\n", "\t7\n", "\n8", "18446744073709551616\n",
                          "99999999999999999999999\n"})
        EXPECT_FALSE(nfsleuth::parse_number(s)) << s;
    EXPECT_FALSE(nfsleuth::parse_number(std::string_view("\0" "5", 2)));
}

TEST(NetnsNumbers, FromFiles) {
    nfsleuth_test::TempDir dir("nfsleuth-numbers");
    auto write = [&](const std::string& name, const std::string& text) {
        const auto path = (dir.path() / name).string();
        std::ofstream(path) << text;
        return path;
    };
    EXPECT_EQ(nfsleuth::read_number_file(write("max", "262144\n")), 262144u);
    EXPECT_FALSE(nfsleuth::read_number_file(write("empty", "")));
    EXPECT_FALSE(nfsleuth::read_number_file(write("word", "none\n")));
    EXPECT_FALSE(nfsleuth::read_number_file((dir.path() / "absent").string()));
    // Whole files: every byte, none added.
    const std::string text("a\nb\0c", 5);
    EXPECT_EQ(nfsleuth::read_whole_file(write("text", text)), text);
    EXPECT_EQ(nfsleuth::read_whole_file(write("nothing", "")), std::string());
    EXPECT_FALSE(nfsleuth::read_whole_file((dir.path() / "absent").string()));
}

// ---- a broker on a thread, over a real socket pair -----------------------------

namespace {

class BrokerOnThread {
public:
    explicit BrokerOnThread(nfsleuth::KprobeEvents& kprobes = nfsleuth::in_process_kprobes()) {
        int pair[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
        client_end_.reset(pair[0]);
        broker_end_.reset(pair[1]);
        thread_ = std::thread([this, &kprobes] {
            served_ = nfsleuth::serve_netns_requests(broker_end_.get(), here_, kprobes);
        });
    }
    ~BrokerOnThread() { stop(); }
    UniqueFd take_client_end() { return std::move(client_end_); }
    int raw_client_end() const { return client_end_.get(); }
    // Waits for the broker to see EOF; true if it ended cleanly.
    bool stop() {
        client_end_.reset();
        if (thread_.joinable()) thread_.join();
        return served_;
    }

private:
    nfsleuth::InProcessNetns here_;
    UniqueFd client_end_, broker_end_;
    bool served_ = false;
    std::thread thread_;
};

}  // namespace

TEST(NetnsBrokerServing, FilesOfItsOwnNamespace) {
    BrokerOnThread broker;
    BrokerClient client(broker.take_client_end());
    auto files = client.open_files({"/proc/self/ns/net", own_netns_inode()}, nfsleuth::kAllNetnsFiles);
    ASSERT_TRUE(files.ok()) << files.error;
    const char* paths[] = {"/proc/sys/net/netfilter/nf_conntrack_count", "/proc/sys/net/netfilter/nf_conntrack_max",
                           "/proc/self/net/stat/nf_conntrack"};
    for (std::size_t i = 0; i < nfsleuth::kNetnsFileCount; ++i) {
        const bool exists = ::access(paths[i], R_OK) == 0;
        EXPECT_EQ(bool(files.fds[i]), exists) << paths[i];
        EXPECT_EQ(files.errors[i], exists ? 0 : ENOENT) << paths[i];
    }
    if (files.fds[1]) {
        EXPECT_EQ(nfsleuth::read_fd_text(files.fds[1].get(), 64), nfsleuth::read_whole_file(paths[1]));
        EXPECT_TRUE(::fcntl(files.fds[1].get(), F_GETFD) & FD_CLOEXEC);
    }
    EXPECT_FALSE(client.broken());
}

// The numbers read from the descriptors the broker hands over are those the
// files hold (the count only where there is one: it moves with traffic).
TEST(NetnsBrokerServing, ConntrackNumbersAsTheFilesHoldThem) {
    BrokerOnThread broker;
    BrokerClient client(broker.take_client_end());
    const auto files = nfsleuth::read_conntrack_files(client, {"/proc/self/ns/net", own_netns_inode()});
    EXPECT_EQ(files.count.has_value(),
              nfsleuth::read_number_file("/proc/sys/net/netfilter/nf_conntrack_count").has_value());
    EXPECT_EQ(files.max, nfsleuth::read_number_file("/proc/sys/net/netfilter/nf_conntrack_max"));
    EXPECT_FALSE(client.broken());
}

TEST(NetnsBrokerServing, ANamespaceNotTheOneExpectedIsRefused) {
    BrokerOnThread broker;
    BrokerClient client(broker.take_client_end());
    auto files = client.open_files({"/proc/self/ns/net", own_netns_inode() + 1}, nfsleuth::kAllNetnsFiles);
    EXPECT_EQ(files.status, NetnsStatus::moved);
    auto gone = client.open_socket({"/run/netns/nfsleuth-no-such-namespace", 0}, nfsleuth::NetnsSocket::nfnetlink);
    EXPECT_EQ(gone.status, NetnsStatus::unreachable);
    EXPECT_EQ(gone.error, ENOENT);
    // Refused by the client itself: the broker would refuse it too.
    auto odd = client.open_files({"/etc/passwd", 0}, nfsleuth::kAllNetnsFiles);
    EXPECT_EQ(odd.status, NetnsStatus::unreachable);
    EXPECT_FALSE(client.broken());
}

TEST(NetnsBrokerServing, MalformedRequestsAreAnsweredAndChangeNothing) {
    BrokerOnThread broker;
    const int fd = broker.raw_client_end();
    auto expect_refused = [&](const void* data, std::size_t size, int pass_fd) {
        iovec iov{const_cast<void*>(data), size};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))]{};
        if (pass_fd >= 0) {
            msg.msg_control = control;
            msg.msg_controllen = sizeof control;
            cmsghdr* c = CMSG_FIRSTHDR(&msg);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int));
            std::memcpy(CMSG_DATA(c), &pass_fd, sizeof pass_fd);
        }
        ASSERT_EQ(::sendmsg(fd, &msg, 0), static_cast<ssize_t>(size));
        unsigned char buf[64];
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        auto reply = nfsleuth::decode_reply(buf, static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
        ASSERT_TRUE(reply);
        EXPECT_EQ(reply->status, NetnsStatus::failed);
        EXPECT_EQ(reply->error, EINVAL);
        EXPECT_EQ(reply->fd_count, 0);
    };
    std::vector<uint8_t> junk(1000, 0xab);
    expect_refused(junk.data(), junk.size(), -1);
    expect_refused(junk.data(), 1, -1);
    auto good = encoded(files_request("/proc/self/ns/net"));
    // A valid request with a descriptor attached is refused as well.
    UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    expect_refused(good.data(), good.size(), devnull.get());
    auto bad_path = good;
    std::memcpy(bad_path.data() + 16, "/etc/passwd\0\0\0\0\0\0", 17);
    expect_refused(bad_path.data(), bad_path.size(), -1);
    EXPECT_TRUE(broker.stop());
}

TEST(NetnsBrokerServing, AGoneBrokerFailsEveryRequest) {
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
    ::close(pair[1]);
    BrokerClient client{UniqueFd(pair[0])};
    auto files = client.open_files({"/proc/self/ns/net", 0}, nfsleuth::kAllNetnsFiles);
    EXPECT_EQ(files.status, NetnsStatus::no_broker);
    ASSERT_TRUE(client.broken());
    EXPECT_EQ(client.run_tool({"/proc/self/ns/net", 0}, nfsleuth::RuleTool::nft).status, NetnsStatus::no_broker);
    EXPECT_EQ(client.open_kprobe(KprobeTarget::early_drop, false).status, NetnsStatus::no_broker);
}

TEST(NetnsBrokerServing, AMalformedAnswerBreaksTheClient) {
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
    UniqueFd fake(pair[1]);
    std::thread liar([&] {
        unsigned char buf[512];
        if (::recv(fake.get(), buf, sizeof buf, 0) <= 0) return;
        // Says one socket follows, sends none.
        BrokerReply r;
        r.fd_count = 1;
        auto wire = nfsleuth::encode_reply(r);
        (void)::send(fake.get(), wire.data(), wire.size(), 0);
    });
    BrokerClient client{UniqueFd(pair[0])};
    auto s = client.open_socket({"/proc/self/ns/net", 0}, nfsleuth::NetnsSocket::nfnetlink);
    liar.join();
    EXPECT_EQ(s.status, NetnsStatus::no_broker);
    EXPECT_FALSE(s.fd);
    ASSERT_TRUE(client.broken());
    EXPECT_EQ(*client.broken(), "it sent a malformed answer");
}

TEST(NetnsBrokerServing, ToolOutputComesBackWhole) {
    if (::geteuid() != 0 || ::access("/usr/sbin/nft", X_OK) != 0) GTEST_SKIP() << "needs root and nft";
    BrokerOnThread broker;
    BrokerClient client(broker.take_client_end());
    auto through_broker = client.run_tool({"/proc/self/ns/net", 0}, nfsleuth::RuleTool::nft);
    auto here = nfsleuth::in_process_netns().run_tool({"/proc/self/ns/net", 0}, nfsleuth::RuleTool::nft);
    ASSERT_TRUE(here.ok()) << here.error;
    ASSERT_TRUE(through_broker.ok()) << through_broker.error;
    EXPECT_EQ(through_broker.output, here.output);
}

// ---- kprobe perf events ------------------------------------------------------

namespace {

// Hands out /dev/null for every kprobe, remembering what was asked.
class FakeKprobes final : public nfsleuth::KprobeEvents {
public:
    nfsleuth::KprobeEventFd open_kprobe(KprobeTarget target, bool retprobe) override {
        asked.emplace_back(target, retprobe);
        nfsleuth::KprobeEventFd out;
        out.fd.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        return out;
    }
    std::vector<std::pair<KprobeTarget, bool>> asked;
};

}  // namespace

TEST(NetnsBrokerServing, KprobeEventsComeBackAsDescriptors) {
    FakeKprobes fake;
    {
        BrokerOnThread broker(fake);
        BrokerClient client(broker.take_client_end());
        auto entry = client.open_kprobe(KprobeTarget::nf_ct_delete_part, false);
        auto exit = client.open_kprobe(KprobeTarget::nf_conntrack_alloc, true);
        ASSERT_TRUE(entry.ok()) << entry.error;
        ASSERT_TRUE(exit.ok()) << exit.error;
        struct stat st{};
        ASSERT_EQ(::fstat(exit.fd.get(), &st), 0);
        EXPECT_TRUE(S_ISCHR(st.st_mode));
        EXPECT_TRUE(::fcntl(exit.fd.get(), F_GETFD) & FD_CLOEXEC);
        EXPECT_FALSE(client.broken());
    }
    const std::vector<std::pair<KprobeTarget, bool>> asked = {{KprobeTarget::nf_ct_delete_part, false},
                                                              {KprobeTarget::nf_conntrack_alloc, true}};
    EXPECT_EQ(fake.asked, asked);
}

// The broker's own perf_event_open: an event, or its errno as the answer
// (ENOENT where the kernel has no kprobe PMU, as on a host without kprobes;
// without privileges, or while nf_conntrack is not loaded, an error too,
// the same either way: the comparison holds whatever the host).
TEST(NetnsBrokerServing, KprobeEventsAsTheKernelGivesThem) {
    BrokerOnThread broker;
    BrokerClient client(broker.take_client_end());
    auto here = nfsleuth::in_process_kprobes().open_kprobe(KprobeTarget::nf_conntrack_alloc, true);
    auto through_broker = client.open_kprobe(KprobeTarget::nf_conntrack_alloc, true);
    EXPECT_EQ(through_broker.status, here.status);
    EXPECT_EQ(through_broker.error, here.error);
    EXPECT_EQ(bool(through_broker.fd), here.ok());
    if (!nfsleuth::kprobe_pmu()) {
        EXPECT_EQ(through_broker.status, NetnsStatus::failed);
        EXPECT_EQ(through_broker.error, ENOENT);
    }
    EXPECT_FALSE(client.broken());
    // The broker still answers.
    auto files = client.open_files({"/proc/self/ns/net", 0}, nfsleuth::file_bit(NetnsFile::conntrack_max));
    EXPECT_TRUE(files.ok());
}
