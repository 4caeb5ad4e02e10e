#include "dbe/registry.h"

#include <gtest/gtest.h>

#include <set>

namespace dsmil::dbe {
namespace {

TEST(DbeRegistry, MessageTypeNamesFromTheSpec) {
  EXPECT_EQ(MsgTypeName(0x41), "L7_CHAT_REQ");
  EXPECT_EQ(MsgTypeName(0x42), "L7_CHAT_RESP");
  EXPECT_EQ(MsgTypeName(0x50), "L8_SOC_EVENT_ENRICHMENT");
  EXPECT_EQ(MsgTypeName(0x51), "L8_PROPOSAL");
  EXPECT_EQ(MsgTypeName(0x62), "L9_NC3_QUERY");
  EXPECT_EQ(MsgTypeName(0xFF), "ERROR");
  EXPECT_EQ(MsgTypeName(0x07), "UNKNOWN");
  EXPECT_EQ(MsgTypeName(MsgType::kL9Nc3Resp), "L9_NC3_RESP");
}

TEST(DbeRegistry, MessageTypeHexIsTheMetricLabel) {
  EXPECT_EQ(MsgTypeHex(0x41), "0x41");
  EXPECT_EQ(MsgTypeHex(MsgType::kError), "0xFF");
  EXPECT_EQ(MsgTypeHex(0x01), "0x01");
}

TEST(DbeRegistry, ParseMessageTypeByNameOrNumber) {
  auto a = ParseMsgType("L7_CHAT_REQ");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, MsgType::kL7ChatReq);
  auto b = ParseMsgType("0x62");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, MsgType::kL9Nc3Query);
  auto c = ParseMsgType("l9_nc3_query");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, MsgType::kL9Nc3Query);
  EXPECT_EQ(ParseMsgType("0xFF").value(), MsgType::kError);

  auto bad = ParseMsgType("0x07");
  EXPECT_EQ(bad.status().code(), StatusCode::kNotFound);
  EXPECT_NE(bad.status().message().find("0x07"), std::string::npos);
  EXPECT_EQ(ParseMsgType("0x100").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseMsgType("0xZZ").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseMsgType("L7_CHAT").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(ParseMsgType("").ok());
}

TEST(DbeRegistry, EveryMessageTypeRoundTripsThroughItsName) {
  std::set<uint8_t> seen;
  for (const MsgSpec& s : AllMsgSpecs()) {
    EXPECT_TRUE(seen.insert(uint8_t(s.type)).second) << s.name;
    EXPECT_EQ(ParseMsgType(s.name).value(), s.type);
    EXPECT_EQ(ParseMsgType(MsgTypeHex(s.type)).value(), s.type);
    EXPECT_EQ(FindMsgSpec(uint8_t(s.type)), &s);
  }
  for (int code = kSessionMsgTypeFirst; code <= kSessionMsgTypeLast; ++code) {
    EXPECT_EQ(FindMsgSpec(uint8_t(code)), nullptr) << "session range stays reserved";
  }
}

TEST(DbeRegistry, TlvTypes) {
  EXPECT_EQ(TlvTypeName(0x0001), "TENANT_ID");
  EXPECT_EQ(TlvTypeName(TlvType::kTwoPersonSigB), "TWO_PERSON_SIG_B");
  EXPECT_EQ(TlvTypeName(0x9000), "EXTENSION");
  EXPECT_EQ(TlvTypeName(0x0077), "UNKNOWN");
  EXPECT_EQ(TlvTypeHex(0x0001), "0x0001");
  EXPECT_EQ(ParseTlvType("roe_token_id").value(), TlvType::kRoeTokenId);
  EXPECT_EQ(ParseTlvType("0x40").value(), TlvType::kPayload);
  EXPECT_FALSE(ParseTlvType("0x0077").ok());
  std::set<uint16_t> seen;
  uint16_t prev = 0;
  for (const TlvSpec& s : AllTlvSpecs()) {
    EXPECT_GT(uint16_t(s.type), prev) << "registry is in ascending order";
    prev = uint16_t(s.type);
    EXPECT_EQ(ParseTlvType(s.name).value(), s.type);
    EXPECT_EQ(FindTlvSpec(uint16_t(s.type)), &s);
    EXPECT_LE(s.min_length, s.max_length);
  }
  const TlvSpec* sig = FindTlvSpec(uint16_t(TlvType::kTwoPersonSigA));
  ASSERT_NE(sig, nullptr);
  EXPECT_EQ(sig->min_length, 4627u);
  EXPECT_EQ(sig->max_length, 4627u);
}

TEST(DbeRegistry, ValueChecks) {
  EXPECT_TRUE(ValidateTlvValue(0x0001, AsBytes("ALPHA_2"), 0).ok());
  Status lower = ValidateTlvValue(0x0001, AsBytes("alpha"), 0);
  EXPECT_EQ(lower.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(lower.message().find("TENANT_ID"), std::string::npos);
  EXPECT_NE(lower.message().find("[A-Z0-9_]"), std::string::npos);
  EXPECT_FALSE(ValidateTlvValue(0x0001, AsBytes(""), 0).ok());
  EXPECT_FALSE(ValidateTlvValue(0x0001, AsBytes(std::string(33, 'A')), 0).ok());
  EXPECT_TRUE(ValidateTlvValue(0x0001, AsBytes(std::string(32, 'A')), 0).ok());

  EXPECT_TRUE(ValidateTlvValue(0x0010, AsBytes("SOC_ASSIST"), 0).ok());
  EXPECT_FALSE(ValidateTlvValue(0x0010, AsBytes("WEAPONS_FREE"), 0).ok());

  uint8_t mask_ok[8] = {0, 0, 0, 0, 0, 0, 0, 0x83};
  uint8_t mask_bad[8] = {0, 0, 0, 0, 0, 0, 1, 0};
  EXPECT_TRUE(ValidateTlvValue(0x0011, mask_ok, 0).ok());
  EXPECT_FALSE(ValidateTlvValue(0x0011, mask_bad, 0).ok());
  EXPECT_FALSE(ValidateTlvValue(0x0011, ByteView(mask_ok, 4), 0).ok());

  uint8_t cls = 4, cls_bad = 5;
  EXPECT_TRUE(ValidateTlvValue(0x0012, ByteView(&cls, 1), 0).ok());
  EXPECT_FALSE(ValidateTlvValue(0x0012, ByteView(&cls_bad, 1), 0).ok());
  uint8_t ct0 = 0;
  EXPECT_FALSE(ValidateTlvValue(0x0022, ByteView(&ct0, 1), 0).ok());

  // UTF-8 text: good, overlong, surrogate, truncated.
  EXPECT_TRUE(ValidateTlvValue(0x0032, AsBytes("caf\xC3\xA9 \xF0\x9F\x94\x92"), 0).ok());
  EXPECT_FALSE(ValidateTlvValue(0x0032, AsBytes("\xC0\xAF"), 0).ok());
  EXPECT_FALSE(ValidateTlvValue(0x0032, AsBytes("\xED\xA0\x80"), 0).ok());
  EXPECT_FALSE(ValidateTlvValue(0x0032, AsBytes("ab\xE2\x82"), 0).ok());

  uint8_t zero16[2] = {0, 0};
  EXPECT_FALSE(ValidateTlvValue(0x0030, zero16, 0).ok());                // ERROR_CODE 0 is not an error
  EXPECT_FALSE(ValidateTlvValue(0x0025, ByteView(mask_ok, 6), 0).ok());  // f32 vector

  // Ranges.
  EXPECT_TRUE(ValidateTlvValue(0x8000, AsBytes("anything"), 0).ok());
  EXPECT_TRUE(ValidateTlvValue(0xFFFE, {}, 0).ok());
  EXPECT_FALSE(ValidateTlvValue(0x0000, {}, 0).ok());
  EXPECT_FALSE(ValidateTlvValue(0xFFFF, {}, 0).ok());
  Status unknown = ValidateTlvValue(0x0077, {}, 5);
  EXPECT_NE(unknown.message().find("TLV 5"), std::string::npos);
  EXPECT_NE(unknown.message().find("0x0077"), std::string::npos);
  Status session = ValidateTlvValue(0x0060, {}, 0);
  EXPECT_NE(session.message().find("session handshake TLV"), std::string::npos) << session.message();
}

TEST(DbeRegistry, TokenCheckAgreesWithTheDefinitionAtEveryPosition) {
  // The token check works eight bytes at a time; compare it with the plain
  // definition (0x21..0x7E) for every byte value at every position.
  for (size_t len = 1; len <= 24; ++len) {
    for (size_t pos = 0; pos < len; ++pos) {
      for (int b = 0; b < 256; ++b) {
        std::string v(len, 'a');
        v[pos] = char(b);
        bool want = b >= 0x21 && b <= 0x7E;
        ASSERT_EQ(TlvValueValid(uint16_t(TlvType::kRequestId), AsBytes(v)), want)
            << "len " << len << " pos " << pos << " byte " << b;
      }
    }
  }
  // Boundary neighbours around a bad byte must not mask it.
  EXPECT_FALSE(TlvValueValid(uint16_t(TlvType::kRequestId), AsBytes(std::string("~~~~~~~\x20~~~~~~~~"))));
  EXPECT_TRUE(TlvValueValid(uint16_t(TlvType::kRequestId), AsBytes(std::string("!!!!!!!!~~~~~~~~!"))));
}

TEST(DbeRegistry, ClassificationAndCompartments) {
  EXPECT_EQ(ClassificationName(Classification::kTopSecret), "TOP_SECRET");
  EXPECT_EQ(ParseClassification("secret").value(), Classification::kSecret);
  EXPECT_FALSE(ParseClassification("COSMIC").ok());
  EXPECT_LT(uint8_t(Classification::kCui), uint8_t(Classification::kSecret));

  EXPECT_EQ(CompartmentName(0x01), "SOC");
  EXPECT_EQ(CompartmentName(0x02), "SIGNALS");
  EXPECT_EQ(CompartmentName(0x80), "KINETIC");
  EXPECT_EQ(CompartmentMaskString(0x83), "SOC|SIGNALS|KINETIC");
  EXPECT_EQ(ParseCompartmentMask("SOC|SIGNALS").value(), 0x03u);
  EXPECT_EQ(ParseCompartmentMask("soc,kinetic").value(), 0x81u);
  EXPECT_EQ(ParseCompartmentMask("0x01").value(), 0x01u);
  EXPECT_EQ(ParseCompartmentMask("128").value(), 0x80u);
  EXPECT_FALSE(ParseCompartmentMask("0x100").ok());
  EXPECT_FALSE(ParseCompartmentMask("SOC|MOON").ok());
  EXPECT_FALSE(ParseCompartmentMask("").ok());
  EXPECT_TRUE(IsRoeLevel("ANALYSIS_ONLY"));
  EXPECT_TRUE(IsRoeLevel("TRAINING"));
  EXPECT_FALSE(IsRoeLevel("analysis_only"));
}

}  // namespace
}  // namespace dsmil::dbe
