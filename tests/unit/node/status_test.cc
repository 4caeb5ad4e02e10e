#include "node/status.h"

#include <gtest/gtest.h>

namespace dsmil::node {
namespace {

NodeStatus Sample() {
  NodeStatus s;
  s.node = "node-b";
  s.role = "ai";
  s.role_display = "AI/Inference";
  s.address = "127.0.0.1";
  s.version = "5.0.0";
  s.health = "HEALTHY";
  s.uptime_seconds = 3.5;
  s.rss_bytes = 1 << 20;
  s.memory_total_bytes = 1ull << 34;
  DeviceStatus d;
  d.id = 47;
  d.name = "Primary LLM";
  d.layer = "L7";
  d.tenant = "ALPHA";
  d.health = "NOT_IMPLEMENTED";
  d.reason = "device 47 is not implemented yet";
  d.memory_budget_bytes = 20ull << 30;
  d.token_base = "0x808D";
  s.devices.push_back(d);
  d.id = 43;
  d.p99_latency_ms = 12.5;
  d.requests = 9;
  s.devices.push_back(d);
  s.components.push_back({"Data directory", "HEALTHY", "/tmp"});
  s.tenants.push_back({"ALPHA", "SOC_ASSIST", {"SOC", "SIGNALS"}});
  return s;
}

TEST(NodeStatusJson, RoundTrip) {
  std::string json = NodeStatusToJson(Sample());
  auto back = NodeStatusFromJson(json);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->node, "node-b");
  ASSERT_EQ(back->devices.size(), 2u);
  EXPECT_FALSE(back->devices[0].p99_latency_ms.has_value());
  EXPECT_DOUBLE_EQ(*back->devices[1].p99_latency_ms, 12.5);
  EXPECT_EQ(back->devices[1].memory_budget_bytes, 20ull << 30);
  EXPECT_EQ(back->tenants[0].compartments.size(), 2u);
  EXPECT_EQ(NodeStatusToJson(*back), json);
}

TEST(NodeStatusJson, BadDocumentsNameTheField) {
  struct Case {
    std::string json, expect;
  };
  std::string good = NodeStatusToJson(Sample());
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  const Case cases[] = {
      {"not json", "not valid JSON"},
      {"[1,2]", "not an object"},
      {replace("\"node\":\"node-b\",", ""), "node: missing"},
      {replace("\"id\":47", "\"id\":\"47\""), "devices[0].id: wrong type"},
      {replace("\"id\":47", "\"id\":1e300"), "devices[0].id: wrong type"},
      {replace("\"id\":47", "\"id\":99999999999"), "devices[0].id: wrong type"},
      {replace("\"requests\":0", "\"requests\":-1"), "devices[0].requests: wrong type"},
      {replace("\"tenants\":[", "\"tenants\":[7,"), "tenants[0]: not an object"},
      {replace("[\"SOC\",\"SIGNALS\"]", "[\"SOC\",5]"), "tenants[0].compartments: wrong type"},
  };
  for (const auto& c : cases) {
    auto r = NodeStatusFromJson(c.json);
    ASSERT_FALSE(r.ok()) << c.json;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos) << r.status().message();
  }
  EXPECT_FALSE(NodeStatusFromJson(std::string(kMaxStatusJsonBytes + 1, ' ')).ok());
}

}  // namespace
}  // namespace dsmil::node

namespace dsmil::node {
namespace {

// A device's own status line ("COAs: 3 pending") travels in the document;
// a document from a node that sends none still parses.
TEST(NodeStatusJson, DeviceDetailRoundTripsAndIsOptional) {
  NodeStatus s = Sample();
  s.devices[0].detail = "COAs: 3 pending";
  auto back = NodeStatusFromJson(NodeStatusToJson(s));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->devices[0].detail, "COAs: 3 pending");
  EXPECT_EQ(back->devices[1].detail, "");
  std::string json = NodeStatusToJson(Sample());
  auto old = NodeStatusFromJson(json);
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ(old->devices[0].detail, "");
}

}  // namespace
}  // namespace dsmil::node
