// HTTP message types shared by the server (http_server.h) and the client
// (http_client.h). Plain data; no I/O, no heavy headers.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dsmil::net {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// Case-insensitive ASCII comparison of header names.
bool HeaderNameEquals(std::string_view a, std::string_view b);

// The value of the first header named `name` (case-insensitive), or "" if none.
// The view points into `headers`.
std::string_view FindHeader(const HttpHeaders& headers, std::string_view name);

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: "/v1/chat?x=1"
  std::string path;    // target before '?', not decoded: "/v1/chat"
  std::string query;   // target after '?', not decoded: "x=1"
  HttpHeaders headers;
  std::string body;
  std::string peer_address;  // "127.0.0.1:53122"
  // Common name of the client certificate, set only when the connection is TLS
  // and the peer presented a certificate that verified against the server's CA.
  std::optional<std::string> client_cert_cn;

  // The first header named `name` (case-insensitive), or "".
  std::string_view Header(std::string_view name) const { return FindHeader(headers, name); }
  // The percent-decoded value of query parameter `name` ('+' means space), or
  // "" if absent.
  std::string QueryParam(std::string_view name) const;
  // Whether query parameter `name` is present (possibly with an empty value).
  bool HasQueryParam(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // Extra headers. Content-Length, Connection and Server are set by the server;
  // on the client side this holds every header received.
  HttpHeaders headers;

  std::string_view Header(std::string_view name) const { return FindHeader(headers, name); }

  // {"error": message} with the given status.
  static HttpResponse JsonError(int status, std::string_view message);
};

// `s` as a JSON string literal, quotes included, with every character that
// JSON requires escaped (control characters as \u00XX) and invalid UTF-8
// replaced by U+FFFD, so the result is always valid JSON.
std::string JsonQuote(std::string_view s);

// Decodes %XX escapes and, if `plus_is_space`, '+' as ' '. Invalid escapes are
// kept literally.
std::string PercentDecode(std::string_view s, bool plus_is_space);

// The standard reason phrase for a status code ("Not Found"), or "" if unknown.
std::string_view HttpReason(int status);

}  // namespace dsmil::net
