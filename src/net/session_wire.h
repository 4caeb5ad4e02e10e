// Wire constants and the handshake message codec of the DBE secure session
// (docs/dbe-session.md §2-3). Handshake messages use the DBE v1 frame layout
// with the session's reserved message types (0x08..0x0F) and TLV codes
// (0x60..0x6F); the DBE registry does not know them, so they are coded here.
//
// Thread safety: all functions are thread-safe.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "core/coding.h"
#include "core/status.h"

namespace dsmil::net::session_wire {

// Message / record types.
inline constexpr uint8_t kHello = 0x08;
inline constexpr uint8_t kAccept = 0x09;
inline constexpr uint8_t kFinish = 0x0A;
inline constexpr uint8_t kRekey = 0x0B;
inline constexpr uint8_t kData = 0x0C;
inline constexpr uint8_t kAlert = 0x0D;
inline constexpr uint8_t kClose = 0x0E;

// TLV codes.
inline constexpr uint16_t kTlvVersions = 0x60;
inline constexpr uint16_t kTlvVersion = 0x61;
inline constexpr uint16_t kTlvNonce = 0x62;
inline constexpr uint16_t kTlvNode = 0x63;
inline constexpr uint16_t kTlvSpiffeId = 0x64;
inline constexpr uint16_t kTlvMlDsaPub = 0x65;
inline constexpr uint16_t kTlvCertCn = 0x66;
inline constexpr uint16_t kTlvTpmQuote = 0x67;
inline constexpr uint16_t kTlvKem = 0x68;
inline constexpr uint16_t kTlvAlertReason = 0x6D;
inline constexpr uint16_t kTlvConfirm = 0x6E;
inline constexpr uint16_t kTlvSignature = 0x6F;

inline constexpr size_t kNonceBytes = 32;
inline constexpr size_t kConfirmBytes = 16;
inline constexpr size_t kMaxHandshakeTlvs = 16;
inline constexpr size_t kMaxHandshakeBytes = 16384;

struct HandshakeMessage {
  uint8_t type = 0;
  uint64_t timestamp_ns = 0;
  std::vector<std::pair<uint16_t, Bytes>> tlvs;  // ascending by code, unique

  // The value of TLV `code`, or nullptr.
  const Bytes* Find(uint16_t code) const;
  // Inserts in order (replaces an existing value).
  void Set(uint16_t code, ByteView value);
};

// Encodes `msg`; with include_auth false the CONFIRM and SIGNATURE TLVs are
// left out (the transcript form "body").
Bytes EncodeHandshake(const HandshakeMessage& msg, bool include_auth = true);

// Decodes one handshake or alert frame: magic, version 1, type in
// {HELLO, ACCEPT, FINISH, ALERT}, flags 0, devices 0xFFFF, sequence 0, exact
// payload length, TLVs in 0x60..0x6F ascending without duplicates, at most
// kMaxHandshakeTlvs, at most kMaxHandshakeBytes in all. DataLoss naming the
// first violation otherwise.
Result<HandshakeMessage> DecodeHandshake(ByteView frame);

}  // namespace dsmil::net::session_wire
