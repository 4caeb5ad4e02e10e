// SessionState: records, anti-replay and rekeying (docs/dbe-session.md §3-4).
#include <algorithm>
#include <limits>
#include <vector>

#include "dbe/format.h"
#include "net/session.h"
#include "net/session_internal.h"
#include "net/session_wire.h"

namespace dsmil::net {

namespace sw = session_wire;

namespace {

constexpr std::string_view kRekeyInfo = "DSMIL session v1 rekey";
constexpr uint8_t kDirI2R = 0x01;
constexpr uint8_t kDirR2I = 0x02;

Result<crypto::SecretBytes> NextKey(ByteView key, ByteView k_rekey, uint8_t dir, uint16_t next_epoch) {
  Bytes info(kRekeyInfo.begin(), kRekeyInfo.end());
  info.push_back(dir);
  AppendU16BE(info, next_epoch);
  return crypto::HkdfSha384(key, k_rekey, info, crypto::kAesGcmKeyBytes);
}

void MakeNonce(const crypto::SecretBytes& iv, uint64_t seq, uint8_t out[crypto::kAesGcmNonceBytes]) {
  for (size_t i = 0; i < crypto::kAesGcmNonceBytes; ++i) out[i] = iv[i];
  for (int i = 0; i < 8; ++i) out[4 + i] ^= uint8_t(seq >> (56 - 8 * i));
}

}  // namespace

struct SessionState::Impl {
  uint8_t send_dir = kDirI2R;
  uint8_t recv_dir = kDirR2I;
  crypto::SecretBytes send_key, send_iv;
  std::optional<crypto::AesGcm> send_aead;
  crypto::SecretBytes recv_key, recv_iv;
  std::optional<crypto::AesGcm> recv_aead;
  std::optional<crypto::AesGcm> prev_recv_aead;  // the previous epoch, for records in flight
  crypto::SecretBytes k_rekey;

  // Anti-replay window: bit (seq % window) of `bits` for seq in
  // (highest - window, highest].
  uint64_t window = 1024;
  bool any = false;
  uint64_t highest = 0;
  std::vector<uint64_t> bits;

  bool Test(uint64_t seq) const { return (bits[(seq % window) / 64] >> (seq % 64)) & 1; }
  void Mark(uint64_t seq) {
    if (!any || seq > highest) {
      uint64_t from = any ? highest + 1 : 0;
      if (!any || seq - from >= window) {
        std::fill(bits.begin(), bits.end(), 0);
      } else {
        for (uint64_t s = from; s <= seq; ++s) bits[(s % window) / 64] &= ~(uint64_t{1} << (s % 64));
      }
      highest = seq;
      any = true;
    }
    bits[(seq % window) / 64] |= uint64_t{1} << (seq % 64);
  }

  Bytes seal_scratch;  // seal side
  Bytes open_scratch;  // open side
};

SessionState::~SessionState() = default;

Result<std::unique_ptr<SessionState>> SessionState::Create(SessionRole role, const SessionKeys& keys,
                                                           SessionOptions options) {
  if (keys.enc_i2r.size() != 32 || keys.enc_r2i.size() != 32 || keys.iv_i2r.size() != 12 || keys.iv_r2i.size() != 12 ||
      keys.k_rekey.size() != 48) {
    return Status::InvalidArgument("dbe-session: incomplete session keys");
  }
  if (options.replay_window < 64 || options.replay_window > 65536) {
    return Status::InvalidArgument("dbe-session: replay_window " + std::to_string(options.replay_window) +
                                   " outside 64..65536");
  }
  if (options.rekey_after_records == 0) return Status::InvalidArgument("dbe-session: rekey_after_records must be > 0");
  std::unique_ptr<SessionState> st(new SessionState());
  st->impl_ = std::make_unique<Impl>();
  Impl& im = *st->impl_;
  st->role_ = role;
  st->peer_ = keys.peer_node.empty() ? "unknown" : keys.peer_node;
  st->options_ = options;
  const bool initiator = role == SessionRole::kInitiator;
  im.send_dir = initiator ? kDirI2R : kDirR2I;
  im.recv_dir = initiator ? kDirR2I : kDirI2R;
  im.send_key = initiator ? keys.enc_i2r : keys.enc_r2i;
  im.send_iv = initiator ? keys.iv_i2r : keys.iv_r2i;
  im.recv_key = initiator ? keys.enc_r2i : keys.enc_i2r;
  im.recv_iv = initiator ? keys.iv_r2i : keys.iv_i2r;
  im.k_rekey = keys.k_rekey;
  DSMIL_ASSIGN_OR_RETURN(crypto::AesGcm send, crypto::AesGcm::Create(im.send_key));
  DSMIL_ASSIGN_OR_RETURN(crypto::AesGcm recv, crypto::AesGcm::Create(im.recv_key));
  im.send_aead.emplace(std::move(send));
  im.recv_aead.emplace(std::move(recv));
  im.window = (uint64_t(options.replay_window) + 63) / 64 * 64;
  im.bits.assign(im.window / 64, 0);
  st->epoch_start_ns_ = session_internal::ClockOf(options).MonotonicNanos();
  return st;
}

Status SessionState::Refuse(SessionRefusal r, std::string_view detail) {
  Status s = SessionRefusalStatus(r, detail);
  session_internal::RecordRefusal(options_, peer_, r, s);
  return s;
}

Result<Bytes> SessionState::SealRecord(uint8_t type, ByteView plaintext) {
  if (send_seq_ == std::numeric_limits<uint64_t>::max()) {
    return Refuse(SessionRefusal::kSequenceExhausted, "2^64-1 records sent on this session; open a new one");
  }
  Bytes out;
  out.reserve(kRecordHeaderBytes + plaintext.size() + crypto::kAesGcmTagBytes);
  out.push_back(type);
  out.push_back(kSessionVersion);
  AppendU16BE(out, send_epoch_);
  AppendU64BE(out, send_seq_);
  uint8_t nonce[crypto::kAesGcmNonceBytes];
  MakeNonce(impl_->send_iv, send_seq_, nonce);
  Bytes& ct = impl_->seal_scratch;
  DSMIL_RETURN_IF_ERROR(impl_->send_aead->Seal(nonce, plaintext, ByteView(out.data(), kRecordHeaderBytes), ct));
  out.insert(out.end(), ct.begin(), ct.end());
  ++send_seq_;
  ++epoch_records_;
  return out;
}

Result<Bytes> SessionState::Seal(const dbe::Message& msg) {
  Bytes frame;
  frame.reserve(dbe::EncodedSize(msg));
  DSMIL_RETURN_IF_ERROR(dbe::EncodeTo(msg, &frame));
  PutU64BE(frame.data() + dbe::kOffSequence, send_seq_);
  PutU64BE(frame.data() + dbe::kOffTimestamp, uint64_t(session_internal::ClockOf(options_).NowUnixNanos()));
  return SealRecord(sw::kData, frame);
}

Result<Bytes> SessionState::MakeRekey() {
  if (send_epoch_ == std::numeric_limits<uint16_t>::max()) {
    return Refuse(SessionRefusal::kSequenceExhausted, "65535 key epochs used on this session; open a new one");
  }
  DSMIL_ASSIGN_OR_RETURN(crypto::SecretBytes next,
                         NextKey(impl_->send_key, impl_->k_rekey, impl_->send_dir, uint16_t(send_epoch_ + 1)));
  DSMIL_ASSIGN_OR_RETURN(crypto::AesGcm aead, crypto::AesGcm::Create(next));
  DSMIL_ASSIGN_OR_RETURN(Bytes record, SealRecord(sw::kRekey, {}));
  impl_->send_key = std::move(next);
  impl_->send_aead.emplace(std::move(aead));
  ++send_epoch_;
  epoch_records_ = 0;
  epoch_start_ns_ = session_internal::ClockOf(options_).MonotonicNanos();
  return record;
}

Result<Bytes> SessionState::MakeClose() { return SealRecord(sw::kClose, {}); }

bool SessionState::RekeyDue() const {
  if (epoch_records_ >= options_.rekey_after_records) return true;
  return session_internal::ClockOf(options_).MonotonicNanos() - epoch_start_ns_ >= options_.rekey_after.count();
}

Result<SessionState::Opened> SessionState::Open(ByteView record) {
  Impl& im = *impl_;
  if (record.size() >= dbe::kHeaderSize && GetU32BE(record.data()) == dbe::kMagic) {
    // A handshake-layout frame after the handshake: only ALERT is expected.
    auto msg = sw::DecodeHandshake(record);
    if (msg.ok() && msg->type == sw::kAlert) {
      const Bytes* r = msg->Find(sw::kTlvAlertReason);
      std::string reason = r != nullptr && r->size() <= 64 ? std::string(r->begin(), r->end()) : "unspecified";
      auto known = ParseSessionRefusal(reason);
      return Refuse(SessionRefusal::kPeerRefused,
                    "the peer refused: " + std::string(known ? SessionRefusalName(*known) : "unspecified"));
    }
    return Refuse(SessionRefusal::kUnexpectedMessage, "handshake message after the handshake");
  }
  if (record.size() < kRecordOverheadBytes) {
    return Refuse(SessionRefusal::kMalformed,
                  "record of " + std::to_string(record.size()) + " bytes is shorter than header and tag (28)");
  }
  const uint8_t type = record[0];
  if (type != sw::kData && type != sw::kRekey && type != sw::kClose) {
    return Refuse(SessionRefusal::kMalformed, "unknown record type " + std::to_string(type));
  }
  if (record[1] != kSessionVersion) {
    return Refuse(SessionRefusal::kVersionMismatch, "record version " + std::to_string(record[1]) + ", want 1");
  }
  const uint16_t epoch = GetU16BE(record.data() + 2);
  const uint64_t seq = GetU64BE(record.data() + 4);
  crypto::AesGcm* aead = nullptr;
  if (epoch == recv_epoch_) {
    aead = &*im.recv_aead;
  } else if (recv_epoch_ > 0 && epoch == recv_epoch_ - 1 && im.prev_recv_aead.has_value() && type == sw::kData) {
    aead = &*im.prev_recv_aead;
  } else {
    return Refuse(SessionRefusal::kBadEpoch,
                  "record under key epoch " + std::to_string(epoch) + ", current " + std::to_string(recv_epoch_));
  }
  if (im.any && seq <= im.highest) {
    if (im.highest - seq >= im.window) {
      return Refuse(SessionRefusal::kTooOld, "seq " + std::to_string(seq) + " is below the window (highest " +
                                                 std::to_string(im.highest) + ", window " + std::to_string(im.window) +
                                                 ")");
    }
    if (im.Test(seq)) return Refuse(SessionRefusal::kReplay, "seq " + std::to_string(seq) + " was already accepted");
  }
  uint8_t nonce[crypto::kAesGcmNonceBytes];
  MakeNonce(im.recv_iv, seq, nonce);
  Bytes& plain = im.open_scratch;
  if (!aead->Open(nonce, record.subspan(kRecordHeaderBytes), record.first(kRecordHeaderBytes), plain).ok()) {
    return Refuse(SessionRefusal::kTampered, "record seq " + std::to_string(seq) + " fails authentication");
  }
  Opened out;
  if (type != sw::kData) {
    if (!plain.empty()) return Refuse(SessionRefusal::kMalformed, "REKEY/CLOSE record with a payload");
    out.kind = type == sw::kRekey ? RecordKind::kRekey : RecordKind::kClose;
    if (type == sw::kRekey) {
      if (recv_epoch_ == std::numeric_limits<uint16_t>::max()) {
        return Refuse(SessionRefusal::kBadEpoch, "rekey past epoch 65535");
      }
      DSMIL_ASSIGN_OR_RETURN(crypto::SecretBytes next,
                             NextKey(im.recv_key, im.k_rekey, im.recv_dir, uint16_t(recv_epoch_ + 1)));
      DSMIL_ASSIGN_OR_RETURN(crypto::AesGcm next_aead, crypto::AesGcm::Create(next));
      im.prev_recv_aead = std::move(im.recv_aead);
      im.recv_aead.emplace(std::move(next_aead));
      im.recv_key = std::move(next);
      ++recv_epoch_;
    }
    im.Mark(seq);
    return out;
  }
  auto msg = dbe::Decode(plain);
  if (!msg.ok())
    return Refuse(SessionRefusal::kMalformed, "record seq " + std::to_string(seq) + ": " + msg.status().message());
  if (msg->header().sequence != seq) {
    return Refuse(SessionRefusal::kTampered, "frame sequence " + std::to_string(msg->header().sequence) +
                                                 " differs from record seq " + std::to_string(seq));
  }
  const uint64_t now = uint64_t(std::max<int64_t>(0, session_internal::ClockOf(options_).NowUnixNanos()));
  const uint64_t ts = msg->header().timestamp_ns;
  const uint64_t skew = uint64_t(std::max<int64_t>(0, options_.max_clock_skew.count()));
  const uint64_t diff = ts > now ? ts - now : now - ts;
  if (diff > skew) {
    return Refuse(SessionRefusal::kStale, "record seq " + std::to_string(seq) + " timestamp is " +
                                              std::to_string(diff / 1000000) + " ms " +
                                              (ts > now ? "ahead of" : "behind") + " this clock (limit " +
                                              std::to_string(skew / 1000000) + " ms)");
  }
  im.Mark(seq);
  out.message = std::move(*msg);
  return out;
}

}  // namespace dsmil::net
