// Per-tenant log files: one directory per tenant, JSON lines, rotation,
// reading back with tenant/device/since filters, and OpenTenantLogSink.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "store/tenant_log.h"

namespace dsmil::store {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/dsmil-tlog-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TenantLogLine Line(const std::string& tenant, int64_t ts, int device, const std::string& text) {
  TenantLogLine l;
  l.ts_ns = ts;
  l.tenant = tenant;
  l.layer = "L7";
  l.device = device;
  l.line = text;
  return l;
}

TEST(FileTenantLog, EachTenantHasItsOwnFileAndReadsOnlyItsOwnLines) {
  TempDir dir;
  StoresConfig c;
  c.path = dir.path();
  auto sink = OpenTenantLogSink(c, "node-a");
  ASSERT_TRUE(sink.ok()) << sink.status().ToString();
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE((*sink)
                    ->Write(Line(i % 2 ? "ALPHA" : "BRAVO", 1000 + i, 40 + i % 5, "{\"i\":" + std::to_string(i) + "}"))
                    .ok());
  }
  ASSERT_TRUE((*sink)->Flush().ok());
  EXPECT_TRUE(fs::exists(dir.path() + "/logs/ALPHA/node-a.log"));
  EXPECT_TRUE(fs::exists(dir.path() + "/logs/BRAVO/node-a.log"));

  // Every stored line is one JSON object naming its tenant.
  std::ifstream in(dir.path() + "/logs/ALPHA/node-a.log");
  std::string text;
  int n = 0;
  while (std::getline(in, text)) {
    auto j = nlohmann::json::parse(text);
    EXPECT_EQ(j["tenant"], "ALPHA");
    EXPECT_EQ(j["node"], "node-a");
    ++n;
  }
  EXPECT_EQ(n, 25);

  auto alpha = ReadTenantLogs(c, {"ALPHA", -1, 0, 1000});
  ASSERT_TRUE(alpha.ok());
  ASSERT_EQ(alpha->size(), 25u);
  for (size_t i = 0; i < alpha->size(); ++i) {
    EXPECT_EQ((*alpha)[i].tenant, "ALPHA");
    EXPECT_EQ((*alpha)[i].ts_ns, 1001 + 2 * static_cast<int64_t>(i)) << "oldest first";
  }
  auto dev = ReadTenantLogs(c, {"BRAVO", 42, 0, 1000});
  ASSERT_TRUE(dev.ok());
  for (const auto& l : *dev) EXPECT_EQ(l.device, 42);
  EXPECT_EQ(dev->size(), 5u);
  auto since = ReadTenantLogs(c, {"BRAVO", -1, 1040, 1000});
  ASSERT_TRUE(since.ok());
  EXPECT_EQ(since->size(), 5u);  // 1040, 1042, ..., 1048
  auto limited = ReadTenantLogs(c, {"ALPHA", -1, 0, 3});
  ASSERT_TRUE(limited.ok());
  ASSERT_EQ(limited->size(), 3u);
  EXPECT_EQ(limited->back().ts_ns, 1049) << "the newest lines";
  auto none = ReadTenantLogs(c, {"CHARLIE", -1, 0, 10});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(FileTenantLog, RotatesBySizeAndStillReadsEverythingKept) {
  TempDir dir;
  auto sink = OpenFileTenantLog(dir.path(), "node-b", {.max_file_bytes = 2000, .keep_files = 20});
  ASSERT_TRUE(sink.ok());
  for (int i = 0; i < 100; ++i) ASSERT_TRUE((*sink)->Write(Line("ALPHA", i + 1, 47, std::string(50, 'x'))).ok());
  ASSERT_TRUE((*sink)->Flush().ok());
  EXPECT_TRUE(fs::exists(dir.path() + "/ALPHA/node-b.log.1"));
  for (const auto& e : fs::directory_iterator(dir.path() + "/ALPHA")) EXPECT_LE(fs::file_size(e.path()), 2000u);
  auto all = ReadTenantLogDir(dir.path(), {"ALPHA", -1, 0, 1000});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ((*all)[i].ts_ns, i + 1);

  auto small = OpenFileTenantLog(dir.path() + "/b", "node-b", {.max_file_bytes = 2000, .keep_files = 2});
  ASSERT_TRUE(small.ok());
  for (int i = 0; i < 100; ++i) ASSERT_TRUE((*small)->Write(Line("ALPHA", i + 1, 47, std::string(50, 'x'))).ok());
  EXPECT_FALSE(fs::exists(dir.path() + "/b/ALPHA/node-b.log.3")) << "only keep_files rotated files";
}

TEST(FileTenantLog, RefusesBadTenantsAndNodeNames) {
  TempDir dir;
  auto sink = OpenFileTenantLog(dir.path(), "node-a");
  ASSERT_TRUE(sink.ok());
  EXPECT_EQ((*sink)->Write(Line("", 1, 1, "x")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*sink)->Write(Line("../ALPHA", 1, 1, "x")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*sink)->Write(Line("alpha", 1, 1, "x")).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(OpenFileTenantLog(dir.path(), "../x").ok());
  EXPECT_FALSE(OpenFileTenantLog(dir.path(), "").ok());
  EXPECT_FALSE(ReadTenantLogDir(dir.path(), {"../etc", -1, 0, 10}).ok());
  StoresConfig no_path;
  EXPECT_EQ(OpenTenantLogSink(no_path, "node-a").status().code(), StatusCode::kInvalidArgument);
}

TEST(FileTenantLog, ControlCharactersAndInvalidUtf8StayOneLine) {
  TempDir dir;
  auto sink = OpenFileTenantLog(dir.path(), "node-a");
  ASSERT_TRUE(sink.ok());
  ASSERT_TRUE((*sink)->Write(Line("ALPHA", 5, 1, "a\nb\xff\"c")).ok());
  auto got = ReadTenantLogDir(dir.path(), {"ALPHA", -1, 0, 10});
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].line.substr(0, 3), "a\nb");
}

}  // namespace
}  // namespace dsmil::store
