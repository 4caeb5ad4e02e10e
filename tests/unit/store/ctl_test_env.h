// What the dsmilctl tests on the embedded archive share (archive_cli_test,
// audit_cli_test): a temporary directory holding a node config node-c.yaml
// for tenant ALPHA on the embedded stores under data/, the StoresConfig that
// reaches them, and dsmilctl run with its exit status and output. Needs the
// dsmilctl binary (<build>/bin/dsmilctl); SetUp fails naming it when missing.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "postgres_server.h"
#include "store/archive.h"
#include "store/config.h"
#include "store/scope.h"

namespace dsmil::store::testenv {

inline const std::string kCtl = std::string(DSMIL_BINARY_DIR) + "/bin/dsmilctl";

class CtlArchiveTest : public ::testing::Test {
 protected:
  // `prefix` names the temporary directory: /tmp/<prefix>-XXXXXX.
  explicit CtlArchiveTest(std::string prefix) : prefix_(std::move(prefix)) {}

  void SetUp() override {
    ASSERT_EQ(access(kCtl.c_str(), X_OK), 0) << kCtl << " is missing: build the dsmilctl target first";
    std::string tmpl = "/tmp/" + prefix_ + "-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    config_path_ = WriteConfig("node-c.yaml", "");
    stores_.kind = "embedded";
    stores_.path = dir_ + "/data";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Writes <dir>/<name>: the node config for ALPHA, then `extra` (more
  // top-level sections); returns its path.
  std::string WriteConfig(const std::string& name, const std::string& extra) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << "node: {name: node-c, role: data}\n"
                           "tenants: [{id: ALPHA, roe_level: SOC_ASSIST, compartments: [SOC]}]\n"
                           "tls: {ca: pki/ca.crt, cert: pki/node-c.crt, key: pki/node-c.key}\n"
                           "stores: {kind: embedded, path: data}\n"
                        << extra;
    return path;
  }

  // Appends `n` rows to ALPHA's audit chain (seq 1..n).
  void AppendAlphaAudit(int n) {
    auto a = OpenArchive(stores_, TenantScope::For("ALPHA").value());
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    for (int i = 0; i < n; ++i) ASSERT_TRUE((*a)->AppendAudit(i, "AUTH_FAILED", "cn=op", "{}").ok());
  }

  dsmil::testing::ProgramResult Ctl(std::vector<std::string> args) {
    args.insert(args.begin(), kCtl);
    auto r = dsmil::testing::RunProgram(args);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : dsmil::testing::ProgramResult{};
  }

  std::string prefix_, dir_, config_path_;
  StoresConfig stores_;
};

}  // namespace dsmil::store::testenv
