// SPDX-License-Identifier: GPL-2.0-only
// The netns broker's requests, as the daemon (which parses outside input
// and may be compromised) sends them: the broker decodes each; whatever it
// accepts must encode back to the same bytes and name only a valid path.
// The daemon's side of replies too.
#include <cstdlib>
#include <cstring>

#include "fuzz_input.hpp"
#include "netns_broker_protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    if (auto request = nfsleuth::decode_request(data, size)) {
        if (!nfsleuth::valid_broker_netns_path(request->target.path)) std::abort();
        auto again = nfsleuth::encode_request(*request);
        if (!again || again->size() != size || std::memcmp(again->data(), data, size) != 0) std::abort();
    }
    (void)nfsleuth::valid_broker_netns_path(nfsleuth_fuzz::as_text(data, size));
    if (auto reply = nfsleuth::decode_reply(data, size)) {
        (void)nfsleuth::expected_fd_count({nfsleuth::BrokerOp::open_files, nfsleuth::kAllNetnsFiles, {}}, *reply);
    }
    (void)nfsleuth::decode_hello(data, size);
    return 0;
}
