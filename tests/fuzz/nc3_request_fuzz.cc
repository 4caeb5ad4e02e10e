// Fuzz target: the NC3 request of device 61 (devices/l9/nc3_request.h).
// Arbitrary bytes must never crash the parsers. The first byte selects:
//   0: a DBE frame: an accepted L9_NC3_QUERY must parse, its NC3 signing bytes
//      must be a valid frame without any TWO_PERSON_* or L7_CLAIM_TOKEN TLV,
//      and attaching signatures must not change them.
//   1: a detached signature file: an accepted one must format back to a file
//      that parses to the same signer and signature.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "dbe/message.h"
#include "devices/l9/nc3_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dsmil;
  namespace l9 = dsmil::devices::l9;
  if (size < 1) return 0;
  ByteView input(data + 1, size - 1);

  if (data[0] % 2 == 1) {
    Result<l9::Nc3Signature> sig = l9::ParseNc3SignatureFile(AsString(input));
    if (!sig.ok()) {
      if (sig.status().message().empty()) std::abort();  // every refusal names its reason
      return 0;
    }
    Result<l9::Nc3Signature> again = l9::ParseNc3SignatureFile(l9::FormatNc3SignatureFile(*sig));
    if (!again.ok() || again->signer != sig->signer || again->signature != sig->signature) {
      std::fprintf(stderr, "signature file round trip mismatch\n");
      std::abort();
    }
    return 0;
  }

  Result<dbe::Message> msg = dbe::Decode(input);
  if (!msg.ok() || msg->type() != dbe::MsgType::kL9Nc3Query) return 0;
  Result<l9::Nc3Request> req = l9::ParseNc3Request(*msg);
  if (!req.ok()) {
    // Only a request without REQUEST_ID is refused, and it says so.
    if (msg->Has(dbe::TlvType::kRequestId) || req.status().message().empty()) std::abort();
    return 0;
  }
  if (req->signatures.size() > l9::kNc3MaxSignatures || req->signature_tlvs > l9::kNc3MaxSignatures) std::abort();
  Result<Bytes> signing = l9::Nc3SigningBytes(*msg);
  if (!signing.ok()) std::abort();
  Result<dbe::Message> bare = dbe::Decode(*signing);
  if (!bare.ok()) std::abort();
  for (dbe::TlvType t : {dbe::TlvType::kTwoPersonSignerA, dbe::TlvType::kTwoPersonSigA, dbe::TlvType::kTwoPersonSignerB,
                         dbe::TlvType::kTwoPersonSigB, dbe::TlvType::kTwoPersonSignerC, dbe::TlvType::kTwoPersonSigC,
                         dbe::TlvType::kL7ClaimToken}) {
    if (bare->Has(t)) std::abort();
  }
  // Signatures attached to the bare request leave its signing bytes unchanged.
  dbe::Message resigned = *bare;
  l9::Nc3Signature s{0, "fuzz", Bytes(4627, 0xA5)};
  if (l9::AttachNc3Signatures(resigned, {s, s}).ok()) {
    Result<Bytes> again = l9::Nc3SigningBytes(resigned);
    if (!again.ok() || *again != *signing) {
      std::fprintf(stderr, "signatures changed the NC3 signing bytes\n");
      std::abort();
    }
  }
  return 0;
}
