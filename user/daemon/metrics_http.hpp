// SPDX-License-Identifier: GPL-2.0-only
// The little HTTP/1.1 the metrics endpoint speaks: GET and HEAD, no request
// bodies, one request per connection. Any local process can connect, so
// every byte parsed here is chosen by a possibly hostile client: the head
// is bounded, parsed strictly, and refused as early as the bytes allow.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace nfsleuth::http {

// A request's head (request line, headers and the empty line ending them)
// must fit in this many bytes; Prometheus sends about 300.
inline constexpr std::size_t kMaxHeadBytes = 8192;
inline constexpr std::size_t kMaxHeaderCount = 64;

enum class Method { get, head };

struct Request {
    Method method = Method::get;
    std::string path;  // the request target without its query
};

// What the first bytes of a connection amount to.
struct HeadVerdict {
    enum class Kind { incomplete, request, rejected };
    Kind kind = Kind::incomplete;
    Request request;  // when kind is request
    int status = 0;   // when kind is rejected: the status to answer with
};

// Judges the bytes a connection has sent so far (a request needs no more
// than kMaxHeadBytes; bytes after the head are ignored). Rejected: a
// request line that is malformed (400), too long (414), of another method
// (405, as soon as the line is complete) or another HTTP version (505); a
// malformed header (400); too many or too long headers (431); a body
// announced by Content-Length or Transfer-Encoding (413). Incomplete only
// while fewer than kMaxHeadBytes have come.
HeadVerdict judge_request_head(std::string_view received);

// "405 Method Not Allowed"; "500 Internal Server Error" for a status not
// used here.
std::string_view status_line_text(int status);

// A whole response, "Connection: close" (one request per connection) and,
// for 405, the methods allowed. HEAD answers leave the body out.
std::string format_response(int status, std::string_view content_type, std::string_view body, bool with_body);

}  // namespace nfsleuth::http
