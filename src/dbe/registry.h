// DBE v1 registries: message types and TLV types as data (names, value kinds,
// length limits, mandatory TLVs), and name <-> code conversion.
//
// All functions are pure and thread-safe; returned pointers and string_views
// point to static storage and stay valid for the life of the program.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/coding.h"
#include "core/status.h"
#include "dbe/format.h"

namespace dsmil::dbe {

// How a message type is used.
enum class MsgKind : uint8_t {
  kRequest,   // expects a response; REQUEST_ID mandatory
  kResponse,  // answers a request; REQUEST_ID mandatory (except ERROR)
  kEvent,     // one-way
};

struct MsgSpec {
  MsgType type;
  std::string_view name;  // "L7_CHAT_REQ"
  MsgKind kind;
  // TLVs this type must carry besides TENANT_ID (and REQUEST_ID for requests
  // and responses other than ERROR). Kept to what every receiver needs to
  // parse the frame at all: policy TLVs (ROE_TOKEN_ID, signatures) are checked
  // by the receiving device so that it can answer with a precise ERROR.
  std::span<const TlvType> required;
};

// How a TLV value is written and checked.
enum class ValueKind : uint8_t {
  kTenant,     // ASCII [A-Z0-9_]
  kToken,      // printable ASCII without space (0x21..0x7E)
  kSymbol,     // ASCII [A-Z0-9_]
  kRoeLevel,   // one of kRoeLevels
  kText,       // well-formed UTF-8
  kBytes,      // anything
  kU8,         // 1 byte, value <= max_value
  kU16,        // 2 bytes, 1 <= value <= max_value
  kU32,        // 4 bytes
  kU64Mask,    // 8 bytes, no bit outside max_value
  kF32Vector,  // length a multiple of 4
};

struct TlvSpec {
  TlvType type;
  std::string_view name;  // "TENANT_ID"
  ValueKind kind;
  uint32_t min_length;
  uint32_t max_length;
  uint64_t max_value;  // for kU8 / kU16 (max value), kU64Mask (allowed bits)
};

// The registered message types, in ascending code order.
std::span<const MsgSpec> AllMsgSpecs();
// The registered TLV types, in ascending code order.
std::span<const TlvSpec> AllTlvSpecs();

// Spec of a code, or nullptr when the code is not registered.
const MsgSpec* FindMsgSpec(uint8_t code);
const TlvSpec* FindTlvSpec(uint16_t code);

// True for codes of the ignorable extension range (0x8000..0xFFFE).
inline bool IsIgnorableTlv(uint16_t code) { return code >= kIgnorableTlvFirst && code <= kIgnorableTlvLast; }

// "L7_CHAT_REQ" for 0x41; "UNKNOWN" for unregistered codes.
std::string_view MsgTypeName(uint8_t code);
inline std::string_view MsgTypeName(MsgType t) { return MsgTypeName(uint8_t(t)); }
// "0x41" (two upper-case hex digits): the msg_type metric label.
std::string MsgTypeHex(uint8_t code);
inline std::string MsgTypeHex(MsgType t) { return MsgTypeHex(uint8_t(t)); }
// Parses "L7_CHAT_REQ" (any case) or "0x41"; only registered types.
Result<MsgType> ParseMsgType(std::string_view text);

// "TENANT_ID" for 0x0001; "UNKNOWN" for unregistered codes.
std::string_view TlvTypeName(uint16_t code);
inline std::string_view TlvTypeName(TlvType t) { return TlvTypeName(uint16_t(t)); }
// "0x0001".
std::string TlvTypeHex(uint16_t code);
// Parses "TENANT_ID" (any case) or "0x0001"/"0x1"; only registered types.
Result<TlvType> ParseTlvType(std::string_view text);

// True when `value` is valid for TLV `code` (registered or ignorable); the
// fast check of the codec, which builds no message.
bool TlvValueValid(uint16_t code, ByteView value);

// Checks `value` against the spec of TLV `code` (registered or ignorable).
// `index` is the TLV's position in the frame, for the message. Returns
// InvalidArgument naming the TLV and the problem.
Status ValidateTlvValue(uint16_t code, ByteView value, size_t index);

// Classification names: "UNCLASSIFIED", "CUI", "CONFIDENTIAL", "SECRET",
// "TOP_SECRET"; "UNKNOWN" out of range.
std::string_view ClassificationName(Classification c);
Result<Classification> ParseClassification(std::string_view text);

// Compartment bit names: "SOC" for 0x01 ... "KINETIC" for 0x80.
std::string_view CompartmentName(uint64_t bit);
// "SOC|SIGNALS" for 0x03; "" for 0.
std::string CompartmentMaskString(uint64_t mask);
// Parses "SOC|SIGNALS", "SOC,SIGNALS" or a number ("0x03", "3").
Result<uint64_t> ParseCompartmentMask(std::string_view text);

// True if `level` is one of kRoeLevels.
bool IsRoeLevel(std::string_view level);

}  // namespace dsmil::dbe
