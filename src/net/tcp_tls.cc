// TCP + TLS transport: Asio + OpenSSL, length-prefixed frames.
#include "net/tcp_tls.h"

#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <deque>
#include <future>
#include <thread>

#include "core/mutex.h"
#include "net/tls_internal.h"

namespace dsmil::net {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

// An io_context and the thread that runs it. Held only by the user-facing
// objects (never by handlers), so it is never destroyed on its own thread.
struct IoThread {
  asio::io_context ioc{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard{ioc.get_executor()};
  std::thread thread;
  IoThread() : thread([this] { ioc.run(); }) {}
  ~IoThread() {
    guard.reset();
    ioc.stop();
    thread.join();
  }
};

std::string Endpoint(const tcp::endpoint& ep) {
  boost::system::error_code ec;
  std::string a = ep.address().to_string(ec);
  if (ep.address().is_v6()) a = "[" + a + "]";
  return a + ":" + std::to_string(ep.port());
}

// The state of one connection; handlers hold it by shared_ptr.
struct ConnImpl : std::enable_shared_from_this<ConnImpl> {
  ConnImpl(tcp::socket socket, std::shared_ptr<ssl::context> ctx, size_t max_send)
      : ctx_(std::move(ctx)), stream(std::move(socket), *ctx_), max_send(max_send) {}

  std::shared_ptr<ssl::context> ctx_;
  ssl::stream<tcp::socket> stream;
  const size_t max_send;
  std::string peer_cn;
  std::string describe;
  // The CRL of the TLS context (null without one) and the peer's serial: an
  // open connection whose peer certificate gets revoked is closed.
  std::shared_ptr<RevocationList> revocation;
  std::string peer_serial;
  std::chrono::steady_clock::time_point next_revocation_check;  // I/O thread only

  Mutex mu;
  CondVar cv;
  std::deque<Bytes> inbox DSMIL_GUARDED_BY(mu);
  bool local_closed DSMIL_GUARDED_BY(mu) = false;
  bool remote_closed DSMIL_GUARDED_BY(mu) = false;
  Status read_error DSMIL_GUARDED_BY(mu);  // DataLoss once, then Unavailable
  std::deque<Bytes> outbox DSMIL_GUARDED_BY(mu);
  size_t out_bytes DSMIL_GUARDED_BY(mu) = 0;
  bool writing DSMIL_GUARDED_BY(mu) = false;

  // I/O thread only.
  uint8_t len_buf[4];
  Bytes body;

  void CloseSocket() {
    boost::system::error_code ec;
    stream.lowest_layer().shutdown(tcp::socket::shutdown_both, ec);
    stream.lowest_layer().close(ec);
  }

  void MarkRemoteClosed(Status error) {
    {
      MutexLock lock(mu);
      remote_closed = true;
      if (!error.ok() && read_error.ok()) read_error = std::move(error);
    }
    cv.NotifyAll();
  }

  // Called once the handshake verified the peer.
  void NotePeerCertificate() {
    revocation = internal::RevocationOf(stream.native_handle());
    if (revocation) peer_serial = internal::PeerSerialHex(stream.native_handle());
  }

  // I/O thread: whether the peer certificate has been revoked since the
  // handshake (looked up at most every 250 ms).
  bool PeerRevokedNow() {
    if (!revocation) return false;
    auto now = std::chrono::steady_clock::now();
    if (now < next_revocation_check) return false;
    next_revocation_check = now + std::chrono::milliseconds(250);
    if (!revocation->IsRevoked(peer_serial)) return false;
    revocation->LogRefused("dbe tcp+tls", peer_cn, peer_serial);
    return true;
  }

  void StartRead() {
    auto self = shared_from_this();
    asio::async_read(stream, asio::buffer(len_buf, 4), [self](boost::system::error_code ec, size_t) {
      if (ec) return self->MarkRemoteClosed(Status::Ok());
      uint32_t len = GetU32BE(self->len_buf);
      if (len == 0 || len > kMaxConnectionFrame) {
        self->MarkRemoteClosed(Status::DataLoss("tcp+tls: frame length " + std::to_string(len) + " from " +
                                                self->describe + " outside 1.." + std::to_string(kMaxConnectionFrame)));
        self->CloseSocket();
        return;
      }
      self->body.resize(len);
      asio::async_read(self->stream, asio::buffer(self->body), [self](boost::system::error_code ec2, size_t) {
        if (ec2) return self->MarkRemoteClosed(Status::Ok());
        if (self->PeerRevokedNow()) {
          self->MarkRemoteClosed(
              Status::PermissionDenied("tcp+tls: the certificate of " + self->describe + " has been revoked"));
          self->CloseSocket();
          return;
        }
        {
          MutexLock lock(self->mu);
          self->inbox.push_back(std::move(self->body));
          self->body = Bytes();
        }
        self->cv.NotifyOne();
        self->StartRead();
      });
    });
  }

  // I/O thread: writes everything queued (up to kMaxBatchBytes) as one
  // buffer, so a burst of frames costs one TLS record train and one syscall.
  static constexpr size_t kMaxBatchBytes = 256u << 10;
  Bytes batch;  // I/O thread only

  void WriteNext() {
    {
      MutexLock lock(mu);
      if (outbox.empty()) {
        writing = false;
        if (local_closed) CloseSocket();
        return;
      }
      batch.clear();
      while (!outbox.empty() && (batch.empty() || batch.size() + outbox.front().size() <= kMaxBatchBytes)) {
        if (batch.empty()) {
          batch.swap(outbox.front());
        } else {
          batch.insert(batch.end(), outbox.front().begin(), outbox.front().end());
        }
        outbox.pop_front();
      }
    }
    auto self = shared_from_this();
    asio::async_write(stream, asio::buffer(batch), [self](boost::system::error_code ec, size_t) {
      {
        MutexLock lock(self->mu);
        self->out_bytes -= self->batch.size();
        if (ec) {
          self->outbox.clear();
          self->out_bytes = 0;
          self->remote_closed = true;
          self->writing = false;
        }
      }
      if (ec) {
        self->cv.NotifyAll();
        self->CloseSocket();
        return;
      }
      self->WriteNext();
    });
  }

  Status Send(ByteView frame) {
    if (frame.empty() || frame.size() > kMaxConnectionFrame) {
      return Status::ResourceExhausted("tcp+tls: frame of " + std::to_string(frame.size()) + " bytes outside 1.." +
                                       std::to_string(kMaxConnectionFrame));
    }
    bool kick = false;
    {
      MutexLock lock(mu);
      if (local_closed || remote_closed) return Status::Unavailable("tcp+tls: connection " + describe + " closed");
      if (out_bytes + frame.size() + 4 > max_send) {
        return Status::ResourceExhausted("tcp+tls: send buffer of " + describe + " full");
      }
      Bytes buf(4 + frame.size());
      PutU32BE(buf.data(), uint32_t(frame.size()));
      std::copy(frame.begin(), frame.end(), buf.begin() + 4);
      out_bytes += buf.size();
      outbox.push_back(std::move(buf));
      if (!writing) {
        writing = true;
        kick = true;
      }
    }
    if (kick) asio::post(stream.get_executor(), [self = shared_from_this()] { self->WriteNext(); });
    return Status::Ok();
  }

  Result<Bytes> Receive(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    MutexLock lock(mu);
    while (inbox.empty() && !local_closed && !remote_closed) {
      if (!cv.WaitUntil(mu, deadline)) break;
    }
    if (local_closed) return Status::Unavailable("tcp+tls: connection " + describe + " closed");
    if (!inbox.empty()) {
      Bytes f = std::move(inbox.front());
      inbox.pop_front();
      return f;
    }
    if (!remote_closed) {
      return Status::DeadlineExceeded("tcp+tls: no frame from " + describe + " within " +
                                      std::to_string(timeout.count()) + " ms");
    }
    if (!read_error.ok()) {
      Status s = std::move(read_error);
      read_error = Status::Ok();
      return s;
    }
    return Status::Unavailable("tcp+tls: connection " + describe + " closed by the peer");
  }

  void Close() {
    bool close_now = false;
    {
      MutexLock lock(mu);
      if (local_closed) return;
      local_closed = true;
      close_now = !writing;  // otherwise WriteNext closes once the outbox is flushed
    }
    cv.NotifyAll();
    if (close_now) asio::post(stream.get_executor(), [self = shared_from_this()] { self->CloseSocket(); });
  }
};

class TcpTlsConnection final : public Connection {
 public:
  TcpTlsConnection(std::shared_ptr<IoThread> io, std::shared_ptr<ConnImpl> impl)
      : io_(std::move(io)), impl_(std::move(impl)) {}
  ~TcpTlsConnection() override {
    impl_->Close();
    // Let the I/O thread flush (bounded) before the last reference to it goes.
    for (int i = 0; i < 200; ++i) {
      {
        MutexLock lock(impl_->mu);
        if (!impl_->writing) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    asio::post(impl_->stream.get_executor(), [impl = impl_] { impl->CloseSocket(); });
  }
  Status Send(ByteView frame) override { return impl_->Send(frame); }
  Result<Bytes> Receive(std::chrono::milliseconds timeout) override { return impl_->Receive(timeout); }
  void Close() override { impl_->Close(); }
  std::string PeerName() const override { return impl_->peer_cn; }
  std::string Describe() const override { return impl_->describe; }

 private:
  std::shared_ptr<IoThread> io_;  // declared first: destroyed last
  std::shared_ptr<ConnImpl> impl_;
};

struct ListenerImpl : std::enable_shared_from_this<ListenerImpl> {
  ListenerImpl(asio::io_context& ioc, std::shared_ptr<ssl::context> ctx, TcpTlsListenOptions options)
      : acceptor(ioc), ctx(std::move(ctx)), options(options) {}
  tcp::acceptor acceptor;
  std::shared_ptr<ssl::context> ctx;
  TcpTlsListenOptions options;
  Mutex mu;
  CondVar cv;
  std::deque<std::shared_ptr<ConnImpl>> ready DSMIL_GUARDED_BY(mu);
  bool closed DSMIL_GUARDED_BY(mu) = false;

  void DoAccept() {
    auto self = shared_from_this();
    acceptor.async_accept([self](boost::system::error_code ec, tcp::socket socket) {
      {
        MutexLock lock(self->mu);
        if (self->closed) return;
      }
      if (!ec) self->Handshake(std::move(socket));
      self->DoAccept();
    });
  }

  void Handshake(tcp::socket socket) {
    boost::system::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    std::string remote = Endpoint(socket.remote_endpoint(ec));
    auto conn = std::make_shared<ConnImpl>(std::move(socket), ctx, options.max_send_buffer);
    auto timer = std::make_shared<asio::steady_timer>(acceptor.get_executor());
    timer->expires_after(options.handshake_timeout);
    timer->async_wait([conn](boost::system::error_code tec) {
      if (!tec) conn->CloseSocket();
    });
    auto self = shared_from_this();
    conn->stream.async_handshake(ssl::stream_base::server, [self, conn, timer, remote](boost::system::error_code hec) {
      timer->cancel();
      if (hec) return conn->CloseSocket();
      auto cn = internal::VerifiedPeerCommonName(conn->stream.native_handle());
      if (!cn.has_value() || cn->empty()) return conn->CloseSocket();
      conn->peer_cn = *cn;
      conn->describe = "tcp+tls " + remote + " (" + *cn + ")";
      conn->NotePeerCertificate();
      {
        MutexLock lock(self->mu);
        if (self->closed || self->ready.size() >= self->options.accept_backlog) return conn->CloseSocket();
        self->ready.push_back(conn);
      }
      self->cv.NotifyOne();
      conn->StartRead();
    });
  }
};

class TcpTlsListener final : public Listener {
 public:
  TcpTlsListener(std::shared_ptr<IoThread> io, std::shared_ptr<ListenerImpl> impl, uint16_t port)
      : io_(std::move(io)), impl_(std::move(impl)), port_(port) {}
  ~TcpTlsListener() override { Close(); }

  Result<std::unique_ptr<Connection>> Accept(std::chrono::milliseconds timeout) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    MutexLock lock(impl_->mu);
    while (impl_->ready.empty() && !impl_->closed) {
      if (!impl_->cv.WaitUntil(impl_->mu, deadline)) break;
    }
    if (impl_->closed) return Status::Unavailable("tcp+tls: listener on port " + std::to_string(port_) + " closed");
    if (impl_->ready.empty()) {
      return Status::DeadlineExceeded("tcp+tls: no connection on port " + std::to_string(port_) + " within " +
                                      std::to_string(timeout.count()) + " ms");
    }
    auto conn = std::move(impl_->ready.front());
    impl_->ready.pop_front();
    return std::unique_ptr<Connection>(new TcpTlsConnection(io_, std::move(conn)));
  }
  uint16_t port() const override { return port_; }
  void Close() override {
    std::deque<std::shared_ptr<ConnImpl>> pending;
    {
      MutexLock lock(impl_->mu);
      if (impl_->closed) return;
      impl_->closed = true;
      pending.swap(impl_->ready);
    }
    impl_->cv.NotifyAll();
    std::promise<void> done;
    asio::post(io_->ioc, [impl = impl_, &pending, &done] {
      boost::system::error_code ec;
      impl->acceptor.close(ec);
      for (auto& c : pending) c->CloseSocket();
      done.set_value();
    });
    done.get_future().wait();
  }

 private:
  std::shared_ptr<IoThread> io_;
  std::shared_ptr<ListenerImpl> impl_;
  uint16_t port_;
};

}  // namespace

Result<std::unique_ptr<Listener>> ListenTcpTls(const std::string& host, uint16_t port, const TlsOptions& tls,
                                               const TcpTlsListenOptions& options) {
  if (!tls.require_client_cert) {
    return Status::InvalidArgument("tcp+tls: the DBE listener requires client certificates (mutual TLS)");
  }
  DSMIL_ASSIGN_OR_RETURN(SSL_CTX * native, internal::NewServerContext(tls));
  auto ctx = std::make_shared<ssl::context>(native);
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) return Status::InvalidArgument("tcp+tls: listen address \"" + host + "\" is not an IP address");
  auto io = std::make_shared<IoThread>();
  auto impl = std::make_shared<ListenerImpl>(io->ioc, std::move(ctx), options);
  tcp::endpoint ep(address, port);
  impl->acceptor.open(ep.protocol(), ec);
  if (!ec) impl->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(ep, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::Unavailable("tcp+tls: cannot listen on " + Endpoint(ep) + ": " + ec.message());
  uint16_t bound = impl->acceptor.local_endpoint(ec).port();
  asio::post(io->ioc, [impl] { impl->DoAccept(); });
  return std::unique_ptr<Listener>(new TcpTlsListener(std::move(io), std::move(impl), bound));
}

Result<std::unique_ptr<Connection>> DialTcpTls(const std::string& host, uint16_t port, const TlsOptions& client,
                                               const TcpTlsDialOptions& options) {
  if (client.cert_file.empty() || client.key_file.empty() || client.ca_file.empty()) {
    return Status::InvalidArgument("tcp+tls: dialling needs cert_file, key_file and ca_file");
  }
  DSMIL_ASSIGN_OR_RETURN(
      SSL_CTX * native, internal::NewClientContext(client.ca_file, client.cert_file, client.key_file, client.crl_file));
  auto ctx = std::make_shared<ssl::context>(native);
  auto io = std::make_shared<IoThread>();
  boost::system::error_code ec;
  tcp::resolver resolver(io->ioc);
  auto endpoints = resolver.resolve(host, std::to_string(port), ec);
  if (ec) return Status::Unavailable("tcp+tls: cannot resolve " + host + ": " + ec.message());
  auto conn = std::make_shared<ConnImpl>(tcp::socket(io->ioc), ctx, options.max_send_buffer);
  DSMIL_RETURN_IF_ERROR(internal::SetExpectedPeer(conn->stream.native_handle(),
                                                  options.server_name.empty() ? host : options.server_name));
  auto result = std::make_shared<std::promise<Status>>();
  auto future = result->get_future();
  const std::string target = host + ":" + std::to_string(port);
  asio::post(io->ioc, [conn, endpoints, result, target] {
    asio::async_connect(
        conn->stream.lowest_layer(), endpoints,
        [conn, result, target](boost::system::error_code cec, const tcp::endpoint& ep) {
          if (cec) {
            result->set_value(Status::Unavailable("tcp+tls: cannot connect to " + target + ": " + cec.message()));
            return;
          }
          boost::system::error_code ignored;
          conn->stream.lowest_layer().set_option(tcp::no_delay(true), ignored);
          conn->describe = "tcp+tls " + Endpoint(ep);
          conn->stream.async_handshake(ssl::stream_base::client, [conn, result, target](boost::system::error_code hec) {
            if (hec) {
              std::string why = internal::VerifyFailure(conn->stream.native_handle());
              if (why.empty()) why = hec.message();
              result->set_value(Status::Unavailable("tcp+tls: TLS handshake with " + target + " failed: " + why));
              return;
            }
            auto cn = internal::VerifiedPeerCommonName(conn->stream.native_handle());
            conn->peer_cn = cn.value_or("");
            conn->NotePeerCertificate();
            result->set_value(Status::Ok());
          });
        });
  });
  if (future.wait_for(options.timeout) != std::future_status::ready) {
    asio::post(io->ioc, [conn] { conn->CloseSocket(); });
    future.wait();
    return Status::DeadlineExceeded("tcp+tls: connecting to " + target + " took over " +
                                    std::to_string(options.timeout.count()) + " ms");
  }
  DSMIL_RETURN_IF_ERROR(future.get());
  if (conn->peer_cn.empty()) return Status::Unavailable("tcp+tls: server certificate of " + target + " has no CN");
  if (!options.expected_peer_cn.empty() && conn->peer_cn != options.expected_peer_cn) {
    return Status::PermissionDenied("tcp+tls: " + target + " presented CN \"" + conn->peer_cn + "\", want \"" +
                                    options.expected_peer_cn + "\"");
  }
  conn->describe += " (" + conn->peer_cn + ")";
  asio::post(io->ioc, [conn] { conn->StartRead(); });
  return std::unique_ptr<Connection>(new TcpTlsConnection(std::move(io), std::move(conn)));
}

}  // namespace dsmil::net
