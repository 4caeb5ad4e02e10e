// Keccak-f[1600] sponge: SHA3-256, SHA3-512, SHAKE128, SHAKE256 (FIPS 202).
//
// Incremental: Absorb any number of times, then Squeeze any number of times
// (the ML-KEM / ML-DSA samplers squeeze block by block). Absorb after the
// first Squeeze is a programming error (asserts). Not thread-safe; cheap to
// copy (a copy forks the sponge state, used for prefix hashing).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace dsmil::crypto {

class Keccak {
 public:
  // rate_bytes: 168 (SHAKE128), 136 (SHAKE256, SHA3-256), 72 (SHA3-512).
  // domain: 0x1F for SHAKE, 0x06 for SHA3.
  Keccak(size_t rate_bytes, uint8_t domain);

  void Absorb(std::span<const uint8_t> data);
  // Writes out.size() bytes of output, continuing where the last call stopped.
  void Squeeze(std::span<uint8_t> out);
  // Resets to the empty state with the same rate and domain.
  void Reset();

  size_t rate() const { return rate_; }

 private:
  void Finalize();
  std::array<uint64_t, 25> state_{};
  size_t rate_;
  uint8_t domain_;
  size_t pos_ = 0;  // bytes absorbed into / squeezed from the current block
  bool squeezing_ = false;
};

// The permutation itself (24 rounds), exposed for tests and vectorised callers.
void KeccakF1600(uint64_t state[25]);

struct Shake128 : Keccak {
  Shake128() : Keccak(168, 0x1F) {}
};
struct Shake256 : Keccak {
  Shake256() : Keccak(136, 0x1F) {}
};

std::array<uint8_t, 32> Sha3_256(std::span<const uint8_t> data);
std::array<uint8_t, 64> Sha3_512(std::span<const uint8_t> data);
void Shake128Hash(std::span<const uint8_t> data, std::span<uint8_t> out);
void Shake256Hash(std::span<const uint8_t> data, std::span<uint8_t> out);

}  // namespace dsmil::crypto
