// HTTP message types shared by the server (http_server.h) and the client
// (http_client.h). Plain data; no I/O, no heavy headers.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dsmil::net {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest;
// Whether the request's verified client certificate covers `tenant`: it names
// the tenant (exact, case-sensitive) or "*". False for an empty tenant or a
// request without a verified client certificate.
bool CertCoversTenant(const HttpRequest& req, std::string_view tenant);

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
  // Tenants the verified client certificate covers: its SAN URIs
  // urn:dsmil:tenant:<T> in certificate order ("*" = every tenant). Empty
  // without a verified client certificate or when it names no tenant.
  std::vector<std::string> client_cert_tenants;

  // The first header named `name` (case-insensitive), or "".
  std::string_view Header(std::string_view name) const { return FindHeader(headers, name); }
  // The percent-decoded value of query parameter `name` ('+' means space), or
  // "" if absent.
  std::string QueryParam(std::string_view name) const;
  // Whether query parameter `name` is present (possibly with an empty value).
  bool HasQueryParam(std::string_view name) const;
};

// Given to a streaming response's producer (HttpResponse::stream).
struct HttpStreamWriter {
  // Sends `bytes` to the client at once (one chunk of a chunked body).
  // Returns false when the client is gone or the write failed; the producer
  // should then stop and return.
  std::function<bool(std::string_view bytes)> write;
  // True when the client has closed or reset the connection (checked
  // without writing), so a producer waiting for data can give up early.
  std::function<bool()> client_gone;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // Extra headers. Content-Length, Connection and Server are set by the server;
  // on the client side this holds every header received.
  HttpHeaders headers;
  // Server side only: when set, the body is produced while it is sent
  // (Transfer-Encoding: chunked, e.g. text/event-stream): the server writes
  // the status line and headers, then calls stream on the connection's
  // thread, then ends the body; `body` is ignored. The connection is kept
  // alive afterwards unless a write failed. HTTP/1.0 clients get the produced
  // bytes without chunking and the connection closes at the end.
  std::function<void(HttpStreamWriter& out)> stream;

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
