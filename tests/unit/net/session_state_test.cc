// The transport-free record core: anti-replay, staleness, tampering, rekey.
#include <gtest/gtest.h>

#include "net/session.h"
#include "session_test_util.h"

namespace dsmil::net {
namespace {

using namespace std::chrono_literals;
using testing::CoreHandshake;
using testing::Ping;
using testing::RefusalCount;

class SessionStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.clock = &clock_;
    options_.metrics = &registry_;
    auto keys = CoreHandshake(options_);
    auto s = SessionState::Create(SessionRole::kInitiator, keys.initiator, options_);
    auto r = SessionState::Create(SessionRole::kResponder, keys.responder, options_);
    ASSERT_TRUE(s.ok() && r.ok());
    sender_ = std::move(*s);
    receiver_ = std::move(*r);
  }
  Bytes SealPing() {
    auto rec = sender_->Seal(Ping());
    EXPECT_TRUE(rec.ok());
    return *rec;
  }
  std::string_view ReasonOf(ByteView record) { return SessionRefusalReason(receiver_->Open(record).status()); }

  FakeClock clock_;
  Registry registry_;
  SessionOptions options_;
  std::unique_ptr<SessionState> sender_, receiver_;
};

TEST_F(SessionStateTest, RoundTripBothDirections) {
  Bytes rec = SealPing();
  EXPECT_EQ(rec.size(), dbe::EncodedSize(Ping()) + kRecordOverheadBytes);
  auto opened = receiver_->Open(rec);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(opened->kind, SessionState::RecordKind::kData);
  EXPECT_EQ(opened->message.tenant_id(), "SYSTEM");
  EXPECT_EQ(opened->message.header().timestamp_ns, uint64_t(clock_.NowUnixNanos()));
  auto back = receiver_->Seal(Ping("back"));
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(sender_->Open(*back).ok());
  // A record sealed for one direction does not open in the other.
  EXPECT_EQ(SessionRefusalReason(sender_->Open(SealPing()).status()), "tampered");
}

TEST_F(SessionStateTest, ReplayRefused) {
  Bytes rec = SealPing();
  ASSERT_TRUE(receiver_->Open(rec).ok());
  EXPECT_EQ(ReasonOf(rec), "replay");
  EXPECT_EQ(receiver_->Open(rec).status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(RefusalCount(registry_, "node-a", "replay"), 2);
}

TEST_F(SessionStateTest, EveryBitFlipRefused) {
  Bytes rec = SealPing();
  for (size_t bit = 0; bit < rec.size() * 8; bit += 7) {
    Bytes bad = rec;
    bad[bit / 8] ^= uint8_t(1u << (bit % 8));
    auto r = receiver_->Open(bad);
    ASSERT_FALSE(r.ok()) << "bit " << bit;
    if (bit / 8 >= kRecordHeaderBytes) {
      EXPECT_EQ(SessionRefusalReason(r.status()), "tampered") << bit;
    }
  }
  // The untouched record still opens: refusals leave the state unchanged.
  EXPECT_TRUE(receiver_->Open(rec).ok());
}

TEST_F(SessionStateTest, StaleTimestampRefused) {
  Bytes rec = SealPing();
  clock_.Advance(31s);
  EXPECT_EQ(ReasonOf(rec), "stale");
  Bytes fresh = SealPing();
  clock_.Advance(29s);
  EXPECT_TRUE(receiver_->Open(fresh).ok());
  // From the future, too.
  clock_.SetUnixNanos(clock_.NowUnixNanos() + 60'000'000'000LL);
  Bytes ahead = SealPing();
  clock_.SetUnixNanos(clock_.NowUnixNanos() - 60'000'000'000LL);
  EXPECT_EQ(ReasonOf(ahead), "stale");
  EXPECT_GE(RefusalCount(registry_, "node-a", "stale"), 2);
}

TEST_F(SessionStateTest, ReorderWithinWindowAcceptedOnce) {
  std::vector<Bytes> recs;
  for (int i = 0; i < 10; ++i) recs.push_back(SealPing());
  for (int i : {9, 3, 0, 5, 1, 2, 8, 7, 4, 6}) EXPECT_TRUE(receiver_->Open(recs[i]).ok()) << i;
  for (int i = 0; i < 10; ++i) EXPECT_EQ(ReasonOf(recs[i]), "replay") << i;
}

TEST_F(SessionStateTest, ReorderBeyondWindowRefused) {
  Bytes first = SealPing();
  Bytes second = SealPing();
  for (int i = 0; i < 1100; ++i) {
    ASSERT_TRUE(receiver_->Open(SealPing()).ok());
  }
  EXPECT_EQ(ReasonOf(first), "too_old");
  EXPECT_EQ(ReasonOf(second), "too_old");
}

TEST_F(SessionStateTest, RekeyAndStragglersFromThePreviousEpoch) {
  Bytes before = SealPing();
  auto rekey = sender_->MakeRekey();
  ASSERT_TRUE(rekey.ok());
  EXPECT_EQ(sender_->send_epoch(), 1);
  Bytes after = SealPing();
  // Under the new key before the receiver saw REKEY: unknown epoch.
  EXPECT_EQ(ReasonOf(after), "bad_epoch");
  auto r = receiver_->Open(*rekey);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, SessionState::RecordKind::kRekey);
  EXPECT_EQ(receiver_->recv_epoch(), 1);
  EXPECT_TRUE(receiver_->Open(after).ok());
  EXPECT_TRUE(receiver_->Open(before).ok());  // drained from epoch 0
  EXPECT_EQ(ReasonOf(before), "replay");
  // Two rekeys on: epoch 0 is gone.
  ASSERT_TRUE(receiver_->Open(*sender_->MakeRekey()).ok());
  ASSERT_TRUE(receiver_->Open(*sender_->MakeRekey()).ok());
  EXPECT_EQ(receiver_->recv_epoch(), 3);
  EXPECT_TRUE(receiver_->Open(SealPing()).ok());
}

TEST_F(SessionStateTest, MalformedRecordsRefused) {
  EXPECT_EQ(ReasonOf(Bytes{}), "malformed");
  EXPECT_EQ(ReasonOf(Bytes(27, 0x0C)), "malformed");
  Bytes rec = SealPing();
  rec[0] = 0x42;
  EXPECT_EQ(ReasonOf(rec), "malformed");
  rec = SealPing();
  rec[1] = 2;
  EXPECT_EQ(ReasonOf(rec), "version_mismatch");
  EXPECT_EQ(ReasonOf(MakeAlert(SessionRefusal::kStale)), "peer_refused");
  auto close = sender_->MakeClose();
  ASSERT_TRUE(close.ok());
  EXPECT_EQ(receiver_->Open(*close)->kind, SessionState::RecordKind::kClose);
}

TEST_F(SessionStateTest, OptionsChecked) {
  SessionOptions bad;
  bad.replay_window = 10;
  EXPECT_EQ(SessionState::Create(SessionRole::kInitiator, CoreHandshake().initiator, bad).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(SessionState::Create(SessionRole::kInitiator, SessionKeys{}, {}).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace dsmil::net
