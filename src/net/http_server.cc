#include "net/http_server.h"

#include "net/asio_internal.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <poll.h>

#include <sys/socket.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <exception>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include "net/tls_internal.h"

#include <openssl/x509v3.h>

#include "core/mutex.h"
#include "crypto/x509.h"

namespace dsmil::net {
namespace {

using std::chrono::milliseconds;

constexpr auto kUseAwaitable = asio::use_awaitable;
constexpr milliseconds kCloseLinger{500};
constexpr size_t kMaxDrainBytes = 1 << 20;

// State of one connection that Stop() needs. Touched only on the
// connection's strand, except `executor` (immutable).
struct Connection {
  asio::any_io_executor executor;
  bool idle = false;             // waiting for a request (or the TLS handshake)
  std::function<void()> cancel;  // cancels pending I/O; empty once the session ended
};

// The tenants named by the peer certificate's "urn:dsmil:tenant:<T>" URI
// SANs. Called only after the certificate verified.
std::vector<std::string> PeerCertTenants(SSL* ssl) {
  std::vector<std::string> out;
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (!cert) return out;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (!names) return out;
  const std::string_view prefix = crypto::kTenantUriPrefix;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    if (gn->type != GEN_URI) continue;
    const ASN1_IA5STRING* s = gn->d.uniformResourceIdentifier;
    std::string_view uri(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                         static_cast<size_t>(ASN1_STRING_length(s)));
    if (uri.substr(0, prefix.size()) != prefix) continue;
    std::string_view tenant = uri.substr(prefix.size());
    if (crypto::ValidCertTenant(tenant)) out.emplace_back(tenant);
  }
  GENERAL_NAMES_free(names);
  return out;
}

bool IsHttpError(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::end_of_stream).category();
}

std::string FormatEndpoint(const tcp::endpoint& ep) {
  std::string addr = ep.address().to_string();
  if (ep.address().is_v6()) addr = "[" + addr + "]";
  return addr + ":" + std::to_string(ep.port());
}

bool HeaderValueIsSafe(std::string_view s) {
  for (char c : s) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

bool HeaderNameIsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// Headers the server manages itself; a handler's values are ignored.
bool IsManagedHeader(std::string_view name) {
  return HeaderNameEquals(name, "Content-Length") || HeaderNameEquals(name, "Transfer-Encoding") ||
         HeaderNameEquals(name, "Connection") || HeaderNameEquals(name, "Server") ||
         HeaderNameEquals(name, "Content-Type");
}

// A request whose framing is refused before it reaches the parser's body
// handling: the status to answer with and why. The connection closes after.
struct FramingError {
  int status;
  std::string message;
};

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls f(element) for each non-empty element of a comma-separated list.
template <typename F>
void ForEachListElement(std::string_view value, F f) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view item = TrimOws(value.substr(0, comma));
    if (!item.empty()) f(item);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Checks the message framing of one request from its raw header block (the
// request line, the field lines and the empty line, CRLF-terminated), before
// the parser interprets it (RFC 9112 §5.2, §6.1, §6.3):
//  - a field line starting with whitespace (obs-fold) -> 400;
//  - Transfer-Encoding together with Content-Length -> 400 (a request
//    smuggling vector: intermediaries may disagree on which one frames it);
//  - Transfer-Encoding whose final coding is not chunked -> 400;
//  - any other transfer coding before chunked -> 501 (only chunked is
//    implemented);
//  - Content-Length values that are not decimal numbers or that differ ->
//    400.
// Lines the check does not understand are left to the parser, which refuses
// malformed syntax itself.
std::optional<FramingError> CheckRequestFraming(std::string_view block) {
  size_t eol = block.find("\r\n");
  if (eol == std::string_view::npos) return std::nullopt;
  block.remove_prefix(eol + 2);  // the request line
  bool has_te = false, has_cl = false;
  std::vector<std::string> codings;
  std::string te_text;
  std::optional<std::string_view> length;
  std::string_view previous;
  while (!block.empty()) {
    eol = block.find("\r\n");
    if (eol == std::string_view::npos || eol == 0) break;
    std::string_view line = block.substr(0, eol);
    block.remove_prefix(eol + 2);
    if (line.front() == ' ' || line.front() == '\t') {
      return FramingError{400, "header line folding (obs-fold) is not accepted" +
                                   (previous.empty() ? std::string() : " (in " + std::string(previous) + ")")};
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = line.substr(0, colon);
    std::string_view value = TrimOws(line.substr(colon + 1));
    previous = name;
    if (HeaderNameEquals(name, "Transfer-Encoding")) {
      has_te = true;
      te_text += (te_text.empty() ? "" : ", ") + std::string(value);
      ForEachListElement(value, [&](std::string_view item) { codings.push_back(Lower(item)); });
    } else if (HeaderNameEquals(name, "Content-Length")) {
      has_cl = true;
      std::optional<FramingError> bad;
      ForEachListElement(value, [&](std::string_view item) {
        if (bad) return;
        bool digits = item.size() <= 19;
        for (char c : item) digits = digits && c >= '0' && c <= '9';
        if (!digits) {
          bad = FramingError{400, "Content-Length \"" + std::string(item) + "\" is not a decimal number"};
        } else if (length && *length != item) {
          bad = FramingError{400, "conflicting Content-Length values \"" + std::string(*length) + "\" and \"" +
                                      std::string(item) + "\""};
        } else {
          length = item;
        }
      });
      if (bad) return bad;
      if (!length) return FramingError{400, "Content-Length is empty"};
    }
  }
  if (has_te && has_cl) {
    return FramingError{400, "Transfer-Encoding together with Content-Length is refused (ambiguous message framing)"};
  }
  if (!has_te) return std::nullopt;
  if (codings.empty()) return FramingError{400, "Transfer-Encoding is empty"};
  if (codings.back() != "chunked") {
    return FramingError{400, "Transfer-Encoding \"" + te_text + "\" does not end in chunked"};
  }
  if (codings.size() > 1) {
    if (codings.front() == "chunked") return FramingError{400, "Transfer-Encoding applies chunked more than once"};
    return FramingError{501, "Transfer-Encoding \"" + codings.front() + "\" is not implemented (only chunked is)"};
  }
  return std::nullopt;
}

http::response<http::string_body> ToBeast(HttpResponse r, unsigned version, bool keep_alive, bool head) {
  http::response<http::string_body> res;
  res.version(version == 10 ? 10 : 11);
  if (r.status < 100 || r.status > 599) {
    r = HttpResponse::JsonError(500, "handler returned invalid status " + std::to_string(r.status));
  }
  res.result(static_cast<unsigned>(r.status));
  res.set(http::field::server, "dsmil");
  if (!r.content_type.empty() && HeaderValueIsSafe(r.content_type)) {
    res.set(http::field::content_type, r.content_type);
  }
  for (const auto& [name, value] : r.headers) {
    if (HeaderNameIsToken(name) && HeaderValueIsSafe(value) && !IsManagedHeader(name)) res.insert(name, value);
  }
  res.keep_alive(keep_alive);
  res.body() = std::move(r.body);
  res.prepare_payload();
  if (head) res.body().clear();  // Content-Length stays that of the full body
  return res;
}

}  // namespace

struct HttpServer::Impl {
  explicit Impl(HttpServerOptions opts)
      : options(std::move(opts)), ioc(options.threads), acceptor(asio::make_strand(ioc)) {}

  HttpServerOptions options;
  asio::io_context ioc;
  tcp::acceptor acceptor;
  std::unique_ptr<ssl::context> ssl_ctx;
  uint16_t port = 0;
  std::vector<std::thread> threads;
  std::atomic<bool> stopping{false};

  Mutex mu;
  CondVar drained;
  std::set<std::shared_ptr<Connection>> connections DSMIL_GUARDED_BY(mu);
  bool stopped DSMIL_GUARDED_BY(mu) = false;

  void Run() {
    for (;;) {
      try {
        ioc.run();
        return;
      } catch (...) {
        // A handler escaped its session (should not happen): keep serving.
      }
    }
  }

  asio::awaitable<void> AcceptLoop() {
    for (;;) {
      beast::error_code ec;
      asio::any_io_executor strand = asio::make_strand(ioc);
      tcp::socket socket = co_await acceptor.async_accept(strand, asio::redirect_error(kUseAwaitable, ec));
      if (ec) {
        if (ec == asio::error::operation_aborted || stopping.load() || !acceptor.is_open()) co_return;
        // Out of descriptors or a transient error: pause briefly and go on.
        asio::steady_timer timer(acceptor.get_executor(), milliseconds(50));
        co_await timer.async_wait(asio::redirect_error(kUseAwaitable, ec));
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      auto conn = std::make_shared<Connection>();
      conn->executor = strand;
      {
        MutexLock lock(mu);
        if (stopped) continue;  // socket closes on scope exit
        connections.insert(conn);
      }
      asio::co_spawn(strand, Session(std::move(socket), conn), asio::detached);
    }
  }

  void Forget(const std::shared_ptr<Connection>& conn) {
    conn->cancel = nullptr;
    MutexLock lock(mu);
    connections.erase(conn);
    if (connections.empty()) drained.NotifyAll();
  }

  asio::awaitable<void> Session(tcp::socket socket, std::shared_ptr<Connection> conn) {
    try {
      beast::error_code ec;
      tcp::endpoint remote = socket.remote_endpoint(ec);
      std::string peer = ec ? "unknown" : FormatEndpoint(remote);
      if (ssl_ctx) {
        beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *ssl_ctx);
        auto& lowest = beast::get_lowest_layer(stream);
        conn->cancel = [&lowest] { lowest.cancel(); };
        if (!stopping.load()) {
          conn->idle = true;
          lowest.expires_after(milliseconds(options.read_timeout_ms));
          co_await stream.async_handshake(ssl::stream_base::server, asio::redirect_error(kUseAwaitable, ec));
          conn->idle = false;
          if (!ec) {
            std::optional<std::string> cn = internal::VerifiedPeerCommonName(stream.native_handle());
            std::vector<std::string> tenants;
            if (cn) tenants = PeerCertTenants(stream.native_handle());
            co_await Serve(stream, *conn, peer, cn, tenants, stream.native_handle());
            lowest.expires_after(kCloseLinger);
            co_await stream.async_shutdown(asio::redirect_error(kUseAwaitable, ec));
            // A client still sending a body we refused (413) makes the TLS
            // shutdown fail on its application data; drain it as below.
            if (ec) co_await LingerClose(lowest);
          }
        }
        lowest.socket().close(ec);
      } else {
        beast::tcp_stream stream(std::move(socket));
        conn->cancel = [&stream] { stream.cancel(); };
        if (!stopping.load()) co_await Serve(stream, *conn, peer, std::nullopt, {}, nullptr);
        co_await LingerClose(stream);
        stream.socket().close(ec);
      }
    } catch (...) {
    }
    Forget(conn);
  }

  // Half-closes, then drains what the client still sends (bounded in bytes
  // and time), so that a response followed by close does not turn into a
  // reset that destroys the response before the client reads it.
  static asio::awaitable<void> LingerClose(beast::tcp_stream& stream) {
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    ec = {};
    stream.expires_after(kCloseLinger);
    size_t drained_bytes = 0;
    std::array<char, 4096> sink{};
    while (!ec && drained_bytes < kMaxDrainBytes) {
      size_t n = co_await stream.async_read_some(asio::buffer(sink), asio::redirect_error(kUseAwaitable, ec));
      drained_bytes += n;
    }
  }

  template <typename Stream>
  asio::awaitable<bool> Write(Stream& stream, http::response<http::string_body> res) {
    beast::error_code ec;
    beast::get_lowest_layer(stream).expires_after(milliseconds(options.write_timeout_ms));
    co_await http::async_write(stream, res, asio::redirect_error(kUseAwaitable, ec));
    co_return !ec;
  }

  // Sends a response whose body the handler produces while it is sent
  // (HttpResponse::stream): the header with Transfer-Encoding: chunked, then
  // each piece the producer writes as one chunk (written synchronously on this
  // connection's thread), then the last chunk. Returns whether every write
  // succeeded.
  template <typename Stream>
  asio::awaitable<bool> WriteStreamed(Stream& stream, HttpResponse r, unsigned version, bool keep_alive) {
    http::response<http::empty_body> res;
    res.version(version == 10 ? 10 : 11);
    res.result(static_cast<unsigned>(r.status >= 100 && r.status <= 599 ? r.status : 500));
    res.set(http::field::server, "dsmil");
    if (!r.content_type.empty() && HeaderValueIsSafe(r.content_type)) {
      res.set(http::field::content_type, r.content_type);
    }
    for (const auto& [name, value] : r.headers) {
      if (HeaderNameIsToken(name) && HeaderValueIsSafe(value) && !IsManagedHeader(name)) res.insert(name, value);
    }
    bool chunked = version != 10;
    res.keep_alive(keep_alive && chunked);
    if (chunked) res.chunked(true);
    beast::error_code ec;
    auto& lowest = beast::get_lowest_layer(stream);
    lowest.expires_after(milliseconds(options.write_timeout_ms));
    http::response_serializer<http::empty_body> sr{res};
    co_await http::async_write_header(stream, sr, asio::redirect_error(kUseAwaitable, ec));
    if (ec) co_return false;
    lowest.expires_never();
    bool failed = false;
    HttpStreamWriter writer;
    int fd = lowest.socket().native_handle();
    const int write_timeout_ms = options.write_timeout_ms;
    writer.write = [&](std::string_view bytes) {
      if (failed) return false;
      if (bytes.empty()) return true;
      beast::error_code wec;
      if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
        // Plain TCP: send directly, waiting at most write_timeout_ms for room,
        // so a client that stops reading cannot hold this thread for ever.
        std::string framed;
        if (chunked) {
          char size_line[24];
          int n = std::snprintf(size_line, sizeof(size_line), "%zx\r\n", bytes.size());
          framed.reserve(size_t(n) + bytes.size() + 2);
          framed.append(size_line, size_t(n)).append(bytes).append("\r\n");
          bytes = framed;
        }
        size_t off = 0;
        while (off < bytes.size()) {
          ssize_t w = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
          if (w > 0) {
            off += size_t(w);
            continue;
          }
          if (w < 0 && errno == EINTR) continue;
          if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pollfd p{fd, POLLOUT, 0};
            if (::poll(&p, 1, write_timeout_ms) > 0 && (p.revents & POLLOUT)) continue;
          }
          failed = true;
          return false;
        }
        return true;
      }
      if (chunked) {
        char size_line[24];
        int n = std::snprintf(size_line, sizeof(size_line), "%zx\r\n", bytes.size());
        std::array<asio::const_buffer, 3> bufs = {asio::buffer(size_line, size_t(n)),
                                                  asio::buffer(bytes.data(), bytes.size()), asio::buffer("\r\n", 2)};
        asio::write(stream, bufs, wec);
      } else {
        asio::write(stream, asio::buffer(bytes.data(), bytes.size()), wec);
      }
      if (wec) failed = true;
      return !failed;
    };
    writer.client_gone = [&failed, fd] {
      if (failed) return true;
      pollfd p{fd, short(POLLRDHUP), 0};
      if (::poll(&p, 1, 0) < 0) return false;
      return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
    };
    try {
      r.stream(writer);
    } catch (...) {
      failed = true;
    }
    if (failed) co_return false;
    if (chunked) {
      beast::error_code wec;
      asio::write(stream, asio::buffer("0\r\n\r\n", 5), wec);
      if (wec) co_return false;
    }
    co_return true;
  }

  // Reads into `buffer` until it holds a complete header block (ending in an
  // empty line), so that its raw field lines can be checked before the parser
  // consumes them. Returns the block's length, or 0 when the buffer holds no
  // complete block within max_header_bytes or uses bare LF line ends (the
  // parser then reports the error). `ec` is set when the connection fails or
  // times out first.
  template <typename Stream>
  asio::awaitable<size_t> ReadHeaderBlock(Stream& stream, beast::flat_buffer& buffer, beast::error_code& ec) {
    size_t scanned = 0;
    for (;;) {
      std::string_view data(static_cast<const char*>(buffer.data().data()), buffer.size());
      size_t from = scanned > 3 ? scanned - 3 : 0;
      size_t end = data.find("\r\n\r\n", from);
      if (end != std::string_view::npos) co_return end + 4;
      if (data.find("\n\n", from) != std::string_view::npos) co_return 0;
      if (data.size() > options.max_header_bytes) co_return 0;
      scanned = data.size();
      size_t n = co_await stream.async_read_some(buffer.prepare(16384), asio::redirect_error(kUseAwaitable, ec));
      buffer.commit(n);
      if (ec) co_return 0;
    }
  }

  // Answers a request that could not be read (limit or syntax), then the
  // connection closes.
  template <typename Stream>
  asio::awaitable<void> WriteReadError(Stream& stream, const beast::error_code& ec) {
    HttpResponse r;
    if (ec == http::error::body_limit) {
      r = HttpResponse::JsonError(
          413, "request body exceeds the limit of " + std::to_string(options.max_body_bytes) + " bytes");
    } else if (ec == http::error::header_limit) {
      r = HttpResponse::JsonError(
          431, "request header block exceeds the limit of " + std::to_string(options.max_header_bytes) + " bytes");
    } else {
      r = HttpResponse::JsonError(400, "malformed request: " + ec.message());
    }
    co_await Write(stream, ToBeast(std::move(r), 11, false, false));
  }

  template <typename Stream>
  asio::awaitable<void> Serve(Stream& stream, Connection& conn, const std::string& peer,
                              const std::optional<std::string>& client_cn,
                              const std::vector<std::string>& client_tenants, SSL* tls) {
    beast::flat_buffer buffer;
    auto& lowest = beast::get_lowest_layer(stream);
    for (;;) {
      if (stopping.load()) co_return;
      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
      parser.body_limit(static_cast<std::uint64_t>(options.max_body_bytes));
      beast::error_code ec;

      conn.idle = true;
      lowest.expires_after(milliseconds(buffer.size() ? options.read_timeout_ms : options.idle_timeout_ms));
      size_t block = co_await ReadHeaderBlock(stream, buffer, ec);
      conn.idle = false;
      if (ec) co_return;
      if (block > 0) {
        std::string_view raw(static_cast<const char*>(buffer.data().data()), block);
        if (std::optional<FramingError> bad = CheckRequestFraming(raw)) {
          co_await Write(stream, ToBeast(HttpResponse::JsonError(bad->status, bad->message), 11, false, false));
          co_return;
        }
      }
      co_await http::async_read_header(stream, buffer, parser, asio::redirect_error(kUseAwaitable, ec));
      if (ec) {
        if (IsHttpError(ec) && ec != http::error::end_of_stream && ec != http::error::partial_message) {
          co_await WriteReadError(stream, ec);
        }
        co_return;
      }
      const auto& head = parser.get();
      auto expect = head[http::field::expect];
      if (beast::iequals(expect, "100-continue") && !parser.is_done()) {
        http::response<http::empty_body> cont{http::status::continue_, head.version()};
        lowest.expires_after(milliseconds(options.write_timeout_ms));
        co_await http::async_write(stream, cont, asio::redirect_error(kUseAwaitable, ec));
        if (ec) co_return;
      }
      lowest.expires_after(milliseconds(options.read_timeout_ms));
      co_await http::async_read(stream, buffer, parser, asio::redirect_error(kUseAwaitable, ec));
      if (ec) {
        if (IsHttpError(ec) && ec != http::error::end_of_stream && ec != http::error::partial_message) {
          co_await WriteReadError(stream, ec);
        }
        co_return;
      }

      // A client certificate revoked while its connection stayed open is
      // refused from its next request on.
      if (tls && client_cn && internal::PeerCertificateRevoked(tls)) {
        co_await Write(stream, ToBeast(HttpResponse::JsonError(401, "client certificate has been revoked"),
                                       parser.get().version(), false, false));
        co_return;
      }
      http::request<http::string_body> req = parser.release();
      HttpRequest request;
      request.method = std::string(req.method_string());
      request.target = std::string(req.target());
      size_t q = request.target.find('?');
      request.path = request.target.substr(0, q);
      if (q != std::string::npos) request.query = request.target.substr(q + 1);
      for (const auto& field : req) {
        request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
      }
      request.body = std::move(req.body());
      request.peer_address = peer;
      request.client_cert_cn = client_cn;
      request.client_cert_tenants = client_tenants;

      HttpResponse response;
      try {
        response = options.handler(request);
      } catch (const std::exception& e) {
        response = HttpResponse::JsonError(500, "internal server error");
      } catch (...) {
        response = HttpResponse::JsonError(500, "internal server error");
      }
      bool keep_alive = req.keep_alive() && !stopping.load();
      if (response.stream && req.method() != http::verb::head) {
        bool ok = co_await WriteStreamed(stream, std::move(response), req.version(), keep_alive);
        if (!ok || !keep_alive || req.version() == 10) co_return;
        continue;
      }
      bool ok = co_await Write(
          stream, ToBeast(std::move(response), req.version(), keep_alive, req.method() == http::verb::head));
      if (!ok || !keep_alive) co_return;
    }
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

uint16_t HttpServer::port() const { return impl_->port; }

const char* HttpServer::scheme() const { return impl_->ssl_ctx ? "https" : "http"; }

size_t HttpServer::open_connections() const {
  MutexLock lock(impl_->mu);
  return impl_->connections.size();
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options) {
  if (!options.handler) return Status::InvalidArgument("http: server options have no handler");
  if (options.threads < 1 || options.threads > 256) {
    return Status::InvalidArgument("http: threads must be 1..256, got " + std::to_string(options.threads));
  }
  if (options.max_body_bytes == 0 || options.max_header_bytes < 256 || options.max_header_bytes > (64u << 20)) {
    return Status::InvalidArgument("http: max_body_bytes must be > 0 and max_header_bytes 256..64 MiB");
  }
  if (options.idle_timeout_ms <= 0 || options.read_timeout_ms <= 0 || options.write_timeout_ms <= 0 ||
      options.drain_timeout_ms < 0) {
    return Status::InvalidArgument("http: timeouts must be positive");
  }
  beast::error_code ec;
  std::string host = options.host == "localhost" ? "127.0.0.1" : options.host;
  asio::ip::address address = asio::ip::make_address(host, ec);
  if (ec) return Status::InvalidArgument("http: host \"" + options.host + "\" is not an IP address");
  uint16_t want_port = options.port;

  auto impl = std::make_unique<Impl>(std::move(options));
  if (impl->options.tls) {
    DSMIL_ASSIGN_OR_RETURN(SSL_CTX * native, internal::NewServerContext(*impl->options.tls));
    impl->ssl_ctx = std::make_unique<ssl::context>(native);  // takes ownership
  }
  tcp::endpoint endpoint(address, want_port);
  std::string where = FormatEndpoint(endpoint);
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && address.is_v6()) impl->acceptor.set_option(asio::ip::v6_only(false), ec);
  if (ec) return Status::Unavailable("http: open socket for " + where + ": " + ec.message());
  impl->acceptor.bind(endpoint, ec);
  if (ec) return Status::Unavailable("http: bind " + where + ": " + ec.message());
  impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::Unavailable("http: listen on " + where + ": " + ec.message());
  impl->port = impl->acceptor.local_endpoint(ec).port();
  if (ec) return Status::Unavailable("http: local address of " + where + ": " + ec.message());

  Impl* raw = impl.get();
  asio::co_spawn(impl->acceptor.get_executor(), raw->AcceptLoop(), asio::detached);
  for (int i = 0; i < raw->options.threads; ++i) raw->threads.emplace_back([raw] { raw->Run(); });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

void HttpServer::Stop() {
  Impl& impl = *impl_;
  std::vector<std::shared_ptr<Connection>> open;
  {
    MutexLock lock(impl.mu);
    if (impl.stopped) return;
    impl.stopped = true;
    impl.stopping.store(true);
    open.assign(impl.connections.begin(), impl.connections.end());
  }
  asio::post(impl.acceptor.get_executor(), [&impl] {
    beast::error_code ec;
    impl.acceptor.close(ec);
  });
  // Idle connections are cancelled; busy ones see `stopping` after their
  // current response and close.
  for (const auto& conn : open) {
    asio::post(conn->executor, [conn] {
      if (conn->idle && conn->cancel) conn->cancel();
    });
  }
  {
    const auto deadline = std::chrono::steady_clock::now() + milliseconds(impl.options.drain_timeout_ms);
    MutexLock lock(impl.mu);
    while (!impl.connections.empty()) {
      if (!impl.drained.WaitUntil(impl.mu, deadline)) break;
    }
    if (!impl.connections.empty()) impl.ioc.stop();  // abandon what is still running
  }
  for (auto& t : impl.threads) {
    if (t.joinable()) t.join();
  }
  impl.threads.clear();
}

}  // namespace dsmil::net
