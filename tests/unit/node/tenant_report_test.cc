// node/tenant_report.h: a tenant's report on real embedded stores, and its
// JSON form (what GET /v1/tenants?inspect=1 sends) read back unchanged.
#include "node/tenant_report.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "store/archive.h"
#include "store/scope.h"

namespace dsmil::node {
namespace {

TEST(TenantReport, EmbeddedStoresAndTheJsonRoundTrip) {
  std::string dir =
      (std::filesystem::temp_directory_path() / ("tenant_report_test." + std::to_string(::getpid()))).string();
  NodeConfig cfg;
  cfg.name = "node-c";
  cfg.stores.kind = "embedded";
  cfg.stores.path = dir;
  cfg.tenants = {{"ALPHA", "SOC_ASSIST", {"SOC"}}, {"BRAVO", "ANALYSIS_ONLY", {"SOC"}}};
  {
    auto archive = store::OpenArchive(cfg.stores, *store::TenantScope::For("ALPHA"));
    ASSERT_TRUE(archive.ok()) << archive.status().ToString();
    std::vector<store::ArchivedEvent> rows;
    for (int i = 0; i < 1234; ++i) {
      char id[40];
      std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", i);
      rows.push_back({id, 1760000000000 + i, "NETWORK", "LOW", "{}"});
    }
    ASSERT_TRUE((*archive)->Ingest(rows).ok());
  }
  TenantReport r = InspectTenant(cfg, cfg.tenants[0]);
  EXPECT_EQ(r.id, "ALPHA");
  EXPECT_EQ(r.roe, "SOC_ASSIST");
  EXPECT_EQ(r.archived, "1,234 events archived");
  EXPECT_EQ(r.streams.front(), "ALPHA_L3_IN");
  EXPECT_EQ(r.api_keys, "0");
  EXPECT_FALSE(r.probes.empty());
  EXPECT_TRUE(r.pass());
  auto back = TenantReportFromJson(TenantReportJson(r));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(TenantReportJson(*back), TenantReportJson(r));
  EXPECT_EQ(TenantReportJson(r)["isolation"], "PASS");
  // A report that lost a field is refused by name.
  nlohmann::json broken = TenantReportJson(r);
  broken.erase("checks");
  EXPECT_NE(TenantReportFromJson(broken).status().message().find("checks"), std::string::npos);
  broken = TenantReportJson(r);
  broken["archived"] = 5;
  EXPECT_NE(TenantReportFromJson(broken).status().message().find("archived"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dsmil::node
