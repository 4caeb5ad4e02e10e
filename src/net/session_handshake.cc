// The session handshake (docs/dbe-session.md §2) and the refusal vocabulary.
#include <openssl/evp.h>

#include <array>
#include <initializer_list>

#include "crypto/hybrid.h"
#include "crypto/mldsa.h"
#include "net/session.h"
#include "net/session_internal.h"
#include "net/session_wire.h"

namespace dsmil::net {

namespace sw = session_wire;

namespace {

struct RefusalInfo {
  SessionRefusal r;
  std::string_view name;
  StatusCode code;
};

constexpr RefusalInfo kRefusals[] = {
    {SessionRefusal::kMalformed, "malformed", StatusCode::kDataLoss},
    {SessionRefusal::kUnexpectedMessage, "unexpected_message", StatusCode::kFailedPrecondition},
    {SessionRefusal::kVersionMismatch, "version_mismatch", StatusCode::kFailedPrecondition},
    {SessionRefusal::kUnknownPeer, "unknown_peer", StatusCode::kPermissionDenied},
    {SessionRefusal::kKeyMismatch, "key_mismatch", StatusCode::kPermissionDenied},
    {SessionRefusal::kBadIdentity, "bad_identity", StatusCode::kPermissionDenied},
    {SessionRefusal::kCertBinding, "cert_binding", StatusCode::kPermissionDenied},
    {SessionRefusal::kBadSignature, "bad_signature", StatusCode::kUnauthenticated},
    {SessionRefusal::kKeyConfirmation, "key_confirmation", StatusCode::kUnauthenticated},
    {SessionRefusal::kPeerRefused, "peer_refused", StatusCode::kPermissionDenied},
    {SessionRefusal::kReplay, "replay", StatusCode::kUnauthenticated},
    {SessionRefusal::kTooOld, "too_old", StatusCode::kUnauthenticated},
    {SessionRefusal::kStale, "stale", StatusCode::kUnauthenticated},
    {SessionRefusal::kTampered, "tampered", StatusCode::kUnauthenticated},
    {SessionRefusal::kBadEpoch, "bad_epoch", StatusCode::kUnauthenticated},
    {SessionRefusal::kSequenceExhausted, "sequence_exhausted", StatusCode::kResourceExhausted},
    {SessionRefusal::kTimeout, "timeout", StatusCode::kDeadlineExceeded},
};

constexpr std::string_view kStatusPrefix = "dbe-session: ";
constexpr std::string_view kResponderContext = "DSMIL session v1 responder";
constexpr std::string_view kInitiatorContext = "DSMIL session v1 initiator";
constexpr std::string_view kConfirmInfo = "DSMIL session v1 confirm";
constexpr std::string_view kKeysInfo = "DSMIL session v1 keys";
constexpr std::string_view kTpmQuoteNone = "none";
constexpr size_t kSharedSecretBytes = 48;

Bytes Sha384(std::initializer_list<ByteView> parts) {
  Bytes out(48);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned int len = 0;
  EVP_DigestInit_ex(ctx, EVP_sha384(), nullptr);
  for (ByteView p : parts) EVP_DigestUpdate(ctx, p.data(), p.size());
  EVP_DigestFinal_ex(ctx, out.data(), &len);
  EVP_MD_CTX_free(ctx);
  return out;
}

Result<Bytes> Gmac(ByteView key32, ByteView data) {
  static const uint8_t kZeroNonce[crypto::kAesGcmNonceBytes] = {};
  return crypto::AesGcmSeal(key32, kZeroNonce, {}, data);
}

// Adds the identity bundle of `id` (TLVs 0x63..0x67).
void AddBundle(sw::HandshakeMessage& msg, const NodeIdentity& id) {
  msg.Set(sw::kTlvNode, AsBytes(id.node));
  msg.Set(sw::kTlvSpiffeId, AsBytes(id.spiffe_id));
  msg.Set(sw::kTlvMlDsaPub, id.public_key);
  msg.Set(sw::kTlvCertCn, AsBytes(id.cert_cn.empty() ? id.node : id.cert_cn));
  msg.Set(sw::kTlvTpmQuote, AsBytes(kTpmQuoteNone));
}

std::string_view AsString(const Bytes& b) {
  return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
}

// Checks the identity bundle of `msg` against the pinned peers (docs §2).
// Sets *label to the node name once it is known to be pinned.
// Returns false with *reason and *detail set on a refusal.
bool CheckBundle(const sw::HandshakeMessage& msg, const HandshakeConfig& config, std::string* label,
                 SessionRefusal* reason, std::string* detail) {
  auto fail = [&](SessionRefusal r, std::string d) {
    *reason = r;
    *detail = std::move(d);
    return false;
  };
  const Bytes* node = msg.Find(sw::kTlvNode);
  const Bytes* spiffe = msg.Find(sw::kTlvSpiffeId);
  const Bytes* pub = msg.Find(sw::kTlvMlDsaPub);
  const Bytes* cn = msg.Find(sw::kTlvCertCn);
  const Bytes* tpm = msg.Find(sw::kTlvTpmQuote);
  if (node == nullptr || spiffe == nullptr || pub == nullptr || cn == nullptr || tpm == nullptr) {
    return fail(SessionRefusal::kMalformed,
                "identity bundle incomplete (NODE, SPIFFE_ID, MLDSA_PUB, CERT_CN, TPM_QUOTE)");
  }
  std::string_view name = AsString(*node);
  if (!IsValidNodeName(name) || !config.peers->Contains(name)) {
    return fail(SessionRefusal::kUnknownPeer,
                "node \"" + std::string(IsValidNodeName(name) ? name : "<invalid name>") + "\" is not pinned");
  }
  *label = std::string(name);
  if (!config.peers->Matches(name, *pub)) {
    return fail(SessionRefusal::kKeyMismatch,
                "the ML-DSA-87 key presented by " + std::string(name) + " is not its pinned key");
  }
  if (AsString(*spiffe) != SpiffeIdForNode(name)) {
    return fail(SessionRefusal::kBadIdentity, "SPIFFE ID of " + std::string(name) + " is not " + SpiffeIdForNode(name));
  }
  if (AsString(*cn) != name) {
    return fail(SessionRefusal::kCertBinding, "CERT_CN of " + std::string(name) + " names another node");
  }
  if (!config.transport_peer_cn.empty() && config.transport_peer_cn != name) {
    return fail(SessionRefusal::kCertBinding,
                "node " + std::string(name) + " came over a TLS connection of \"" + config.transport_peer_cn + "\"");
  }
  return true;
}

Result<SessionKeys> DeriveSessionKeys(ByteView ss, ByteView th, const Bytes& peer_pub, std::string_view peer_node) {
  DSMIL_ASSIGN_OR_RETURN(crypto::SecretBytes okm, crypto::HkdfSha384(ss, th, AsBytes(kKeysInfo), 232));
  auto slice = [&](size_t off, size_t n) { return crypto::SecretBytes(okm.begin() + off, okm.begin() + off + n); };
  SessionKeys k;
  k.enc_i2r = slice(0, 32);
  k.iv_i2r = slice(32, 12);
  k.enc_r2i = slice(44, 32);
  k.iv_r2i = slice(76, 12);
  k.k_mac = slice(88, 48);
  k.k_log = slice(136, 48);
  k.k_rekey = slice(184, 48);
  k.peer_node = std::string(peer_node);
  k.peer_spiffe_id = SpiffeIdForNode(peer_node);
  k.peer_public_key = peer_pub;
  return k;
}

Status CheckConfig(const HandshakeConfig& c) {
  if (c.identity == nullptr || c.peers == nullptr)
    return Status::InvalidArgument("dbe-session: handshake needs an identity and pinned peers");
  if (c.identity->secret_key.size() != crypto::kMlDsa87SecretKeyBytes) {
    return Status::InvalidArgument("dbe-session: identity of " + c.identity->node + " has no ML-DSA-87 secret key");
  }
  return Status::Ok();
}

// ALERT handling: the peer's reason, for the peer_refused detail.
std::string AlertReason(const sw::HandshakeMessage& msg) {
  const Bytes* r = msg.Find(sw::kTlvAlertReason);
  if (r == nullptr || r->empty() || r->size() > 64) return "unspecified";
  std::string s(AsString(*r));
  for (char& c : s) {
    if (!((c >= 'a' && c <= 'z') || c == '_')) c = '?';
  }
  return s;
}

}  // namespace

// ---- refusal vocabulary ----

std::string_view SessionRefusalName(SessionRefusal r) {
  for (const auto& i : kRefusals) {
    if (i.r == r) return i.name;
  }
  return "unknown";
}

std::optional<SessionRefusal> ParseSessionRefusal(std::string_view name) {
  for (const auto& i : kRefusals) {
    if (i.name == name) return i.r;
  }
  return std::nullopt;
}

Status SessionRefusalStatus(SessionRefusal r, std::string_view detail) {
  StatusCode code = StatusCode::kInternal;
  for (const auto& i : kRefusals) {
    if (i.r == r) code = i.code;
  }
  std::string msg(kStatusPrefix);
  msg += SessionRefusalName(r);
  msg += ": ";
  msg += detail;
  return Status(code, std::move(msg));
}

std::string_view SessionRefusalReason(const Status& status) {
  if (status.ok()) return {};
  std::string_view m = status.message();
  if (m.substr(0, kStatusPrefix.size()) != kStatusPrefix) return {};
  m.remove_prefix(kStatusPrefix.size());
  size_t colon = m.find(':');
  if (colon == std::string_view::npos) return {};
  auto reason = ParseSessionRefusal(m.substr(0, colon));
  return reason.has_value() ? SessionRefusalName(*reason) : std::string_view();
}

namespace session_internal {

const Clock& ClockOf(const SessionOptions& options) {
  return options.clock != nullptr ? *options.clock : DefaultClock();
}

void RecordRefusal(const SessionOptions& options, std::string_view peer, SessionRefusal reason, const Status& status) {
  Registry& registry = options.metrics != nullptr ? *options.metrics : DefaultRegistry();
  registry
      .AddCounter("dsmil_dbe_session_refusals_total", "DBE secure session refusals by peer and reason",
                  {"peer", "reason"})
      .Labels({peer, SessionRefusalName(reason)})
      .Inc();
  static const Logger* default_logger = new Logger();
  const Logger& log = options.logger != nullptr ? *options.logger : *default_logger;
  log.Warn("dbe session refused",
           {{"peer", peer}, {"reason", SessionRefusalName(reason)}, {"detail", status.message()}});
}

}  // namespace session_internal

Bytes MakeAlert(SessionRefusal reason) {
  sw::HandshakeMessage msg;
  msg.type = sw::kAlert;
  msg.Set(sw::kTlvAlertReason, AsBytes(SessionRefusalName(reason)));
  return sw::EncodeHandshake(msg);
}

// ---- initiator ----

HandshakeInitiator::HandshakeInitiator(HandshakeConfig config) : config_(std::move(config)) {}
HandshakeInitiator::~HandshakeInitiator() = default;

Status HandshakeInitiator::Refuse(SessionRefusal r, std::string_view detail) {
  done_ = true;
  Status s = SessionRefusalStatus(r, detail);
  session_internal::RecordRefusal(config_.options, peer_label_, r, s);
  return s;
}

Result<Bytes> HandshakeInitiator::Hello() {
  DSMIL_RETURN_IF_ERROR(CheckConfig(config_));
  if (kem_ != nullptr) return Status::FailedPrecondition("dbe-session: Hello() called twice");
  DSMIL_ASSIGN_OR_RETURN(crypto::HybridInitiator kem, crypto::HybridInitiator::Start());
  kem_ = std::make_unique<crypto::HybridInitiator>(std::move(kem));
  std::array<uint8_t, sw::kNonceBytes> nonce;
  DSMIL_RETURN_IF_ERROR(crypto::RandomBytes(nonce));
  sw::HandshakeMessage msg;
  msg.type = sw::kHello;
  msg.timestamp_ns = uint64_t(session_internal::ClockOf(config_.options).NowUnixNanos());
  const uint8_t versions[] = {kSessionVersion};
  msg.Set(sw::kTlvVersions, versions);
  msg.Set(sw::kTlvNonce, nonce);
  AddBundle(msg, *config_.identity);
  msg.Set(sw::kTlvKem, kem_->offer());
  hello_ = sw::EncodeHandshake(msg);
  return hello_;
}

Result<Bytes> HandshakeInitiator::OnAccept(ByteView accept) {
  if (kem_ == nullptr || done_) return Status::FailedPrecondition("dbe-session: OnAccept() out of order");
  auto decoded = sw::DecodeHandshake(accept);
  if (!decoded.ok()) return Refuse(SessionRefusal::kMalformed, "SESSION_ACCEPT: " + decoded.status().message());
  const sw::HandshakeMessage& msg = *decoded;
  if (msg.type == sw::kAlert) return Refuse(SessionRefusal::kPeerRefused, "the responder refused: " + AlertReason(msg));
  if (msg.type != sw::kAccept) return Refuse(SessionRefusal::kUnexpectedMessage, "want SESSION_ACCEPT");
  const Bytes* version = msg.Find(sw::kTlvVersion);
  const Bytes* nonce = msg.Find(sw::kTlvNonce);
  const Bytes* kem = msg.Find(sw::kTlvKem);
  const Bytes* confirm = msg.Find(sw::kTlvConfirm);
  const Bytes* sig = msg.Find(sw::kTlvSignature);
  if (version == nullptr || version->size() != 1 || nonce == nullptr || nonce->size() != sw::kNonceBytes ||
      kem == nullptr || kem->size() != crypto::kHybridResponseBytes || confirm == nullptr ||
      confirm->size() != sw::kConfirmBytes || sig == nullptr || sig->size() != crypto::kMlDsa87SignatureBytes) {
    return Refuse(SessionRefusal::kMalformed,
                  "SESSION_ACCEPT lacks VERSION, NONCE, KEM, CONFIRM or SIGNATURE of the right size");
  }
  if ((*version)[0] != kSessionVersion) {
    return Refuse(SessionRefusal::kVersionMismatch,
                  "responder chose version " + std::to_string((*version)[0]) + ", offered 1");
  }
  SessionRefusal reason{};
  std::string detail;
  if (!CheckBundle(msg, config_, &peer_label_, &reason, &detail)) return Refuse(reason, detail);
  const Bytes& peer_pub = *msg.Find(sw::kTlvMlDsaPub);
  auto ss = kem_->Finish(*kem, hello_, kSharedSecretBytes);
  if (!ss.ok()) return Refuse(SessionRefusal::kMalformed, "KEM response: " + ss.status().message());
  Bytes th2 = Sha384({hello_, sw::EncodeHandshake(msg, false)});
  if (!crypto::MlDsa87Verify(peer_pub, th2, AsBytes(kResponderContext), *sig).ok()) {
    return Refuse(SessionRefusal::kBadSignature,
                  "responder " + peer_label_ + "'s transcript signature does not verify");
  }
  DSMIL_ASSIGN_OR_RETURN(crypto::SecretBytes fin, crypto::HkdfSha384(*ss, th2, AsBytes(kConfirmInfo), 64));
  DSMIL_ASSIGN_OR_RETURN(Bytes want, Gmac(ByteView(fin.data(), 32), th2));
  if (!crypto::ConstantTimeEquals(want, *confirm)) {
    return Refuse(SessionRefusal::kKeyConfirmation, "responder " + peer_label_ + " derived different keys");
  }
  sw::HandshakeMessage finish;
  finish.type = sw::kFinish;
  finish.timestamp_ns = uint64_t(session_internal::ClockOf(config_.options).NowUnixNanos());
  Bytes th3 = Sha384({hello_, accept, sw::EncodeHandshake(finish, false)});
  DSMIL_ASSIGN_OR_RETURN(Bytes mine, Gmac(ByteView(fin.data() + 32, 32), th3));
  DSMIL_ASSIGN_OR_RETURN(Bytes my_sig,
                         crypto::MlDsa87Sign(config_.identity->secret_key, th3, AsBytes(kInitiatorContext)));
  finish.Set(sw::kTlvConfirm, mine);
  finish.Set(sw::kTlvSignature, my_sig);
  Bytes finish_wire = sw::EncodeHandshake(finish);
  Bytes th = Sha384({hello_, accept, finish_wire});
  DSMIL_ASSIGN_OR_RETURN(keys_, DeriveSessionKeys(*ss, th, peer_pub, peer_label_));
  done_ = true;
  return finish_wire;
}

// ---- responder ----

HandshakeResponder::HandshakeResponder(HandshakeConfig config) : config_(std::move(config)) {}
HandshakeResponder::~HandshakeResponder() = default;

Status HandshakeResponder::Refuse(SessionRefusal r, std::string_view detail) {
  state_ = 3;
  Status s = SessionRefusalStatus(r, detail);
  session_internal::RecordRefusal(config_.options, peer_label_, r, s);
  return s;
}

Result<Bytes> HandshakeResponder::OnHello(ByteView hello) {
  DSMIL_RETURN_IF_ERROR(CheckConfig(config_));
  if (state_ != 0) return Status::FailedPrecondition("dbe-session: OnHello() out of order");
  auto decoded = sw::DecodeHandshake(hello);
  if (!decoded.ok()) return Refuse(SessionRefusal::kMalformed, "SESSION_HELLO: " + decoded.status().message());
  const sw::HandshakeMessage& msg = *decoded;
  if (msg.type == sw::kAlert)
    return Refuse(SessionRefusal::kPeerRefused, "the initiator sent an alert: " + AlertReason(msg));
  if (msg.type != sw::kHello) return Refuse(SessionRefusal::kUnexpectedMessage, "want SESSION_HELLO");
  const Bytes* versions = msg.Find(sw::kTlvVersions);
  const Bytes* nonce = msg.Find(sw::kTlvNonce);
  const Bytes* kem = msg.Find(sw::kTlvKem);
  if (versions == nullptr || versions->empty() || versions->size() > 16 || nonce == nullptr ||
      nonce->size() != sw::kNonceBytes || kem == nullptr || kem->size() != crypto::kHybridOfferBytes ||
      msg.Find(sw::kTlvConfirm) != nullptr || msg.Find(sw::kTlvSignature) != nullptr) {
    return Refuse(SessionRefusal::kMalformed, "SESSION_HELLO lacks VERSIONS, NONCE or KEM of the right size");
  }
  if (std::find(versions->begin(), versions->end(), kSessionVersion) == versions->end()) {
    return Refuse(SessionRefusal::kVersionMismatch, "initiator does not offer session version 1");
  }
  SessionRefusal reason{};
  std::string detail;
  if (!CheckBundle(msg, config_, &peer_label_, &reason, &detail)) return Refuse(reason, detail);
  peer_public_key_ = *msg.Find(sw::kTlvMlDsaPub);
  auto resp = crypto::HybridRespond(*kem, hello, kSharedSecretBytes);
  if (!resp.ok()) return Refuse(SessionRefusal::kMalformed, "KEM offer: " + resp.status().message());
  std::array<uint8_t, sw::kNonceBytes> my_nonce;
  DSMIL_RETURN_IF_ERROR(crypto::RandomBytes(my_nonce));
  sw::HandshakeMessage accept;
  accept.type = sw::kAccept;
  accept.timestamp_ns = uint64_t(session_internal::ClockOf(config_.options).NowUnixNanos());
  const uint8_t version[] = {kSessionVersion};
  accept.Set(sw::kTlvVersion, version);
  accept.Set(sw::kTlvNonce, my_nonce);
  AddBundle(accept, *config_.identity);
  accept.Set(sw::kTlvKem, resp->message);
  Bytes th2 = Sha384({hello, sw::EncodeHandshake(accept, false)});
  DSMIL_ASSIGN_OR_RETURN(crypto::SecretBytes fin,
                         crypto::HkdfSha384(resp->shared_secret, th2, AsBytes(kConfirmInfo), 64));
  DSMIL_ASSIGN_OR_RETURN(Bytes confirm, Gmac(ByteView(fin.data(), 32), th2));
  DSMIL_ASSIGN_OR_RETURN(Bytes sig, crypto::MlDsa87Sign(config_.identity->secret_key, th2, AsBytes(kResponderContext)));
  accept.Set(sw::kTlvConfirm, confirm);
  accept.Set(sw::kTlvSignature, sig);
  hello_.assign(hello.begin(), hello.end());
  accept_ = sw::EncodeHandshake(accept);
  th2_ = std::move(th2);
  ss_ = std::move(resp->shared_secret);
  state_ = 1;
  return accept_;
}

Status HandshakeResponder::OnFinish(ByteView finish) {
  if (state_ != 1) return Status::FailedPrecondition("dbe-session: OnFinish() out of order");
  auto decoded = sw::DecodeHandshake(finish);
  if (!decoded.ok()) return Refuse(SessionRefusal::kMalformed, "SESSION_FINISH: " + decoded.status().message());
  const sw::HandshakeMessage& msg = *decoded;
  if (msg.type == sw::kAlert) return Refuse(SessionRefusal::kPeerRefused, "the initiator refused: " + AlertReason(msg));
  if (msg.type != sw::kFinish) return Refuse(SessionRefusal::kUnexpectedMessage, "want SESSION_FINISH");
  const Bytes* confirm = msg.Find(sw::kTlvConfirm);
  const Bytes* sig = msg.Find(sw::kTlvSignature);
  if (confirm == nullptr || confirm->size() != sw::kConfirmBytes || sig == nullptr ||
      sig->size() != crypto::kMlDsa87SignatureBytes) {
    return Refuse(SessionRefusal::kMalformed, "SESSION_FINISH lacks CONFIRM or SIGNATURE of the right size");
  }
  const Bytes& th2 = th2_;
  Bytes th3 = Sha384({hello_, accept_, sw::EncodeHandshake(msg, false)});
  if (!crypto::MlDsa87Verify(peer_public_key_, th3, AsBytes(kInitiatorContext), *sig).ok()) {
    return Refuse(SessionRefusal::kBadSignature,
                  "initiator " + peer_label_ + "'s transcript signature does not verify");
  }
  DSMIL_ASSIGN_OR_RETURN(crypto::SecretBytes fin, crypto::HkdfSha384(ss_, th2, AsBytes(kConfirmInfo), 64));
  DSMIL_ASSIGN_OR_RETURN(Bytes want, Gmac(ByteView(fin.data() + 32, 32), th3));
  if (!crypto::ConstantTimeEquals(want, *confirm)) {
    return Refuse(SessionRefusal::kKeyConfirmation, "initiator " + peer_label_ + " derived different keys");
  }
  Bytes th = Sha384({hello_, accept_, finish});
  DSMIL_ASSIGN_OR_RETURN(keys_, DeriveSessionKeys(ss_, th, peer_public_key_, peer_label_));
  state_ = 2;
  return Status::Ok();
}

}  // namespace dsmil::net
