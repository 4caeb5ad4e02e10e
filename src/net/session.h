// The DBE secure session (docs/dbe-session.md): mutual authentication of two
// nodes with pinned ML-DSA-87 identities, a hybrid ECDHE-P384 + ML-KEM-1024
// key exchange bound to the transcript, AES-256-GCM records with per-direction
// sequence numbers, a sliding anti-replay window, a timestamp window, and
// rekeying.
//
// Layers, from the pure to the wired:
//   * HandshakeInitiator / HandshakeResponder: the three handshake messages as
//     byte-in / byte-out steps, no I/O. They yield SessionKeys.
//   * SessionState: seals DBE frames into records and opens records, with
//     every anti-replay check; no I/O. Tests and the fuzz target drive it.
//   * SecureSession: both of the above over a net::Connection.
//
// Refusals: every refusal is a Status whose message begins
// "dbe-session: REASON: " (SessionRefusalReason() returns REASON), counted in
// dsmil_dbe_session_refusals_total{peer,reason} of the options' registry, and
// logged (warn). Established sessions are counted in
// dsmil_dbe_session_handshakes_total{peer,role} (role: initiator, responder).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/coding.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/mutex.h"
#include "core/status.h"
#include "crypto/ossl.h"
#include "dbe/message.h"
#include "net/connection.h"
#include "net/identity.h"

namespace dsmil::crypto {
class HybridInitiator;
}

namespace dsmil::net {

inline constexpr uint8_t kSessionVersion = 1;

enum class SessionRefusal : uint8_t {
  kMalformed,
  kUnexpectedMessage,
  kVersionMismatch,
  kUnknownPeer,
  kKeyMismatch,
  kBadIdentity,
  kCertBinding,
  kBadSignature,
  kKeyConfirmation,
  kPeerRefused,
  kReplay,
  kTooOld,
  kStale,
  kTampered,
  kBadEpoch,
  kSequenceExhausted,
  kTimeout,
};

// The stable reason string: "malformed", "unknown_peer", "replay", ...
std::string_view SessionRefusalName(SessionRefusal r);
// Parses a reason string back (nullopt when unknown).
std::optional<SessionRefusal> ParseSessionRefusal(std::string_view name);
// The Status for a refusal: its code per docs/dbe-session.md §5, message
// "dbe-session: REASON: detail".
Status SessionRefusalStatus(SessionRefusal r, std::string_view detail);
// REASON of a Status made by SessionRefusalStatus, or "" for any other Status.
// The view points to static storage (it outlives `status`).
std::string_view SessionRefusalReason(const Status& status);

struct SessionOptions {
  // Handshake: the time to wait for each peer message.
  std::chrono::milliseconds handshake_timeout{10000};
  // Anti-replay: how many sequence numbers below the highest seen are still
  // accepted (once each). 64..65536.
  uint32_t replay_window = 1024;
  // Timestamps of DATA frames must be within this of the receiver's clock.
  std::chrono::nanoseconds max_clock_skew = std::chrono::seconds(30);
  // A direction is rekeyed after this many records or this much time.
  uint64_t rekey_after_records = uint64_t{1} << 20;
  std::chrono::nanoseconds rekey_after = std::chrono::hours(1);
  // Null: DefaultClock(), DefaultRegistry(), a default stderr logger. When
  // given, they must outlive the session.
  const Clock* clock = nullptr;
  Registry* metrics = nullptr;
  const Logger* logger = nullptr;
};

enum class SessionRole : uint8_t { kInitiator, kResponder };

// The output of a handshake (docs/dbe-session.md §2). Wiped when destroyed.
struct SessionKeys {
  crypto::SecretBytes enc_i2r, enc_r2i;       // 32 bytes each
  crypto::SecretBytes iv_i2r, iv_r2i;         // 12 bytes each
  crypto::SecretBytes k_mac, k_log, k_rekey;  // 48 bytes each
  std::string peer_node;                      // the authenticated peer
  std::string peer_spiffe_id;
  Bytes peer_public_key;
};

// ---- Handshake core ------------------------------------------------------

// Context shared by both roles. The references must outlive the handshake.
struct HandshakeConfig {
  const NodeIdentity* identity = nullptr;
  const PinnedPeers* peers = nullptr;
  // The verified CN of the transport's peer certificate ("" when the
  // transport has none); the peer's CERT_CN must equal it.
  std::string transport_peer_cn;
  SessionOptions options;
};

class HandshakeInitiator {
 public:
  explicit HandshakeInitiator(HandshakeConfig config);
  ~HandshakeInitiator();
  // Message 1 (SESSION_HELLO). Call once.
  Result<Bytes> Hello();
  // Consumes SESSION_ACCEPT (or an ALERT); returns SESSION_FINISH. After OK,
  // keys() holds the session keys. A refusal is counted and logged here.
  Result<Bytes> OnAccept(ByteView accept);
  SessionKeys& keys() { return keys_; }
  // The peer's name once known from its bundle ("unknown" before).
  const std::string& peer_label() const { return peer_label_; }

 private:
  Status Refuse(SessionRefusal r, std::string_view detail);
  HandshakeConfig config_;
  std::unique_ptr<crypto::HybridInitiator> kem_;
  Bytes hello_;
  SessionKeys keys_;
  std::string peer_label_ = "unknown";
  bool done_ = false;
};

class HandshakeResponder {
 public:
  explicit HandshakeResponder(HandshakeConfig config);
  ~HandshakeResponder();
  // Consumes SESSION_HELLO; returns SESSION_ACCEPT.
  Result<Bytes> OnHello(ByteView hello);
  // Consumes SESSION_FINISH; after OK keys() holds the session keys.
  Status OnFinish(ByteView finish);
  SessionKeys& keys() { return keys_; }
  const std::string& peer_label() const { return peer_label_; }

 private:
  Status Refuse(SessionRefusal r, std::string_view detail);
  HandshakeConfig config_;
  Bytes hello_, accept_, th2_;
  crypto::SecretBytes ss_;
  Bytes peer_public_key_;
  SessionKeys keys_;
  std::string peer_label_ = "unknown";
  int state_ = 0;  // 0 want HELLO, 1 want FINISH, 2 done, 3 failed
};

// An ALERT message naming `reason` (sent before closing on a refusal).
Bytes MakeAlert(SessionRefusal reason);

// ---- Record core -----------------------------------------------------------

inline constexpr size_t kRecordHeaderBytes = 12;
inline constexpr size_t kRecordOverheadBytes = kRecordHeaderBytes + crypto::kAesGcmTagBytes;

// The sealing and opening state of one session endpoint. Not thread-safe:
// the seal side (Seal*, MakeRekey, MakeClose) and the open side (Open) may be
// used by two different threads, but each side by one thread at a time.
class SessionState {
 public:
  // InvalidArgument when keys are missing or options out of range.
  static Result<std::unique_ptr<SessionState>> Create(SessionRole role, const SessionKeys& keys,
                                                      SessionOptions options = {});
  ~SessionState();

  // Seals one DBE message: encodes it (InvalidArgument when it does not
  // encode) with its header sequence set to the record seq and its timestamp
  // to the clock's wall time (`msg` itself is not changed) and returns the
  // DATA record. ResourceExhausted (sequence_exhausted) after 2^64-1 records.
  Result<Bytes> Seal(const dbe::Message& msg);
  // A REKEY record; the send key moves to the next epoch after it.
  Result<Bytes> MakeRekey();
  // A CLOSE record.
  Result<Bytes> MakeClose();
  // Whether the send side has used its record or time budget.
  bool RekeyDue() const;

  enum class RecordKind { kData, kRekey, kClose };
  struct Opened {
    RecordKind kind = RecordKind::kData;
    dbe::Message message;  // kData only
  };
  // Opens one record with every check of docs/dbe-session.md §3. A refusal
  // is counted and logged, and leaves the state as it was.
  Result<Opened> Open(ByteView record);

  const std::string& peer() const { return peer_; }
  uint16_t send_epoch() const { return send_epoch_; }
  uint16_t recv_epoch() const { return recv_epoch_; }
  uint64_t next_send_seq() const { return send_seq_; }

 private:
  struct Impl;
  SessionState() = default;
  Result<Bytes> SealRecord(uint8_t type, ByteView plaintext);
  Status Refuse(SessionRefusal r, std::string_view detail);

  std::unique_ptr<Impl> impl_;
  SessionRole role_ = SessionRole::kInitiator;
  std::string peer_;
  SessionOptions options_;
  uint64_t send_seq_ = 0;
  uint16_t send_epoch_ = 0;
  uint64_t epoch_records_ = 0;
  int64_t epoch_start_ns_ = 0;
  uint16_t recv_epoch_ = 0;
};

// ---- The wired session -----------------------------------------------------

class SecureSession {
 public:
  // Runs the handshake over `conn` (which must outlive the session; the
  // session does not own it) as initiator / responder. On a refusal an ALERT
  // is sent, the connection closed and the refusal returned. `identity` and
  // `peers` are only used during the call.
  static Result<std::unique_ptr<SecureSession>> Initiate(Connection& conn, const NodeIdentity& identity,
                                                         const PinnedPeers& peers, SessionOptions options = {});
  static Result<std::unique_ptr<SecureSession>> Accept(Connection& conn, const NodeIdentity& identity,
                                                       const PinnedPeers& peers, SessionOptions options = {});
  ~SecureSession();

  // Seals and sends one message (its sequence and timestamp are set by the
  // session); rekeys first when due. Thread-safe.
  Status Send(const dbe::Message& msg);
  // Forces a rekey of the send direction. Thread-safe.
  Status Rekey();
  // Receives the next DATA message. REKEY records are handled silently;
  // a CLOSE record gives Unavailable ("peer closed the session"). A refused
  // record gives its refusal and the session stays usable. One thread at a
  // time.
  Result<dbe::Message> Receive(std::chrono::milliseconds timeout);
  // Sends CLOSE (best effort). Does not close the connection. Thread-safe.
  void Close();

  const std::string& peer() const { return peer_; }
  const std::string& peer_spiffe_id() const { return peer_spiffe_id_; }
  // K_mac and K_log of docs/dbe-session.md §2 for higher layers.
  ByteView k_mac() const { return k_mac_; }
  ByteView k_log() const { return k_log_; }
  const SessionState& state() const { return *state_; }

 private:
  SecureSession(Connection& conn, std::unique_ptr<SessionState> state, const SessionKeys& keys);
  Connection& conn_;
  Mutex send_mu_;
  // Its seal side (Seal, MakeRekey, MakeClose, RekeyDue) is used with send_mu_
  // held; its open side by Receive alone (one thread at a time). The two sides
  // share no mutable state, and the analysis cannot split one object, so the
  // pointer is not annotated.
  std::unique_ptr<SessionState> state_;
  std::string peer_, peer_spiffe_id_;
  crypto::SecretBytes k_mac_, k_log_;
  bool closed_ DSMIL_GUARDED_BY(send_mu_) = false;
};

}  // namespace dsmil::net
