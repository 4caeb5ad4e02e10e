#include "net/http_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <thread>

#include "net/http_client.h"
#include "test_util.h"

namespace dsmil::net {
namespace {

using namespace std::chrono_literals;
using testing::RawConnection;

HttpResponse Echo(const HttpRequest& req) {
  HttpResponse r;
  r.content_type = "text/plain";
  r.body = req.method + " " + req.path + " q=" + req.QueryParam("q") + " h=" + std::string(req.Header("x-test")) +
           " body=" + req.body;
  r.headers.emplace_back("X-Peer", req.peer_address);
  return r;
}

std::unique_ptr<HttpServer> StartOrDie(HttpServerOptions options) {
  auto server = HttpServer::Start(std::move(options));
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  return server.ok() ? std::move(server).value() : nullptr;
}

HttpClientRequest Req(std::string url, std::string method = "GET",
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) {
  HttpClientRequest r;
  r.url = std::move(url);
  r.method = std::move(method);
  r.timeout = timeout;
  return r;
}

std::string Url(const HttpServer& s, const std::string& path) {
  return "http://127.0.0.1:" + std::to_string(s.port()) + path;
}

TEST(HttpServerTest, PlainRoundTrip) {
  HttpServerOptions o;
  o.handler = Echo;
  auto server = StartOrDie(std::move(o));
  ASSERT_TRUE(server);
  EXPECT_NE(server->port(), 0);
  EXPECT_STREQ(server->scheme(), "http");
  HttpClientRequest req;
  req.method = "POST";
  req.url = Url(*server, "/v1/echo?q=a%20b+c&z=1");
  req.headers = {{"X-Test", "hello"}};
  req.body = "payload";
  auto res = HttpFetch(req);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->content_type, "text/plain");
  EXPECT_EQ(res->body, "POST /v1/echo q=a b c h=hello body=payload");
  EXPECT_NE(res->Header("x-peer").find("127.0.0.1:"), std::string::npos);
  EXPECT_EQ(res->Header("Server"), "dsmil");
}

TEST(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  HttpServerOptions o;
  o.handler = Echo;
  auto server = StartOrDie(std::move(o));
  ASSERT_TRUE(server);
  RawConnection conn(server->port());
  ASSERT_TRUE(conn.connected());
  ASSERT_TRUE(conn.Send("GET /one HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string r1 = conn.ReadResponse();
  ASSERT_TRUE(conn.Send("GET /two?q=2 HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string r2 = conn.ReadResponse();
  EXPECT_EQ(r1.rfind("HTTP/1.1 200", 0), 0u) << r1;
  EXPECT_NE(r1.find("GET /one"), std::string::npos);
  EXPECT_NE(r2.find("GET /two q=2"), std::string::npos) << r2;
  // Same peer port: the same connection served both.
  auto peer = [](const std::string& r) {
    size_t p = r.find("X-Peer: ");
    return r.substr(p, r.find("\r\n", p) - p);
  };
  EXPECT_EQ(peer(r1), peer(r2));
  // Pipelined requests are answered in order.
  ASSERT_TRUE(conn.Send("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  EXPECT_NE(conn.ReadResponse().find("GET /a"), std::string::npos);
  std::string last = conn.ReadResponse();
  EXPECT_NE(last.find("GET /b"), std::string::npos);
  EXPECT_NE(last.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(conn.ClosedByPeer());
}

TEST(HttpServerTest, BodyOverLimitGets413NamingTheLimit) {
  HttpServerOptions o;
  o.max_body_bytes = 1000;
  std::atomic<int> calls{0};
  o.handler = [&](const HttpRequest&) {
    ++calls;
    return HttpResponse{};
  };
  auto server = StartOrDie(std::move(o));
  ASSERT_TRUE(server);
  HttpClientRequest req;
  req.method = "POST";
  req.url = Url(*server, "/big");
  req.body = std::string(1001, 'x');
  auto res = HttpFetch(req);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->status, 413);
  EXPECT_EQ(res->content_type, "application/json");
  EXPECT_NE(res->body.find("limit of 1000 bytes"), std::string::npos) << res->body;
  // A large body sent in full is answered too (not reset).
  req.body = std::string(300000, 'y');
  res = HttpFetch(req);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->status, 413);
  // Exactly at the limit is fine.
  req.body = std::string(1000, 'x');
  res = HttpFetch(req);
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(calls.load(), 1);
}

TEST(HttpServerTest, MalformedRequestGets400) {
  HttpServerOptions o;
  o.handler = Echo;
  auto server = StartOrDie(std::move(o));
  ASSERT_TRUE(server);
  {
    RawConnection conn(server->port());
    ASSERT_TRUE(conn.Send("THIS IS NOT HTTP\r\n\r\n"));
    std::string r = conn.ReadResponse();
    EXPECT_EQ(r.rfind("HTTP/1.1 400", 0), 0u) << r;
    EXPECT_NE(r.find("malformed request"), std::string::npos);
    EXPECT_TRUE(conn.ClosedByPeer());
  }
  {
    RawConnection conn(server->port());
    ASSERT_TRUE(conn.Send("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n"));
    EXPECT_EQ(conn.ReadResponse().rfind("HTTP/1.1 400", 0), 0u);
  }
}

TEST(HttpServerTest, OversizedHeadersGet431) {
  HttpServerOptions o;
  o.handler = Echo;
  o.max_header_bytes = 1024;
  auto server = StartOrDie(std::move(o));
  ASSERT_TRUE(server);
  RawConnection conn(server->port());
  ASSERT_TRUE(conn.Send("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n"));
  std::string r = conn.ReadResponse();
  EXPECT_EQ(r.rfind("HTTP/1.1 431", 0), 0u) << r;
}

TEST(HttpServerTest, HandlerExceptionBecomes500AndServerKeepsGoing) {
  HttpServerOptions o;
  o.handler = [](const HttpRequest& req) -> HttpResponse {
    if (req.path == "/throw") throw std::runtime_error("boom");
    if (req.path == "/throw-int") throw 42;
    return HttpResponse{200, "application/json", "{}", {}, {}};
  };
  auto server = StartOrDie(std::move(o));
  ASSERT_TRUE(server);
  for (const char* path : {"/throw", "/throw-int"}) {
    auto res = HttpFetch(Req(Url(*server, path)));
    ASSERT_TRUE(res.ok()) << res.status().ToString();
    EXPECT_EQ(res->status, 500);
    EXPECT_EQ(res->body, "{\"error\":\"internal server error\"}");
  }
  auto ok = HttpFetch(Req(Url(*server, "/fine")));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->status, 200);
}

TEST(HttpServerTest, HeadAndCustomStatus) {
  HttpServerOptions o;
  o.handler = [](const HttpRequest& req) {
    HttpResponse r;
    r.status = req.path == "/missing" ? 404 : 200;
    r.body = "0123456789";
    r.headers = {{"X-Bad", "a\r\nInjected: 1"}, {"X-Good", "yes"}};
    return r;
  };
  auto server = StartOrDie(std::move(o));
  ASSERT_TRUE(server);
  auto res = HttpFetch(Req(Url(*server, "/x"), "HEAD"));
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "");
  EXPECT_EQ(res->Header("Content-Length"), "10");
  EXPECT_EQ(res->Header("X-Good"), "yes");
  EXPECT_EQ(res->Header("Injected"), "");
  EXPECT_EQ(res->Header("X-Bad"), "");
  res = HttpFetch(Req(Url(*server, "/missing")));
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(res->body, "0123456789");
}

TEST(HttpServerTest, StopLetsASlowRequestFinish) {
  std::atomic<bool> entered{false};
  HttpServerOptions o;
  o.handler = [&](const HttpRequest&) {
    entered = true;
    std::this_thread::sleep_for(400ms);
    return HttpResponse{200, "text/plain", "done", {}, {}};
  };
  auto server = StartOrDie(std::move(o));
  ASSERT_TRUE(server);
  std::string url = Url(*server, "/slow");
  auto pending = std::async(std::launch::async, [url] { return HttpFetch(Req(url)); });
  // An idle keep-alive connection must not hold Stop up.
  RawConnection idle(server->port());
  ASSERT_TRUE(idle.connected());
  while (!entered) std::this_thread::sleep_for(1ms);
  auto t0 = std::chrono::steady_clock::now();
  server->Stop();
  auto took = std::chrono::steady_clock::now() - t0;
  auto res = pending.get();
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "done");
  EXPECT_LT(took, 5s);
  EXPECT_TRUE(idle.ClosedByPeer());
  // After Stop, nothing listens.
  auto after = HttpFetch(Req(url, "GET", 2000ms));
  EXPECT_EQ(after.status().code(), StatusCode::kUnavailable);
  server->Stop();  // idempotent
}

TEST(HttpServerTest, ConnectionRefusedIsUnavailable) {
  HttpServerOptions o;
  o.handler = Echo;
  auto server = StartOrDie(std::move(o));
  ASSERT_TRUE(server);
  uint16_t port = server->port();
  server.reset();
  auto res = HttpFetch(Req("http://127.0.0.1:" + std::to_string(port) + "/"));
  EXPECT_EQ(res.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(res.status().message(), "connect to http://127.0.0.1:" + std::to_string(port) + ": connection refused");
}

TEST(HttpServerTest, SlowServerIsDeadlineExceeded) {
  HttpServerOptions o;
  o.handler = [](const HttpRequest&) {
    std::this_thread::sleep_for(600ms);
    return HttpResponse{};
  };
  auto server = StartOrDie(std::move(o));
  ASSERT_TRUE(server);
  auto res = HttpFetch(Req(Url(*server, "/"), "GET", 150ms));
  EXPECT_EQ(res.status().code(), StatusCode::kDeadlineExceeded) << res.status().ToString();
  EXPECT_NE(res.status().message().find("150 ms"), std::string::npos);
}

TEST(HttpServerTest, BindErrorIsClear) {
  HttpServerOptions o;
  o.handler = Echo;
  auto first = StartOrDie(o);
  ASSERT_TRUE(first);
  o.port = first->port();
  auto second = HttpServer::Start(o);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find("bind 127.0.0.1:" + std::to_string(o.port)), std::string::npos)
      << second.status().message();
  o.host = "not an address";
  o.port = 0;
  EXPECT_EQ(HttpServer::Start(o).status().code(), StatusCode::kInvalidArgument);
  HttpServerOptions no_handler;
  EXPECT_EQ(HttpServer::Start(no_handler).status().code(), StatusCode::kInvalidArgument);
}

TEST(HttpServerTest, ConcurrentClients) {
  HttpServerOptions o;
  o.threads = 4;
  o.handler = Echo;
  auto server = StartOrDie(std::move(o));
  ASSERT_TRUE(server);
  std::vector<std::future<bool>> results;
  for (int i = 0; i < 8; ++i) {
    std::string url = Url(*server, "/c?q=" + std::to_string(i));
    results.push_back(std::async(std::launch::async, [url, i] {
      for (int k = 0; k < 20; ++k) {
        auto r = HttpFetch(Req(url));
        if (!r.ok() || r->body.find("q=" + std::to_string(i) + " ") == std::string::npos) return false;
      }
      return true;
    }));
  }
  for (auto& f : results) EXPECT_TRUE(f.get());
}

// Request framing (RFC 9112 §6.1, §6.3): anything that could make this
// server and an intermediary disagree on where a request ends is refused and
// the connection closed; the handler never runs.
class HttpFramingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpServerOptions o;
    o.handler = [this](const HttpRequest& req) {
      ++calls_;
      return Echo(req);
    };
    server_ = StartOrDie(std::move(o));
    ASSERT_TRUE(server_);
  }

  // Sends `request`, expects a response with `status` whose body names
  // `mention`, then the connection closed.
  void ExpectRefused(const std::string& request, int status, const std::string& mention) {
    RawConnection conn(server_->port());
    ASSERT_TRUE(conn.connected());
    ASSERT_TRUE(conn.Send(request));
    std::string r = conn.ReadResponse();
    EXPECT_EQ(r.rfind("HTTP/1.1 " + std::to_string(status), 0), 0u) << request << "\n---\n" << r;
    EXPECT_NE(r.find(mention), std::string::npos) << r;
    EXPECT_NE(r.find("Connection: close"), std::string::npos) << r;
    EXPECT_TRUE(conn.ClosedByPeer()) << request;
  }

  std::unique_ptr<HttpServer> server_;
  std::atomic<int> calls_{0};
};

TEST_F(HttpFramingTest, TransferEncodingNotEndingInChunkedWithContentLengthIs400) {
  // Served by its Content-Length before; the bytes after "hello" would then
  // have been a second, smuggled request.
  ExpectRefused(
      "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\nContent-Length: 5\r\n\r\n"
      "helloGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
      400, "Transfer-Encoding");
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(HttpFramingTest, ChunkedTogetherWithContentLengthIs400InEitherOrder) {
  ExpectRefused(
      "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
      "5\r\nhello\r\n0\r\n\r\n",
      400, "Transfer-Encoding together with Content-Length");
  ExpectRefused(
      "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n0\r\n\r\n",
      400, "Transfer-Encoding together with Content-Length");
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(HttpFramingTest, UnknownOrNonFinalTransferCodings) {
  // Final coding not chunked: the length cannot be known (RFC 9112 §6.3).
  ExpectRefused("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nhello", 400, "does not end in chunked");
  ExpectRefused("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\nhello", 400,
                "does not end in chunked");
  // A coding before chunked that the server does not implement: 501.
  ExpectRefused("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 501,
                "gzip");
  ExpectRefused(
      "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: x-custom\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501,
      "x-custom");
  ExpectRefused("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400,
                "more than once");
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(HttpFramingTest, ConflictingContentLengthsAre400) {
  ExpectRefused("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400,
                "conflicting Content-Length");
  ExpectRefused("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello!", 400, "conflicting Content-Length");
  ExpectRefused("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello", 400, "Content-Length");
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(HttpFramingTest, ObsFoldIs400) {
  ExpectRefused("GET /a HTTP/1.1\r\nHost: x\r\nX-Test: one\r\n two\r\n\r\n", 400, "obs-fold");
  ExpectRefused("GET /a HTTP/1.1\r\nHost: x\r\nX-Test: one\r\n\ttwo\r\n\r\n", 400, "obs-fold");
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(HttpFramingTest, WellFramedRequestsStillWork) {
  RawConnection conn(server_->port());
  ASSERT_TRUE(conn.connected());
  // Chunked, with the coding name in another case, then a pipelined request
  // with a Content-Length repeated with the same value (allowed).
  ASSERT_TRUE(
      conn.Send("POST /c HTTP/1.1\r\nHost: x\r\ntransfer-encoding: Chunked\r\n\r\n"
                "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
                "POST /d HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc"));
  std::string r1 = conn.ReadResponse();
  std::string r2 = conn.ReadResponse();
  EXPECT_EQ(r1.rfind("HTTP/1.1 200", 0), 0u) << r1;
  EXPECT_NE(r1.find("POST /c q= h= body=hello world"), std::string::npos) << r1;
  EXPECT_EQ(r2.rfind("HTTP/1.1 200", 0), 0u) << r2;
  EXPECT_NE(r2.find("body=abc"), std::string::npos) << r2;
  // A header block arriving in small pieces is still read whole.
  RawConnection slow(server_->port());
  const std::string req = "GET /slow HTTP/1.1\r\nHost: x\r\nX-Test: t\r\n\r\n";
  for (char c : req) {
    ASSERT_TRUE(slow.Send(std::string(1, c)));
    if (c == '\n') std::this_thread::sleep_for(5ms);
  }
  std::string r3 = slow.ReadResponse();
  EXPECT_NE(r3.find("GET /slow q= h=t"), std::string::npos) << r3;
  EXPECT_EQ(calls_.load(), 3);
}

TEST(HttpTypesTest, UrlParsing) {
  auto u = ParseHttpUrl("https://node-a.dsmil.local:8099/v1/status?x=1#frag");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->host, "node-a.dsmil.local");
  EXPECT_EQ(u->port, 8099);
  EXPECT_EQ(u->target, "/v1/status?x=1");
  u = ParseHttpUrl("http://[::1]:81");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 81);
  EXPECT_EQ(u->target, "/");
  u = ParseHttpUrl("https://example");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->port, 443);
  for (const char* bad : {"ftp://x/", "http://", "http://h:0/", "http://h:70000/", "http://h:/", "http://[::1/",
                          "http://u@h/", "http://h/a b"}) {
    EXPECT_EQ(ParseHttpUrl(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(HttpTypesTest, QueryAndHeaders) {
  HttpRequest r;
  r.query = "a=1&b=x%2By+z&flag&a=2";
  r.headers = {{"Content-Type", "text/plain"}};
  EXPECT_EQ(r.QueryParam("a"), "1");
  EXPECT_EQ(r.QueryParam("b"), "x+y z");
  EXPECT_TRUE(r.HasQueryParam("flag"));
  EXPECT_FALSE(r.HasQueryParam("c"));
  EXPECT_EQ(r.QueryParam("c"), "");
  EXPECT_EQ(r.Header("content-type"), "text/plain");
  EXPECT_EQ(JsonQuote("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\u0001\"");
  EXPECT_EQ(HttpResponse::JsonError(413, "too big").body, "{\"error\":\"too big\"}");
}

}  // namespace
}  // namespace dsmil::net
