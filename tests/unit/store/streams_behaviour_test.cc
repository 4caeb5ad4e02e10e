// The behaviour of Streams, the same on both backends: the embedded SQLite
// file and a real Redis 7 server (started by the test, ACL users per tenant).
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <set>
#include <thread>

#include "store/streams.h"
#include "store/streams_internal.h"
#include "streams_test_util.h"

namespace dsmil::store {
namespace {

using namespace std::chrono_literals;
using testutil::TempDir;

class StreamsTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void TearDownTestSuite() { redis_.reset(); }

  void SetUp() override {
    static std::atomic<int> next{1};
    auto scope = TenantScope::For("T" + std::to_string(next++));
    ASSERT_TRUE(scope.ok());
    scope_ = *scope;
    if (GetParam() == "redis") {
      if (!redis_) redis_ = testutil::StartTenantRedis();
      ASSERT_NE(redis_, nullptr) << "Redis did not start";
      config_ = redis_->Config();
    } else {
      config_.kind = "embedded";
      config_.path = dir_.path();
    }
    writer_ = Open(Access::kWriter);
    reader_ = Open(Access::kReader);
    ASSERT_NE(writer_, nullptr);
    ASSERT_NE(reader_, nullptr);
  }

  std::unique_ptr<Streams> Open(Access a) {
    auto s = OpenStreams(config_, scope_, a);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  std::vector<std::string> AppendAll(StreamKind k, std::vector<std::string> payloads) {
    auto ids = writer_->Append(k, payloads);
    EXPECT_TRUE(ids.ok()) << ids.status().ToString();
    return ids.ok() ? *ids : std::vector<std::string>{};
  }

  static std::vector<std::string> Ids(const std::vector<StreamEntry>& entries) {
    std::vector<std::string> ids;
    ids.reserve(entries.size());
    for (const auto& e : entries) ids.push_back(e.id);
    return ids;
  }

  static std::unique_ptr<testutil::TenantRedis> redis_;
  TempDir dir_;
  StoresConfig config_;
  TenantScope scope_ = *TenantScope::For("ALPHA");
  std::unique_ptr<Streams> writer_, reader_;
};

std::unique_ptr<testutil::TenantRedis> StreamsTest::redis_;

TEST_P(StreamsTest, AppendAssignsGrowingIdsAndRangeReadsThemBack) {
  std::string binary("a\0b\xff", 4);
  auto ids = AppendAll(StreamKind::kL3In, {"one", binary, "three"});
  ASSERT_EQ(ids.size(), 3u);
  for (size_t i = 1; i < ids.size(); ++i) {
    EXPECT_LT(*internal::ParseStreamId(ids[i - 1]), *internal::ParseStreamId(ids[i])) << ids[i - 1] << " " << ids[i];
  }
  auto more = AppendAll(StreamKind::kL3In, {"four"});
  ASSERT_EQ(more.size(), 1u);
  EXPECT_LT(*internal::ParseStreamId(ids[2]), *internal::ParseStreamId(more[0]));

  auto all = reader_->Range(StreamKind::kL3In, "0", 10);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 4u);
  EXPECT_EQ((*all)[0].payload, "one");
  EXPECT_EQ((*all)[1].payload, binary);
  EXPECT_EQ((*all)[3].payload, "four");
  EXPECT_EQ((*all)[1].id, ids[1]);

  auto after = reader_->Range(StreamKind::kL3In, ids[1], 1);
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->size(), 1u);
  EXPECT_EQ((*after)[0].payload, "three");

  auto latest = reader_->Latest(StreamKind::kL3In, 2);
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(Ids(*latest), (std::vector<std::string>{more[0], ids[2]}));

  EXPECT_EQ(*reader_->Length(StreamKind::kL3In), 4u);
  EXPECT_EQ(*reader_->Length(StreamKind::kL4Out), 0u);
  // Streams of one tenant are apart from each other.
  EXPECT_TRUE(reader_->Range(StreamKind::kL3Out, "0", 10)->empty());
}

TEST_P(StreamsTest, BadInputIsRefusedWithClearErrors) {
  std::string big(kMaxStreamPayloadBytes + 1, 'x');
  auto r = writer_->Append(StreamKind::kL3In, std::vector<std::string>{"ok", big});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("payload 1"), std::string::npos) << r.status().message();
  EXPECT_EQ(*reader_->Length(StreamKind::kL3In), 0u);  // all or nothing

  auto bad_id = reader_->Range(StreamKind::kL3In, "12-x", 10);
  EXPECT_EQ(bad_id.status().code(), StatusCode::kInvalidArgument) << bad_id.status().ToString();
  EXPECT_EQ(reader_->EnsureGroup(StreamKind::kL3In, "has space").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reader_->Ack(StreamKind::kL3In, "g", std::vector<std::string>{"nope"}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_P(StreamsTest, WriterOnlyAppendsReaderNeverAppends) {
  auto r = reader_->Append(StreamKind::kSocEvents, std::vector<std::string>{"x"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied) << r.status().ToString();

  EXPECT_EQ(writer_->Length(StreamKind::kSocEvents).status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(writer_->Range(StreamKind::kSocEvents, "0", 1).status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(writer_->EnsureGroup(StreamKind::kSocEvents, "g").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(reader_->Trim(StreamKind::kSocEvents, std::chrono::system_clock::now()).status().code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(*reader_->Length(StreamKind::kSocEvents), 0u);
}

TEST_P(StreamsTest, IngestAppendsOnlyToTheRawInputAndTheDeadLetters) {
  auto ingest = Open(Access::kIngest);
  ASSERT_NE(ingest, nullptr);
  EXPECT_TRUE(ingest->Append(StreamKind::kL3In, std::vector<std::string>{"raw"}).ok());
  EXPECT_TRUE(ingest->Append(StreamKind::kDeadLetter, std::vector<std::string>{"refused"}).ok());
  for (StreamKind k : {StreamKind::kL3Out, StreamKind::kL4In, StreamKind::kL4Out, StreamKind::kSocEvents}) {
    auto r = ingest->Append(k, std::vector<std::string>{R"({"enriched":true})"});
    ASSERT_FALSE(r.ok()) << StreamSuffix(k);
    EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied) << r.status().ToString();
    EXPECT_NE(r.status().message().find(scope_.Stream(k)), std::string::npos) << r.status().message();
  }
  EXPECT_EQ(ingest->Trim(StreamKind::kL3In, std::chrono::system_clock::now()).status().code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(ingest->Length(StreamKind::kL3In).status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(*reader_->Length(StreamKind::kL3In), 1u);
  EXPECT_EQ(*reader_->Length(StreamKind::kDeadLetter), 1u);
  EXPECT_EQ(*reader_->Length(StreamKind::kSocEvents), 0u);
}

TEST_P(StreamsTest, ConsumerGroupReadAckPending) {
  ASSERT_TRUE(reader_->EnsureGroup(StreamKind::kL4In, "l4").ok());
  ASSERT_TRUE(reader_->EnsureGroup(StreamKind::kL4In, "l4").ok());  // exists: OK
  auto ids = AppendAll(StreamKind::kL4In, {"e1", "e2", "e3", "e4", "e5"});
  ASSERT_EQ(ids.size(), 5u);

  auto first = reader_->ReadGroup(StreamKind::kL4In, "l4", "c1", 3, 0ms);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(Ids(*first), (std::vector<std::string>{ids[0], ids[1], ids[2]}));
  EXPECT_EQ((*first)[0].payload, "e1");
  EXPECT_EQ(*reader_->Pending(StreamKind::kL4In, "l4"), 3u);

  auto second = reader_->ReadGroup(StreamKind::kL4In, "l4", "c2", 10, 0ms);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(Ids(*second), (std::vector<std::string>{ids[3], ids[4]}));
  auto none = reader_->ReadGroup(StreamKind::kL4In, "l4", "c1", 10, 0ms);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(*reader_->Pending(StreamKind::kL4In, "l4"), 5u);

  auto acked = reader_->Ack(StreamKind::kL4In, "l4", Ids(*first));
  ASSERT_TRUE(acked.ok()) << acked.status().ToString();
  EXPECT_EQ(*acked, 3u);
  EXPECT_EQ(*reader_->Ack(StreamKind::kL4In, "l4", Ids(*first)), 0u);  // already acknowledged
  EXPECT_EQ(*reader_->Pending(StreamKind::kL4In, "l4"), 2u);

  // A second group sees every entry again.
  ASSERT_TRUE(reader_->EnsureGroup(StreamKind::kL4In, "archive").ok());
  auto other = reader_->ReadGroup(StreamKind::kL4In, "archive", "a1", 100, 0ms);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->size(), 5u);
}

TEST_P(StreamsTest, MissingGroupIsNotFound) {
  auto r = reader_->ReadGroup(StreamKind::kL3Out, "nogroup", "c1", 1, 0ms);
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound) << r.status().ToString();
  EXPECT_EQ(reader_->Pending(StreamKind::kL3Out, "nogroup").status().code(), StatusCode::kNotFound);
}

TEST_P(StreamsTest, ReadGroupBlocksUntilAnEntryArrives) {
  ASSERT_TRUE(reader_->EnsureGroup(StreamKind::kL3Out, "g").ok());
  std::thread producer([&] {
    std::this_thread::sleep_for(150ms);
    auto w = Open(Access::kWriter);
    ASSERT_NE(w, nullptr);
    ASSERT_TRUE(w->Append(StreamKind::kL3Out, std::vector<std::string>{"late"}).ok());
  });
  auto got = reader_->ReadGroup(StreamKind::kL3Out, "g", "c1", 10, 5000ms);
  producer.join();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].payload, "late");

  auto start = std::chrono::steady_clock::now();
  auto empty = reader_->ReadGroup(StreamKind::kL3Out, "g", "c1", 10, 100ms);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  EXPECT_GE(std::chrono::steady_clock::now() - start, 90ms);
}

TEST_P(StreamsTest, ClaimHandsAConsumersUnackedBatchToAnother) {
  ASSERT_TRUE(reader_->EnsureGroup(StreamKind::kSocEvents, "soc").ok());
  auto ids = AppendAll(StreamKind::kSocEvents, {"a", "b", "c", "d", "e", "f"});
  ASSERT_EQ(ids.size(), 6u);
  // Consumer c1, a process of its own, takes a batch of four and is killed
  // (SIGKILL) before acknowledging.
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto dying = OpenStreams(config_, scope_, Access::kReader);
    if (!dying.ok()) _exit(2);
    auto batch = (*dying)->ReadGroup(StreamKind::kSocEvents, "soc", "c1", 4, 0ms);
    if (!batch.ok() || batch->size() != 4) _exit(3);
    raise(SIGKILL);
    _exit(4);
  }
  int wstatus = 0;
  ASSERT_EQ(waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL) << "consumer exit status " << wstatus;
  EXPECT_EQ(*reader_->Pending(StreamKind::kSocEvents, "soc"), 4u);
  // c2 works normally on the rest and acknowledges.
  auto rest = reader_->ReadGroup(StreamKind::kSocEvents, "soc", "c2", 10, 0ms);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 2u);
  ASSERT_EQ(*reader_->Ack(StreamKind::kSocEvents, "soc", Ids(*rest)), 2u);

  // Not idle long enough yet: nothing to claim.
  auto early = reader_->Claim(StreamKind::kSocEvents, "soc", "c2", 60000ms, 100);
  ASSERT_TRUE(early.ok()) << early.status().ToString();
  EXPECT_TRUE(early->empty());

  std::this_thread::sleep_for(250ms);
  auto claimed = reader_->Claim(StreamKind::kSocEvents, "soc", "c2", 200ms, 100);
  ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
  EXPECT_EQ(Ids(*claimed), (std::vector<std::string>{ids[0], ids[1], ids[2], ids[3]}));
  EXPECT_EQ((*claimed)[2].payload, "c");
  EXPECT_EQ(*reader_->Pending(StreamKind::kSocEvents, "soc"), 4u);

  // Just claimed: not idle, so a third consumer gets nothing.
  auto again = reader_->Claim(StreamKind::kSocEvents, "soc", "c3", 200ms, 100);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());

  ASSERT_EQ(*reader_->Ack(StreamKind::kSocEvents, "soc", Ids(*claimed)), 4u);
  EXPECT_EQ(*reader_->Pending(StreamKind::kSocEvents, "soc"), 0u);
}

TEST_P(StreamsTest, ClaimRespectsCount) {
  ASSERT_TRUE(reader_->EnsureGroup(StreamKind::kL3In, "g").ok());
  auto ids = AppendAll(StreamKind::kL3In, {"1", "2", "3", "4", "5"});
  ASSERT_EQ(reader_->ReadGroup(StreamKind::kL3In, "g", "c1", 5, 0ms)->size(), 5u);
  auto part = reader_->Claim(StreamKind::kL3In, "g", "c2", 0ms, 2);
  ASSERT_TRUE(part.ok()) << part.status().ToString();
  EXPECT_EQ(Ids(*part), (std::vector<std::string>{ids[0], ids[1]}));
}

TEST_P(StreamsTest, TrimRemovesOnlyEntriesOlderThanRetention) {
  auto old_ids = AppendAll(StreamKind::kL3In, {"old1", "old2"});
  std::this_thread::sleep_for(20ms);
  auto new_ids = AppendAll(StreamKind::kL3In, {"new1", "new2"});
  ASSERT_EQ(new_ids.size(), 2u);
  auto cut = *internal::ParseStreamId(new_ids[0]);
  ASSERT_GT(cut.ms, internal::ParseStreamId(old_ids[1])->ms);

  // Today nothing is past its 24 h retention.
  auto none = writer_->Trim(StreamKind::kL3In, std::chrono::system_clock::now());
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(*none, 0u);

  // A "now" one retention after the first new entry: only the old ones go.
  auto fake_now = std::chrono::system_clock::time_point(std::chrono::milliseconds(cut.ms)) +
                  std::chrono::seconds(StreamRetentionSeconds(StreamKind::kL3In));
  auto trimmed = writer_->Trim(StreamKind::kL3In, fake_now);
  ASSERT_TRUE(trimmed.ok()) << trimmed.status().ToString();
  EXPECT_EQ(*trimmed, 2u);
  auto left = reader_->Range(StreamKind::kL3In, "0", 10);
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(Ids(*left), new_ids);

  // SOC events keep 7 days: the same "now" trims nothing there.
  AppendAll(StreamKind::kSocEvents, {"soc"});
  EXPECT_EQ(*writer_->Trim(StreamKind::kSocEvents, fake_now), 0u);

  // Ids keep growing after a trim.
  auto later = AppendAll(StreamKind::kL3In, {"later"});
  ASSERT_EQ(later.size(), 1u);
  EXPECT_LT(*internal::ParseStreamId(new_ids[1]), *internal::ParseStreamId(later[0]));
}

TEST_P(StreamsTest, TenantsAreApart) {
  auto other_scope = TenantScope::For(GetParam() == "redis" ? "BRAVO" : "T40");
  ASSERT_TRUE(other_scope.ok());
  auto other = OpenStreams(config_, *other_scope, Access::kReader);
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  auto before = (*other)->Length(StreamKind::kL3In);
  ASSERT_TRUE(before.ok());
  AppendAll(StreamKind::kL3In, {"mine"});
  EXPECT_EQ(*(*other)->Length(StreamKind::kL3In), *before);
}

INSTANTIATE_TEST_SUITE_P(Backends, StreamsTest, ::testing::Values("embedded", "redis"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

TEST(OpenStreamsTest, RefusesUnknownKindAndAppAccess) {
  StoresConfig c;
  c.kind = "cassandra";
  c.path = "/tmp";
  auto scope = *TenantScope::For("ALPHA");
  auto r = OpenStreams(c, scope, Access::kWriter);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("stores.kind"), std::string::npos);
  c.kind = "embedded";
  EXPECT_EQ(OpenStreams(c, scope, Access::kApp).status().code(), StatusCode::kInvalidArgument);
  c.path = "";
  EXPECT_EQ(OpenStreams(c, scope, Access::kWriter).status().code(), StatusCode::kInvalidArgument);
}

TEST(OpenStreamsTest, EmbeddedFileIsSharedBetweenObjects) {
  TempDir dir;
  StoresConfig c;
  c.path = dir.path();
  auto scope = *TenantScope::For("ALPHA");
  auto w = OpenStreams(c, scope, Access::kWriter);
  auto r = OpenStreams(c, scope, Access::kReader);
  ASSERT_TRUE(w.ok() && r.ok());
  ASSERT_TRUE((*w)->Append(StreamKind::kL3In, std::vector<std::string>{"x"}).ok());
  EXPECT_EQ(*(*r)->Length(StreamKind::kL3In), 1u);
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/streams/ALPHA.db"));
}

TEST(OpenStreamsTest, EmbeddedFileIsSharedBetweenProcesses) {
  TempDir dir;
  StoresConfig c;
  c.path = dir.path();
  auto scope = *TenantScope::For("ALPHA");
  constexpr int kBatches = 40, kBatch = 10;
  auto append_all = [&](const std::string& who) -> bool {
    auto w = OpenStreams(c, scope, Access::kWriter);
    if (!w.ok()) {
      std::fprintf(stderr, "%s: open: %s\n", who.c_str(), w.status().ToString().c_str());
      return false;
    }
    for (int b = 0; b < kBatches; ++b) {
      std::vector<std::string> batch(kBatch, who);
      auto a = (*w)->Append(StreamKind::kL3In, batch);
      if (!a.ok()) {
        std::fprintf(stderr, "%s: append: %s\n", who.c_str(), a.status().ToString().c_str());
        return false;
      }
    }
    return true;
  };
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(append_all("child") ? 0 : 1);
  bool parent_ok = append_all("parent");
  int wstatus = 0;
  ASSERT_EQ(waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(parent_ok);
  ASSERT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);

  auto r = OpenStreams(c, scope, Access::kReader);
  ASSERT_TRUE(r.ok());
  auto all = (*r)->Range(StreamKind::kL3In, "0", 10000);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), size_t(2 * kBatches * kBatch));
  std::set<std::string> ids;
  size_t from_child = 0;
  for (size_t i = 0; i < all->size(); ++i) {
    ids.insert((*all)[i].id);
    from_child += (*all)[i].payload == "child";
    if (i > 0) {
      EXPECT_LT(*internal::ParseStreamId((*all)[i - 1].id), *internal::ParseStreamId((*all)[i].id));
    }
  }
  EXPECT_EQ(ids.size(), all->size());
  EXPECT_EQ(from_child, size_t(kBatches * kBatch));
}

}  // namespace
}  // namespace dsmil::store
