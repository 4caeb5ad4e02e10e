// The L7 router's configuration (devices/l7/config.h): defaults, the errors
// that name the key, and what L7ConfigFrom takes from the node config.
#include "devices/l7/config.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "devices/device.h"

namespace dsmil::devices::l7 {
namespace {

using nlohmann::json;

std::string ErrorOf(const json& section) {
  auto c = ParseL7Config(section, "/etc/dsmil");
  EXPECT_FALSE(c.ok());
  return c.ok() ? std::string() : c.status().message();
}

TEST(L7Config, DefaultsAndTheBuiltInWorkers) {
  auto c = ParseL7Config(json::object(), "");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->enabled);
  EXPECT_EQ(c->host, "127.0.0.1");
  EXPECT_EQ(c->port, 8001);
  EXPECT_EQ(c->threads, 16);
  EXPECT_EQ(c->default_max_tokens, 256u);
  EXPECT_EQ(c->detector.device, 51);
  EXPECT_EQ(c->rag.device, 50);
  EXPECT_EQ(c->enrichment.device, 0);
  ASSERT_EQ(c->workers.size(), 2u);
  EXPECT_EQ(c->workers[0].model, "llm-7b-amx");
  EXPECT_EQ(c->workers[0].device, 47);
  EXPECT_EQ(c->workers[1].model, "llm-1b-npu");
  EXPECT_EQ(c->workers[1].device, 44);
  EXPECT_EQ(c->keys_file, "") << "the default comes from the node's stores (L7ConfigFrom)";
}

// Every tenant is limited out of the box; `default: {}` is the explicit way out.
TEST(L7Config, TenantsAreLimitedUnlessTheConfigSaysOtherwise) {
  auto c = ParseL7Config(json::object(), "");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->default_limits.requests_per_second, 20);
  EXPECT_EQ(c->default_limits.burst, 40);
  EXPECT_EQ(c->default_limits.max_concurrent, 8);
  EXPECT_EQ(c->default_limits.tokens_per_day, 2000000u);
  auto off = ParseL7Config({{"limits", {{"default", json::object()}}}}, "");
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  EXPECT_EQ(off->default_limits.requests_per_second, 0);
  EXPECT_EQ(off->default_limits.max_concurrent, 0);
  EXPECT_EQ(off->default_limits.tokens_per_day, 0u);
}

TEST(L7Config, ParsesEveryKind) {
  json j = {{"listen", "[::1]:9001"},
            {"request_timeout_ms", 5000},
            {"keys_file", "keys"},
            {"limits", {{"default", {{"requests_per_second", 5}}}, {"ALPHA", {{"burst", 40}, {"max_concurrent", 8}}}}},
            {"enrichment", {{"device", 52}, {"timeout_ms", 300}}},
            {"workers", {{{"model", "m"}, {"upstream", "http://10.0.0.5:8000/v1"}, {"max_concurrent", 4}}}}};
  auto c = ParseL7Config(j, "/etc/dsmil");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->port, 9001);
  EXPECT_EQ(c->keys_file, "/etc/dsmil/keys");
  EXPECT_EQ(c->default_limits.requests_per_second, 5);
  EXPECT_EQ(c->limits.at("ALPHA").burst, 40);
  EXPECT_EQ(c->limits.at("ALPHA").max_concurrent, 8);
  EXPECT_EQ(c->enrichment.device, 52);
  EXPECT_EQ(c->enrichment.timeout_ms, 300);
  ASSERT_EQ(c->workers.size(), 1u);
  EXPECT_EQ(c->workers[0].kind, "upstream");
  EXPECT_EQ(c->workers[0].timeout_ms, 5000) << "a worker without timeout_ms gets request_timeout_ms";
  EXPECT_EQ(c->workers[0].max_concurrent, 4);
}

TEST(L7Config, ErrorsNameTheKey) {
  EXPECT_EQ(ErrorOf({{"threads", 0}}), "l7.threads: must be an integer 1..256");
  EXPECT_EQ(ErrorOf({{"listen", "nowhere"}}), "l7.listen: must be host:port, e.g. 127.0.0.1:8001");
  EXPECT_EQ(ErrorOf({{"limits", {{"ALPHA", {{"burst", -1}}}}}}), "l7.limits.ALPHA.burst: must be a number >= 0");
  EXPECT_EQ(ErrorOf({{"limits", {{"alpha", {{"burst", 1}}}}}}), "l7.limits.alpha: not a tenant id");
  EXPECT_EQ(ErrorOf({{"detector", {{"device", 104}}}}), "l7.detector.device: must be a device id 0..103");
  EXPECT_EQ(ErrorOf({{"workers", {{{"model", "m"}}, {{"model", "n"}, {"upstream", "x"}, {"device", 47}}}}}),
            "l7.workers[0]: needs exactly one of upstream (URL) or device");
  EXPECT_EQ(ErrorOf({{"workers", {{{"upstream", "http://h:1/v1"}}}}}), "l7.workers[0].model: is required");
  EXPECT_EQ(ErrorOf({{"keys_file", ""}}), "l7.keys_file: must be a non-empty path");
  EXPECT_EQ(ErrorOf({{"bogus", 1}}), "l7.bogus: unknown key");
  EXPECT_EQ(ErrorOf(json::array()), "l7: must be a map");
}

TEST(L7Config, FromTheNodeConfig) {
  RegisterBuiltinDevices();
  DeviceContext ctx;
  ctx.stores.kind = "embedded";
  ctx.stores.path = "/var/lib/dsmil";
  ctx.config = ConfigSections().Select(DeclaredSections(43));  // declared, absent
  auto off = L7ConfigFrom(ctx);
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off->enabled) << "no l7 section: the API is off";

  ctx.config_dir = "/etc/dsmil";
  ASSERT_TRUE(ctx.config.PutJson("l7", R"({"threads": 4})", ctx.config_dir).ok());
  ASSERT_TRUE(ctx.config.PutJson("policies", R"({"dir": "policies"})", ctx.config_dir).ok());
  auto c = L7ConfigFrom(ctx);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->enabled);
  EXPECT_EQ(c->threads, 4);
  EXPECT_EQ(c->keys_file, "/var/lib/dsmil/tenant/api_keys");
  EXPECT_EQ(c->ratelimit_file, "/var/lib/dsmil/tenant/ratelimit.bin");
  EXPECT_EQ(c->claims_dir, "/var/lib/dsmil/secrets/claims");
  EXPECT_EQ(c->policies_dir, "/etc/dsmil/policies");

  EXPECT_EQ(ctx.config.PutJson("l7", "not json", ctx.config_dir).message(), "l7: must be a map");
  ASSERT_TRUE(ctx.config.PutJson("l7", "{}", ctx.config_dir).ok());
  ctx.stores.path.clear();
  EXPECT_EQ(L7ConfigFrom(ctx).status().message(), "l7.keys_file: not set and stores.path is empty");
}

}  // namespace
}  // namespace dsmil::devices::l7
