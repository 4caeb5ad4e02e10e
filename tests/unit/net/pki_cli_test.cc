// `dsmilctl pki revoke` and `dsmilctl pki crl` end to end, the CRL they write
// checked by a running HTTPS server, and `dsmild --check` on tls.crl. Needs
// <build>/bin/dsmilctl and <build>/bin/dsmild; fails naming them when missing.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "crypto/x509.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "net/revocation.h"
#include "test_util.h"

namespace dsmil::net {
namespace {

using namespace std::chrono_literals;

const std::string kCtl = std::string(DSMIL_BINARY_DIR) + "/bin/dsmilctl";
const std::string kDsmild = std::string(DSMIL_BINARY_DIR) + "/bin/dsmild";

struct CliRun {
  int exit_code = -1;
  std::string output;  // stdout + stderr
};

// Runs `program args...` through the shell; arguments are single-quoted.
CliRun Exec(const std::string& program, const std::vector<std::string>& args) {
  std::string cmd = program;
  for (const auto& a : args) cmd += " '" + a + "'";
  cmd += " 2>&1";
  CliRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class PkiCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(access(kCtl.c_str(), X_OK), 0) << kCtl << " is missing: build the dsmilctl target first";
    pki_ = dir_.path() + "/pki";
    CliRun init = Ctl({"pki", "init", "--dir", pki_, "--nodes", "node-a", "--operators", "alice,bob"});
    ASSERT_EQ(init.exit_code, 0) << init.output;
  }

  CliRun Ctl(const std::vector<std::string>& args) { return Exec(kCtl, args); }

  std::string Serial(const std::string& stem) {
    auto info = crypto::LoadCertificateFile(pki_ + "/" + stem + ".crt");
    EXPECT_TRUE(info.ok());
    return info.ok() ? *crypto::NormalizeSerialHex(info->serial_hex) : "";
  }

  HttpClientRequest Req(uint16_t port, const std::string& stem) {
    HttpClientRequest r;
    r.url = "https://127.0.0.1:" + std::to_string(port) + "/";
    r.ca_file = pki_ + "/ca.crt";
    r.cert_file = pki_ + "/" + stem + ".crt";
    r.key_file = pki_ + "/" + stem + ".key";
    r.timeout = 5s;
    return r;
  }

  testing::TempDir dir_;
  std::string pki_;
};

TEST_F(PkiCliTest, RevokeListAndEnforce) {
  // pki init wrote an empty, signed CRL.
  CliRun list = Ctl({"pki", "crl", "--dir", pki_});
  EXPECT_EQ(list.exit_code, 0) << list.output;
  EXPECT_NE(list.output.find("verified:     ok"), std::string::npos) << list.output;
  EXPECT_NE(list.output.find("revoked:      0"), std::string::npos) << list.output;

  // A server checking that CRL serves both operators.
  HttpServerOptions o;
  o.tls = TlsOptions{pki_ + "/node-a.crt", pki_ + "/node-a.key", pki_ + "/ca.crt", true, pki_ + "/crl.pem"};
  o.handler = [](const HttpRequest& req) { return HttpResponse{200, "text/plain", *req.client_cert_cn, {}, {}}; };
  auto server = HttpServer::Start(std::move(o));
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  uint16_t port = (*server)->port();
  ASSERT_TRUE(HttpFetch(Req(port, "operator-alice")).ok());
  ASSERT_TRUE(HttpFetch(Req(port, "operator-bob")).ok());

  CliRun revoke = Ctl({"pki", "revoke", "--dir", pki_, "--operator", "alice", "--reason", "keyCompromise"});
  ASSERT_EQ(revoke.exit_code, 0) << revoke.output;
  EXPECT_NE(revoke.output.find("revoked CN=operator-alice, serial " + Serial("operator-alice")), std::string::npos)
      << revoke.output;
  EXPECT_TRUE(std::filesystem::exists(pki_ + "/revoked/" + Serial("operator-alice") + ".crt"));

  // The running server refuses her within about a second; bob still works.
  auto start = std::chrono::steady_clock::now();
  while (HttpFetch(Req(port, "operator-alice")).ok() && std::chrono::steady_clock::now() - start < 5s) {
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2500ms);
  auto alice = HttpFetch(Req(port, "operator-alice"));
  EXPECT_FALSE(alice.ok());
  EXPECT_NE(alice.status().message().find("revoked"), std::string::npos) << alice.status().message();
  auto bob = HttpFetch(Req(port, "operator-bob"));
  ASSERT_TRUE(bob.ok()) << bob.status().ToString();
  EXPECT_EQ(bob->body, "operator-bob");

  // Listing names her; revoking again changes nothing.
  list = Ctl({"pki", "revoked", "--dir", pki_});
  EXPECT_EQ(list.exit_code, 0) << list.output;
  EXPECT_NE(list.output.find(Serial("operator-alice")), std::string::npos) << list.output;
  EXPECT_NE(list.output.find("keyCompromise  CN=operator-alice"), std::string::npos) << list.output;
  CliRun again = Ctl({"pki", "revoke", "--dir", pki_, pki_ + "/operator-alice.crt"});
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("already revoked"), std::string::npos) << again.output;

  // By serial (the node certificate), then the list holds both.
  CliRun by_serial = Ctl({"pki", "revoke", "--dir", pki_, "--serial", Serial("node-a"), "--reason", "superseded"});
  ASSERT_EQ(by_serial.exit_code, 0) << by_serial.output;
  EXPECT_NE(by_serial.output.find("CN=node-a"), std::string::npos) << by_serial.output;
  auto info =
      crypto::ParseCrlPem(std::string(std::istreambuf_iterator<char>(std::ifstream(pki_ + "/crl.pem").rdbuf()), {}));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->revoked.size(), 2u);
  EXPECT_EQ(info->number, 3u);  // init 1, alice 2, node-a 3
  auto rl = RevocationList::Load(pki_ + "/crl.pem", pki_ + "/ca.crt");
  ASSERT_TRUE(rl.ok()) << rl.status().ToString();
  EXPECT_TRUE((*rl)->IsRevoked(Serial("operator-alice")));
  EXPECT_TRUE((*rl)->IsRevoked(Serial("node-a")));
  EXPECT_FALSE((*rl)->IsRevoked(Serial("operator-bob")));

  // --sign re-signs the same list with the next number.
  CliRun sign = Ctl({"pki", "crl", "--dir", pki_, "--sign"});
  EXPECT_EQ(sign.exit_code, 0) << sign.output;
  EXPECT_NE(sign.output.find("CRL number:   4"), std::string::npos) << sign.output;
  EXPECT_NE(sign.output.find("revoked:      2"), std::string::npos) << sign.output;
}

TEST_F(PkiCliTest, BadInputIsRefused) {
  // A certificate of another CA cannot be revoked here.
  std::string other = dir_.path() + "/other";
  ASSERT_EQ(Ctl({"pki", "init", "--dir", other, "--nodes", "node-a", "--operators", "mallory"}).exit_code, 0);
  CliRun foreign = Ctl({"pki", "revoke", "--dir", pki_, other + "/operator-mallory.crt"});
  EXPECT_EQ(foreign.exit_code, 1) << foreign.output;
  EXPECT_NE(foreign.output.find("was not issued by"), std::string::npos) << foreign.output;
  CliRun reason = Ctl({"pki", "revoke", "--dir", pki_, "--operator", "alice", "--reason", "because"});
  EXPECT_EQ(reason.exit_code, 2) << reason.output;
  EXPECT_NE(reason.output.find("--reason"), std::string::npos);
  CliRun none = Ctl({"pki", "revoke", "--dir", pki_});
  EXPECT_EQ(none.exit_code, 2) << none.output;
  CliRun two = Ctl({"pki", "revoke", "--dir", pki_, "--operator", "alice", "--serial", "01"});
  EXPECT_EQ(two.exit_code, 2) << two.output;
  CliRun missing = Ctl({"pki", "revoke", "--dir", pki_, "--operator", "nobody"});
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  // A CRL from the other CA does not verify: listing says so, revoke refuses
  // to build on it.
  std::filesystem::copy_file(other + "/crl.pem", pki_ + "/crl.pem", std::filesystem::copy_options::overwrite_existing);
  CliRun list = Ctl({"pki", "crl", "--dir", pki_});
  EXPECT_EQ(list.exit_code, 1) << list.output;
  EXPECT_NE(list.output.find("verified:     NO"), std::string::npos) << list.output;
  CliRun on_bad = Ctl({"pki", "revoke", "--dir", pki_, "--operator", "alice"});
  EXPECT_EQ(on_bad.exit_code, 2) << on_bad.output;
  EXPECT_NE(on_bad.output.find("does not verify"), std::string::npos) << on_bad.output;
}

TEST_F(PkiCliTest, DsmildCheckNamesABadCrl) {
  ASSERT_EQ(access(kDsmild.c_str(), X_OK), 0) << kDsmild << " is missing: build the dsmild target first";
  auto write_config = [&](const std::string& crl) {
    std::string path = dir_.path() + "/node-a.yaml";
    std::ofstream(path) << "node: {name: node-a, role: data}\n"
                           "tenants: [{id: ALPHA, roe_level: SOC_ASSIST, compartments: [SOC]}]\n"
                           "tls: {ca: pki/ca.crt, cert: pki/node-a.crt, key: pki/node-a.key, crl: "
                        << crl
                        << "}\n"
                           "stores: {kind: embedded, path: data}\n";
    return path;
  };
  CliRun good = Exec(kDsmild, {"--config", write_config("pki/crl.pem"), "--check"});
  EXPECT_EQ(good.exit_code, 0) << good.output;
  std::string other = dir_.path() + "/other";
  ASSERT_EQ(Ctl({"pki", "init", "--dir", other, "--nodes", "node-a"}).exit_code, 0);
  CliRun foreign = Exec(kDsmild, {"--config", write_config(other + "/crl.pem"), "--check"});
  EXPECT_EQ(foreign.exit_code, 2) << foreign.output;
  EXPECT_NE(foreign.output.find("tls.crl"), std::string::npos) << foreign.output;
  EXPECT_NE(foreign.output.find("does not verify against"), std::string::npos) << foreign.output;
  CliRun missing = Exec(kDsmild, {"--config", write_config("pki/none.pem"), "--check"});
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_NE(missing.output.find("none.pem"), std::string::npos) << missing.output;
}

}  // namespace
}  // namespace dsmil::net
