// SPDX-License-Identifier: GPL-2.0-only
// Request heads as anyone who can reach the metrics port sends them.
#include "daemon/metrics_http.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    auto verdict = nfsleuth::http::judge_request_head(nfsleuth_fuzz::as_text(data, size));
    (void)nfsleuth::http::status_line_text(verdict.status);
    return 0;
}
