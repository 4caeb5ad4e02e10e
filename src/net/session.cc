// SecureSession: the handshake and SessionState over a net::Connection.
#include "net/session.h"

#include "net/session_internal.h"

namespace dsmil::net {
namespace {

using Clock_ = std::chrono::steady_clock;

// Receives one handshake message; a timeout becomes the `timeout` refusal.
Result<Bytes> ReceiveHandshake(Connection& conn, const SessionOptions& options, std::string_view peer,
                               std::string_view what) {
  auto frame = conn.Receive(options.handshake_timeout);
  if (frame.ok()) return frame;
  if (frame.status().code() == StatusCode::kDeadlineExceeded) {
    Status s = SessionRefusalStatus(SessionRefusal::kTimeout, "no " + std::string(what) + " within " +
                                                                  std::to_string(options.handshake_timeout.count()) +
                                                                  " ms from " + conn.Describe());
    session_internal::RecordRefusal(options, peer, SessionRefusal::kTimeout, s);
    return s;
  }
  return Status(frame.status().code(),
                "dbe-session: waiting for " + std::string(what) + ": " + frame.status().message());
}

// After a refusal of ours: tell the peer why, then close.
Status AbortHandshake(Connection& conn, Status status) {
  std::string_view reason = SessionRefusalReason(status);
  if (!reason.empty() && reason != "peer_refused" && reason != "timeout") {
    (void)conn.Send(MakeAlert(*ParseSessionRefusal(reason)));
  }
  conn.Close();
  return status;
}

void CountHandshake(const SessionOptions& options, std::string_view peer, std::string_view role) {
  Registry& registry = options.metrics != nullptr ? *options.metrics : DefaultRegistry();
  registry
      .AddCounter("dsmil_dbe_session_handshakes_total", "DBE secure sessions established, by peer and our role",
                  {"peer", "role"})
      .Labels({peer, role})
      .Inc();
}

}  // namespace

SecureSession::SecureSession(Connection& conn, std::unique_ptr<SessionState> state, const SessionKeys& keys)
    : conn_(conn),
      state_(std::move(state)),
      peer_(keys.peer_node),
      peer_spiffe_id_(keys.peer_spiffe_id),
      k_mac_(keys.k_mac),
      k_log_(keys.k_log) {}

SecureSession::~SecureSession() = default;

Result<std::unique_ptr<SecureSession>> SecureSession::Initiate(Connection& conn, const NodeIdentity& identity,
                                                               const PinnedPeers& peers, SessionOptions options) {
  HandshakeInitiator hs(HandshakeConfig{&identity, &peers, conn.PeerName(), options});
  DSMIL_ASSIGN_OR_RETURN(Bytes hello, hs.Hello());
  DSMIL_RETURN_IF_ERROR(conn.Send(hello));
  auto accept = ReceiveHandshake(conn, options, hs.peer_label(), "SESSION_ACCEPT");
  if (!accept.ok()) return AbortHandshake(conn, accept.status());
  auto finish = hs.OnAccept(*accept);
  if (!finish.ok()) return AbortHandshake(conn, finish.status());
  DSMIL_RETURN_IF_ERROR(conn.Send(*finish));
  DSMIL_ASSIGN_OR_RETURN(auto state, SessionState::Create(SessionRole::kInitiator, hs.keys(), options));
  CountHandshake(options, hs.keys().peer_node, "initiator");
  return std::unique_ptr<SecureSession>(new SecureSession(conn, std::move(state), hs.keys()));
}

Result<std::unique_ptr<SecureSession>> SecureSession::Accept(Connection& conn, const NodeIdentity& identity,
                                                             const PinnedPeers& peers, SessionOptions options) {
  HandshakeResponder hs(HandshakeConfig{&identity, &peers, conn.PeerName(), options});
  auto hello = ReceiveHandshake(conn, options, hs.peer_label(), "SESSION_HELLO");
  if (!hello.ok()) return AbortHandshake(conn, hello.status());
  auto accept = hs.OnHello(*hello);
  if (!accept.ok()) return AbortHandshake(conn, accept.status());
  DSMIL_RETURN_IF_ERROR(conn.Send(*accept));
  auto finish = ReceiveHandshake(conn, options, hs.peer_label(), "SESSION_FINISH");
  if (!finish.ok()) return AbortHandshake(conn, finish.status());
  if (Status s = hs.OnFinish(*finish); !s.ok()) return AbortHandshake(conn, s);
  DSMIL_ASSIGN_OR_RETURN(auto state, SessionState::Create(SessionRole::kResponder, hs.keys(), options));
  CountHandshake(options, hs.keys().peer_node, "responder");
  return std::unique_ptr<SecureSession>(new SecureSession(conn, std::move(state), hs.keys()));
}

Status SecureSession::Send(const dbe::Message& msg) {
  MutexLock lock(send_mu_);
  if (closed_) return Status::Unavailable("dbe-session: session to " + peer_ + " is closed");
  if (state_->RekeyDue()) {
    DSMIL_ASSIGN_OR_RETURN(Bytes rekey, state_->MakeRekey());
    DSMIL_RETURN_IF_ERROR(conn_.Send(rekey));
  }
  DSMIL_ASSIGN_OR_RETURN(Bytes record, state_->Seal(msg));
  return conn_.Send(record);
}

Status SecureSession::Rekey() {
  MutexLock lock(send_mu_);
  if (closed_) return Status::Unavailable("dbe-session: session to " + peer_ + " is closed");
  DSMIL_ASSIGN_OR_RETURN(Bytes rekey, state_->MakeRekey());
  return conn_.Send(rekey);
}

Result<dbe::Message> SecureSession::Receive(std::chrono::milliseconds timeout) {
  const auto deadline = Clock_::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock_::now());
    if (left.count() < 0) left = std::chrono::milliseconds(0);
    DSMIL_ASSIGN_OR_RETURN(Bytes frame, conn_.Receive(left));
    DSMIL_ASSIGN_OR_RETURN(SessionState::Opened opened, state_->Open(frame));
    switch (opened.kind) {
      case SessionState::RecordKind::kData:
        return std::move(opened.message);
      case SessionState::RecordKind::kRekey:
        continue;
      case SessionState::RecordKind::kClose:
        return Status::Unavailable("dbe-session: peer " + peer_ + " closed the session");
    }
  }
}

void SecureSession::Close() {
  MutexLock lock(send_mu_);
  if (closed_) return;
  closed_ = true;
  auto record = state_->MakeClose();
  if (record.ok()) (void)conn_.Send(*record);
}

}  // namespace dsmil::net
