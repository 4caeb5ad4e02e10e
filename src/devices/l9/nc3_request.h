// The NC3 request of device 61 (docs/l9.md): an L9_NC3_QUERY envelope with
// ROE_TOKEN_ID, REQUEST_ID, TIMESTAMP and two or three operator signatures,
// each a TWO_PERSON_SIGNER_x (operator name) + TWO_PERSON_SIG_x (ML-DSA-87)
// pair, x = A, B, C.
//
// Every signature covers the NC3 signing bytes (Nc3SigningBytes): the
// canonical signing bytes of the envelope (dbe::SigningBytes) with all
// TWO_PERSON_* TLVs and L7_CLAIM_TOKEN removed (the node replaces the claim in
// transit) and the transport fields of the header (src_device, sequence,
// timestamp_ns) zeroed. Message type, destination, tenant, ROE token, request
// id, TIMESTAMP, USER_ID and payload are covered. Signatures do not depend on
// their slot, so operators sign independently and offline.
//
// Pure: no I/O, no clock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/coding.h"
#include "core/status.h"
#include "dbe/message.h"

namespace dsmil::devices::l9 {

inline constexpr int kNc3DeviceId = 61;
// ML-DSA-87 context string (FIPS 204 ctx) of NC3 two-person signatures.
inline constexpr const char* kNc3SignatureContext = "DSMIL-NC3-TWO-PERSON-v1";
// A request's TIMESTAMP must be within this of the device's clock.
inline constexpr int64_t kNc3MaxSkewMs = 120000;
// First line of a detached signature file (`dsmilctl nc3 sign`).
inline constexpr const char* kNc3SignatureFileMagic = "DSMIL-NC3-SIG-v1";
inline constexpr size_t kNc3MaxSignatures = 3;

struct Nc3Signature {
  char slot = 0;       // 'A', 'B', 'C' (0 when not attached yet)
  std::string signer;  // operator name (TWO_PERSON_SIGNER_x)
  Bytes signature;     // TWO_PERSON_SIG_x
};

struct Nc3Request {
  std::string tenant;
  std::string request_id;
  std::string roe_token_id;              // "" when ROE_TOKEN_ID is absent
  std::optional<int64_t> timestamp_ms;   // absent or not a decimal number: nullopt
  std::vector<Nc3Signature> signatures;  // complete signer + signature pairs, slot order
  size_t signature_tlvs = 0;             // TWO_PERSON_SIG_x TLVs present
  std::vector<std::string> incomplete;   // "TWO_PERSON_SIG_B without TWO_PERSON_SIGNER_B", ...
  std::string query;                     // PAYLOAD as text ("" when absent)
};

// Reads the NC3 fields of an L9_NC3_QUERY. InvalidArgument for another
// message type or a frame without REQUEST_ID.
Result<Nc3Request> ParseNc3Request(const dbe::Message& msg);

// The bytes every two-person signature covers (see above).
Result<Bytes> Nc3SigningBytes(const dbe::Message& msg);

// Signs the request with a raw ML-DSA-87 secret key.
Result<Bytes> SignNc3Request(const dbe::Message& msg, ByteView secret_key);

// An unsigned L9_NC3_QUERY to device 61: TENANT_ID, REQUEST_ID, ROE_TOKEN_ID,
// TIMESTAMP (decimal Unix ms), CONTENT_TYPE JSON and PAYLOAD {"query": query}.
dbe::Message MakeNc3Request(std::string_view tenant, std::string_view roe_token_id, std::string_view request_id,
                            int64_t timestamp_ms, std::string_view query);

// Attaches signatures to free slots A, B, C in order. InvalidArgument for
// more than three in all or a bad operator name.
Status AttachNc3Signatures(dbe::Message& msg, const std::vector<Nc3Signature>& sigs);

// Detached signature file: "DSMIL-NC3-SIG-v1\n<name>\n<signature hex>\n".
std::string FormatNc3SignatureFile(const Nc3Signature& sig);
Result<Nc3Signature> ParseNc3SignatureFile(std::string_view text);

}  // namespace dsmil::devices::l9
