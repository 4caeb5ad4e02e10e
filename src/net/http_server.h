// An HTTP/1.1 server (Boost.Beast over Asio; TLS through OpenSSL 3), plain or
// with mutual TLS.
//
// Behaviour:
//  - keep-alive; one request at a time per connection;
//  - a body over max_body_bytes gets 413 with {"error": "... limit of N bytes"},
//    a header block over max_header_bytes 431, a malformed request 400; the
//    connection is closed after each of these;
//  - an exception thrown by the handler becomes 500 (the server never crashes
//    on it);
//  - idle keep-alive connections are closed after idle_timeout_ms, a request
//    that takes longer than read_timeout_ms to arrive is dropped;
//  - with `tls`, TLS 1.2+ (1.3 preferred) and, by default, a client
//    certificate that verifies against tls->ca_file is required.
//
// Thread safety: the handler is called concurrently on the server's threads
// (at most `threads` at a time) and must be thread-safe. port() may be called
// from any thread; Stop() from any thread but the server's own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/status.h"
#include "net/http.h"
#include "net/tls.h"

namespace dsmil::net {

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";  // address to bind ("0.0.0.0", "::", or a literal address)
  uint16_t port = 0;               // 0: an ephemeral port, see HttpServer::port()
  int threads = 2;                 // I/O + handler threads, 1..256
  size_t max_body_bytes = 1 << 20;
  size_t max_header_bytes = 16 << 10;
  int idle_timeout_ms = 60000;    // keep-alive connection waiting for the next request
  int read_timeout_ms = 30000;    // receiving one request (headers + body), and the TLS handshake
  int write_timeout_ms = 30000;   // sending one response
  int drain_timeout_ms = 30000;   // Stop(): how long in-flight requests may take to finish
  std::optional<TlsOptions> tls;  // absent: plain HTTP
  HttpHandler handler;            // required
};

class HttpServer {
 public:
  // Binds, listens and starts the threads before returning. Errors:
  // InvalidArgument (no handler, bad host, bad limits), Unavailable naming the
  // address when the bind fails ("http: bind 127.0.0.1:8099: address already
  // in use"), NotFound/InvalidArgument for unreadable TLS files,
  // FailedPrecondition for a private key readable by group or others.
  static Result<std::unique_ptr<HttpServer>> Start(HttpServerOptions options);

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  // Stops (see Stop) if still running.
  ~HttpServer();

  // The port actually bound (useful with options.port = 0).
  uint16_t port() const;
  // "http" or "https".
  const char* scheme() const;

  // Stops accepting, closes idle connections, lets requests already being
  // received or handled finish and their responses be written (with
  // "Connection: close"), then joins the threads. After drain_timeout_ms the
  // connections still open are dropped without their responses; a handler
  // still running is waited for (it cannot be interrupted). Idempotent.
  // Must not be called from a handler (it would wait for itself).
  void Stop();

  // Number of connections currently open (for tests and metrics).
  size_t open_connections() const;

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dsmil::net
