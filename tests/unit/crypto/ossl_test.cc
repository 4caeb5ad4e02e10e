// OpenSSL-backed primitives: AES-256-GCM (GCM spec test cases), HKDF-SHA-384
// (against an HMAC-SHA-384 computation of RFC 5869), ECDH P-384, random bytes.
#include "crypto/ossl.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/coding.h"

namespace dsmil::crypto {
namespace {

Bytes H(std::string_view hex) {
  auto r = FromHex(hex);
  EXPECT_TRUE(r.ok());
  return r.ok() ? *r : Bytes{};
}

TEST(AesGcmTest, GcmSpecTestCases) {
  // Test case 13: zero key, zero IV, empty plaintext.
  Bytes key(32, 0), iv(12, 0);
  auto s = AesGcmSeal(key, iv, {}, {});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(ToHex(*s), "530f8afbc74536b9a963b4f1c4cb738b");
  // Test case 14: one zero block.
  s = AesGcmSeal(key, iv, Bytes(16, 0), {});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(ToHex(*s), "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");
  // Test case 16: 60-byte plaintext with AAD.
  Bytes k16 = H("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
  Bytes iv16 = H("cafebabefacedbaddecaf888");
  Bytes p16 =
      H("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e24"
        "49a6b525b16aedf5aa0de657ba637b39");
  Bytes a16 = H("feedfacedeadbeeffeedfacedeadbeefabaddad2");
  s = AesGcmSeal(k16, iv16, p16, a16);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(ToHex(*s),
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b"
            "1056828838c5f61e6393ba7a0abcc9f662"
            "76fc6ece0f4e1768cddf8853bb2d551b");
  auto o = AesGcmOpen(k16, iv16, *s, a16);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(*o, p16);
}

TEST(AesGcmTest, TamperingIsRefused) {
  Bytes key(32, 7), nonce(12, 9), msg(1000, 0x42), aad = {1, 2, 3};
  auto sealed = AesGcmSeal(key, nonce, msg, aad);
  ASSERT_TRUE(sealed.ok());
  for (size_t pos : {size_t{0}, size_t{500}, sealed->size() - 1}) {
    Bytes bad = *sealed;
    bad[pos] ^= 0x01;
    auto o = AesGcmOpen(key, nonce, bad, aad);
    ASSERT_FALSE(o.ok());
    EXPECT_EQ(o.status().code(), StatusCode::kUnauthenticated);
  }
  EXPECT_FALSE(AesGcmOpen(key, nonce, *sealed, Bytes{1, 2, 4}).ok());
  EXPECT_FALSE(AesGcmOpen(key, Bytes(12, 8), *sealed, aad).ok());
  EXPECT_EQ(AesGcmOpen(key, nonce, Bytes(5), aad).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(AesGcmSeal(Bytes(16), nonce, msg, aad).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(AesGcmSeal(key, Bytes(8), msg, aad).status().code(), StatusCode::kInvalidArgument);
}

TEST(AesGcmTest, ReusableContext) {
  auto g = AesGcm::Create(Bytes(32, 3));
  ASSERT_TRUE(g.ok());
  Bytes sealed, opened;
  for (int i = 0; i < 10; ++i) {
    Bytes nonce(12, static_cast<uint8_t>(i)), msg(static_cast<size_t>(i * 37), 0x55);
    ASSERT_TRUE(g->Seal(nonce, msg, {}, sealed).ok());
    ASSERT_TRUE(g->Open(nonce, sealed, {}, opened).ok());
    EXPECT_EQ(opened, msg);
    auto one_shot = AesGcmSeal(Bytes(32, 3), nonce, msg, {});
    EXPECT_EQ(*one_shot, sealed);
  }
}

Bytes HmacSha384(ByteView key, ByteView data) {
  unsigned int n = 0;
  uint8_t out[48];
  HMAC(EVP_sha384(), key.data(), static_cast<int>(key.size()), data.data(), data.size(), out, &n);
  return Bytes(out, out + n);
}

TEST(HkdfTest, MatchesRfc5869Construction) {
  Bytes ikm(22, 0x0b), salt = H("000102030405060708090a0b0c"), info = H("f0f1f2f3f4f5f6f7f8f9");
  for (size_t len : {size_t{1}, size_t{32}, size_t{48}, size_t{49}, size_t{100}, size_t{200}}) {
    Bytes prk = HmacSha384(salt, ikm);
    Bytes okm, t;
    for (uint8_t i = 1; okm.size() < len; ++i) {
      Bytes in = t;
      in.insert(in.end(), info.begin(), info.end());
      in.push_back(i);
      t = HmacSha384(prk, in);
      okm.insert(okm.end(), t.begin(), t.end());
    }
    okm.resize(len);
    auto got = HkdfSha384(ikm, salt, info, len);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(Bytes(got->begin(), got->end()), okm) << len;
  }
  // Empty salt = 48 zero bytes (RFC 5869 §2.2); empty info is allowed.
  auto a = HkdfSha384(ikm, {}, {}, 32);
  auto b = HkdfSha384(ikm, Bytes(48, 0), {}, 32);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_FALSE(HkdfSha384(ikm, salt, info, 0).ok());
  EXPECT_FALSE(HkdfSha384(ikm, salt, info, 255 * 48 + 1).ok());
}

TEST(EcdhTest, BothSidesDeriveTheSameSecret) {
  auto a = EcdhP384KeyPair::Generate();
  auto b = EcdhP384KeyPair::Generate();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->public_key().size(), kP384PublicKeyBytes);
  EXPECT_EQ(a->public_key()[0], 0x04);
  auto sa = a->Derive(b->public_key());
  auto sb = b->Derive(a->public_key());
  ASSERT_TRUE(sa.ok() && sb.ok()) << sa.status().ToString();
  EXPECT_EQ(sa->size(), kP384SharedSecretBytes);
  EXPECT_EQ(*sa, *sb);
  auto scalar = a->PrivateScalar();
  ASSERT_TRUE(scalar.ok());
  EXPECT_EQ(scalar->size(), kP384PrivateKeyBytes);
}

TEST(EcdhTest, RefusesBadPeerPoints) {
  auto a = EcdhP384KeyPair::Generate();
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->Derive(Bytes(10)).status().code(), StatusCode::kInvalidArgument);
  Bytes off_curve = a->public_key();
  off_curve[50] ^= 1;  // Y changed: no longer on the curve
  auto r = a->Derive(off_curve);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  Bytes compressed = a->public_key();
  compressed[0] = 0x02;
  EXPECT_FALSE(a->Derive(compressed).ok());
}

TEST(SecretTest, RandomAndWipe) {
  auto r1 = RandomSecret(32), r2 = RandomSecret(32);
  ASSERT_TRUE(r1.ok() && r2.ok());
  EXPECT_NE(*r1, *r2);
  uint8_t buf[16];
  for (auto& b : buf) b = 0xAA;
  SecureWipe(buf, sizeof(buf));
  for (auto b : buf) EXPECT_EQ(b, 0);
  EXPECT_TRUE(ConstantTimeEquals(Bytes{1, 2}, Bytes{1, 2}));
  EXPECT_FALSE(ConstantTimeEquals(Bytes{1, 2}, Bytes{1, 3}));
  EXPECT_FALSE(ConstantTimeEquals(Bytes{1, 2}, Bytes{1}));
}

}  // namespace
}  // namespace dsmil::crypto
