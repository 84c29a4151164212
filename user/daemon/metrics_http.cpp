// SPDX-License-Identifier: GPL-2.0-only
#include "daemon/metrics_http.hpp"

#include <algorithm>

namespace nfsleuth::http {

namespace {

constexpr std::string_view kCrlf = "\r\n";

HeadVerdict rejected(int status) {
    HeadVerdict v;
    v.kind = HeadVerdict::Kind::rejected;
    v.status = status;
    return v;
}

HeadVerdict incomplete_or(std::string_view received, int status_when_full) {
    return received.size() >= kMaxHeadBytes ? rejected(status_when_full) : HeadVerdict{};
}

// RFC 9110 token characters.
bool is_token_char(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_token_char); }

bool is_visible_ascii(char c) { return c > 0x20 && c < 0x7f; }

// Field values: visible characters, spaces, tabs and obs-text; no control
// characters (a bare CR or LF among them is how header injection starts).
bool is_field_value_char(char c) {
    auto u = static_cast<unsigned char>(c);
    return u == '\t' || (u >= 0x20 && u != 0x7f);
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
               return lower(x) == lower(y);
           });
}

std::string_view trim_whitespace(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// 0 when the line is a request this endpoint serves (filling `out`), else
// the status to refuse it with.
int parse_request_line(std::string_view line, Request& out) {
    auto first_space = line.find(' ');
    auto second_space = first_space == std::string_view::npos ? first_space : line.find(' ', first_space + 1);
    if (second_space == std::string_view::npos) return 400;
    std::string_view method = line.substr(0, first_space);
    std::string_view target = line.substr(first_space + 1, second_space - first_space - 1);
    std::string_view version = line.substr(second_space + 1);

    if (!is_token(method)) return 400;
    if (target.empty() || target.front() != '/' || !std::all_of(target.begin(), target.end(), is_visible_ascii))
        return 400;
    if (version != "HTTP/1.1" && version != "HTTP/1.0") {
        bool other_http = version.size() == 8 && version.substr(0, 5) == "HTTP/" && version[6] == '.' &&
                          version[5] >= '0' && version[5] <= '9' && version[7] >= '0' && version[7] <= '9';
        return other_http ? 505 : 400;
    }
    if (method == "GET")
        out.method = Method::get;
    else if (method == "HEAD")
        out.method = Method::head;
    else
        return 405;
    out.path = std::string(target.substr(0, target.find('?')));
    return 0;
}

// 0 when the header line is well formed and announces no body, else the
// status to refuse the request with.
int check_header_line(std::string_view line) {
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return 400;
    // A name with white space around it, or a line folded onto the previous
    // one, is not a token: refused, as RFC 9112 asks.
    std::string_view name = line.substr(0, colon);
    if (!is_token(name)) return 400;
    std::string_view value = line.substr(colon + 1);
    if (!std::all_of(value.begin(), value.end(), is_field_value_char)) return 400;
    value = trim_whitespace(value);
    if (equals_ignoring_case(name, "Transfer-Encoding")) return 413;
    if (equals_ignoring_case(name, "Content-Length")) {
        bool digits = !value.empty() && std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (!digits) return 400;
        if (value.find_first_not_of('0') != std::string_view::npos) return 413;
    }
    return 0;
}

}  // namespace

HeadVerdict judge_request_head(std::string_view received) {
    received = received.substr(0, kMaxHeadBytes);
    auto line_end = received.find(kCrlf);
    if (line_end == std::string_view::npos) return incomplete_or(received, 414);

    HeadVerdict verdict;
    if (int status = parse_request_line(received.substr(0, line_end), verdict.request)) return rejected(status);

    std::size_t pos = line_end + kCrlf.size();
    std::size_t headers = 0;
    for (;;) {
        auto end = received.find(kCrlf, pos);
        if (end == std::string_view::npos) return incomplete_or(received, 431);
        if (end == pos) break;  // the empty line that ends the head
        if (++headers > kMaxHeaderCount) return rejected(431);
        if (int status = check_header_line(received.substr(pos, end - pos))) return rejected(status);
        pos = end + kCrlf.size();
    }
    verdict.kind = HeadVerdict::Kind::request;
    return verdict;
}

std::string_view status_line_text(int status) {
    switch (status) {
    case 200: return "200 OK";
    case 400: return "400 Bad Request";
    case 404: return "404 Not Found";
    case 405: return "405 Method Not Allowed";
    case 413: return "413 Content Too Large";
    case 414: return "414 URI Too Long";
    case 431: return "431 Request Header Fields Too Large";
    case 505: return "505 HTTP Version Not Supported";
    default: return "500 Internal Server Error";
    }
}

std::string format_response(int status, std::string_view content_type, std::string_view body, bool with_body) {
    std::string out;
    out.reserve(160 + (with_body ? body.size() : 0));
    out += "HTTP/1.1 ";
    out += status_line_text(status);
    out += "\r\nContent-Type: ";
    out += content_type;
    out += "\r\nContent-Length: ";
    out += std::to_string(body.size());
    out += "\r\nConnection: close\r\n";
    if (status == 405) out += "Allow: GET, HEAD\r\n";
    out += "\r\n";
    if (with_body) out += body;
    return out;
}

}  // namespace nfsleuth::http
