// The embedded vector store (hnswlib): collections, upsert/replace, search
// order and recall, limits, persistence, snapshots, damaged files, and the
// tenant isolation of red-team drill 4.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "store/vectors.h"
#include "store/vectors_internal.h"

namespace dsmil::store {
namespace {

namespace fs = std::filesystem;
namespace vi = vectors_internal;

class HnswTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dsmil-vectors-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    config_.kind = "embedded";
    config_.path = dir_;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<Vectors> Open(const std::string& tenant) {
    auto scope = TenantScope::For(tenant);
    EXPECT_TRUE(scope.ok());
    auto v = OpenVectors(config_, scope.value());
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? std::move(v.value()) : nullptr;
  }

  std::string dir_;
  StoresConfig config_;
};

std::vector<float> RandomVector(std::mt19937& rng, size_t dim) {
  std::normal_distribution<float> n(0, 1);
  std::vector<float> v(dim);
  for (auto& x : v) x = n(rng);
  return v;
}

TEST_F(HnswTest, CreateUpsertSearchCount) {
  auto v = Open("ALPHA");
  ASSERT_TRUE(v->CreateCollection("events", 4).ok());
  ASSERT_TRUE(v->CreateCollection("events", 4).ok());  // idempotent
  Status s = v->CreateCollection("events", 8);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("alpha_events exists with dimension 4, not 8"), std::string::npos) << s.message();

  std::vector<VectorPoint> pts = {
      {1, {1, 0, 0, 0}, R"({"t":"x"})"}, {2, {0, 1, 0, 0}, R"({"t":"y"})"}, {3, {1, 1, 0, 0}, ""}};
  ASSERT_TRUE(v->Upsert("events", pts).ok());
  EXPECT_EQ(v->Count("events").value(), 3u);

  std::vector<float> q = {2, 0.1f, 0, 0};  // not normalised on purpose
  auto hits = v->Search("events", q, 3);
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  ASSERT_EQ(hits.value().size(), 3u);
  EXPECT_EQ(hits.value()[0].id, 1u);
  EXPECT_EQ(hits.value()[1].id, 3u);
  EXPECT_EQ(hits.value()[2].id, 2u);
  EXPECT_NEAR(hits.value()[0].score, 2 / std::sqrt(4.01), 1e-5);
  EXPECT_GE(hits.value()[0].score, hits.value()[1].score);
  EXPECT_EQ(hits.value()[0].payload, R"({"t":"x"})");
  EXPECT_EQ(hits.value()[1].payload, "{}");

  auto list = v->ListCollections();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list.value().size(), 1u);
  EXPECT_EQ(list.value()[0].name, "alpha_events");
  EXPECT_EQ(list.value()[0].dim, 4u);
  EXPECT_EQ(list.value()[0].count, 3u);

  EXPECT_EQ(v->Search("missing", q, 1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(v->Count("missing").status().code(), StatusCode::kNotFound);
}

TEST_F(HnswTest, SameIdReplaces) {
  auto v = Open("ALPHA");
  ASSERT_TRUE(v->CreateCollection("kb", 3).ok());
  std::vector<VectorPoint> a = {{7, {1, 0, 0}, R"({"v":1})"}, {8, {0, 0, 1}, R"({"v":8})"}};
  ASSERT_TRUE(v->Upsert("kb", a).ok());
  std::vector<VectorPoint> b = {{7, {0, 1, 0}, R"({"v":2})"}};
  ASSERT_TRUE(v->Upsert("kb", b).ok());
  EXPECT_EQ(v->Count("kb").value(), 2u);
  std::vector<float> q = {0, 1, 0};
  auto hits = v->Search("kb", q, 1).value();
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].id, 7u);
  EXPECT_NEAR(hits[0].score, 1.0, 1e-5);
  EXPECT_EQ(hits[0].payload, R"({"v":2})");
  // The same id twice in one batch: the last wins.
  std::vector<VectorPoint> c = {{9, {1, 0, 0}, R"({"v":"first"})"}, {9, {0, 0, 1}, R"({"v":"last"})"}};
  ASSERT_TRUE(v->Upsert("kb", c).ok());
  EXPECT_EQ(v->Count("kb").value(), 3u);
  std::vector<float> q2 = {0, 0, 1};
  auto top = v->Search("kb", q2, 2).value();
  EXPECT_EQ(top[0].payload.find("last") != std::string::npos || top[1].payload.find("last") != std::string::npos, true);
}

TEST_F(HnswTest, LimitsAndBadInput) {
  auto v = Open("ALPHA");
  Status s = v->CreateCollection("big", vi::kMaxDim + 1);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("dimension 4097 is out of range (1..4096)"), std::string::npos) << s.message();
  EXPECT_EQ(v->CreateCollection("zero", 0).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(v->CreateCollection("events", 2).ok());

  std::vector<VectorPoint> wrong_dim = {{1, {1, 0, 0}, ""}};
  s = v->Upsert("events", wrong_dim);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("point 0 (id 1) has 3 components, the collection has dimension 2"), std::string::npos)
      << s.message();
  std::vector<VectorPoint> zero = {{1, {0, 0}, ""}};
  EXPECT_NE(v->Upsert("events", zero).message().find("zero"), std::string::npos);
  std::vector<VectorPoint> nan = {{1, {std::nanf(""), 1}, ""}};
  EXPECT_NE(v->Upsert("events", nan).message().find("component 0 is not finite"), std::string::npos);
  std::vector<VectorPoint> big = {{1, {1, 0}, "{\"x\":\"" + std::string(vi::kMaxPayloadBytes, 'a') + "\"}"}};
  s = v->Upsert("events", big);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("over the limit of 65536 bytes"), std::string::npos) << s.message();
  std::vector<VectorPoint> not_obj = {{1, {1, 0}, "[1,2]"}};
  EXPECT_NE(v->Upsert("events", not_obj).message().find("not a JSON object"), std::string::npos);
  std::vector<VectorPoint> not_json = {{1, {1, 0}, "{oops"}};
  EXPECT_NE(v->Upsert("events", not_json).message().find("not valid JSON"), std::string::npos);
  EXPECT_EQ(v->Count("events").value(), 0u);  // nothing of a refused batch is kept

  std::vector<float> q = {1, 0};
  EXPECT_EQ(v->Search("events", q, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(v->Search("events", q, vi::kMaxK + 1).status().code(), StatusCode::kInvalidArgument);
  std::vector<float> q3 = {1, 0, 0};
  EXPECT_EQ(v->Search("events", q3, 1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(v->Search("events", q, 5).value().empty());  // empty collection

  StoresConfig no_path;
  EXPECT_EQ(OpenVectors(no_path, TenantScope::For("ALPHA").value()).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(HnswTest, GrowsAndFindsItsOwnPoints) {
  auto v = Open("ALPHA");
  constexpr size_t kDim = 32;
  ASSERT_TRUE(v->CreateCollection("events", kDim).ok());
  std::mt19937 rng(7);
  std::vector<VectorPoint> all;
  for (uint64_t i = 0; i < 7000; ++i) all.push_back({i + 100, RandomVector(rng, kDim), ""});
  // Small batches (serial inserts, resizing past the initial capacity) ...
  for (size_t i = 0; i < 2000; i += 500) {
    ASSERT_TRUE(v->Upsert("events", std::span<const VectorPoint>(all).subspan(i, 500)).ok());
  }
  // ... and one large batch (parallel inserts).
  ASSERT_TRUE(v->Upsert("events", std::span<const VectorPoint>(all).subspan(2000)).ok());
  EXPECT_EQ(v->Count("events").value(), 7000u);
  int found = 0;
  for (size_t i = 0; i < all.size(); i += 35) {
    auto hits = v->Search("events", all[i].vector, 1).value();
    found += !hits.empty() && hits[0].id == all[i].id;
  }
  EXPECT_GE(found, 198);  // 200 probes
}

TEST_F(HnswTest, PersistsAcrossReopen) {
  std::vector<float> q = {0.6f, 0.8f, 0};
  {
    auto v = Open("ALPHA");
    ASSERT_TRUE(v->CreateCollection("events", 3).ok());
    std::vector<VectorPoint> pts = {{1, {0.6f, 0.8f, 0}, R"({"a":1})"}, {2, {0, 0, 1}, R"({"a":2})"}};
    ASSERT_TRUE(v->Upsert("events", pts).ok());
    ASSERT_TRUE(v->Flush().ok());
    std::vector<VectorPoint> more = {{3, {0, 1, 0}, R"({"a":3})"}};
    ASSERT_TRUE(v->Upsert("events", more).ok());
    // Not flushed: written when the store closes.
  }
  vi::ClearHnswAccessLog();
  auto v = Open("ALPHA");
  EXPECT_EQ(v->Count("events").value(), 3u);
  auto log = vi::HnswAccessLog();
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log[0], "load alpha_events");
  auto hits = v->Search("events", q, 1).value();
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].id, 1u);
  EXPECT_EQ(hits[0].payload, R"({"a":1})");
  // The reloaded index keeps growing.
  std::mt19937 rng(1);
  std::vector<VectorPoint> lots;
  for (uint64_t i = 0; i < 1500; ++i) lots.push_back({1000 + i, RandomVector(rng, 3), ""});
  ASSERT_TRUE(v->Upsert("events", lots).ok());
  EXPECT_EQ(v->Count("events").value(), 1503u);
}

TEST_F(HnswTest, TwoStoresOfOneTenantShareTheCollection) {
  auto a = Open("ALPHA");
  auto b = Open("ALPHA");
  ASSERT_TRUE(a->CreateCollection("events", 2).ok());
  std::vector<VectorPoint> pts = {{1, {1, 0}, ""}};
  ASSERT_TRUE(a->Upsert("events", pts).ok());
  EXPECT_EQ(b->Count("events").value(), 1u);
}

TEST_F(HnswTest, SnapshotIsAConsistentCopy) {
  auto v = Open("ALPHA");
  ASSERT_TRUE(v->CreateCollection("events", 2).ok());
  std::vector<VectorPoint> pts = {{1, {1, 0}, R"({"s":1})"}, {2, {0, 1}, ""}};
  ASSERT_TRUE(v->Upsert("events", pts).ok());
  auto snap = v->Snapshot("events");
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  auto snap2 = v->Snapshot("events");
  ASSERT_TRUE(snap2.ok());
  EXPECT_NE(snap.value(), snap2.value());
  const std::string prefix = dir_ + "/vectors/snapshots/alpha_events-";
  EXPECT_EQ(snap.value().rfind(prefix, 0), 0u) << snap.value();
  EXPECT_TRUE(fs::exists(snap.value() + "/index.bin"));
  EXPECT_TRUE(fs::exists(snap.value() + "/payloads.bin"));
  EXPECT_TRUE(fs::exists(snap.value() + "/meta"));
  // Later upserts do not change the snapshot.
  std::vector<VectorPoint> more = {{3, {1, 1}, ""}};
  ASSERT_TRUE(v->Upsert("events", more).ok());

  // Restoring = copying the snapshot directory in as the collection.
  std::string other = dir_ + "/restored";
  fs::create_directories(other + "/vectors");
  fs::copy(snap.value(), other + "/vectors/alpha_events", fs::copy_options::recursive);
  StoresConfig c2;
  c2.path = other;
  auto restored = OpenVectors(c2, TenantScope::For("ALPHA").value()).value();
  EXPECT_EQ(restored->Count("events").value(), 2u);
  std::vector<float> q = {1, 0};
  EXPECT_EQ(restored->Search("events", q, 1).value()[0].payload, R"({"s":1})");
  auto list = v->ListCollections().value();
  ASSERT_EQ(list.size(), 1u);  // snapshots are not collections
}

TEST_F(HnswTest, DamagedFilesAreRefused) {
  {
    auto v = Open("ALPHA");
    ASSERT_TRUE(v->CreateCollection("events", 4).ok());
    std::vector<VectorPoint> pts = {{1, {1, 0, 0, 0}, R"({"a":1})"}};
    ASSERT_TRUE(v->Upsert("events", pts).ok());
    ASSERT_TRUE(v->Flush().ok());
  }
  const std::string cdir = dir_ + "/vectors/alpha_events";
  // A stale .new file from a save that never committed is discarded.
  fs::copy_file(cdir + "/payloads.bin", cdir + "/index.bin.new");
  {
    auto v = Open("ALPHA");
    EXPECT_EQ(v->Count("events").value(), 1u);
  }
  EXPECT_FALSE(fs::exists(cdir + "/index.bin.new"));

  // One flipped byte in the index.
  {
    std::fstream f(cdir + "/index.bin", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(120);
    char c;
    f.read(&c, 1);
    c ^= 0x40;
    f.seekp(120);
    f.write(&c, 1);
  }
  {
    auto v = Open("ALPHA");
    auto n = v->Count("events");
    ASSERT_FALSE(n.ok());
    EXPECT_EQ(n.status().code(), StatusCode::kDataLoss);
    EXPECT_NE(n.status().message().find("index file " + cdir + "/index.bin is corrupt"), std::string::npos)
        << n.status().message();
  }
  // A truncated meta file.
  fs::resize_file(cdir + "/meta", 20);
  {
    auto v = Open("ALPHA");
    auto n = v->Count("events");
    EXPECT_EQ(n.status().code(), StatusCode::kDataLoss);
    EXPECT_NE(n.status().message().find("meta file"), std::string::npos) << n.status().message();
  }
}

// Files whose checksums match but whose content this store never writes:
// hnswlib would trust them, the loader does not.
TEST_F(HnswTest, CraftedIndexIsRefused) {
  const std::string cdir = dir_ + "/vectors/alpha_events";
  auto patch = [&](long offset, uint32_t value) {
    std::fstream f(cdir + "/index.bin", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(offset);
    f.write(reinterpret_cast<const char*>(&value), sizeof(value));
  };
  auto write = [&] {
    auto v = Open("ALPHA");
    ASSERT_TRUE(v->CreateCollection("events", 4).ok());
    std::vector<VectorPoint> pts = {{1, {1, 0, 0, 0}, ""}, {2, {0, 1, 0, 0}, ""}, {3, {0, 0, 1, 0}, ""}};
    ASSERT_TRUE(v->Upsert("events", pts).ok());
    ASSERT_TRUE(v->Flush().ok());
  };
  write();
  fs::copy_file(cdir + "/index.bin", dir_ + "/good.bin");
  // Element 0's first neighbour (after the 96-byte header and the list count)
  // pointing far outside the index.
  patch(96 + 4, 0xFFFFFFF0u);
  ASSERT_TRUE(vi::ResealCollectionFiles(cdir).ok());
  {
    auto n = Open("ALPHA")->Count("events");
    EXPECT_EQ(n.status().code(), StatusCode::kDataLoss);
    EXPECT_NE(n.status().message().find("has a bad graph: element 0 links to 4294967280"), std::string::npos)
        << n.status().message();
  }
  // M (header offset 72) changed.
  fs::copy_file(dir_ + "/good.bin", cdir + "/index.bin", fs::copy_options::overwrite_existing);
  patch(72, 999);
  ASSERT_TRUE(vi::ResealCollectionFiles(cdir).ok());
  {
    auto n = Open("ALPHA")->Count("events");
    EXPECT_EQ(n.status().code(), StatusCode::kDataLoss);
    EXPECT_NE(n.status().message().find("has a bad header: M 999"), std::string::npos) << n.status().message();
  }
  // The untouched file loads.
  fs::copy_file(dir_ + "/good.bin", cdir + "/index.bin", fs::copy_options::overwrite_existing);
  ASSERT_TRUE(vi::ResealCollectionFiles(cdir).ok());
  EXPECT_EQ(Open("ALPHA")->Count("events").value(), 3u);
}

TEST_F(HnswTest, ConcurrentSearchAndUpsert) {
  auto v = Open("ALPHA");
  constexpr size_t kDim = 16;
  ASSERT_TRUE(v->CreateCollection("events", kDim).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      std::mt19937 rng(100 + t);
      while (!stop) {
        auto q = RandomVector(rng, kDim);
        if (!v->Search("events", q, 5).ok()) ++errors;
        if (!v->Count("events").ok()) ++errors;
      }
    });
  }
  std::mt19937 rng(3);
  for (uint64_t b = 0; b < 20; ++b) {
    std::vector<VectorPoint> pts;
    for (uint64_t i = 0; i < 200; ++i) pts.push_back({b * 200 + i, RandomVector(rng, kDim), ""});
    ASSERT_TRUE(v->Upsert("events", pts).ok());
    if (b % 5 == 0) {
      ASSERT_TRUE(v->Flush().ok());
    }
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(v->Count("events").value(), 4000u);
}

// Red-team drill 4 (spec §9.2), embedded backend: BRAVO cannot reach ALPHA's
// collections, by any name, and its searches open only bravo_* files.
TEST_F(HnswTest, Drill4BravoCannotReachAlpha) {
  auto alpha = Open("ALPHA");
  auto bravo = Open("BRAVO");
  ASSERT_TRUE(alpha->CreateCollection("events", 2).ok());
  ASSERT_TRUE(alpha->CreateCollection("knowledge_base", 2).ok());
  ASSERT_TRUE(bravo->CreateCollection("events", 2).ok());
  std::vector<VectorPoint> a = {{1, {1, 0}, R"({"tenant":"ALPHA","secret":"alpha-only"})"}};
  std::vector<VectorPoint> b = {{1, {0, 1}, R"({"tenant":"BRAVO"})"}};
  ASSERT_TRUE(alpha->Upsert("events", a).ok());
  ASSERT_TRUE(alpha->Upsert("knowledge_base", a).ok());
  ASSERT_TRUE(bravo->Upsert("events", b).ok());
  ASSERT_TRUE(alpha->Flush().ok());
  ASSERT_TRUE(bravo->Flush().ok());

  auto bl = bravo->ListCollections().value();
  ASSERT_EQ(bl.size(), 1u);
  EXPECT_EQ(bl[0].name, "bravo_events");
  EXPECT_EQ(alpha->ListCollections().value().size(), 2u);

  // A fresh BRAVO store: nothing loaded yet, so the record shows every file
  // a search opens.
  bravo.reset();
  alpha.reset();
  vi::ClearHnswAccessLog();
  bravo = Open("BRAVO");
  std::vector<float> q = {1, 0};  // closest to ALPHA's point
  auto hits = bravo->Search("events", q, 10);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits.value().size(), 1u);
  EXPECT_EQ(hits.value()[0].payload, R"({"tenant":"BRAVO"})");

  // Another tenant's full name, paths, and upper-case prefixes are refused.
  for (const std::string name : {"alpha_events", "alpha_knowledge_base"}) {
    auto r = bravo->Search(name, q, 10);
    EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied) << name;
    EXPECT_NE(r.status().message().find("tenant BRAVO reaches only bravo_* collections"), std::string::npos)
        << r.status().message();
    EXPECT_EQ(bravo->Count(name).status().code(), StatusCode::kPermissionDenied);
    EXPECT_EQ(bravo->Snapshot(name).status().code(), StatusCode::kPermissionDenied);
    EXPECT_EQ(bravo->CreateCollection(name, 2).code(), StatusCode::kPermissionDenied);
    std::vector<VectorPoint> inject = {{2, {1, 0}, R"({"tenant":"BRAVO"})"}};
    EXPECT_EQ(bravo->Upsert(name, inject).code(), StatusCode::kPermissionDenied);
  }
  for (const std::string& name :
       std::vector<std::string>{"../alpha_events", "alpha_events/../bravo_events", "..", "ALPHA_events", "alpha/events",
                                "", std::string(49, 'a'), std::string("ev\0nts", 6)}) {
    auto r = bravo->Search(name, q, 10);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << name;
  }
  for (const auto& entry : vi::HnswAccessLog()) {
    EXPECT_EQ(entry.find("alpha"), std::string::npos) << entry;
  }
  auto log = vi::HnswAccessLog();
  EXPECT_NE(std::find(log.begin(), log.end(), "load bravo_events"), log.end());
  EXPECT_NE(std::find(log.begin(), log.end(), "search bravo_events"), log.end());
  EXPECT_FALSE(fs::exists(dir_ + "/vectors/bravo_alpha_events"));
}

}  // namespace
}  // namespace dsmil::store
