// SPDX-License-Identifier: GPL-2.0-only
// The netns broker's requests, as the daemon (which parses outside input
// and may be compromised) sends them: the broker decodes each; whatever it
// accepts must encode back to the same bytes and name only a valid path
// (no path at all for a kprobe). The daemon's side of replies too.
#include <cstdlib>
#include <cstring>

#include "fuzz_input.hpp"
#include "kernel/netns_broker_protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    if (auto request = nfsleuth::decode_request(data, size)) {
        const bool kprobe = request->op == nfsleuth::BrokerOp::open_kprobe;
        if (kprobe ? !request->target.path.empty() || request->target.inode != 0
                   : !nfsleuth::valid_broker_netns_path(request->target.path) || request->retprobe)
            std::abort();
        if (kprobe) (void)nfsleuth::kprobe_function(static_cast<nfsleuth::KprobeTarget>(request->what));
        auto again = nfsleuth::encode_request(*request);
        if (!again || again->size() != size || std::memcmp(again->data(), data, size) != 0) std::abort();
    }
    (void)nfsleuth::valid_broker_netns_path(nfsleuth_fuzz::as_text(data, size));
    if (auto reply = nfsleuth::decode_reply(data, size)) {
        (void)nfsleuth::expected_fd_count({nfsleuth::BrokerOp::open_files, nfsleuth::kAllNetnsFiles, {}}, *reply);
        (void)nfsleuth::expected_fd_count({nfsleuth::BrokerOp::open_kprobe, 0, {}, true}, *reply);
    }
    (void)nfsleuth::decode_hello(data, size);
    return 0;
}
