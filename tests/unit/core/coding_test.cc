#include "core/coding.h"

#include <gtest/gtest.h>

namespace dsmil {
namespace {

TEST(Coding, BigEndianRoundTrip) {
  Bytes b;
  AppendU16BE(b, 0x1234);
  AppendU32BE(b, 0xDEADBEEF);
  AppendU64BE(b, 0x0102030405060708ull);
  ASSERT_EQ(b.size(), 14u);
  EXPECT_EQ(b[0], 0x12);
  EXPECT_EQ(GetU16BE(b.data()), 0x1234);
  EXPECT_EQ(GetU32BE(b.data() + 2), 0xDEADBEEFu);
  EXPECT_EQ(GetU64BE(b.data() + 6), 0x0102030405060708ull);
}

TEST(Coding, Hex) {
  Bytes b = {0x00, 0xab, 0xff};
  EXPECT_EQ(ToHex(b), "00abff");
  auto back = FromHex("00ABff");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, b);
  EXPECT_EQ(FromHex("abc").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(FromHex("zz").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace dsmil
