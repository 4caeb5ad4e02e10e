// The Archive contract, run against both backends: PostgreSQL (a real
// server, as the tenant's own role) and the embedded SQLite file.
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "archive_test_env.h"
#include "store/audit.h"

namespace dsmil::store {
namespace {

using testenv::Batch;
using testenv::Event;
using testenv::PgEnvironment;
using testenv::Scope;

PgEnvironment* const kEnv = PgEnvironment::Get();

class ArchiveBehaviour : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    ASSERT_NE(kEnv->server(), nullptr) << "PostgreSQL did not start";
    // Each test gets its own tenant data: a fresh embedded directory, and a
    // clean PostgreSQL schema (superuser truncates).
    static int counter = 0;
    ++counter;
    if (GetParam() == "embedded") {
      config_ = kEnv->Embedded("embedded-" + std::to_string(counter));
    } else {
      config_ = kEnv->Servers();
      auto r = kEnv->server()->Psql(
          "TRUNCATE dsmil_alpha.events, dsmil_alpha.audit_log, dsmil_bravo.events, dsmil_bravo.audit_log");
      ASSERT_TRUE(r.ok()) << r.status().ToString();
    }
    auto a = OpenArchive(config_, Scope("ALPHA"));
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    alpha_ = std::move(*a);
  }

  // Runs tamper SQL as the database owner: the superuser for PostgreSQL, the
  // file itself for SQLite.
  void Tamper(const std::vector<std::string>& statements) {
    if (GetParam() == "embedded") {
      sqlite3* db = nullptr;
      std::string file = config_.path + "/archive/ALPHA.db";
      ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
      sqlite3_busy_timeout(db, 5000);
      for (const auto& s : statements) {
        char* err = nullptr;
        int rc = sqlite3_exec(db, s.c_str(), nullptr, nullptr, &err);
        EXPECT_EQ(rc, SQLITE_OK) << s << ": " << (err ? err : "");
        sqlite3_free(err);
      }
      sqlite3_close(db);
    } else {
      for (auto s : statements) {
        // Same statements; the PostgreSQL table lives in the tenant schema.
        auto pos = s.find("audit_log");
        if (pos != std::string::npos) s.replace(pos, 9, "dsmil_alpha.audit_log");
        auto r = kEnv->server()->Psql(s);
        EXPECT_TRUE(r.ok()) << s << ": " << r.status().ToString();
      }
    }
  }

  std::string LogKey() {
    auto k = LoadOrCreateLogKey(config_);
    EXPECT_TRUE(k.ok());
    return k.ok() ? *k : std::string();
  }

  StoresConfig config_;
  std::unique_ptr<Archive> alpha_;
};

TEST_P(ArchiveBehaviour, IngestIsIdempotentOnEventId) {
  auto batch = Batch("evt", 0, 250);
  auto first = alpha_->Ingest(batch);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(*first, 250u);
  auto again = alpha_->Ingest(batch);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, 0u);
  // Overlapping batch: only the new half counts.
  auto overlap = alpha_->Ingest(Batch("evt", 200, 100));
  ASSERT_TRUE(overlap.ok());
  EXPECT_EQ(*overlap, 50u);
  auto n = alpha_->Count();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 300u);
  // Duplicates inside one batch are stored once.
  std::vector<ArchivedEvent> dup = {Event("dup-1", 5), Event("dup-1", 6), Event("dup-2", 7)};
  auto d = alpha_->Ingest(dup);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(*d, 2u);
  EXPECT_EQ(*alpha_->Count(), 302u);
  auto empty = alpha_->Ingest({});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, 0u);
}

TEST_P(ArchiveBehaviour, GetReturnsTheStoredEvent) {
  ArchivedEvent e = Event("2f1c7f0e-6d1a-4a53-9f3e-0b6c2f9d8a11", 1732377600123);
  e.body = R"({"a": [1, 2, {"b": "ünïcødé \"q\"\n"}], "n": null})";
  ASSERT_TRUE(alpha_->Ingest(std::span(&e, 1)).ok());
  auto got = alpha_->Get(e.event_id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->event_id, e.event_id);
  EXPECT_EQ((*got)->ts_ms, e.ts_ms);
  EXPECT_EQ((*got)->category, e.category);
  EXPECT_EQ((*got)->severity, e.severity);
  // jsonb normalises spacing; the JSON value is the same.
  EXPECT_EQ(nlohmann::json::parse((*got)->body), nlohmann::json::parse(e.body));
  auto missing = alpha_->Get("no-such-event");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
}

TEST_P(ArchiveBehaviour, RecentIsNewestFirstFromSince) {
  ASSERT_TRUE(alpha_->Ingest(Batch("r", 0, 20, 1000)).ok());  // ts 1000..1019
  auto r = alpha_->Recent(5, 0);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 5u);
  EXPECT_EQ((*r)[0].event_id, "r-19");
  EXPECT_EQ((*r)[4].event_id, "r-15");
  auto since = alpha_->Recent(100, 1015);
  ASSERT_TRUE(since.ok());
  ASSERT_EQ(since->size(), 5u);
  EXPECT_EQ(since->back().ts_ms, 1015);
  auto none = alpha_->Recent(10, 999999);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto all = alpha_->Recent(100, INT64_MIN);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->size(), 20u);
  auto future = alpha_->Recent(100, INT64_MAX);
  ASSERT_TRUE(future.ok()) << future.status().ToString();
  EXPECT_TRUE(future->empty());
}

TEST_P(ArchiveBehaviour, CountByHourGroupsWholeHoursInTheWindow) {
  const int64_t h0 = 1732377600000;  // a whole hour
  const int64_t hour = 3600000;
  std::vector<ArchivedEvent> events = {
      Event("c-1", h0 + 5, "high"),    Event("c-2", h0 + hour - 1, "high"),     Event("c-3", h0 + 10, "low"),
      Event("c-4", h0 + hour, "high"), Event("c-5", h0 + 3 * hour + 7, "high"), Event("c-6", h0 - 1, "high")};
  ASSERT_TRUE(alpha_->Ingest(events).ok());
  auto r = alpha_->CountByHour(h0, h0 + 3 * hour);  // c-5 is at the end, c-6 before the start
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].hour_ms, h0);
  EXPECT_EQ((*r)[0].severity, "high");
  EXPECT_EQ((*r)[0].count, 2u);
  EXPECT_EQ((*r)[0].category, "malware");
  EXPECT_EQ((*r)[1].hour_ms, h0);
  EXPECT_EQ((*r)[1].severity, "low");
  EXPECT_EQ((*r)[1].count, 1u);
  EXPECT_EQ((*r)[2].hour_ms, h0 + hour);
  EXPECT_EQ((*r)[2].count, 1u);
  // The default of the interface (through Recent) gives the same rows.
  auto fallback = alpha_->Archive::CountByHour(h0, h0 + 3 * hour);
  ASSERT_TRUE(fallback.ok());
  ASSERT_EQ(fallback->size(), r->size());
  for (size_t i = 0; i < r->size(); ++i) {
    EXPECT_EQ((*fallback)[i].hour_ms, (*r)[i].hour_ms);
    EXPECT_EQ((*fallback)[i].severity, (*r)[i].severity);
    EXPECT_EQ((*fallback)[i].count, (*r)[i].count);
  }
}

TEST_P(ArchiveBehaviour, BadEventsAreRefusedByNameAndNothingIsStored) {
  auto batch = Batch("ok", 0, 3);
  batch.push_back(Event("bad-json", 4));
  batch.back().body = "{not json";
  auto r = alpha_->Ingest(batch);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("event 3 (id 'bad-json'): body is not valid JSON"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(*alpha_->Count(), 0u);  // all or nothing

  std::vector<ArchivedEvent> no_id = {Event("", 1)};
  r = alpha_->Ingest(no_id);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("event_id is empty"), std::string::npos);

  std::vector<ArchivedEvent> nul = {Event("x", 1)};
  nul[0].category = std::string("a\0b", 3);
  r = alpha_->Ingest(nul);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("category is not UTF-8 text without NUL"), std::string::npos);

  std::vector<ArchivedEvent> latin1 = {Event("y", 1)};
  latin1[0].severity = "\xe9t\xe9";
  r = alpha_->Ingest(latin1);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("severity"), std::string::npos);

  std::vector<ArchivedEvent> far = {Event("z", int64_t(1) << 60)};
  r = alpha_->Ingest(far);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("outside years 1 to 9999"), std::string::npos) << r.status().message();
  EXPECT_EQ(*alpha_->Count(), 0u);
  // The extremes of the range round-trip.
  std::vector<ArchivedEvent> edges = {Event("min", -62135596800000), Event("max", 253402300799999)};
  ASSERT_TRUE(alpha_->Ingest(edges).ok());
  EXPECT_EQ((*alpha_->Get("min"))->ts_ms, -62135596800000);
  EXPECT_EQ((*alpha_->Get("max"))->ts_ms, 253402300799999);
}

TEST_P(ArchiveBehaviour, AuditAppendsFormAVerifiableChain) {
  for (int i = 0; i < 5; ++i) {
    auto row = alpha_->AppendAudit(1000 + i, "TENANT_ESCAPE_ATTEMPT", "key:sk-alpha-" + std::to_string(i),
                                   R"({"target":"BRAVO"})");
    ASSERT_TRUE(row.ok()) << row.status().ToString();
    EXPECT_EQ(row->seq, i + 1);
    EXPECT_EQ(row->hash.size(), 64u);
    EXPECT_EQ(row->mac.size(), 64u);
  }
  auto rows = alpha_->ReadAudit();
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 5u);
  EXPECT_EQ((*rows)[0].prev_hash, kAuditGenesisHash);
  EXPECT_EQ((*rows)[1].prev_hash, (*rows)[0].hash);
  EXPECT_EQ((*rows)[4].ts_ms, 1004);
  auto v = VerifyAuditChain(*rows, LogKey());
  EXPECT_TRUE(v.ok);
  EXPECT_EQ(v.rows, 5u);
  EXPECT_TRUE(v.problems.empty());
  // A second handle (another process, say) continues the same chain.
  auto other = OpenArchive(config_, Scope("ALPHA"));
  ASSERT_TRUE(other.ok());
  auto six = (*other)->AppendAudit(2000, "AUTH_FAILED", "cn=op", "{}");
  ASSERT_TRUE(six.ok());
  EXPECT_EQ(six->seq, 6);
  EXPECT_EQ(six->prev_hash, (*rows)[4].hash);
}

TEST_P(ArchiveBehaviour, TamperingIsNamedRowByRow) {
  for (int i = 1; i <= 12; ++i) {
    ASSERT_TRUE(alpha_->AppendAudit(1000 + i, "POLICY_DENIED", "device:58", R"({"n":)" + std::to_string(i) + "}").ok());
  }
  Tamper({
      "UPDATE audit_log SET detail = '{\"n\":999}' WHERE seq = 3",  // edited
      "DELETE FROM audit_log WHERE seq = 6",                        // deleted
      "UPDATE audit_log SET seq = 1000 WHERE seq = 9",              // 9 and 10 swapped
      "UPDATE audit_log SET seq = 9 WHERE seq = 10",
      "UPDATE audit_log SET seq = 10 WHERE seq = 1000",
  });
  auto rows = alpha_->ReadAudit();
  ASSERT_TRUE(rows.ok());
  auto v = VerifyAuditChain(*rows, LogKey());
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.rows, 11u);
  std::string all;
  for (const auto& p : v.problems) all += p + "\n";
  EXPECT_NE(all.find("row seq 3: hash does not match its fields (edited)"), std::string::npos) << all;
  EXPECT_NE(all.find("row seq 6: missing (deleted)"), std::string::npos) << all;
  EXPECT_NE(all.find("row seq 9: holds the row sealed as seq 10 (reordered)"), std::string::npos) << all;
  EXPECT_NE(all.find("row seq 10: holds the row sealed as seq 9 (reordered)"), std::string::npos) << all;
  EXPECT_EQ(v.problems.size(), 4u) << all;
}

TEST_P(ArchiveBehaviour, TenantsAreSeparate) {
  auto bravo = OpenArchive(config_, Scope("BRAVO"));
  ASSERT_TRUE(bravo.ok()) << bravo.status().ToString();
  ASSERT_TRUE(alpha_->Ingest(Batch("a", 0, 10)).ok());
  ASSERT_TRUE((*bravo)->Ingest(Batch("b", 0, 3)).ok());
  // The same event id in two tenants is two events.
  ASSERT_TRUE((*bravo)->Ingest(Batch("a", 0, 1)).ok());
  EXPECT_EQ(*alpha_->Count(), 10u);
  EXPECT_EQ(*(*bravo)->Count(), 4u);
  auto cross = alpha_->Get("b-1");
  ASSERT_TRUE(cross.ok());
  EXPECT_FALSE(cross->has_value());
  EXPECT_EQ((*bravo)->scope().tenant(), "BRAVO");
}

// Two processes opening a new embedded archive at the same moment both set it
// up (WAL switch, tables) and ingest; nothing is lost. Several fresh files, as
// the race is in the first open.
TEST(ArchiveEmbedded, TwoProcessesOpenANewFileAtOnce) {
  for (int round = 0; round < 8; ++round) {
    StoresConfig c = kEnv->Embedded("race-" + std::to_string(round));
    auto ingest = [&](const std::string& prefix) -> std::string {
      auto a = OpenArchive(c, Scope("ALPHA"));
      if (!a.ok()) return "open: " + a.status().ToString();
      auto n = (*a)->Ingest(Batch(prefix, 0, 50));
      if (!n.ok()) return "ingest: " + n.status().ToString();
      return *n == 50u ? "" : "ingest stored " + std::to_string(*n);
    };
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      close(fds[0]);
      std::string err = ingest("child");
      (void)!write(fds[1], err.data(), err.size());
      _exit(err.empty() ? 0 : 1);
    }
    close(fds[1]);
    std::string parent_err = ingest("parent");
    std::string child_err(512, '\0');
    ssize_t got = read(fds[0], child_err.data(), child_err.size());
    child_err.resize(got > 0 ? size_t(got) : 0);
    close(fds[0]);
    int wstatus = 0;
    ASSERT_EQ(waitpid(child, &wstatus, 0), child);
    EXPECT_EQ(parent_err, "") << "round " << round;
    EXPECT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) << "round " << round << ": " << child_err;
    auto a = OpenArchive(c, Scope("ALPHA"));
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    EXPECT_EQ(*(*a)->Count(), 100u) << "round " << round;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, ArchiveBehaviour, ::testing::Values("postgres", "embedded"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace dsmil::store
