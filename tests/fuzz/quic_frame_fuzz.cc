// Fuzzes the QUIC stream reassembly (net::QuicFrameReader): hostile bytes fed
// in pieces of varying size. Input: byte 0 bit 0 = expect the DQF1 preamble,
// byte 1 = piece-size seed, the rest = the stream. Checks that the frames
// handed out, re-encoded, are exactly a prefix of the stream after the
// preamble, and that a failure is sticky.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "net/quic_frame.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  bool preamble = data[0] & 1;
  uint32_t seed = data[1] | 1u;
  dsmil::ByteView stream(data + 2, size - 2);
  dsmil::net::QuicFrameReader reader(preamble);
  std::vector<dsmil::Bytes> frames;
  size_t preamble_bytes = 0;
  size_t off = 0;
  bool failed = false;
  while (off < stream.size()) {
    seed = seed * 1103515245u + 12345u;
    size_t piece = std::min<size_t>(stream.size() - off, 1 + (seed >> 16) % 4096);
    dsmil::Status s = reader.Feed(stream.subspan(off, piece), &frames, &preamble_bytes);
    off += piece;
    if (!s.ok()) {
      failed = true;
      size_t before = frames.size();
      if (reader.Feed(stream.subspan(0, std::min<size_t>(stream.size(), 8)), &frames, &preamble_bytes).ok() ||
          frames.size() != before) {
        __builtin_trap();
      }
      break;
    }
  }
  if (preamble_bytes > 4 || (!preamble && preamble_bytes != 0)) __builtin_trap();
  size_t pos = preamble_bytes;
  for (const auto& f : frames) {
    if (pos + 4 + f.size() > stream.size()) __builtin_trap();
    if (dsmil::GetU32BE(stream.data() + pos) != f.size()) __builtin_trap();
    for (size_t i = 0; i < f.size(); ++i) {
      if (stream[pos + 4 + i] != f[i]) __builtin_trap();
    }
    pos += 4 + f.size();
  }
  if (!failed && pos + reader.pending() != stream.size()) __builtin_trap();
  return 0;
}
