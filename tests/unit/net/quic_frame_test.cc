#include "net/quic_frame.h"

#include <gtest/gtest.h>

#include "net/connection.h"
#include "net/quic.h"

namespace dsmil::net {
namespace {

Bytes Frame(const Bytes& payload) {
  Bytes out;
  AppendU32BE(out, static_cast<uint32_t>(payload.size()));
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

Bytes Concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

const Bytes kPreamble(kQuicPreamble, kQuicPreamble + 4);

TEST(QuicFrameReaderTest, WholeStreamAtOnce) {
  QuicFrameReader r(/*expect_preamble=*/true);
  Bytes a{1, 2, 3}, b{}, c(1000, 0x7e);
  Bytes stream = Concat({kPreamble, Frame(a), Frame(b), Frame(c)});
  std::vector<Bytes> frames;
  size_t pre = 0;
  ASSERT_TRUE(r.Feed(stream, &frames, &pre).ok());
  EXPECT_EQ(pre, 4u);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0], a);
  EXPECT_EQ(frames[1], b);
  EXPECT_EQ(frames[2], c);
  EXPECT_EQ(r.pending(), 0u);
}

TEST(QuicFrameReaderTest, EverySplitPointGivesTheSameFrames) {
  Bytes a(300, 0x11), b{9}, c(70000, 0x22);
  Bytes stream = Concat({kPreamble, Frame(a), Frame(b), Frame(c)});
  for (size_t cut = 0; cut <= stream.size(); cut += (cut < 400 ? 1 : 997)) {
    QuicFrameReader r(true);
    std::vector<Bytes> frames;
    size_t pre = 0;
    ASSERT_TRUE(r.Feed(ByteView(stream).first(cut), &frames, &pre).ok()) << cut;
    ASSERT_TRUE(r.Feed(ByteView(stream).subspan(cut), &frames, &pre).ok()) << cut;
    EXPECT_EQ(pre, 4u);
    ASSERT_EQ(frames.size(), 3u) << cut;
    EXPECT_EQ(frames[0], a);
    EXPECT_EQ(frames[1], b);
    EXPECT_EQ(frames[2], c);
  }
}

TEST(QuicFrameReaderTest, ByteByByte) {
  Bytes a{5, 6, 7, 8}, b(17, 1);
  Bytes stream = Concat({Frame(a), Frame(b)});
  QuicFrameReader r(false);
  std::vector<Bytes> frames;
  size_t pre = 0;
  for (uint8_t byte : stream) ASSERT_TRUE(r.Feed(ByteView(&byte, 1), &frames, &pre).ok());
  EXPECT_EQ(pre, 0u);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0], a);
  EXPECT_EQ(frames[1], b);
}

TEST(QuicFrameReaderTest, IncompleteFrameIsHeld) {
  QuicFrameReader r(false);
  Bytes stream = Frame(Bytes(100, 3));
  std::vector<Bytes> frames;
  size_t pre = 0;
  ASSERT_TRUE(r.Feed(ByteView(stream).first(50), &frames, &pre).ok());
  EXPECT_TRUE(frames.empty());
  EXPECT_EQ(r.pending(), 50u);
}

TEST(QuicFrameReaderTest, WrongPreambleIsDataLoss) {
  QuicFrameReader r(true);
  std::vector<Bytes> frames;
  size_t pre = 0;
  Bytes bad{'D', 'Q', 'X', '1'};
  Status s = r.Feed(bad, &frames, &pre);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("preamble"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("byte 2"), std::string::npos) << s.ToString();
  // Sticky.
  EXPECT_EQ(r.Feed(Frame(Bytes{1}), &frames, &pre).code(), StatusCode::kDataLoss);
  EXPECT_TRUE(frames.empty());
}

TEST(QuicFrameReaderTest, OversizedLengthIsDataLoss) {
  QuicFrameReader r(false);
  std::vector<Bytes> frames;
  size_t pre = 0;
  Bytes stream;
  AppendU32BE(stream, static_cast<uint32_t>(kMaxConnectionFrame + 1));
  Status s = r.Feed(stream, &frames, &pre);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find(std::to_string(kMaxConnectionFrame + 1)), std::string::npos) << s.ToString();
  EXPECT_EQ(r.pending(), 0u);

  // Exactly the limit is fine.
  QuicFrameReader ok(false);
  Bytes max = Frame(Bytes(kMaxConnectionFrame, 0));
  ASSERT_TRUE(ok.Feed(max, &frames, &pre).ok());
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].size(), kMaxConnectionFrame);
}

}  // namespace
}  // namespace dsmil::net
