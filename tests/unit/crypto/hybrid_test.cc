// Hybrid ECDH P-384 + ML-KEM-1024: agreement, transcript binding, tampering.
#include "crypto/hybrid.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "crypto/sha3.h"

namespace dsmil::crypto {
namespace {

const Bytes kTranscript = {'h', 'e', 'l', 'l', 'o', 0, 1, 2};

TEST(HybridTest, BothSidesAgree) {
  for (size_t len : {size_t{32}, size_t{64}}) {
    auto init = HybridInitiator::Start();
    ASSERT_TRUE(init.ok()) << init.status().ToString();
    EXPECT_EQ(init->offer().size(), kHybridOfferBytes);
    auto resp = HybridRespond(init->offer(), kTranscript, len);
    ASSERT_TRUE(resp.ok()) << resp.status().ToString();
    EXPECT_EQ(resp->message.size(), kHybridResponseBytes);
    auto ss = init->Finish(resp->message, kTranscript, len);
    ASSERT_TRUE(ss.ok()) << ss.status().ToString();
    EXPECT_EQ(ss->size(), len);
    EXPECT_EQ(*ss, resp->shared_secret);
  }
}

TEST(HybridTest, TranscriptAndMessagesAreBound) {
  auto init = HybridInitiator::Start();
  ASSERT_TRUE(init.ok());
  auto resp = HybridRespond(init->offer(), kTranscript);
  ASSERT_TRUE(resp.ok());
  Bytes other = kTranscript;
  other.back() ^= 1;
  auto ss = init->Finish(resp->message, other);
  ASSERT_TRUE(ss.ok());
  EXPECT_NE(*ss, resp->shared_secret);
  // A flipped bit in the ML-KEM ciphertext: implicit rejection, different secret.
  Bytes bad = resp->message;
  bad[kP384PublicKeyBytes + 100] ^= 0x10;
  ss = init->Finish(bad, kTranscript);
  ASSERT_TRUE(ss.ok());
  EXPECT_NE(*ss, resp->shared_secret);
  // A flipped bit in the ECDH point: not on the curve, refused.
  bad = resp->message;
  bad[60] ^= 0x01;
  EXPECT_EQ(init->Finish(bad, kTranscript).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(init->Finish(Bytes(10), kTranscript).status().code(), StatusCode::kInvalidArgument);
}

TEST(HybridTest, RespondRefusesBadOffers) {
  auto init = HybridInitiator::Start();
  ASSERT_TRUE(init.ok());
  auto r = HybridRespond(Bytes(5), kTranscript);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("offer is 5 bytes"), std::string::npos);
  Bytes bad = init->offer();
  bad[kP384PublicKeyBytes] = 0xFF;  // coefficient 0 of t >= q
  bad[kP384PublicKeyBytes + 1] |= 0x0F;
  r = HybridRespond(bad, kTranscript);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("modulus check"), std::string::npos) << r.status().ToString();
}

TEST(HybridTest, CombinerIsTheDocumentedConstruction) {
  Bytes ecdh(48, 1), kem(32, 2), offer(kHybridOfferBytes, 3), resp(kHybridResponseBytes, 4);
  auto a = HybridCombine(ecdh, kem, offer, resp, kTranscript, 32);
  ASSERT_TRUE(a.ok());
  Bytes salt_in(8 + kTranscript.size() + offer.size() + resp.size());
  PutU64BE(salt_in.data(), kTranscript.size());
  auto it = std::copy(kTranscript.begin(), kTranscript.end(), salt_in.begin() + 8);
  it = std::copy(offer.begin(), offer.end(), it);
  std::copy(resp.begin(), resp.end(), it);
  auto salt = Sha3_512(salt_in);
  Bytes ikm = ecdh;
  ikm.insert(ikm.end(), kem.begin(), kem.end());
  auto b = HkdfSha384(ikm, salt, AsBytes(kHybridInfoLabel), 32);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*a, *b);
}

}  // namespace
}  // namespace dsmil::crypto
