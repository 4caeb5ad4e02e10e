// ML-DSA-87: round trips, contexts, deterministic vs hedged signing,
// tampering, and the errors of key/signature decoding.
#include "crypto/mldsa.h"

#include <string>

#include "core/coding.h"
#include "gtest/gtest.h"

namespace dsmil::crypto {
namespace {

constexpr size_t kHintOffset = 64 + 7 * 640;  // c~ || z, then the hint bytes

MlDsa87KeyPair FixedKey(uint8_t fill = 0x42) {
  std::array<uint8_t, 32> xi;
  xi.fill(fill);
  return MlDsa87KeyGenFromSeed(xi);
}

TEST(MlDsa87, SizesAreTheFips204Encodings) {
  MlDsa87KeyPair kp = FixedKey();
  EXPECT_EQ(kp.public_key.size(), 2592u);
  EXPECT_EQ(kp.secret_key.size(), 4896u);
  Result<Bytes> sig = MlDsa87Sign(kp.secret_key, AsBytes("m"), {});
  ASSERT_TRUE(sig.ok()) << sig.status().ToString();
  EXPECT_EQ(sig->size(), 4627u);
}

TEST(MlDsa87, KeyGenIsDeterministicInTheSeedAndFreshKeysDiffer) {
  EXPECT_EQ(FixedKey().public_key, FixedKey().public_key);
  EXPECT_NE(FixedKey(1).public_key, FixedKey(2).public_key);
  Result<MlDsa87KeyPair> a = MlDsa87KeyGen();
  Result<MlDsa87KeyPair> b = MlDsa87KeyGen();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->public_key, b->public_key);
}

TEST(MlDsa87, SignVerifyRoundTripWithAndWithoutContext) {
  MlDsa87KeyPair kp = FixedKey();
  const std::string msg = "NC3 two-person authorisation: release code 7";
  for (std::string ctx : {std::string(), std::string("nc3"), std::string(255, 'x')}) {
    Result<Bytes> sig = MlDsa87Sign(kp.secret_key, AsBytes(msg), AsBytes(ctx));
    ASSERT_TRUE(sig.ok()) << sig.status().ToString();
    EXPECT_TRUE(MlDsa87Verify(kp.public_key, AsBytes(msg), AsBytes(ctx), *sig).ok());
    // The context is bound: another context does not verify.
    const std::string other_ctx = ctx.size() < 255 ? ctx + "y" : ctx.substr(1);
    Status other = MlDsa87Verify(kp.public_key, AsBytes(msg), AsBytes(other_ctx), *sig);
    EXPECT_EQ(other.code(), StatusCode::kUnauthenticated) << other.ToString();
  }
}

TEST(MlDsa87, EmptyAndLongMessages) {
  MlDsa87KeyPair kp = FixedKey();
  Bytes big(1 << 20, 0xA5);
  for (ByteView m : {ByteView(), ByteView(big)}) {
    Result<Bytes> sig = MlDsa87Sign(kp.secret_key, m, {});
    ASSERT_TRUE(sig.ok());
    EXPECT_TRUE(MlDsa87Verify(kp.public_key, m, {}, *sig).ok());
  }
}

TEST(MlDsa87, DeterministicSigningRepeatsHedgedDoesNot) {
  MlDsa87KeyPair kp = FixedKey();
  auto d1 = MlDsa87Sign(kp.secret_key, AsBytes("m"), {}, MlDsaSigning::kDeterministic);
  auto d2 = MlDsa87Sign(kp.secret_key, AsBytes("m"), {}, MlDsaSigning::kDeterministic);
  auto h1 = MlDsa87Sign(kp.secret_key, AsBytes("m"), {}, MlDsaSigning::kHedged);
  auto h2 = MlDsa87Sign(kp.secret_key, AsBytes("m"), {}, MlDsaSigning::kHedged);
  ASSERT_TRUE(d1.ok() && d2.ok() && h1.ok() && h2.ok());
  EXPECT_EQ(*d1, *d2);
  EXPECT_NE(*h1, *h2);
  EXPECT_NE(*d1, *h1);
  // Deterministic = Sign_internal with rnd = 0 on M' = 0 || 0 || m.
  std::array<uint8_t, 32> zero{};
  Result<Bytes> m_prime = MlDsaFormatMessage(AsBytes("m"), {});
  ASSERT_TRUE(m_prime.ok());
  auto internal = MlDsa87SignInternal(kp.secret_key, *m_prime, zero);
  ASSERT_TRUE(internal.ok());
  EXPECT_EQ(*internal, *d1);
}

TEST(MlDsa87, ExternalMuMatchesTheInternalForm) {
  MlDsa87KeyPair kp = FixedKey();
  Bytes m_prime = {1, 2, 3};
  auto mu = MlDsa87ComputeMu(kp.public_key, m_prime);
  ASSERT_TRUE(mu.ok());
  std::array<uint8_t, 32> rnd{};
  rnd[0] = 9;
  auto a = MlDsa87SignInternal(kp.secret_key, m_prime, rnd);
  auto b = MlDsa87SignMu(kp.secret_key, *mu, rnd);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_TRUE(MlDsa87VerifyMu(kp.public_key, *mu, *a).ok());
  EXPECT_TRUE(MlDsa87VerifyInternal(kp.public_key, m_prime, *b).ok());
}

TEST(MlDsa87, EveryFlippedSignatureBitIsRefused) {
  MlDsa87KeyPair kp = FixedKey();
  const std::string msg = "message";
  Result<Bytes> sig = MlDsa87Sign(kp.secret_key, AsBytes(msg), {});
  ASSERT_TRUE(sig.ok());
  // Every bit of c~ and of the hint section, and a stride through z.
  int checked = 0;
  for (size_t bit = 0; bit < sig->size() * 8; ++bit) {
    size_t byte = bit / 8;
    if (byte >= 64 && byte < kHintOffset && bit % 29 != 0) continue;
    Bytes bad = *sig;
    bad[byte] ^= uint8_t(1u << (bit % 8));
    Status st = MlDsa87Verify(kp.public_key, AsBytes(msg), {}, bad);
    ASSERT_EQ(st.code(), StatusCode::kUnauthenticated) << "bit " << bit << ": " << st.ToString();
    ++checked;
  }
  EXPECT_GT(checked, 1000);
}

TEST(MlDsa87, FlippedMessageBitOrOtherKeyIsRefused) {
  MlDsa87KeyPair kp = FixedKey();
  std::string msg = "launch window 0400Z";
  Result<Bytes> sig = MlDsa87Sign(kp.secret_key, AsBytes(msg), {});
  ASSERT_TRUE(sig.ok());
  for (size_t bit = 0; bit < msg.size() * 8; ++bit) {
    std::string bad = msg;
    bad[bit / 8] = char(bad[bit / 8] ^ (1 << (bit % 8)));
    EXPECT_EQ(MlDsa87Verify(kp.public_key, AsBytes(bad), {}, *sig).code(), StatusCode::kUnauthenticated);
  }
  EXPECT_EQ(MlDsa87Verify(FixedKey(7).public_key, AsBytes(msg), {}, *sig).code(), StatusCode::kUnauthenticated);
  Bytes pk = kp.public_key;
  pk[100] ^= 1;
  EXPECT_EQ(MlDsa87Verify(pk, AsBytes(msg), {}, *sig).code(), StatusCode::kUnauthenticated);
}

TEST(MlDsa87, MalformedHintsAreRefused) {
  MlDsa87KeyPair kp = FixedKey();
  Result<Bytes> sig = MlDsa87Sign(kp.secret_key, AsBytes("m"), {}, MlDsaSigning::kDeterministic);
  ASSERT_TRUE(sig.ok());
  uint8_t* hint = sig->data() + kHintOffset;
  const int total = hint[75 + 7];
  ASSERT_GT(total, 1);
  auto expect_malformed = [&](const Bytes& bad, const char* what) {
    Status st = MlDsa87Verify(kp.public_key, AsBytes("m"), {}, bad);
    EXPECT_EQ(st.code(), StatusCode::kUnauthenticated) << what;
    EXPECT_NE(st.message().find("malformed hint"), std::string::npos) << what << ": " << st.ToString();
  };
  {  // A row end beyond omega.
    Bytes bad = *sig;
    bad[kHintOffset + 75 + 7] = 76;
    expect_malformed(bad, "end > omega");
  }
  {  // Row ends decreasing.
    Bytes bad = *sig;
    bad[kHintOffset + 75] = uint8_t(total);
    bad[kHintOffset + 75 + 1] = 0;
    expect_malformed(bad, "decreasing ends");
  }
  {  // Indices within a row not strictly increasing (duplicate).
    Bytes bad = *sig;
    bad[kHintOffset + 75 + 7] = uint8_t(total);  // everything in one row: ends 0..0,total
    for (int i = 0; i < 7; ++i) bad[kHintOffset + 75 + i] = 0;
    for (int i = 0; i < total; ++i) bad[kHintOffset + i] = 5;
    expect_malformed(bad, "duplicate index");
  }
  {  // Non-zero padding after the last hint.
    Bytes bad = *sig;
    bad[kHintOffset + 74] = 1;
    if (total < 75) expect_malformed(bad, "non-zero padding");
  }
}

TEST(MlDsa87, ZOutOfRangeIsRefused) {
  MlDsa87KeyPair kp = FixedKey();
  Result<Bytes> sig = MlDsa87Sign(kp.secret_key, AsBytes("m"), {});
  ASSERT_TRUE(sig.ok());
  Bytes bad = *sig;
  // First z coefficient := gamma1 - 0xFFFFF (encoded value all ones) = -(2^19 - 1).
  bad[64] = 0xFF;
  bad[65] = 0xFF;
  bad[66] |= 0x0F;
  Status st = MlDsa87Verify(kp.public_key, AsBytes("m"), {}, bad);
  EXPECT_EQ(st.code(), StatusCode::kUnauthenticated);
  EXPECT_NE(st.message().find("gamma1"), std::string::npos) << st.ToString();
}

TEST(MlDsa87, BadInputsGetInvalidArgument) {
  MlDsa87KeyPair kp = FixedKey();
  Result<Bytes> sig = MlDsa87Sign(kp.secret_key, AsBytes("m"), {});
  ASSERT_TRUE(sig.ok());
  const std::string long_ctx(256, 'c');

  auto s1 = MlDsa87Sign(Bytes(100, 0), AsBytes("m"), {});
  EXPECT_EQ(s1.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s1.status().message().find("secret key is 100 bytes, expected 4896"), std::string::npos)
      << s1.status().ToString();
  auto s2 = MlDsa87Sign(kp.secret_key, AsBytes("m"), AsBytes(long_ctx));
  EXPECT_EQ(s2.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s2.status().message().find("256 bytes"), std::string::npos);

  Status v1 = MlDsa87Verify(Bytes(2591, 0), AsBytes("m"), {}, *sig);
  EXPECT_EQ(v1.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(v1.message().find("public key is 2591 bytes"), std::string::npos);
  Bytes short_sig(sig->begin(), sig->end() - 1);
  Status v2 = MlDsa87Verify(kp.public_key, AsBytes("m"), {}, short_sig);
  EXPECT_EQ(v2.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(v2.message().find("signature is 4626 bytes"), std::string::npos);
  EXPECT_EQ(MlDsa87Verify(kp.public_key, AsBytes("m"), AsBytes(long_ctx), *sig).code(), StatusCode::kInvalidArgument);
}

TEST(MlDsa87, SecretKeyWithOutOfRangeCoefficientIsRefused) {
  MlDsa87KeyPair kp = FixedKey();
  Bytes sk(kp.secret_key.begin(), kp.secret_key.end());
  sk[128] |= 0x07;  // first s1 coefficient encoded as 7 (> 2 eta)
  auto sig = MlDsa87Sign(sk, AsBytes("m"), {});
  EXPECT_EQ(sig.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(sig.status().message().find("outside [-2, 2]"), std::string::npos) << sig.status().ToString();
}

}  // namespace
}  // namespace dsmil::crypto
