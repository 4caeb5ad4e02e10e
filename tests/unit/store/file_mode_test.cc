// Modes of what the embedded stores write (store/file_mode.h): under umask 022
// every directory below the data directory is 0700 and every file 0600 —
// SQLite streams and archive with their -wal/-shm files, hnsw vectors and a
// snapshot, tenant log files (rotated too), the Loki spool — and the start
// check repairs a data file or directory left open to group or others.
#include "store/file_mode.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "core/log.h"
#include "store/archive.h"
#include "store/streams.h"
#include "store/tenant_log.h"
#include "store/vectors.h"

namespace dsmil::store {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

unsigned ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

class FileModes : public ::testing::Test {
 protected:
  void SetUp() override {
    old_umask_ = ::umask(022);
    std::string tmpl = (fs::temp_directory_path() / "file-modes-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    top_ = tmpl;
    config_.kind = "embedded";
    config_.path = top_ + "/data";  // created by the stores
  }
  void TearDown() override {
    ::umask(old_umask_);
    std::error_code ec;
    fs::remove_all(top_, ec);
  }

  // Every directory and file under `root` (root included) with group/other bits.
  static std::vector<std::string> OpenToOthers(const std::string& root, size_t* files, size_t* dirs) {
    std::vector<std::string> bad;
    *files = *dirs = 0;
    auto check = [&](const std::string& p) {
      struct stat st {};
      if (::lstat(p.c_str(), &st) != 0) return;
      if (S_ISDIR(st.st_mode)) ++*dirs;
      if (S_ISREG(st.st_mode)) ++*files;
      if ((st.st_mode & 077) != 0) bad.push_back(p + " " + ModeString(st.st_mode & 07777));
    };
    check(root);
    for (const auto& e : fs::recursive_directory_iterator(root)) check(e.path().string());
    return bad;
  }

  mode_t old_umask_ = 0;
  std::string top_;
  StoresConfig config_;
};

TEST_F(FileModes, EmbeddedStoresWriteOnlyPrivateFilesUnderUmask022) {
  auto alpha = *TenantScope::For("ALPHA");
  {
    auto w = OpenStreams(config_, alpha, Access::kWriter);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    auto r = OpenStreams(config_, alpha, Access::kReader);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    std::vector<std::string> v = {R"({"event":1})", R"({"event":2})"};
    ASSERT_TRUE((*w)->Append(StreamKind::kL3In, v).ok());
    ASSERT_TRUE((*r)->EnsureGroup(StreamKind::kL3In, "l3").ok());
    auto got = (*r)->ReadGroup(StreamKind::kL3In, "l3", "c", 10, 0ms);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    // While the connections are open the -wal and -shm files exist.
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::string f = config_.path + "/streams/ALPHA.db" + suffix;
      ASSERT_TRUE(fs::exists(f)) << f;
      EXPECT_EQ(ModeOf(f), 0600u) << f;
    }

    auto a = OpenArchive(config_, alpha);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    ArchivedEvent e{"f47ac10b-58cc-4372-a567-0e02b2c3d479", 1764245000000, "NETWORK", "HIGH", "{}"};
    ASSERT_TRUE((*a)->Ingest(std::span<const ArchivedEvent>(&e, 1)).ok());
    ASSERT_TRUE((*a)->AppendAudit(1764245000000, "TENANT_ESCAPE_ATTEMPT", "test", "{}").ok());
    EXPECT_EQ(ModeOf(config_.path + "/archive/ALPHA.db-wal"), 0600u);

    auto vec = OpenVectors(config_, alpha);
    ASSERT_TRUE(vec.ok()) << vec.status().ToString();
    ASSERT_TRUE((*vec)->CreateCollection("events", 4).ok());
    std::vector<VectorPoint> pts = {{1, {1, 0, 0, 0}, R"({"text":"a"})"}, {2, {0, 1, 0, 0}, R"({"text":"b"})"}};
    ASSERT_TRUE((*vec)->Upsert("events", pts).ok());
    ASSERT_TRUE((*vec)->Flush().ok());
    auto snap = (*vec)->Snapshot("events");
    ASSERT_TRUE(snap.ok()) << snap.status().ToString();

    FileLogOptions lo;
    lo.max_file_bytes = 300;  // rotates after a few lines
    auto logs = OpenFileTenantLog(config_.path + "/logs", "node-a", lo);
    ASSERT_TRUE(logs.ok()) << logs.status().ToString();
    for (int i = 0; i < 8; ++i) {
      TenantLogLine l{1764245000000000000 + i,
                      "ALPHA",
                      "node-a",
                      "L8",
                      52,
                      R"({"msg":"tenant line )" + std::to_string(i) + R"("})"};
      ASSERT_TRUE((*logs)->Write(l).ok());
    }
    ASSERT_TRUE((*logs)->Flush().ok());
    EXPECT_TRUE(fs::exists(config_.path + "/logs/ALPHA/node-a.log.1"));

    LokiOptions loki;
    loki.url = "http://127.0.0.1:1";  // nothing listens: lines go to the spool
    loki.spool_dir = config_.path + "/loki-spool";
    loki.timeout = 200ms;
    loki.batch_interval = 10ms;
    auto sink = OpenLokiTenantLog("node-a", loki);
    ASSERT_TRUE(sink.ok()) << sink.status().ToString();
    ASSERT_TRUE((*sink)->Write({1764245000000000000, "ALPHA", "node-a", "L8", 52, R"({"msg":"x"})"}).ok());
    (void)(*sink)->Flush();
    for (int i = 0; i < 100 && (*sink)->stats().spooled_lines == 0; ++i) std::this_thread::sleep_for(20ms);
    EXPECT_GT((*sink)->stats().spooled_lines, 0u);

    size_t files = 0, dirs = 0;
    auto bad = OpenToOthers(config_.path, &files, &dirs);
    EXPECT_TRUE(bad.empty()) << ::testing::PrintToString(bad);
    EXPECT_GE(files, 12u);  // streams x3, archive x3, audit key, vectors x3 + snapshot x3, logs x2, spool
    EXPECT_GE(dirs, 8u);
  }
  size_t files = 0, dirs = 0;
  auto bad = OpenToOthers(config_.path, &files, &dirs);
  EXPECT_TRUE(bad.empty()) << ::testing::PrintToString(bad);
}

TEST_F(FileModes, MakePrivateHelpersIgnoreTheUmask) {
  std::string d = top_ + "/a/b/c";
  ASSERT_TRUE(MakePrivateDirs(d).ok());
  for (const std::string& p : {top_ + "/a", top_ + "/a/b", d}) EXPECT_EQ(ModeOf(p), 0700u) << p;
  ASSERT_EQ(::chmod(d.c_str(), 0755), 0);
  ASSERT_TRUE(MakePrivateDirs(d).ok());
  EXPECT_EQ(ModeOf(d), 0700u);

  std::string f = d + "/x.db";
  ASSERT_TRUE(MakePrivateFile(f).ok());
  EXPECT_EQ(ModeOf(f), 0600u);
  ASSERT_EQ(::chmod(f.c_str(), 0644), 0);
  ASSERT_TRUE(MakePrivateSqliteFiles(f).ok());
  EXPECT_EQ(ModeOf(f), 0600u);
  EXPECT_FALSE(fs::exists(f + "-wal"));  // not created when absent

  ASSERT_EQ(::symlink(f.c_str(), (d + "/link").c_str()), 0);
  EXPECT_FALSE(MakePrivateFile(d + "/link").ok());
  EXPECT_TRUE(MakePrivateDirs(f).message().find("not a directory") != std::string::npos);
}

TEST_F(FileModes, StartCheckRepairsWhatIsOpenToOthersAndSaysSo) {
  // A data directory as an earlier version (or mkdir under umask 022) left it.
  fs::create_directories(config_.path + "/streams");
  ::chmod(config_.path.c_str(), 0755);
  ::chmod((config_.path + "/streams").c_str(), 0755);
  std::string db = config_.path + "/streams/BRAVO.db";
  std::ofstream(db) << "x";
  ::chmod(db.c_str(), 0644);
  std::string ok = config_.path + "/streams/ALPHA.db";
  std::ofstream(ok) << "y";
  ::chmod(ok.c_str(), 0600);
  ASSERT_EQ(::symlink("/etc/passwd", (config_.path + "/link").c_str()), 0);  // not followed

  auto repaired = RepairDataDirModes(config_.path);
  ASSERT_TRUE(repaired.ok()) << repaired.status().ToString();
  ASSERT_EQ(repaired->size(), 3u);
  std::map<std::string, std::pair<unsigned, unsigned>> by_path;
  for (const auto& r : *repaired) by_path[r.path] = {r.old_mode, r.new_mode};
  EXPECT_EQ(by_path[db], std::make_pair(0644u, 0600u));
  EXPECT_EQ(by_path[config_.path], std::make_pair(0755u, 0700u));
  EXPECT_EQ(ModeOf(db), 0600u);
  EXPECT_EQ(ModeOf(config_.path + "/streams"), 0700u);
  EXPECT_EQ(ModeOf(ok), 0600u);
  EXPECT_TRUE(RepairDataDirModes(config_.path)->empty());  // nothing left to do

  // SecureDataDirs logs one warning per repair, naming the path.
  ::chmod(db.c_str(), 0640);
  struct Capture : LogSink {
    std::vector<std::string> lines;
    void Write(const LogRecord& r) override { lines.emplace_back(r.line); }
  };
  auto capture = std::make_shared<Capture>();
  LoggerOptions o;
  o.sink = capture;
  Logger log(LogLabels{.node = "node-a"}, o);
  ASSERT_TRUE(SecureDataDirs(config_, log).ok());
  ASSERT_EQ(capture->lines.size(), 1u);
  EXPECT_NE(capture->lines[0].find(db), std::string::npos) << capture->lines[0];
  EXPECT_NE(capture->lines[0].find("\"was\":\"0640\""), std::string::npos) << capture->lines[0];

  // An absent directory is nothing to check; a file where the directory should be is refused.
  EXPECT_TRUE(RepairDataDirModes(top_ + "/absent")->empty());
  auto not_dir = RepairDataDirModes(db);
  EXPECT_FALSE(not_dir.ok());
  EXPECT_NE(not_dir.status().message().find(db), std::string::npos);
}

}  // namespace
}  // namespace dsmil::store
