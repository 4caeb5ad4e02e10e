// DSMIL Binary Envelope (DBE) v1: the wire constants.
//
// This header and docs/dbe.md describe the same format twice: here as
// constants, there as prose. Change both together. All byte order work goes
// through core/coding.h (big-endian).
//
// Frame layout (all integers big-endian):
//
//   offset size field
//   0      4    magic            kMagic ("DBE" 0x1A)
//   4      1    version          kVersion (1)
//   5      1    msg_type         MsgType
//   6      2    flags            Flags bits (unknown bits refused)
//   8      2    src_device       0..103, or kNoDevice
//   10     2    dst_device       0..103, or kNoDevice
//   12     8    sequence         sender's per-session counter
//   20     8    timestamp_ns     sender's clock, ns since the Unix epoch
//   28     4    payload_length   bytes of TLVs after the header
//   32     ...  TLVs: type u16, length u32, value[length]
//
// A frame is exactly kHeaderSize + payload_length bytes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dsmil::dbe {

// ---- Header ----
inline constexpr uint32_t kMagic = 0x4442451A;  // 'D' 'B' 'E' 0x1A
inline constexpr uint8_t kVersion = 1;
inline constexpr size_t kHeaderSize = 32;

inline constexpr size_t kOffMagic = 0;
inline constexpr size_t kOffVersion = 4;
inline constexpr size_t kOffMsgType = 5;
inline constexpr size_t kOffFlags = 6;
inline constexpr size_t kOffSrcDevice = 8;
inline constexpr size_t kOffDstDevice = 10;
inline constexpr size_t kOffSequence = 12;
inline constexpr size_t kOffTimestamp = 20;
inline constexpr size_t kOffPayloadLength = 28;

// ---- TLV ----
inline constexpr size_t kTlvHeaderSize = 6;  // type u16 + length u32

// ---- Limits ----
inline constexpr size_t kMaxFrameSize = 1u << 20;  // 1 MiB, header included
inline constexpr size_t kMaxPayloadLength = kMaxFrameSize - kHeaderSize;
inline constexpr size_t kMaxTlvCount = 64;

// ---- Devices ----
inline constexpr uint16_t kMaxDeviceId = 103;
inline constexpr uint16_t kNoDevice = 0xFFFF;  // edge, CLI, or node-level traffic

// ---- Flags ----
// MORE: more response frames for the same REQUEST_ID follow (streamed
// answers). Allowed only on response message types other than ERROR.
inline constexpr uint16_t kFlagMore = 0x0001;
inline constexpr uint16_t kKnownFlags = kFlagMore;

// ---- Message types ----
enum class MsgType : uint8_t {
  kHealthPing = 0x01,
  kHealthPong = 0x02,
  // 0x08..0x0F: node-to-node session messages, coded by the session layer
  // (docs/dbe-session.md); refused by this codec.
  kL3Event = 0x20,
  kL3Decision = 0x21,
  kL4Classification = 0x23,
  kSocEvent = 0x24,
  kL5ForecastReq = 0x30,
  kL5ForecastResp = 0x31,
  kL6RiskReq = 0x34,
  kL6RiskResp = 0x35,
  kL7ChatReq = 0x41,
  kL7ChatResp = 0x42,
  kL7EmbedReq = 0x43,
  kL7EmbedResp = 0x44,
  kL7RagQuery = 0x45,
  kL7RagResult = 0x46,
  kL8SocEventEnrichment = 0x50,
  kL8Proposal = 0x51,
  kL8PromptCheck = 0x52,    // L7 router -> device 51: is this prompt an injection?
  kL8PromptVerdict = 0x53,  // device 51's answer (PAYLOAD: verdict JSON, docs/dbe.md)
  kL9CoaReq = 0x60,
  kL9CoaResp = 0x61,
  kL9Nc3Query = 0x62,
  kL9Nc3Resp = 0x63,
  kL9StrategyReq = 0x64,  // -> device 60: campaign summary of the tenant's archive
  kL9StrategyResp = 0x65,
  kL9CoalitionReq = 0x66,  // -> device 62: offer / accept / list indicator releases
  kL9CoalitionResp = 0x67,
  kError = 0xFF,
};
inline constexpr uint8_t kSessionMsgTypeFirst = 0x08;
inline constexpr uint8_t kSessionMsgTypeLast = 0x0F;

// ---- TLV types ----
enum class TlvType : uint16_t {
  // identity and correlation
  kTenantId = 0x0001,   // tenant string [A-Z0-9_] 1..32, mandatory in every frame
  kRequestId = 0x0002,  // token 1..64, echoed by responses
  kUserId = 0x0003,     // token 1..128
  kEventId = 0x0004,    // token 1..64
  kTimestamp = 0x0005,  // token 1..20: decimal Unix milliseconds, signed by two-person requests
  // authorization
  kRoeLevel = 0x0010,          // ROE level name
  kCompartmentMask = 0x0011,   // u64, kCompartment* bits
  kClassification = 0x0012,    // u8, Classification
  kL7ClaimToken = 0x0013,      // bytes 1..16384
  kRoeTokenId = 0x0014,        // token 1..128
  kTwoPersonSignerA = 0x0015,  // token 1..128
  kTwoPersonSignerB = 0x0016,  // token 1..128
  kTwoPersonSigA = 0x0017,     // bytes, exactly kMlDsa87SignatureSize
  kTwoPersonSigB = 0x0018,     // bytes, exactly kMlDsa87SignatureSize
  kTwoPersonSignerC = 0x0019,  // token 1..128
  kTwoPersonSigC = 0x001A,     // bytes, exactly kMlDsa87SignatureSize
  // content
  kModel = 0x0020,        // token 1..128
  kProfile = 0x0021,      // token 1..64
  kContentType = 0x0022,  // u8, ContentType
  kMaxTokens = 0x0023,    // u32
  kTokenCount = 0x0024,   // u32
  kEmbedding = 0x0025,    // f32 vector (big-endian IEEE 754), 4..65536 bytes
  // errors
  kErrorCode = 0x0030,    // u16, StatusCode number, non-zero
  kErrorReason = 0x0031,  // symbol [A-Z0-9_] 1..64, e.g. INVALID_ROE_TOKEN
  kErrorDetail = 0x0032,  // UTF-8 text 1..1024
  // body
  kPayload = 0x0040,  // bytes 0..frame limit (JSON unless CONTENT_TYPE says otherwise)
};
// 0x0060..0x006F: session handshake TLVs, coded by the session layer
// (docs/dbe-session.md); refused by this codec.
// 0x8000..0xFFFE: ignorable extension range: kept opaque, never refused.
// 0x0000 and 0xFFFF: never valid.
inline constexpr uint16_t kIgnorableTlvFirst = 0x8000;
inline constexpr uint16_t kIgnorableTlvLast = 0xFFFE;

inline constexpr size_t kMlDsa87SignatureSize = 4627;
// ML-DSA-87 context string of the two-person signatures (docs/dbe.md §5).
inline constexpr const char* kTwoPersonSignatureContext = "DSMIL-DBE-2PI-v1";
inline constexpr size_t kTenantIdMaxLength = 32;

// COMPARTMENT_MASK bits. Bits 8..63 are reserved and refused in v1.
inline constexpr uint64_t kCompartmentSoc = 0x01;
inline constexpr uint64_t kCompartmentSignals = 0x02;
inline constexpr uint64_t kCompartmentCyber = 0x04;
inline constexpr uint64_t kCompartmentIntel = 0x08;
inline constexpr uint64_t kCompartmentCoalition = 0x10;
inline constexpr uint64_t kCompartmentStrategic = 0x20;
inline constexpr uint64_t kCompartmentNc3 = 0x40;
inline constexpr uint64_t kCompartmentKinetic = 0x80;
inline constexpr uint64_t kKnownCompartments = 0xFF;

// CLASSIFICATION values, ordered: a higher value is a higher level.
enum class Classification : uint8_t {
  kUnclassified = 0,
  kCui = 1,
  kConfidential = 2,
  kSecret = 3,
  kTopSecret = 4,
};

// CONTENT_TYPE values (what PAYLOAD holds). Absent means JSON.
enum class ContentType : uint8_t {
  kJson = 1,    // UTF-8 JSON
  kText = 2,    // UTF-8 text
  kBinary = 3,  // opaque bytes
};

// ROE_LEVEL values (strings on the wire).
inline constexpr const char* kRoeLevels[] = {"ANALYSIS_ONLY", "SOC_ASSIST", "TRAINING"};

}  // namespace dsmil::dbe
