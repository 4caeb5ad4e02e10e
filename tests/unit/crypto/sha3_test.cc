// SHA-3 / SHAKE against OpenSSL's EVP implementation, for many lengths and
// for incremental absorb / squeeze patterns.
#include "crypto/sha3.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <random>
#include <vector>

#include "core/coding.h"

namespace dsmil::crypto {
namespace {

std::vector<uint8_t> Evp(const EVP_MD* md, const std::vector<uint8_t>& in, size_t out_len) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EXPECT_EQ(EVP_DigestInit_ex(ctx, md, nullptr), 1);
  EXPECT_EQ(EVP_DigestUpdate(ctx, in.data(), in.size()), 1);
  std::vector<uint8_t> out(out_len);
  if (EVP_MD_get_flags(md) & EVP_MD_FLAG_XOF) {
    EXPECT_EQ(EVP_DigestFinalXOF(ctx, out.data(), out.size()), 1);
  } else {
    unsigned int n = 0;
    EXPECT_EQ(EVP_DigestFinal_ex(ctx, out.data(), &n), 1);
    out.resize(n);
  }
  EVP_MD_CTX_free(ctx);
  return out;
}

std::vector<uint8_t> RandomBytes(std::mt19937& rng, size_t n) {
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = uint8_t(rng());
  return v;
}

TEST(Sha3Test, KnownAnswersEmpty) {
  EXPECT_EQ(ToHex(Sha3_256({})), "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a");
  EXPECT_EQ(ToHex(Sha3_512({})),
            "a69f73cca23a9ac5c8b567dc185a756e97c982164fe25859e0d1dcc1475c80a6"
            "15b2123af1f5f94c11e3e9402c3ac558f500199d95b6d3e301758586281dcd26");
  uint8_t out[32];
  Shake128Hash({}, out);
  EXPECT_EQ(ToHex(out), "7f9c2ba4e88f827d616045507605853ed73b8093f6efbc88eb1a6eacfa66ef26");
  Shake256Hash({}, out);
  EXPECT_EQ(ToHex(out), "46b9dd2b0ba88d13233b3feb743eeb243fcd52ea62b81b82b50c27646ed5762f");
}

TEST(Sha3Test, OneShotMatchesOpenSslForManyLengths) {
  std::mt19937 rng(42);
  for (size_t len = 0; len <= 700; len += (len < 300 ? 1 : 7)) {
    auto in = RandomBytes(rng, len);
    auto a = Sha3_256(in);
    EXPECT_EQ(std::vector<uint8_t>(a.begin(), a.end()), Evp(EVP_sha3_256(), in, 32)) << len;
    auto b = Sha3_512(in);
    EXPECT_EQ(std::vector<uint8_t>(b.begin(), b.end()), Evp(EVP_sha3_512(), in, 64)) << len;
    size_t out_len = 1 + (len * 13) % 600;  // also multi-block output
    std::vector<uint8_t> o(out_len);
    Shake128Hash(in, o);
    EXPECT_EQ(o, Evp(EVP_shake128(), in, out_len)) << len;
    Shake256Hash(in, o);
    EXPECT_EQ(o, Evp(EVP_shake256(), in, out_len)) << len;
  }
}

TEST(Sha3Test, IncrementalAbsorbAndSqueeze) {
  std::mt19937 rng(7);
  for (int iter = 0; iter < 200; ++iter) {
    size_t len = rng() % 1200;
    auto in = RandomBytes(rng, len);
    size_t out_len = rng() % 1500 + 1;
    bool s128 = iter % 2 == 0;
    auto want = Evp(s128 ? EVP_shake128() : EVP_shake256(), in, out_len);
    Keccak k = s128 ? Keccak(168, 0x1F) : Keccak(136, 0x1F);
    size_t off = 0;
    while (off < len) {
      size_t chunk = std::min<size_t>(len - off, rng() % 300);
      k.Absorb(std::span<const uint8_t>(in).subspan(off, chunk));
      off += chunk;
    }
    std::vector<uint8_t> got(out_len);
    off = 0;
    while (off < out_len) {
      size_t chunk = std::min<size_t>(out_len - off, rng() % 200);
      k.Squeeze(std::span<uint8_t>(got).subspan(off, chunk));
      off += chunk;
    }
    EXPECT_EQ(got, want) << iter;
  }
}

TEST(Sha3Test, BlockByBlockSqueeze) {
  std::vector<uint8_t> seed(34, 0xA5);
  for (size_t rate : {size_t{168}, size_t{136}}) {
    auto want = Evp(rate == 168 ? EVP_shake128() : EVP_shake256(), seed, rate * 5);
    Keccak k(rate, 0x1F);
    k.Absorb(seed);
    std::vector<uint8_t> got(rate * 5);
    for (size_t i = 0; i < 5; ++i) k.Squeeze(std::span<uint8_t>(got).subspan(i * rate, rate));
    EXPECT_EQ(got, want);
  }
}

TEST(Sha3Test, CopyForksStateAndResetClears) {
  Shake256 a;
  std::vector<uint8_t> prefix(100, 1), tail(50, 2);
  a.Absorb(prefix);
  Keccak b = a;
  b.Absorb(tail);
  std::vector<uint8_t> full = prefix;
  full.insert(full.end(), tail.begin(), tail.end());
  std::vector<uint8_t> o1(64), o2(64);
  b.Squeeze(o1);
  Shake256Hash(full, o2);
  EXPECT_EQ(o1, o2);
  a.Squeeze(o1);
  Shake256Hash(prefix, o2);
  EXPECT_EQ(o1, o2);
  a.Reset();
  a.Absorb(tail);
  a.Squeeze(o1);
  Shake256Hash(tail, o2);
  EXPECT_EQ(o1, o2);
}

}  // namespace
}  // namespace dsmil::crypto
