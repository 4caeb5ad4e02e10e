#include "net/http_client.h"

#include "net/asio_internal.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <cerrno>
#include <charconv>
#include <optional>

#include "net/tls_internal.h"

namespace dsmil::net {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kUseAwaitable = asio::use_awaitable;

bool IsSslError(const beast::error_code& ec) {
  return ec.category() == asio::error::get_ssl_category() || ec == ssl::error::stream_truncated;
}

bool IsHttpError(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::end_of_stream).category();
}

std::string Describe(const beast::error_code& ec) {
  if (ec == asio::error::connection_refused) return "connection refused";
  if (ec == asio::error::connection_reset) return "connection reset by peer";
  if (ec == asio::error::eof || ec == http::error::end_of_stream) return "connection closed by peer";
  if (ec == asio::error::host_not_found || ec == asio::error::host_not_found_try_again) return "host not found";
  if (ec == asio::error::network_unreachable) return "network unreachable";
  if (ec == asio::error::host_unreachable) return "host unreachable";
  std::string m = ec.message();
  if (!m.empty() && m[0] >= 'A' && m[0] <= 'Z' && m.size() > 1 && m[1] >= 'a' && m[1] <= 'z') {
    m[0] = static_cast<char>(m[0] - 'A' + 'a');
  }
  return m;
}

class Fetcher {
 public:
  Fetcher(const HttpClientRequest& request, ParsedUrl url)
      : request_(request), url_(std::move(url)), deadline_(Clock::now() + request.timeout) {
    endpoint_ = url_.scheme + "://" + (url_.host.find(':') != std::string::npos ? "[" + url_.host + "]" : url_.host) +
                ":" + std::to_string(url_.port);
  }

  Result<HttpResponse> Run() {
    if (url_.scheme == "https") {
      auto native = internal::NewClientContext(request_.ca_file, request_.cert_file, request_.key_file);
      if (!native.ok()) return native.status();
      ssl_ctx_ = std::make_unique<ssl::context>(*native);
    }
    asio::co_spawn(ioc_, Fetch(), [this](std::exception_ptr e) {
      if (e && !result_) result_ = Status::Internal("http: " + Prefix() + ": unexpected exception");
    });
    // Beast's per-operation deadlines produce the precise errors; this bound
    // only covers name resolution, which has no timer of its own.
    ioc_.run_until(deadline_ + std::chrono::milliseconds(200));
    if (!result_) {
      return Status::DeadlineExceeded("http: " + Prefix() + ": timed out after " +
                                      std::to_string(request_.timeout.count()) + " ms (resolving " + url_.host + ")");
    }
    return std::move(*result_);
  }

 private:
  std::string Prefix() const { return request_.method + " " + request_.url; }

  Status Timeout(std::string_view phase) const {
    return Status::DeadlineExceeded("http: " + Prefix() + ": timed out after " +
                                    std::to_string(request_.timeout.count()) + " ms (" + std::string(phase) + ")");
  }

  // Maps an error in `phase` ("connect", "TLS handshake", "send", "receive").
  Status Fail(std::string_view phase, const beast::error_code& ec, SSL* ssl) const {
    if (ec == beast::error::timeout) return Timeout(phase);
    if (IsSslError(ec)) {
      std::string reason = Describe(ec);
      std::string verify = ssl ? internal::VerifyFailure(ssl) : "";
      if (!verify.empty()) reason += " (" + verify + ")";
      if (ec == ssl::error::stream_truncated) {
        return Status::Unavailable("http: " + Prefix() + ": " + std::string(phase) + ": TLS stream truncated by " +
                                   endpoint_);
      }
      std::string what = phase == "TLS handshake" ? std::string(phase) : "TLS " + std::string(phase);
      return Status::Unauthenticated("http: " + Prefix() + ": " + what + " failed: " + reason);
    }
    if (ec == http::error::body_limit) {
      return Status::ResourceExhausted("http: " + Prefix() + ": response body exceeds the limit of " +
                                       std::to_string(request_.max_response_bytes) + " bytes");
    }
    if (IsHttpError(ec) && ec != http::error::end_of_stream && ec != http::error::partial_message) {
      return Status::DataLoss("http: " + Prefix() + ": malformed response: " + ec.message());
    }
    if (phase == "connect") return Status::Unavailable("connect to " + endpoint_ + ": " + Describe(ec));
    return Status::Unavailable("http: " + Prefix() + ": " + std::string(phase) + ": " + Describe(ec));
  }

  asio::awaitable<void> Fetch() {
    beast::error_code ec;
    tcp::resolver resolver(ioc_);
    auto results =
        co_await resolver.async_resolve(url_.host, std::to_string(url_.port), asio::redirect_error(kUseAwaitable, ec));
    if (ec) {
      result_ = Status::Unavailable("http: " + Prefix() + ": cannot resolve " + url_.host + ": " + Describe(ec));
      co_return;
    }
    if (ssl_ctx_) {
      beast::ssl_stream<beast::tcp_stream> stream(ioc_, *ssl_ctx_);
      Status s = internal::SetExpectedPeer(stream.native_handle(), url_.host);
      if (!s.ok()) {
        result_ = s;
        co_return;
      }
      auto& lowest = beast::get_lowest_layer(stream);
      lowest.expires_at(deadline_);
      co_await lowest.async_connect(results, asio::redirect_error(kUseAwaitable, ec));
      if (ec) {
        result_ = Fail("connect", ec, nullptr);
        co_return;
      }
      lowest.socket().set_option(tcp::no_delay(true), ec);
      lowest.expires_at(deadline_);
      co_await stream.async_handshake(ssl::stream_base::client, asio::redirect_error(kUseAwaitable, ec));
      if (ec) {
        result_ = Fail("TLS handshake", ec, stream.native_handle());
        co_return;
      }
      co_await Exchange(stream, stream.native_handle());
      beast::error_code ignored;
      lowest.socket().close(ignored);
    } else {
      beast::tcp_stream stream(ioc_);
      stream.expires_at(deadline_);
      co_await stream.async_connect(results, asio::redirect_error(kUseAwaitable, ec));
      if (ec) {
        result_ = Fail("connect", ec, nullptr);
        co_return;
      }
      stream.socket().set_option(tcp::no_delay(true), ec);
      co_await Exchange(stream, nullptr);
      beast::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream.socket().close(ignored);
    }
  }

  template <typename Stream>
  asio::awaitable<void> Exchange(Stream& stream, SSL* ssl) {
    beast::error_code ec;
    http::request<http::string_body> req;
    req.method_string(request_.method);
    req.target(url_.target);
    req.version(11);
    bool default_port = (url_.scheme == "http" && url_.port == 80) || (url_.scheme == "https" && url_.port == 443);
    std::string host = url_.host.find(':') != std::string::npos ? "[" + url_.host + "]" : url_.host;
    if (!default_port) host += ":" + std::to_string(url_.port);
    if (FindHeader(request_.headers, "Host").empty()) req.set(http::field::host, host);
    if (FindHeader(request_.headers, "User-Agent").empty()) req.set(http::field::user_agent, "dsmil/5");
    for (const auto& [name, value] : request_.headers) {
      if (HeaderNameEquals(name, "Content-Length") || HeaderNameEquals(name, "Connection")) continue;
      req.insert(name, value);
    }
    req.keep_alive(false);
    req.body() = request_.body;
    req.prepare_payload();
    if (!request_.body.empty() || request_.method == "POST" || request_.method == "PUT" || request_.method == "PATCH") {
      req.content_length(request_.body.size());
    }

    beast::get_lowest_layer(stream).expires_at(deadline_);
    co_await http::async_write(stream, req, asio::redirect_error(kUseAwaitable, ec));
    if (ec) {
      // The server may have rejected us (TLS 1.3 client certificate checks
      // arrive after the handshake): its alert is more telling than EPIPE.
      result_ = Fail("send", ec, ssl);
      co_return;
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(static_cast<std::uint64_t>(request_.max_response_bytes));
    parser.header_limit(64 << 10);
    if (request_.method == "HEAD") parser.skip(true);
    beast::get_lowest_layer(stream).expires_at(deadline_);
    co_await http::async_read(stream, buffer, parser, asio::redirect_error(kUseAwaitable, ec));
    if (ec) {
      result_ = Fail("receive", ec, ssl);
      co_return;
    }
    auto res = parser.release();
    HttpResponse out;
    out.status = static_cast<int>(res.result_int());
    out.content_type = std::string(res[http::field::content_type]);
    for (const auto& field : res) {
      out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    out.body = std::move(res.body());
    result_ = std::move(out);
  }

  const HttpClientRequest& request_;
  ParsedUrl url_;
  Clock::time_point deadline_;
  std::string endpoint_;
  std::unique_ptr<ssl::context> ssl_ctx_;  // outlives ioc_, whose pending handlers may hold streams
  asio::io_context ioc_{1};
  std::optional<Result<HttpResponse>> result_;
};

}  // namespace

Result<ParsedUrl> ParseHttpUrl(const std::string& url) {
  ParsedUrl out;
  std::string_view rest = url;
  if (rest.substr(0, 7) == "http://") {
    out.scheme = "http";
    out.port = 80;
    rest.remove_prefix(7);
  } else if (rest.substr(0, 8) == "https://") {
    out.scheme = "https";
    out.port = 443;
    rest.remove_prefix(8);
  } else {
    return Status::InvalidArgument("http: URL \"" + url + "\" must start with http:// or https://");
  }
  size_t slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  std::string_view target = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) {
    return Status::InvalidArgument("http: URL \"" + url + "\" has user info, which is not supported");
  }
  std::string_view port_text;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos)
      return Status::InvalidArgument("http: URL \"" + url + "\" has an unclosed '['");
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return Status::InvalidArgument("http: URL \"" + url + "\" has junk after ']'");
      port_text = after.substr(1);
    }
  } else {
    size_t colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (out.host.empty()) return Status::InvalidArgument("http: URL \"" + url + "\" has no host");
  for (char c : out.host) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == '/' || c == '\\' || c == '#') {
      return Status::InvalidArgument("http: URL \"" + url + "\" has an invalid host");
    }
  }
  if (!port_text.empty() || (authority.size() && authority.back() == ':')) {
    unsigned value = 0;
    auto [p, err] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (port_text.empty() || err != std::errc() || p != port_text.data() + port_text.size() || value == 0 ||
        value > 65535) {
      return Status::InvalidArgument("http: URL \"" + url + "\" has an invalid port \"" + std::string(port_text) +
                                     "\"");
    }
    out.port = static_cast<uint16_t>(value);
  }
  size_t hash = target.find('#');
  if (hash != std::string_view::npos) target = target.substr(0, hash);
  for (char c : target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return Status::InvalidArgument("http: URL \"" + url + "\" has a space or control character in its path");
    }
  }
  out.target = target.empty() ? "/" : target[0] == '?' ? "/" + std::string(target) : std::string(target);
  return out;
}

Result<HttpResponse> HttpFetch(const HttpClientRequest& request) {
  DSMIL_ASSIGN_OR_RETURN(ParsedUrl url, ParseHttpUrl(request.url));
  if (request.method.empty()) return Status::InvalidArgument("http: request method is empty");
  for (char c : request.method) {
    if (!((c >= 'A' && c <= 'Z') || c == '-' || c == '_')) {
      return Status::InvalidArgument("http: request method \"" + request.method + "\" is not a token");
    }
  }
  for (const auto& [name, value] : request.headers) {
    if (name.empty() || name.find_first_of(":\r\n ") != std::string::npos ||
        value.find_first_of("\r\n") != std::string::npos) {
      return Status::InvalidArgument("http: request header \"" + name + "\" has an invalid name or value");
    }
  }
  if (request.timeout.count() <= 0) return Status::InvalidArgument("http: timeout must be positive");
  if (url.scheme == "http" && (!request.cert_file.empty() || !request.key_file.empty())) {
    return Status::InvalidArgument("http: a client certificate needs an https:// URL, got " + request.url);
  }
  Fetcher fetcher(request, std::move(url));
  return fetcher.Run();
}

}  // namespace dsmil::net
