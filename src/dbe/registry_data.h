// DBE v1 registries as data, shared by registry.cc and the codec so that
// the codec's per-TLV checks inline. Internal to src/dbe: other code uses
// dbe/registry.h.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <limits>

#include "dbe/registry.h"

namespace dsmil::dbe::internal {

inline constexpr TlvType kReqChat[] = {TlvType::kPayload};
inline constexpr TlvType kReqEmbedResp[] = {TlvType::kEmbedding};
inline constexpr TlvType kReqEvent[] = {TlvType::kEventId};
inline constexpr TlvType kReqError[] = {TlvType::kErrorCode, TlvType::kErrorReason};

inline constexpr MsgSpec kMsgSpecs[] = {
    {MsgType::kHealthPing, "HEALTH_PING", MsgKind::kRequest, {}},
    {MsgType::kHealthPong, "HEALTH_PONG", MsgKind::kResponse, {}},
    {MsgType::kL3Event, "L3_EVENT", MsgKind::kEvent, kReqEvent},
    {MsgType::kL3Decision, "L3_DECISION", MsgKind::kEvent, kReqEvent},
    {MsgType::kL4Classification, "L4_CLASSIFICATION", MsgKind::kEvent, kReqEvent},
    {MsgType::kSocEvent, "SOC_EVENT", MsgKind::kEvent, kReqEvent},
    {MsgType::kL5ForecastReq, "L5_FORECAST_REQ", MsgKind::kRequest, {}},
    {MsgType::kL5ForecastResp, "L5_FORECAST_RESP", MsgKind::kResponse, {}},
    {MsgType::kL6RiskReq, "L6_RISK_REQ", MsgKind::kRequest, {}},
    {MsgType::kL6RiskResp, "L6_RISK_RESP", MsgKind::kResponse, {}},
    {MsgType::kL7ChatReq, "L7_CHAT_REQ", MsgKind::kRequest, kReqChat},
    {MsgType::kL7ChatResp, "L7_CHAT_RESP", MsgKind::kResponse, kReqChat},
    {MsgType::kL7EmbedReq, "L7_EMBED_REQ", MsgKind::kRequest, kReqChat},
    {MsgType::kL7EmbedResp, "L7_EMBED_RESP", MsgKind::kResponse, kReqEmbedResp},
    {MsgType::kL7RagQuery, "L7_RAG_QUERY", MsgKind::kRequest, kReqChat},
    {MsgType::kL7RagResult, "L7_RAG_RESULT", MsgKind::kResponse, {}},
    {MsgType::kL8SocEventEnrichment, "L8_SOC_EVENT_ENRICHMENT", MsgKind::kRequest, kReqEvent},
    {MsgType::kL8Proposal, "L8_PROPOSAL", MsgKind::kResponse, {}},
    {MsgType::kL8PromptCheck, "L8_PROMPT_CHECK", MsgKind::kRequest, kReqChat},
    {MsgType::kL8PromptVerdict, "L8_PROMPT_VERDICT", MsgKind::kResponse, kReqChat},
    {MsgType::kL9CoaReq, "L9_COA_REQ", MsgKind::kRequest, {}},
    {MsgType::kL9CoaResp, "L9_COA_RESP", MsgKind::kResponse, {}},
    {MsgType::kL9Nc3Query, "L9_NC3_QUERY", MsgKind::kRequest, {}},
    {MsgType::kL9Nc3Resp, "L9_NC3_RESP", MsgKind::kResponse, {}},
    {MsgType::kL9StrategyReq, "L9_STRATEGY_REQ", MsgKind::kRequest, {}},
    {MsgType::kL9StrategyResp, "L9_STRATEGY_RESP", MsgKind::kResponse, {}},
    {MsgType::kL9CoalitionReq, "L9_COALITION_REQ", MsgKind::kRequest, {}},
    {MsgType::kL9CoalitionResp, "L9_COALITION_RESP", MsgKind::kResponse, {}},
    {MsgType::kError, "ERROR", MsgKind::kResponse, kReqError},
};

inline constexpr uint32_t kU32Max = std::numeric_limits<uint32_t>::max();

inline constexpr TlvSpec kTlvSpecs[] = {
    {TlvType::kTenantId, "TENANT_ID", ValueKind::kTenant, 1, kTenantIdMaxLength, 0},
    {TlvType::kRequestId, "REQUEST_ID", ValueKind::kToken, 1, 64, 0},
    {TlvType::kUserId, "USER_ID", ValueKind::kToken, 1, 128, 0},
    {TlvType::kEventId, "EVENT_ID", ValueKind::kToken, 1, 64, 0},
    {TlvType::kTimestamp, "TIMESTAMP", ValueKind::kToken, 1, 20, 0},
    {TlvType::kRoeLevel, "ROE_LEVEL", ValueKind::kRoeLevel, 1, 32, 0},
    {TlvType::kCompartmentMask, "COMPARTMENT_MASK", ValueKind::kU64Mask, 8, 8, kKnownCompartments},
    {TlvType::kClassification, "CLASSIFICATION", ValueKind::kU8, 1, 1, uint64_t(Classification::kTopSecret)},
    {TlvType::kL7ClaimToken, "L7_CLAIM_TOKEN", ValueKind::kBytes, 1, 16384, 0},
    {TlvType::kRoeTokenId, "ROE_TOKEN_ID", ValueKind::kToken, 1, 128, 0},
    {TlvType::kTwoPersonSignerA, "TWO_PERSON_SIGNER_A", ValueKind::kToken, 1, 128, 0},
    {TlvType::kTwoPersonSignerB, "TWO_PERSON_SIGNER_B", ValueKind::kToken, 1, 128, 0},
    {TlvType::kTwoPersonSigA, "TWO_PERSON_SIG_A", ValueKind::kBytes, kMlDsa87SignatureSize, kMlDsa87SignatureSize, 0},
    {TlvType::kTwoPersonSigB, "TWO_PERSON_SIG_B", ValueKind::kBytes, kMlDsa87SignatureSize, kMlDsa87SignatureSize, 0},
    {TlvType::kTwoPersonSignerC, "TWO_PERSON_SIGNER_C", ValueKind::kToken, 1, 128, 0},
    {TlvType::kTwoPersonSigC, "TWO_PERSON_SIG_C", ValueKind::kBytes, kMlDsa87SignatureSize, kMlDsa87SignatureSize, 0},
    {TlvType::kModel, "MODEL", ValueKind::kToken, 1, 128, 0},
    {TlvType::kProfile, "PROFILE", ValueKind::kToken, 1, 64, 0},
    {TlvType::kContentType, "CONTENT_TYPE", ValueKind::kU8, 1, 1, uint64_t(ContentType::kBinary)},
    {TlvType::kMaxTokens, "MAX_TOKENS", ValueKind::kU32, 4, 4, 0},
    {TlvType::kTokenCount, "TOKEN_COUNT", ValueKind::kU32, 4, 4, 0},
    {TlvType::kEmbedding, "EMBEDDING", ValueKind::kF32Vector, 4, 65536, 0},
    {TlvType::kErrorCode, "ERROR_CODE", ValueKind::kU16, 2, 2, 0xFFFF},
    {TlvType::kErrorReason, "ERROR_REASON", ValueKind::kSymbol, 1, 64, 0},
    {TlvType::kErrorDetail, "ERROR_DETAIL", ValueKind::kText, 1, 1024, 0},
    {TlvType::kPayload, "PAYLOAD", ValueKind::kBytes, 0, kU32Max, 0},
};

// Index tables: code -> position in the spec arrays (0xFF = none). Registered
// TLV codes are all < 0x100.
inline constexpr std::array<uint8_t, 256> kMsgIndex = [] {
  std::array<uint8_t, 256> a{};
  for (auto& x : a) x = 0xFF;
  for (size_t i = 0; i < std::size(kMsgSpecs); ++i) a[uint8_t(kMsgSpecs[i].type)] = uint8_t(i);
  return a;
}();
inline constexpr std::array<uint8_t, 256> kTlvIndex = [] {
  std::array<uint8_t, 256> a{};
  for (auto& x : a) x = 0xFF;
  for (size_t i = 0; i < std::size(kTlvSpecs); ++i) a[uint16_t(kTlvSpecs[i].type)] = uint8_t(i);
  return a;
}();

// Character classes: bit kClassUpper = [A-Z0-9_], bit kClassToken = 0x21..0x7E.
inline constexpr uint8_t kClassUpper = 1;
inline constexpr uint8_t kClassToken = 2;
inline constexpr std::array<uint8_t, 256> kCharClass = [] {
  std::array<uint8_t, 256> a{};
  for (int c = 0x21; c <= 0x7E; ++c) a[size_t(c)] |= kClassToken;
  for (int c = 'A'; c <= 'Z'; ++c) a[size_t(c)] |= kClassUpper;
  for (int c = '0'; c <= '9'; ++c) a[size_t(c)] |= kClassUpper;
  a['_'] |= kClassUpper;
  return a;
}();

// True if every byte of `v` has class `cls` (branch-free scan).
[[gnu::always_inline]] inline bool AllOfClass(ByteView v, uint8_t cls) {
  uint8_t acc = cls;
  for (uint8_t c : v) acc &= kCharClass[c];
  return acc == cls;
}

// True if every byte of `v` is in 0x21..0x7E. Eight bytes at a time: a byte
// below 0x21 sets its high bit in (x - 0x21..) & ~x; a byte above 0x7E sets it
// in (x + 0x01..) | x. Detection of "any such byte" is exact.
[[gnu::always_inline]] inline bool AllToken(ByteView v) {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  constexpr uint64_t kHigh = 0x8080808080808080ull;
  size_t n = v.size();
  if (n < 8) return AllOfClass(v, kClassToken);
  const uint8_t* p = v.data();
  auto bad = [&](size_t at) {
    uint64_t x;
    std::memcpy(&x, p + at, 8);
    return ((x - kOnes * 0x21) & ~x) | ((x + kOnes * 0x01) | x);
  };
  uint64_t acc = bad(n - 8);  // the last eight bytes (may overlap the loop's)
  for (size_t i = 0; i + 8 <= n; i += 8) acc |= bad(i);
  return (acc & kHigh) == 0;
}

// Offset of the first byte that breaks UTF-8 well-formedness (RFC 3629: no
// overlong forms, no surrogates, <= U+10FFFF), or value.size() if none.
inline size_t FirstBadUtf8(ByteView v) {
  size_t i = 0, n = v.size();
  while (i < n) {
    uint8_t c = v[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
      len = 2;
    else if (c == 0xE0) {
      len = 3;
      lo = 0xA0;
    } else if (c >= 0xE1 && c <= 0xEC)
      len = 3;
    else if (c == 0xED) {
      len = 3;
      hi = 0x9F;
    } else if (c >= 0xEE && c <= 0xEF)
      len = 3;
    else if (c == 0xF0) {
      len = 4;
      lo = 0x90;
    } else if (c >= 0xF1 && c <= 0xF3)
      len = 4;
    else if (c == 0xF4) {
      len = 4;
      hi = 0x8F;
    } else
      return i;
    if (n - i < len) return i;
    if (v[i + 1] < lo || v[i + 1] > hi) return i;
    for (size_t k = 2; k < len; ++k) {
      if (v[i + k] < 0x80 || v[i + k] > 0xBF) return i;
    }
    i += len;
  }
  return n;
}

// The fast value check (see TlvValueValid in registry.h).
inline const TlvSpec* TlvSpecOf(uint16_t code) {
  if (code >= 0x100) return nullptr;
  uint8_t i = kTlvIndex[code];
  return i == 0xFF ? nullptr : &kTlvSpecs[i];
}

inline bool IsRoeLevelName(std::string_view level) {
  for (const char* l : kRoeLevels) {
    if (level == l) return true;
  }
  return false;
}

[[gnu::always_inline]] inline bool TlvValueValidInline(uint16_t code, ByteView value) {
  const TlvSpec* spec = TlvSpecOf(code);
  if (spec == nullptr) return IsIgnorableTlv(code);
  size_t n = value.size();
  if (n < spec->min_length || n > spec->max_length) return false;
  // The common kinds first, as plain branches (cheaper than the jump table).
  ValueKind kind = spec->kind;
  if (kind == ValueKind::kToken) return AllToken(value);
  if (kind == ValueKind::kBytes) return true;
  switch (kind) {
    case ValueKind::kToken:
      return AllToken(value);
    case ValueKind::kBytes:
    case ValueKind::kU32:
      return true;
    case ValueKind::kTenant:
    case ValueKind::kSymbol:
      return AllOfClass(value, kClassUpper);
    case ValueKind::kRoeLevel:
      return IsRoeLevelName(AsString(value));
    case ValueKind::kText:
      return FirstBadUtf8(value) == n;
    case ValueKind::kU8:
      return value[0] <= spec->max_value && !(code == uint16_t(TlvType::kContentType) && value[0] == 0);
    case ValueKind::kU16: {
      uint16_t v = GetU16BE(value.data());
      return v != 0 && v <= spec->max_value;
    }
    case ValueKind::kU64Mask:
      return (GetU64BE(value.data()) & ~spec->max_value) == 0;
    case ValueKind::kF32Vector:
      return n % 4 == 0;
  }
  return false;
}

}  // namespace dsmil::dbe::internal
