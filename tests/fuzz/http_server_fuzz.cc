// Feeds arbitrary bytes to a live HttpServer over loopback (one connection per
// input, half-closed after sending) and reads whatever comes back. The server
// must answer or close, never crash, hang or leak. The same bytes also go
// through the URL parser and the query/percent decoders.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "net/http.h"
#include "net/http_client.h"
#include "net/http_server.h"

namespace {

using dsmil::net::HttpRequest;
using dsmil::net::HttpResponse;
using dsmil::net::HttpServer;

HttpServer* Server() {
  static std::unique_ptr<HttpServer> server = [] {
    dsmil::net::HttpServerOptions o;
    o.threads = 1;
    o.max_body_bytes = 4096;
    o.max_header_bytes = 2048;
    o.idle_timeout_ms = 2000;
    o.read_timeout_ms = 2000;
    o.handler = [](const HttpRequest& req) {
      if (req.path == "/throw") throw std::runtime_error("fuzz");
      HttpResponse r;
      r.status = req.HasQueryParam("status") ? std::atoi(req.QueryParam("status").c_str()) : 200;
      r.body = std::string(req.Header("x-echo")) + req.QueryParam("q") + req.body;
      r.headers.emplace_back("X-Echo", std::string(req.Header("x-echo")));
      return r;
    };
    auto s = HttpServer::Start(std::move(o));
    if (!s.ok()) abort();
    return std::move(s).value();
  }();
  return server.get();
}

void SendAndDrain(uint16_t port, const uint8_t* data, size_t size) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return;
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    size_t sent = 0;
    while (sent < size) {
      ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    shutdown(fd, SHUT_WR);
    char buf[8192];
    for (;;) {
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
    }
  }
  close(fd);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  (void)dsmil::net::ParseHttpUrl(text);
  (void)dsmil::net::PercentDecode(text, true);
  (void)dsmil::net::JsonQuote(text);
  HttpRequest req;
  req.query = text;
  (void)req.QueryParam("q");
  SendAndDrain(Server()->port(), data, size);
  return 0;
}
