// End to end through a real node: dsmild hosting device 61 on loopback with
// its own PKI, and the operator commands of docs/l9.md — operator register,
// roe issue|list|revoke, nc3 request|sign|query, test-dbe-message (drill 5).
// Uses the dsmild and dsmilctl built beside this test (<build>/bin).
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

class Nc3CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::path bin = fs::read_symlink("/proc/self/exe").parent_path().parent_path().parent_path().parent_path() / "bin";
    ctl_ = (bin / "dsmilctl").string();
    std::string dsmild = (bin / "dsmild").string();
    if (!fs::exists(ctl_) || !fs::exists(dsmild)) GTEST_SKIP() << "dsmild or dsmilctl not built in " << bin;
    char tmpl[] = "/tmp/dsmil-l9cli-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_EQ(Run("pki init --dir pki --nodes node-a --operators admin --tenants ALPHA --ip node-a=127.0.0.1").rc, 0);
    // dsmild is a program of its own: it is told numbers, reserved for the
    // life of the test.
    auto ports = dsmil::testing::ReservePorts(3);
    ASSERT_TRUE(ports.ok()) << ports.status().ToString();
    ports_ = std::move(*ports);
    int http = ports_[0].port(), control = ports_[1].port(), dbe = ports_[2].port();
    std::ofstream(dir_ + "/node-a.yaml") << "node: {name: node-a, role: soc, address: 127.0.0.1}\n"
                                         << "listen: {http: \"127.0.0.1:" << http
                                         << "\", control: \"127.0.0.1:" << control << "\", dbe: \"127.0.0.1:" << dbe
                                         << "\"}\n"
                                         << "tls: {ca: pki/ca.crt, cert: pki/node-a.crt, key: pki/node-a.key}\n"
                                         << "tenants:\n"
                                         << "  - {id: ALPHA, roe_level: SOC_ASSIST, compartments: [SOC, NC3]}\n"
                                         << "  - {id: BRAVO, roe_level: ANALYSIS_ONLY, compartments: [SOC]}\n"
                                         << "stores: {kind: embedded, path: data}\n"
                                         << "devices: [{id: 61}, {id: 62}]\nlogging: {level: warn}\n";
    pid_ = ::fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      std::string log = dir_ + "/dsmild.log", cfg = dir_ + "/node-a.yaml";
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
    ASSERT_EQ(Run("config add-node NODE-A https://127.0.0.1:" + std::to_string(control) + " --cert pki/ca.crt").rc, 0);
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

  std::string dir_, ctl_;
  std::vector<dsmil::testing::PortReservation> ports_;
  pid_t pid_ = -1;
};

TEST_F(Nc3CliTest, OperatorWorkflowThroughTheControlApi) {
  // Drill 5 as the spec writes it.
  Out d5 = Run("test-dbe-message --type=0x62 --tenant=ALPHA --device-dst=61 --no-roe-token");
  EXPECT_EQ(d5.rc, 1) << d5.text;
  EXPECT_NE(d5.text.find("result: ERROR INVALID_ROE_TOKEN"), std::string::npos) << d5.text;
  // Device 62 is built and takes L9_COALITION_REQ only.
  Out d62 = Run("test-dbe-message --type=0x62 --tenant=ALPHA --device-dst=62");
  EXPECT_NE(d62.text.find("result: ERROR UNSUPPORTED_MESSAGE_TYPE"), std::string::npos) << d62.text;

  for (const char* who : {"alice", "bob", "mallory"}) {
    ASSERT_EQ(Run(std::string("keys gen --alg ml-dsa-87 --out ") + who).rc, 0);
  }
  ASSERT_EQ(Run("operator register alice --pub alice.pub --data-dir data").rc, 0);
  ASSERT_EQ(Run("operator register bob --pub bob.pub --data-dir data").rc, 0);
  EXPECT_EQ(Run("operator register bob2 --pub bob.pub --data-dir data").rc, 1);  // one key, one operator
  Out issued = Run("roe issue --tenant ALPHA --scope nc3 --ttl 15m --issuer CN=roe-officer --data-dir data");
  ASSERT_EQ(issued.rc, 0) << issued.text;
  std::string token = issued.text.substr(0, issued.text.find('\n'));
  ASSERT_EQ(token.rfind("roe-", 0), 0u) << issued.text;
  Out listed = Run("roe list --data-dir data");
  EXPECT_NE(listed.text.find(token), std::string::npos);
  EXPECT_NE(listed.text.find("valid"), std::string::npos);

  ASSERT_EQ(Run("nc3 request --tenant ALPHA --roe-token " + token + " -o req.dbe").rc, 0);
  for (const char* who : {"alice", "bob", "mallory"}) {
    std::string args = "nc3 sign req.dbe --key ";
    args.append(who).append(".key --name ").append(who).append(" -o ").append(who).append(".sig");
    ASSERT_EQ(Run(args).rc, 0);
  }
  // Drill 6: one signature.
  Out d6 = Run("nc3 query req.dbe --sig alice.sig");
  EXPECT_EQ(d6.rc, 1);
  EXPECT_NE(d6.text.find("result: ERROR MISSING_TWO_PERSON_SIGNATURES"), std::string::npos) << d6.text;
  Out unknown = Run("nc3 query req.dbe --sig alice.sig --sig mallory.sig");
  EXPECT_NE(unknown.text.find("result: ERROR UNKNOWN_SIGNER"), std::string::npos) << unknown.text;
  Out dup = Run("nc3 query req.dbe --sig alice.sig --sig alice.sig");
  EXPECT_NE(dup.text.find("result: ERROR DUPLICATE_SIGNER"), std::string::npos) << dup.text;

  Out ok = Run("nc3 query req.dbe --sig alice.sig --sig bob.sig");
  EXPECT_EQ(ok.rc, 0) << ok.text;
  EXPECT_NE(ok.text.find("result: L9_NC3_RESP"), std::string::npos) << ok.text;
  EXPECT_NE(ok.text.find("\"signers\":[\"alice\",\"bob\"]"), std::string::npos) << ok.text;
  EXPECT_NE(ok.text.find("\"nc3_link\":\"NOT_CONNECTED\""), std::string::npos) << ok.text;
  Out replay = Run("nc3 query req.dbe --sig alice.sig --sig bob.sig");
  EXPECT_NE(replay.text.find("result: ERROR REPLAYED_REQUEST"), std::string::npos) << replay.text;

  ASSERT_EQ(Run("roe revoke " + token + " --data-dir data").rc, 0);
  ASSERT_EQ(Run("nc3 request --tenant ALPHA --roe-token " + token + " -o req2.dbe").rc, 0);
  ASSERT_EQ(Run("nc3 sign req2.dbe --key alice.key --name alice -o a2.sig").rc, 0);
  ASSERT_EQ(Run("nc3 sign req2.dbe --key bob.key --name bob -o b2.sig").rc, 0);
  Out revoked = Run("nc3 query req2.dbe --sig a2.sig --sig b2.sig");
  EXPECT_NE(revoked.text.find("result: ERROR INVALID_ROE_TOKEN"), std::string::npos) << revoked.text;

  // The chain of ALPHA holds the refusals and the one authorization.
  store::StoresConfig stores;
  stores.path = dir_ + "/data";
  auto archive = store::OpenArchive(stores, *store::TenantScope::For("ALPHA"));
  ASSERT_TRUE(archive.ok()) << archive.status().ToString();
  auto rows = (*archive)->ReadAudit();
  ASSERT_TRUE(rows.ok());
  int authorized = 0, refused = 0;
  for (const auto& r : *rows) {
    if (r.event_type == "NC3_QUERY_AUTHORIZED") ++authorized;
    if (r.detail.find("dbe:device61") != std::string::npos) ++refused;
  }
  EXPECT_EQ(authorized, 1);
  EXPECT_EQ(refused, 6);  // drill 5, drill 6, unknown, duplicate, replay, revoked
}

}  // namespace
}  // namespace dsmil::devices
