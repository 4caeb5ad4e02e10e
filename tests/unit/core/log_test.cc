#include "core/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

namespace dsmil {
namespace {

using nlohmann::json;

class CaptureSink final : public LogSink {
 public:
  // The labels of a record, as the sink saw them.
  struct Labels {
    std::string node, tenant, layer, msg;
    std::optional<int> device;
    LogLevel level;
    int64_t ts_ns;
  };
  void Write(const LogRecord& r) override {
    std::lock_guard lock(mu_);
    lines_.emplace_back(r.line);
    records_.push_back({std::string(r.node), std::string(r.tenant), std::string(r.layer), std::string(r.msg), r.device,
                        r.level, r.ts_ns});
  }
  std::vector<std::string> lines() {
    std::lock_guard lock(mu_);
    return lines_;
  }
  std::vector<Labels> records() {
    std::lock_guard lock(mu_);
    return records_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
  std::vector<Labels> records_;
};

struct Fixture {
  std::shared_ptr<CaptureSink> sink = std::make_shared<CaptureSink>();
  FakeClock clock{FakeClock::kDefaultUnixNanos + 123456789};
  LoggerOptions Options(LogLevel level = LogLevel::kInfo) {
    return LoggerOptions{.min_level = level, .sink = sink, .clock = &clock};
  }
};

TEST(Log, ExactLine) {
  Fixture f;
  Logger logger({.node = "node-a"}, f.Options());
  logger.Info("listening", {{"addr", "127.0.0.1:8099"}, {"port", 8099}, {"tls", true}});
  Logger l = logger.With({.tenant = "ALPHA", .layer = "L7", .device = 43});
  l.Warn("refused", {{"reason", "tenant \"BRAVO\" != ALPHA"}, {"ratio", 0.25}, {"n", uint64_t{7}}, {"x", nullptr}});
  auto lines = f.sink->lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0],
            "{\"ts\":\"2026-11-27T12:00:00.123Z\",\"level\":\"info\",\"node\":\"node-a\",\"msg\":\"listening\","
            "\"addr\":\"127.0.0.1:8099\",\"port\":8099,\"tls\":true}\n");
  EXPECT_EQ(lines[1],
            "{\"ts\":\"2026-11-27T12:00:00.123Z\",\"level\":\"warn\",\"node\":\"node-a\",\"tenant\":\"ALPHA\","
            "\"layer\":\"L7\",\"device\":\"43\",\"msg\":\"refused\",\"reason\":\"tenant \\\"BRAVO\\\" != ALPHA\","
            "\"ratio\":0.25,\"n\":7,\"x\":null}\n");
}

TEST(Log, ParsesAsJsonWithLabels) {
  Fixture f;
  Logger root({.node = "node-b"}, f.Options(LogLevel::kDebug));
  Logger l = root.With({.tenant = "BRAVO", .layer = "L7", .device = 47});
  std::string value = "line1\nline2\t\x01\x7f end \\ / \xc3\xa9 \xe2\x82\xac";
  char buf[] = "mutable";
  l.Debug("generated", {{"text", value}, {"tokens", 100}, {"rate", -1.5e-3}, {"buf", buf}, {"zero", 0}});
  auto lines = f.sink->lines();
  ASSERT_EQ(lines.size(), 1u);
  ASSERT_EQ(lines[0].back(), '\n');
  EXPECT_EQ(lines[0].find('\n'), lines[0].size() - 1);  // exactly one line
  json j = json::parse(lines[0]);
  EXPECT_EQ(j["ts"], "2026-11-27T12:00:00.123Z");
  EXPECT_EQ(j["level"], "debug");
  EXPECT_EQ(j["node"], "node-b");
  EXPECT_EQ(j["tenant"], "BRAVO");
  EXPECT_EQ(j["layer"], "L7");
  EXPECT_EQ(j["device"], "47");
  EXPECT_EQ(j["msg"], "generated");
  EXPECT_EQ(j["text"], value);
  EXPECT_EQ(j["tokens"], 100);
  EXPECT_DOUBLE_EQ(j["rate"].get<double>(), -1.5e-3);
  EXPECT_EQ(j["buf"], "mutable");
  EXPECT_EQ(j["zero"], 0);
  static_assert(!std::is_constructible_v<LogValue, const int*>);
}

TEST(Log, InvalidUtf8BecomesReplacementCharacter) {
  Fixture f;
  Logger logger({}, f.Options());
  // Lone continuation, truncated sequence, overlong '/', surrogate, > U+10FFFF.
  logger.Info("bad \x80 \xe2\x82 \xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 ok");
  auto lines = f.sink->lines();
  ASSERT_EQ(lines.size(), 1u);
  json j = json::parse(lines[0]);  // throws on invalid UTF-8
  const std::string msg = j["msg"];
  EXPECT_EQ(msg.substr(0, 4), "bad ");
  EXPECT_EQ(msg.substr(msg.size() - 3), " ok");
  EXPECT_NE(msg.find("\xef\xbf\xbd"), std::string::npos);
  EXPECT_EQ(msg.find('\x80' + std::string(" ")), std::string::npos);
}

TEST(Log, LabelsOmittedAndReservedKeysRenamed) {
  Fixture f;
  Logger logger({}, f.Options());
  logger.Error("boom", {{"msg", "dup"}, {"level", 1}});
  auto lines = f.sink->lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0],
            "{\"ts\":\"2026-11-27T12:00:00.123Z\",\"level\":\"error\",\"msg\":\"boom\",\"_msg\":\"dup\","
            "\"_level\":1}\n");
}

TEST(Log, AStringTenantFieldFillsAnUnsetTenantLabel) {
  Fixture f;
  Logger node({.node = "n"}, f.Options());
  node.Warn("refused", {{"tenant", "ALPHA"}, {"layer", "L7"}});
  Logger bound = node.With({.tenant = "BRAVO"});
  bound.Warn("refused", {{"tenant", "ALPHA"}});
  auto lines = f.sink->lines();
  ASSERT_EQ(lines.size(), 2u);
  auto a = json::parse(lines[0]);
  EXPECT_EQ(a["tenant"], "ALPHA");
  EXPECT_EQ(a["layer"], "L7");
  EXPECT_FALSE(a.contains("_tenant"));
  // A logger bound to a tenant keeps its label; the field is kept, renamed.
  EXPECT_EQ(lines[1],
            "{\"ts\":\"2026-11-27T12:00:00.123Z\",\"level\":\"warn\",\"node\":\"n\",\"tenant\":\"BRAVO\","
            "\"msg\":\"refused\",\"_tenant\":\"ALPHA\"}\n");
}

TEST(Log, SinksReceiveTheLabelsAsDataMatchingTheLine) {
  Fixture f;
  Logger node({.node = "n"}, f.Options());
  node.Warn("refused", {{"tenant", "ALPHA"}, {"layer", "L7"}});
  node.With({.tenant = "BRAVO", .device = 43}).Error("down", {{"tenant", "ALPHA"}});
  node.Info("plain");
  auto records = f.sink->records();
  auto lines = f.sink->lines();
  ASSERT_EQ(records.size(), 3u);
  for (size_t i = 0; i < records.size(); ++i) {
    auto j = json::parse(lines[i]);
    EXPECT_EQ(records[i].tenant, j.value("tenant", "")) << lines[i];
    EXPECT_EQ(records[i].layer, j.value("layer", "")) << lines[i];
    EXPECT_EQ(records[i].msg, j["msg"]) << lines[i];
    EXPECT_EQ(records[i].node, "n");
    EXPECT_EQ(records[i].ts_ns, FakeClock::kDefaultUnixNanos + 123456789);
  }
  EXPECT_EQ(records[0].tenant, "ALPHA");
  EXPECT_EQ(records[0].level, LogLevel::kWarn);
  EXPECT_EQ(records[1].tenant, "BRAVO");  // the bound label wins; the field is renamed in the line
  EXPECT_EQ(records[1].device, 43);
  EXPECT_EQ(records[2].tenant, "");
  EXPECT_FALSE(records[2].device.has_value());
}

TEST(Log, MinimumLevelIsSharedWithDerivedLoggers) {
  Fixture f;
  Logger root({.node = "n"}, f.Options(LogLevel::kWarn));
  Logger child = root.With({.tenant = "ALPHA"});
  root.Info("dropped");
  child.Debug("dropped");
  child.Warn("kept");
  EXPECT_FALSE(child.Enabled(LogLevel::kInfo));
  root.SetMinLevel(LogLevel::kDebug);
  EXPECT_TRUE(child.Enabled(LogLevel::kDebug));
  child.Debug("kept too");
  auto lines = f.sink->lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(json::parse(lines[0])["msg"], "kept");
  EXPECT_EQ(json::parse(lines[1])["msg"], "kept too");
  EXPECT_EQ(json::parse(lines[1])["tenant"], "ALPHA");
  EXPECT_EQ(child.min_level(), LogLevel::kDebug);
}

TEST(Log, WithOverridesOnlyGivenLabels) {
  Logger a({.node = "node-a", .tenant = "ALPHA", .layer = "L8", .device = 52});
  Logger b = a.With({.device = 53});
  EXPECT_EQ(b.labels().node, "node-a");
  EXPECT_EQ(b.labels().tenant, "ALPHA");
  EXPECT_EQ(b.labels().layer, "L8");
  EXPECT_EQ(b.labels().device, 53);
  Logger c = b.With({.tenant = "BRAVO"});
  EXPECT_EQ(c.labels().tenant, "BRAVO");
  EXPECT_EQ(c.labels().device, 53);
}

TEST(Log, ParseLevel) {
  EXPECT_EQ(*ParseLogLevel("debug"), LogLevel::kDebug);
  EXPECT_EQ(*ParseLogLevel("INFO"), LogLevel::kInfo);
  EXPECT_EQ(*ParseLogLevel("Warning"), LogLevel::kWarn);
  EXPECT_EQ(*ParseLogLevel("error"), LogLevel::kError);
  auto bad = ParseLogLevel("verbose");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "log level \"verbose\" unknown (want debug, info, warn or error)");
  EXPECT_EQ(LogLevelName(LogLevel::kWarn), "warn");
}

TEST(Log, ConcurrentLinesDoNotInterleaveInFile) {
  char tmpl[] = "/tmp/dsmil_log_test_XXXXXX";
  const int fd = mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  ::close(fd);
  const std::string path = tmpl;
  {
    auto sink = FileSink::Open(path);
    ASSERT_TRUE(sink.ok()) << sink.status().ToString();
    Logger logger({.node = "node-c"}, LoggerOptions{.sink = *sink});
    constexpr int kThreads = 4;
    constexpr int kLines = 500;
    std::vector<std::thread> threads;
    const std::string payload(300, 'x');
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        Logger l = logger.With({.device = t});
        for (int i = 0; i < kLines; ++i) l.Info("event", {{"i", i}, {"payload", payload}});
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ((*sink)->failed_writes(), 0u);
    EXPECT_TRUE((*sink)->Reopen().ok());
    logger.Info("after reopen");
  }
  std::ifstream in(path);
  std::string line;
  int count = 0;
  while (std::getline(in, line)) {
    json j = json::parse(line);  // every line is one complete object
    EXPECT_EQ(j["node"], "node-c");
    ++count;
  }
  EXPECT_EQ(count, 4 * 500 + 1);
  std::remove(path.c_str());
}

TEST(Log, FileSinkCountsLinesItCouldNotWrite) {
  auto sink = FileSink::Open("/dev/full");  // every write fails with ENOSPC
  ASSERT_TRUE(sink.ok()) << sink.status().ToString();
  Fixture f;
  Logger logger({.node = "n"}, LoggerOptions{.sink = *sink, .clock = &f.clock});
  logger.Info("one");
  logger.Warn("two");
  EXPECT_EQ((*sink)->failed_writes(), 2u);
}

TEST(Log, FileSinkOpenErrorNamesPath) {
  auto sink = FileSink::Open("/nonexistent-dir/dsmil.log");
  ASSERT_FALSE(sink.ok());
  EXPECT_EQ(sink.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(sink.status().message().find("/nonexistent-dir/dsmil.log"), std::string::npos);
}

TEST(Log, DefaultLogger) {
  Fixture f;
  const Logger& before = DefaultLogger();
  EXPECT_TRUE(before.labels().node.empty());
  SetDefaultLogger(Logger({.node = "node-x"}, f.Options()));
  DefaultLogger().Info("hello");
  EXPECT_EQ(before.labels().node, "");  // old reference still valid
  ASSERT_EQ(f.sink->lines().size(), 1u);
  EXPECT_EQ(json::parse(f.sink->lines()[0])["node"], "node-x");
}

}  // namespace
}  // namespace dsmil
