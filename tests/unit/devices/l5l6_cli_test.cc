// End to end through a real node: dsmild hosting devices 33-35 and 37 on
// loopback with its own PKI, `dsmilctl forecast` and `dsmilctl risk` over
// POST /v1/dbe (docs/l5-l6.md). Uses the dsmild and dsmilctl built beside
// this test (<build>/bin).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "store/archive.h"
#include "store/scope.h"
#include "support/ports.h"

namespace dsmil::devices {
namespace {

namespace fs = std::filesystem;

bool Accepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

struct Out {
  int rc = -1;
  std::string text;
};

class L5L6CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::path bin = fs::read_symlink("/proc/self/exe").parent_path().parent_path().parent_path().parent_path() / "bin";
    ctl_ = (bin / "dsmilctl").string();
    std::string dsmild = (bin / "dsmild").string();
    if (!fs::exists(ctl_) || !fs::exists(dsmild)) GTEST_SKIP() << "dsmild or dsmilctl not built in " << bin;
    char tmpl[] = "/tmp/dsmil-l5l6cli-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_EQ(Run("pki init --dir pki --nodes node-b --operators admin --tenants ALPHA --ip node-b=127.0.0.1").rc, 0);
    // dsmild is a program of its own: it is told numbers, reserved for the
    // life of the test.
    auto ports = dsmil::testing::ReservePorts(3);
    ASSERT_TRUE(ports.ok()) << ports.status().ToString();
    ports_ = std::move(*ports);
    int http = ports_[0].port(), control = ports_[1].port(), dbe = ports_[2].port();
    std::ofstream(dir_ + "/node-b.yaml")
        << "node: {name: node-b, role: ai, address: 127.0.0.1}\n"
        << "listen: {http: \"127.0.0.1:" << http << "\", control: \"127.0.0.1:" << control
        << "\", dbe: \"127.0.0.1:" << dbe << "\"}\n"
        << "tls: {ca: pki/ca.crt, cert: pki/node-b.crt, key: pki/node-b.key}\n"
        << "tenants:\n"
        << "  - {id: ALPHA, roe_level: SOC_ASSIST, compartments: [SOC, NC3]}\n"
        << "  - {id: BRAVO, roe_level: ANALYSIS_ONLY, compartments: [SOC]}\n"
        << "stores: {kind: embedded, path: data}\n"
        << "devices: [{id: 33}, {id: 34}, {id: 35}, {id: 37}]\nlogging: {level: warn}\n";
    SeedArchive();
    pid_ = ::fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      std::string log = dir_ + "/dsmild.log", cfg = dir_ + "/node-b.yaml";
      FILE* f = std::freopen(log.c_str(), "w", stdout);
      if (f != nullptr) ::dup2(::fileno(stdout), 2);
      ::execl(dsmild.c_str(), dsmild.c_str(), "--config", cfg.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!Accepts(control) && std::chrono::steady_clock::now() < end) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(Accepts(control)) << "dsmild did not come up; see " << dir_ << "/dsmild.log";
    ASSERT_EQ(Run("config add-node NODE-B https://127.0.0.1:" + std::to_string(control) + " --cert pki/ca.crt").rc, 0);
    ASSERT_EQ(Run("config set-operator --cert pki/operator-admin.crt --key pki/operator-admin.key").rc, 0);
  }

  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int st = 0;
      ::waitpid(pid_, &st, 0);
    }
    if (!dir_.empty() && !HasFailure()) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
  }

  // dsmilctl ARGS in the test directory; exit status and stdout + stderr.
  Out Run(const std::string& args) {
    std::string cmd = "cd '" + dir_ + "' && DSMILCTL_CONFIG='" + dir_ + "/ctl.yaml' '" + ctl_ + "' " + args + " 2>&1";
    Out o;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) return o;
    std::array<char, 4096> buf{};
    size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) o.text.append(buf.data(), n);
    int st = ::pclose(p);
    o.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return o;
  }

  // ALPHA: five days of hourly events with a daily cycle and a burst in the
  // last whole hour; BRAVO: one day only.
  void SeedArchive() {
    store::StoresConfig stores;
    stores.path = dir_ + "/data";
    const int64_t now =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    const int64_t hour = 3600000, end = now - now % hour;
    for (const char* tenant : {"ALPHA", "BRAVO"}) {
      int days = std::string(tenant) == "ALPHA" ? 5 : 1;
      std::vector<store::ArchivedEvent> rows;
      int n = std::string(tenant) == "ALPHA" ? 0 : 100000;
      for (int64_t h = end - days * 24 * hour; h < end; h += hour) {
        int count = 10 + int(6 * std::sin(2 * M_PI * double((h / hour) % 24) / 24.0)) + (h == end - hour ? 40 : 0);
        for (int i = 0; i < count; ++i) {
          char id[40];
          std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", ++n);
          const char* cat = i % 3 == 0 ? "MALWARE" : "NETWORK";
          const char* sev = i % 3 == 0 ? "HIGH" : "LOW";
          int64_t ts = h + 1000 + i;
          std::string body = std::string("{\"event_id\":\"") + id + "\",\"ts_ms\":" + std::to_string(ts) +
                             ",\"source\":\"edr-01\",\"features\":{\"src_host\":\"ws-" + std::to_string(i % 3) +
                             "\"},\"l4\":{\"category\":\"" + cat + "\",\"severity\":\"" + sev +
                             "\",\"confidence\":0.9,\"device\":25,\"ts_ms\":" + std::to_string(ts) + "}}";
          rows.push_back({id, ts, cat, sev, body});
        }
      }
      auto archive = store::OpenArchive(stores, *store::TenantScope::For(tenant));
      ASSERT_TRUE(archive.ok()) << archive.status().ToString();
      ASSERT_TRUE((*archive)->Ingest(rows).ok());
    }
  }

  std::string dir_, ctl_;
  std::vector<dsmil::testing::PortReservation> ports_;
  pid_t pid_ = -1;
};

TEST_F(L5L6CliTest, ForecastAndRiskThroughTheControlApi) {
  Out table = Run("forecast --tenant ALPHA --hours 6");
  ASSERT_EQ(table.rc, 0) << table.text;
  EXPECT_NE(table.text.find("via NODE-B (hosts device 33)"), std::string::npos) << table.text;
  EXPECT_NE(table.text.find("Rate (device 33)"), std::string::npos);
  EXPECT_NE(table.text.find("Severity mix (device 34)"), std::string::npos);
  EXPECT_NE(table.text.find("L5_RATE_ANOMALY_HIGH  TOTAL"), std::string::npos) << table.text;
  EXPECT_NE(table.text.find("95% INTERVAL"), std::string::npos);

  Out js = Run("forecast --tenant ALPHA --hours 6 -o json");
  ASSERT_EQ(js.rc, 0) << js.text;
  EXPECT_NE(js.text.find("\"part\": \"rate\""), std::string::npos);
  EXPECT_NE(js.text.find("\"already_recorded\""), std::string::npos);

  // Device 35 checking a week needs 72 + 168 hours; ALPHA has 120.
  Out little = Run("forecast --tenant ALPHA --check-hours 168");
  EXPECT_EQ(little.rc, 1) << little.text;
  EXPECT_NE(little.text.find("device 35: INSUFFICIENT_HISTORY"), std::string::npos) << little.text;
  EXPECT_NE(little.text.find("at least 240 complete hours (10 days)"), std::string::npos) << little.text;
  EXPECT_NE(little.text.find("has 120 hours"), std::string::npos) << little.text;
  // The operator's certificate covers ALPHA only: BRAVO's archive is not read.
  Out other = Run("forecast --tenant BRAVO");
  EXPECT_EQ(other.rc, 1) << other.text;
  EXPECT_NE(other.text.find("CERT_DOES_NOT_COVER_TENANT"), std::string::npos) << other.text;

  std::ofstream(dir_ + "/scenario.json") << R"({"assets": [{"host": "db-01", "impact": 500, "impact_sd": 100}],
             "edges": [{"from": "ws-0", "to": "db-01", "p": 0.3}], "default_impact": 10, "samples": 20000, "seed": 9})";
  Out risk = Run("risk --tenant ALPHA --scenario scenario.json");
  ASSERT_EQ(risk.rc, 0) << risk.text;
  EXPECT_NE(risk.text.find("via NODE-B (hosts device 37)"), std::string::npos) << risk.text;
  EXPECT_NE(risk.text.find("Monte Carlo standard error"), std::string::npos);
  EXPECT_NE(risk.text.find("db-01"), std::string::npos);
  EXPECT_NE(risk.text.find("scenario+archive"), std::string::npos) << risk.text;  // ws-0 is in both
  Out again = Run("risk --tenant ALPHA --scenario scenario.json -o json");
  Out twice = Run("risk --tenant ALPHA --scenario scenario.json -o json");
  auto loss = [](const std::string& s) { return s.substr(s.find("\"loss\""), 200); };
  EXPECT_EQ(loss(again.text), loss(twice.text));  // the same seed, the same distribution

  // The L5 flag is in ALPHA's audit chain, once.
  store::StoresConfig stores;
  stores.path = dir_ + "/data";
  auto archive = store::OpenArchive(stores, *store::TenantScope::For("ALPHA"));
  ASSERT_TRUE(archive.ok());
  auto rows = (*archive)->ReadAudit();
  ASSERT_TRUE(rows.ok());
  int total_high = 0;
  for (const auto& r : *rows) {
    if (r.event_type == "L5_RATE_ANOMALY_HIGH" && r.detail.find("\"series\":\"TOTAL\"") != std::string::npos) {
      ++total_high;
    }
  }
  EXPECT_EQ(total_high, 1);
}

}  // namespace
}  // namespace dsmil::devices
