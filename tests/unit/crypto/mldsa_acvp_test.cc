// ML-DSA-87 against the NIST ACVP vector sets (keyGen, sigGen, sigVer; FIPS 204).
// Every ML-DSA-87 case runs: pure and HashML-DSA external interfaces,
// internal interface with M' and with external mu, deterministic and hedged.
#include <openssl/evp.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "core/coding.h"
#include "crypto/mldsa.h"
#include "gtest/gtest.h"

namespace dsmil::crypto {
namespace {

using nlohmann::json;

const std::string kAcvpDir = DSMIL_SOURCE_DIR "/../shared/vectors/acvp/";

json LoadJson(const std::string& folder, const std::string& file) {
  std::ifstream in(kAcvpDir + folder + "/" + file);
  EXPECT_TRUE(in.good()) << "cannot open " << kAcvpDir << folder << "/" << file;
  if (!in.good()) return json::object();
  return json::parse(in);
}

Bytes Hex(const json& v) {
  Result<Bytes> b = FromHex(v.get<std::string>());
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  return b.ok() ? *b : Bytes{};
}

// expectedResults indexed by (tgId, tcId).
std::map<std::pair<int, int>, json> IndexResults(const json& results) {
  std::map<std::pair<int, int>, json> out;
  for (const auto& g : results["testGroups"])
    for (const auto& t : g["tests"]) out[{g["tgId"].get<int>(), t["tcId"].get<int>()}] = t;
  return out;
}

// HashML-DSA M' = 0x01 || len(ctx) || ctx || OID(hash) || PH(message) (FIPS 204 §5.4).
Result<Bytes> HashMlDsaMessage(const std::string& hash_alg, ByteView message, ByteView context) {
  struct Ph {
    const char* acvp;
    const char* openssl;
    uint8_t oid_last;
    size_t xof_len;  // 0 = fixed-length digest
  };
  static const Ph kHashes[] = {
      {"SHA2-224", "SHA224", 0x04, 0},         {"SHA2-256", "SHA256", 0x01, 0},
      {"SHA2-384", "SHA384", 0x02, 0},         {"SHA2-512", "SHA512", 0x03, 0},
      {"SHA2-512/224", "SHA512-224", 0x05, 0}, {"SHA2-512/256", "SHA512-256", 0x06, 0},
      {"SHA3-224", "SHA3-224", 0x07, 0},       {"SHA3-256", "SHA3-256", 0x08, 0},
      {"SHA3-384", "SHA3-384", 0x09, 0},       {"SHA3-512", "SHA3-512", 0x0A, 0},
      {"SHAKE-128", "SHAKE128", 0x0B, 32},     {"SHAKE-256", "SHAKE256", 0x0C, 64},
  };
  const Ph* ph = nullptr;
  for (const Ph& h : kHashes)
    if (hash_alg == h.acvp) ph = &h;
  if (ph == nullptr) return Status::Unimplemented("no pre-hash " + hash_alg);
  const EVP_MD* md = EVP_get_digestbyname(ph->openssl);
  if (md == nullptr) return Status::Unimplemented("OpenSSL lacks " + std::string(ph->openssl));
  uint8_t digest[EVP_MAX_MD_SIZE];
  size_t digest_len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = EVP_DigestInit_ex(ctx, md, nullptr) == 1 && EVP_DigestUpdate(ctx, message.data(), message.size()) == 1;
  if (ok && ph->xof_len > 0) {
    ok = EVP_DigestFinalXOF(ctx, digest, ph->xof_len) == 1;
    digest_len = ph->xof_len;
  } else if (ok) {
    unsigned int n = 0;
    ok = EVP_DigestFinal_ex(ctx, digest, &n) == 1;
    digest_len = n;
  }
  EVP_MD_CTX_free(ctx);
  if (!ok) return Status::Internal("digest failed");
  Bytes m = {0x01, uint8_t(context.size())};
  m.insert(m.end(), context.begin(), context.end());
  const uint8_t oid[] = {0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, ph->oid_last};
  m.insert(m.end(), oid, oid + sizeof(oid));
  m.insert(m.end(), digest, digest + digest_len);
  return m;
}

// The M' a group's case signs or verifies (empty optional for external mu).
Result<Bytes> MessagePrime(const json& group, const json& test) {
  const std::string iface = group["signatureInterface"].get<std::string>();
  Bytes message = Hex(test["message"]);
  if (iface == "internal") return message;
  Bytes context = test.contains("context") ? Hex(test["context"]) : Bytes{};
  if (group["preHash"].get<std::string>() == "preHash")
    return HashMlDsaMessage(test["hashAlg"].get<std::string>(), message, context);
  return MlDsaFormatMessage(message, context);
}

bool IsExternalMu(const json& group) {
  return group["signatureInterface"] == "internal" && group.value("externalMu", false);
}

std::string Kind(const json& group) {
  if (group["signatureInterface"] == "internal") return IsExternalMu(group) ? "internal/externalMu" : "internal/M'";
  return "external/" + group["preHash"].get<std::string>();
}

TEST(MlDsaAcvp, KeyGen) {
  json prompt = LoadJson("ML-DSA-keyGen-FIPS204", "prompt.json");
  auto expected = IndexResults(LoadJson("ML-DSA-keyGen-FIPS204", "expectedResults.json"));
  int ran = 0;
  for (const auto& g : prompt["testGroups"]) {
    if (g["parameterSet"] != "ML-DSA-87") continue;
    for (const auto& t : g["tests"]) {
      int tg = g["tgId"], tc = t["tcId"];
      Bytes seed = Hex(t["seed"]);
      ASSERT_EQ(seed.size(), 32u);
      MlDsa87KeyPair kp = MlDsa87KeyGenFromSeed(std::span<const uint8_t, 32>(seed.data(), 32));
      const json& want = expected.at({tg, tc});
      EXPECT_EQ(ToHex(kp.public_key), ToHex(Hex(want["pk"]))) << "tcId " << tc;
      EXPECT_EQ(ToHex(kp.secret_key), ToHex(Hex(want["sk"]))) << "tcId " << tc;
      ++ran;
    }
  }
  std::printf("ML-DSA-87 keyGen: %d cases ran, 0 skipped\n", ran);
  EXPECT_GT(ran, 0);
}

TEST(MlDsaAcvp, SigGen) {
  json prompt = LoadJson("ML-DSA-sigGen-FIPS204", "prompt.json");
  auto expected = IndexResults(LoadJson("ML-DSA-sigGen-FIPS204", "expectedResults.json"));
  std::map<std::string, int> ran;
  int total = 0;
  for (const auto& g : prompt["testGroups"]) {
    if (g["parameterSet"] != "ML-DSA-87") continue;
    const bool deterministic = g["deterministic"].get<bool>();
    const std::string kind = Kind(g) + (deterministic ? " deterministic" : " hedged");
    for (const auto& t : g["tests"]) {
      int tg = g["tgId"], tc = t["tcId"];
      Bytes sk = Hex(t["sk"]);
      Bytes rnd(32, 0);
      if (!deterministic) rnd = Hex(t["rnd"]);
      ASSERT_EQ(rnd.size(), 32u);
      std::span<const uint8_t, 32> rnd_span(rnd.data(), 32);
      Result<Bytes> sig = Status::Internal("unset");
      if (IsExternalMu(g)) {
        Bytes mu = Hex(t["mu"]);
        ASSERT_EQ(mu.size(), 64u);
        sig = MlDsa87SignMu(sk, std::span<const uint8_t, 64>(mu.data(), 64), rnd_span);
      } else {
        Result<Bytes> m_prime = MessagePrime(g, t);
        ASSERT_TRUE(m_prime.ok()) << m_prime.status().ToString();
        sig = MlDsa87SignInternal(sk, *m_prime, rnd_span);
      }
      ASSERT_TRUE(sig.ok()) << sig.status().ToString();
      const std::string want = ToHex(Hex(expected.at({tg, tc})["signature"]));
      EXPECT_EQ(ToHex(*sig), want) << "tgId " << tg << " tcId " << tc << " (" << kind << ")";
      if (deterministic && g["signatureInterface"] == "external" && g["preHash"] == "pure") {
        // The public entry point gives the same signature.
        auto pure = MlDsa87Sign(sk, Hex(t["message"]), Hex(t["context"]), MlDsaSigning::kDeterministic);
        ASSERT_TRUE(pure.ok()) << pure.status().ToString();
        EXPECT_EQ(ToHex(*pure), want) << "MlDsa87Sign, tcId " << tc;
      }
      ++ran[kind];
      ++total;
    }
  }
  for (const auto& [kind, n] : ran) std::printf("ML-DSA-87 sigGen %-32s %d cases ran, 0 skipped\n", kind.c_str(), n);
  std::printf("ML-DSA-87 sigGen total: %d cases ran, 0 skipped\n", total);
  EXPECT_GT(total, 0);
}

TEST(MlDsaAcvp, SigVer) {
  json prompt = LoadJson("ML-DSA-sigVer-FIPS204", "prompt.json");
  auto expected = IndexResults(LoadJson("ML-DSA-sigVer-FIPS204", "expectedResults.json"));
  std::map<std::string, int> ran_valid, ran_invalid;
  int total = 0;
  for (const auto& g : prompt["testGroups"]) {
    if (g["parameterSet"] != "ML-DSA-87") continue;
    const std::string kind = Kind(g);
    for (const auto& t : g["tests"]) {
      int tg = g["tgId"], tc = t["tcId"];
      Bytes pk = Hex(t["pk"]);
      Bytes sig = Hex(t["signature"]);
      Status st;
      if (IsExternalMu(g)) {
        Bytes mu = Hex(t["mu"]);
        ASSERT_EQ(mu.size(), 64u);
        st = MlDsa87VerifyMu(pk, std::span<const uint8_t, 64>(mu.data(), 64), sig);
      } else {
        Result<Bytes> m_prime = MessagePrime(g, t);
        ASSERT_TRUE(m_prime.ok()) << m_prime.status().ToString();
        st = MlDsa87VerifyInternal(pk, *m_prime, sig);
      }
      const bool want = expected.at({tg, tc})["testPassed"].get<bool>();
      if (g["signatureInterface"] == "external" && g["preHash"] == "pure") {
        Status pure = MlDsa87Verify(pk, Hex(t["message"]), Hex(t["context"]), sig);
        EXPECT_EQ(pure.ok(), want) << "MlDsa87Verify, tcId " << tc << ": " << pure.ToString();
      }
      EXPECT_EQ(st.ok(), want) << "tgId " << tg << " tcId " << tc << " (" << kind << "): " << st.ToString();
      if (!want) {
        // A well-formed but wrong signature is "does not verify", not bad input.
        EXPECT_EQ(st.code(), StatusCode::kUnauthenticated) << st.ToString();
      }
      ++(want ? ran_valid : ran_invalid)[kind];
      ++total;
    }
  }
  for (const auto& [kind, n] : ran_valid)
    std::printf("ML-DSA-87 sigVer %-22s %d valid + %d invalid cases ran, 0 skipped\n", kind.c_str(), n,
                ran_invalid[kind]);
  std::printf("ML-DSA-87 sigVer total: %d cases ran, 0 skipped\n", total);
  EXPECT_GT(total, 0);
}

}  // namespace
}  // namespace dsmil::crypto
