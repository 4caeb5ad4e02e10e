// `dsmilctl tenant list` against real Redis 7 and PostgreSQL 15 with the
// tenants' ACLs and roles: ✓ PASS for ALPHA and BRAVO, then, after granting
// alpha_reader the BRAVO_* keys, ✗ FAIL naming the leaking path.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/metrics.h"
#include "shell_util.h"
#include "store/isolation_audit.h"
#include "store/redis_acl.h"
#include "store/scope.h"
#include "store/streams.h"
#include "tenant_servers.h"

namespace dsmil {
namespace {

namespace fs = std::filesystem;

using testutil::RunResult;
using testutil::RunShell;
using testutil::TenantServers;
using testutil::Write;

TEST(TenantList, PassOnRealServersThenFailNamingACrossTenantRedisGrant) {
  char tmpl[] = "/tmp/dsmil-tenant-list-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  TenantServers env;
  ASSERT_NO_FATAL_FAILURE(env.Start(dir));
  std::string config = Write(dir + "/node-c.yaml",
                             "node: {name: node-c, role: data, address: 127.0.0.1}\n"
                             "tls: {ca: ca.crt, cert: node-c.crt, key: node-c.key}\n"
                             "tenants:\n"
                             "  - {id: ALPHA, roe_level: SOC_ASSIST, compartments: [SOC]}\n"
                             "  - {id: BRAVO, roe_level: ANALYSIS_ONLY, compartments: [SOC]}\n" +
                                 env.StoresYaml(),
                             0644);

  // Some data of each tenant, written with its own credentials.
  const store::StoresConfig& sc = env.stores;
  for (const auto& scope : env.scopes) {
    auto w = store::OpenStreams(sc, scope, store::Access::kWriter);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    std::vector<std::string> payloads(scope.tenant() == "ALPHA" ? 6 : 3, "{\"e\":1}");
    ASSERT_TRUE((*w)->Append(store::StreamKind::kL3In, payloads).ok());
  }

  // Its own (empty) dsmilctl config: the stores are audited here, the entry
  // points of running nodes in tenant_list_entry_test.
  std::string ctl = std::string(DSMIL_BINARY_DIR) + "/bin/dsmilctl --config " + dir +
                    "/dsmilctl.yaml tenant list --node-config " + config + " --keys-file " + dir + "/api_keys";
  RunResult pass = RunShell(ctl);
  EXPECT_EQ(pass.exit_code, 0) << pass.out;
  size_t first = pass.out.find("Isolation Status: ✓ PASS");
  ASSERT_NE(first, std::string::npos) << pass.out;
  EXPECT_NE(pass.out.find("Isolation Status: ✓ PASS", first + 1), std::string::npos) << pass.out;
  EXPECT_NE(pass.out.find("ALPHA_L3_IN, ALPHA_L3_OUT"), std::string::npos) << pass.out;
  EXPECT_NE(pass.out.find("dsmil_alpha (0 events archived)"), std::string::npos) << pass.out;
  EXPECT_NE(pass.out.find("ROE Level: ANALYSIS_ONLY"), std::string::npos) << pass.out;
  EXPECT_EQ(pass.out.find("could not be checked"), std::string::npos) << pass.out;

  RunResult js = RunShell(ctl + " -o json");
  ASSERT_EQ(js.exit_code, 0) << js.out;
  auto j = nlohmann::json::parse(js.out);
  ASSERT_EQ(j["tenants"].size(), 2u);
  for (const auto& t : j["tenants"]) {
    EXPECT_EQ(t["isolation"], "PASS");
    // Redis writer, ingest and reader (4 attempts) and PostgreSQL (5) against the other tenant.
    EXPECT_EQ(t["checks"].size(), 9u) << t.dump(2);
    for (const auto& c : t["checks"]) EXPECT_TRUE(c["refused"].get<bool>()) << c.dump();
  }

  // The data node's own timer runs the same probes: both tenants pass.
  auto audit_gauges = [&] {
    Registry registry;
    auto auditor =
        store::IsolationAuditor::Start(sc, {"ALPHA", "BRAVO"}, std::chrono::seconds(3600), &registry, nullptr);
    EXPECT_TRUE(auditor.ok()) << auditor.status().ToString();
    std::map<std::string, store::IsolationAuditor::TenantResult> latest;
    for (int i = 0; i < 200 && latest.size() < 2; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      latest = (*auditor)->Latest();
    }
    EXPECT_EQ(latest.size(), 2u);
    auto& ok = registry.AddGauge("dsmil_tenant_isolation_ok", "", {"tenant_id"});
    return std::make_pair(ok.Labels({"ALPHA"}).Value(), ok.Labels({"BRAVO"}).Value());
  };
  EXPECT_EQ(audit_gauges(), std::make_pair(1.0, 1.0));

  // Grant ALPHA's reader BRAVO's keys: the audit must fail and name the path.
  RunResult grant = RunShell("REDISCLI_AUTH=" + env.passwords.at(store::kRedisAdminUser) +
                             " redis-cli -h 127.0.0.1 -p " + std::to_string(env.redis->port()) + " --user " +
                             store::kRedisAdminUser + " ACL SETUSER alpha_reader '~BRAVO_*'");
  ASSERT_NE(grant.out.find("OK"), std::string::npos) << grant.out;
  RunResult fail = RunShell(ctl);
  EXPECT_EQ(fail.exit_code, 1) << fail.out;
  EXPECT_NE(fail.out.find("Isolation Status: ✗ FAIL"), std::string::npos) << fail.out;
  EXPECT_NE(fail.out.find("redis: alpha_reader XRANGE BRAVO_SOC_EVENTS"), std::string::npos) << fail.out;
  EXPECT_NE(fail.out.find("redis: alpha_reader XLEN BRAVO_L3_IN: read allowed (length 3)"), std::string::npos)
      << fail.out;
  EXPECT_NE(fail.out.find("Isolation Status: ✓ PASS"), std::string::npos) << "BRAVO's own credentials still refused";
  EXPECT_EQ(audit_gauges(), std::make_pair(0.0, 1.0));  // dsmil_tenant_isolation_ok falls to 0 for ALPHA

  env.redis.reset();
  env.pg.reset();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dsmil
