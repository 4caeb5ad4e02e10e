// Fuzz target: DBE v1 frame decoding. Arbitrary bytes must never crash the
// decoder; whatever it accepts must re-encode to exactly the same bytes
// (canonical round trip), and the owning and zero-copy decoders must agree.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "dbe/message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dsmil;
  using namespace dsmil::dbe;
  ByteView input(data, size);

  // The stream cutter must agree with the decoder on the header checks.
  Result<size_t> length = FrameLength(input);

  MessageView view;
  Status s = DecodeView(input, &view);
  if (!s.ok()) {
    if (s.message().empty()) std::abort();  // every refusal names its reason
    return 0;
  }
  if (!length.ok() || *length != size) {
    std::fprintf(stderr, "FrameLength disagrees with DecodeView\n");
    std::abort();
  }
  if (view.tenant_id().empty()) std::abort();  // TENANT_ID is mandatory

  Result<Message> owned = Decode(input);
  if (!owned.ok()) {
    std::fprintf(stderr, "Decode refused what DecodeView accepted: %s\n", owned.status().ToString().c_str());
    std::abort();
  }
  Result<Bytes> again = Encode(*owned);
  if (!again.ok()) {
    std::fprintf(stderr, "re-encode failed: %s\n", again.status().ToString().c_str());
    std::abort();
  }
  if (again->size() != size || !std::equal(again->begin(), again->end(), data)) {
    std::fprintf(stderr, "canonical round trip mismatch: %zu bytes in, %zu out\n", size, again->size());
    std::abort();
  }
  // Signing bytes of an accepted frame are themselves a valid frame.
  Result<Bytes> signing = SigningBytes(view);
  if (!signing.ok() || !DecodeView(*signing).ok()) std::abort();
  return 0;
}
