// ML-KEM-1024 against every ML-KEM-1024 case of the NIST ACVP vectors
// (keyGen, encapsulation, decapsulation incl. implicit rejection, and the
// FIPS 203 §7 key checks), plus round trips, tampering and bad-input checks.
#include "crypto/mlkem.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "core/coding.h"
#include "crypto/sha3.h"

namespace dsmil::crypto {
namespace {

using nlohmann::json;

const std::string kAcvpDir = DSMIL_SOURCE_DIR "/../shared/vectors/acvp/";

json LoadJson(const std::string& path) {
  std::ifstream f(path);
  EXPECT_TRUE(f.good()) << "cannot open " << path;
  if (!f.good()) return json::object();
  return json::parse(f);
}

Bytes Hex(const json& v) {
  auto r = FromHex(v.get<std::string>());
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : Bytes{};
}

// One ACVP case: the group fields of prompt.json, the prompt case and the
// expected-results case joined on tgId / tcId.
struct AcvpCase {
  std::string function;  // "keyGen" for keyGen files
  int tc_id;
  json prompt;
  json expected;
};

std::vector<AcvpCase> LoadCases(const std::string& folder) {
  json prompt = LoadJson(kAcvpDir + folder + "/prompt.json");
  json expected = LoadJson(kAcvpDir + folder + "/expectedResults.json");
  std::map<std::pair<int, int>, json> answers;
  for (const auto& g : expected.value("testGroups", json::array())) {
    for (const auto& t : g["tests"]) answers[{g["tgId"].get<int>(), t["tcId"].get<int>()}] = t;
  }
  std::vector<AcvpCase> out;
  for (const auto& g : prompt.value("testGroups", json::array())) {
    if (g.value("parameterSet", "") != "ML-KEM-1024") continue;
    std::string fn = g.value("function", "keyGen");
    for (const auto& t : g["tests"]) {
      auto it = answers.find({g["tgId"].get<int>(), t["tcId"].get<int>()});
      EXPECT_NE(it, answers.end()) << "no expected result for tcId " << t["tcId"];
      if (it == answers.end()) continue;
      out.push_back({fn, t["tcId"].get<int>(), t, it->second});
    }
  }
  return out;
}

Bytes ToBytes(const SecretBytes& s) { return Bytes(s.begin(), s.end()); }

TEST(MlKemAcvpTest, KeyGen) {
  int n = 0;
  for (const auto& c : LoadCases("ML-KEM-keyGen-FIPS203")) {
    auto kp = MlKem1024KeyGenInternal(Hex(c.prompt["d"]), Hex(c.prompt["z"]));
    ASSERT_TRUE(kp.ok()) << kp.status().ToString();
    EXPECT_EQ(kp->ek, Hex(c.expected["ek"])) << "tcId " << c.tc_id;
    EXPECT_EQ(ToBytes(kp->dk), Hex(c.expected["dk"])) << "tcId " << c.tc_id;
    ++n;
  }
  std::printf("ML-KEM-1024 ACVP keyGen cases: %d\n", n);
  EXPECT_EQ(n, 25);
}

TEST(MlKemAcvpTest, EncapDecapAndKeyChecks) {
  std::map<std::string, int> counts;
  int rejected = 0;
  for (const auto& c : LoadCases("ML-KEM-encapDecap-FIPS203")) {
    SCOPED_TRACE("tcId " + std::to_string(c.tc_id) + " " + c.function);
    if (c.function == "encapsulation") {
      auto r = MlKem1024EncapsInternal(Hex(c.prompt["ek"]), Hex(c.prompt["m"]));
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(r->ciphertext, Hex(c.expected["c"]));
      EXPECT_EQ(ToBytes(r->shared_secret), Hex(c.expected["k"]));
    } else if (c.function == "decapsulation") {
      Bytes dk = Hex(c.prompt["dk"]);
      Bytes ct = Hex(c.prompt["c"]);
      auto k = MlKem1024Decaps(dk, ct);
      ASSERT_TRUE(k.ok()) << k.status().ToString();
      EXPECT_EQ(ToBytes(*k), Hex(c.expected["k"]));
      // A modified ciphertext yields the implicit-rejection key J(z || c).
      Bytes z(dk.end() - 32, dk.end());
      Bytes jin = z;
      jin.insert(jin.end(), ct.begin(), ct.end());
      Bytes kbar(32);
      Shake256Hash(jin, kbar);
      if (ToBytes(*k) == kbar) ++rejected;
    } else if (c.function == "encapsulationKeyCheck") {
      Status s = MlKem1024CheckEncapsKey(Hex(c.prompt["ek"]));
      EXPECT_EQ(s.ok(), c.expected["testPassed"].get<bool>()) << s.ToString();
      if (!s.ok()) {
        EXPECT_NE(s.message().find("modulus check"), std::string::npos) << s.ToString();
      }
    } else if (c.function == "decapsulationKeyCheck") {
      Status s = MlKem1024CheckDecapsKey(Hex(c.prompt["dk"]));
      EXPECT_EQ(s.ok(), c.expected["testPassed"].get<bool>()) << s.ToString();
      if (!s.ok()) {
        // And Decaps refuses such a key outright.
        auto k = MlKem1024Decaps(Hex(c.prompt["dk"]), Bytes(kMlKem1024CiphertextBytes, 0));
        EXPECT_FALSE(k.ok());
      }
    } else {
      ADD_FAILURE() << "unknown function " << c.function;
    }
    ++counts[c.function];
  }
  for (const auto& [fn, n] : counts) std::printf("ML-KEM-1024 ACVP %s cases: %d\n", fn.c_str(), n);
  std::printf("ML-KEM-1024 ACVP decapsulation cases on the implicit-rejection path: %d\n", rejected);
  EXPECT_EQ(counts["encapsulation"], 25);
  EXPECT_EQ(counts["decapsulation"], 10);
  EXPECT_EQ(counts["encapsulationKeyCheck"], 10);
  EXPECT_EQ(counts["decapsulationKeyCheck"], 10);
  EXPECT_EQ(rejected, 5);
}

TEST(MlKemTest, RoundTrip) {
  for (int i = 0; i < 20; ++i) {
    auto kp = MlKem1024KeyGen();
    ASSERT_TRUE(kp.ok());
    EXPECT_EQ(kp->ek.size(), kMlKem1024EncapsKeyBytes);
    EXPECT_EQ(kp->dk.size(), kMlKem1024DecapsKeyBytes);
    auto enc = MlKem1024Encaps(kp->ek);
    ASSERT_TRUE(enc.ok());
    auto k = MlKem1024Decaps(kp->dk, enc->ciphertext);
    ASSERT_TRUE(k.ok());
    EXPECT_EQ(*k, enc->shared_secret);
    auto ek = MlKem1024EncapsKeyFromDecapsKey(kp->dk);
    ASSERT_TRUE(ek.ok());
    EXPECT_EQ(*ek, kp->ek);
  }
}

TEST(MlKemTest, FlippedCiphertextBitGivesRejectionSecret) {
  auto kp = MlKem1024KeyGen();
  ASSERT_TRUE(kp.ok());
  auto enc = MlKem1024Encaps(kp->ek);
  ASSERT_TRUE(enc.ok());
  for (size_t bit : {size_t{0}, size_t{4000}, size_t{8 * 1567 + 7}}) {
    Bytes ct = enc->ciphertext;
    ct[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    auto k = MlKem1024Decaps(kp->dk, ct);
    ASSERT_TRUE(k.ok());
    EXPECT_NE(*k, enc->shared_secret) << "bit " << bit;
    Bytes jin(kp->dk.end() - 32, kp->dk.end());
    jin.insert(jin.end(), ct.begin(), ct.end());
    Bytes kbar(32);
    Shake256Hash(jin, kbar);
    EXPECT_EQ(ToBytes(*k), kbar) << "bit " << bit;
  }
}

TEST(MlKemTest, RefusesBadInputsWithClearErrors) {
  auto kp = MlKem1024KeyGenInternal(Bytes(32, 1), Bytes(32, 2));
  ASSERT_TRUE(kp.ok());
  // Lengths.
  auto e = MlKem1024Encaps(Bytes(100));
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(e.status().message().find("encapsulation key is 100 bytes, expected 1568"), std::string::npos);
  auto d = MlKem1024Decaps(kp->dk, Bytes(1567));
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("ciphertext is 1567 bytes"), std::string::npos);
  EXPECT_FALSE(MlKem1024KeyGenInternal(Bytes(31), Bytes(32)).ok());
  EXPECT_FALSE(MlKem1024EncapsInternal(kp->ek, Bytes(33)).ok());
  // Modulus check: coefficient 0 set to 4095.
  Bytes ek = kp->ek;
  ek[0] = 0xFF;
  ek[1] |= 0x0F;
  Status s = MlKem1024CheckEncapsKey(ek);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("coefficient 0 is 4095"), std::string::npos) << s.ToString();
  EXPECT_FALSE(MlKem1024Encaps(ek).ok());
  // Hash check: a byte of the embedded ek changed.
  SecretBytes dk = kp->dk;
  dk[1536 + 5] ^= 1;
  s = MlKem1024CheckDecapsKey(dk);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("hash check"), std::string::npos) << s.ToString();
  EXPECT_FALSE(MlKem1024Decaps(dk, Bytes(kMlKem1024CiphertextBytes)).ok());
}

}  // namespace
}  // namespace dsmil::crypto
