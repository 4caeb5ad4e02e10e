// A synchronous HTTP/1.1 client (Boost.Beast; TLS through OpenSSL 3) for
// dsmilctl, tests and upstream forwarding. One connection per call.
//
// Thread safety: HttpFetch may be called concurrently from any threads; each
// call has its own connection and TLS context.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "core/status.h"
#include "net/http.h"

namespace dsmil::net {

struct HttpClientRequest {
  std::string method = "GET";
  std::string url;      // "http://host[:port]/path?query" or "https://..."; IPv6 as "[::1]"
  HttpHeaders headers;  // Host, Content-Length and User-Agent are set for you
  std::string body;
  // Whole exchange: resolve, connect, handshake, send, receive.
  std::chrono::milliseconds timeout{10000};
  size_t max_response_bytes = 64 << 20;

  // https only. ca_file: the server certificate must chain to it and match the
  // URL's host (DNS name or IP address SAN); empty means the system's default
  // trust store. cert_file + key_file: the client certificate for mTLS (the key
  // file must not be readable by group or others).
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
};

// Performs one request and returns the response, whatever its status code.
// Errors (each message starts with "<method> <url>" or names the endpoint):
//   InvalidArgument     bad URL or TLS options;
//   Unavailable         DNS failure, connection refused, connection closed
//                       ("connect to https://127.0.0.1:8099: connection refused");
//   DeadlineExceeded    the timeout expired;
//   Unauthenticated     TLS verification failed on either side, with OpenSSL's
//                       reason ("certificate verify failed", "tlsv13 alert
//                       certificate required", ...);
//   ResourceExhausted   response larger than max_response_bytes;
//   DataLoss            malformed response.
Result<HttpResponse> HttpFetch(const HttpClientRequest& request);

// Parts of an http(s) URL.
struct ParsedUrl {
  std::string scheme;  // "http" or "https"
  std::string host;    // without brackets for IPv6
  uint16_t port = 0;   // explicit or the scheme's default
  std::string target;  // "/path?query", at least "/"
};
Result<ParsedUrl> ParseHttpUrl(const std::string& url);

}  // namespace dsmil::net
