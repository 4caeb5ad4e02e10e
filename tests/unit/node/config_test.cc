#include "node/config.h"

#include <gtest/gtest.h>

#include "devices/config_section.h"
#include "devices/llm/llm_worker.h"
#include "devices/soc/soc_device.h"

namespace dsmil::node {
namespace {

constexpr char kGood[] = R"(
node: {name: node-a, role: soc, address: 127.0.0.1}
listen: {http: "127.0.0.1:18080", control: "127.0.0.1:18099", dbe: "127.0.0.1:18100"}
tls: {ca: pki/ca.crt, cert: pki/node-a.crt, key: /etc/dsmil/certs/node-a.key}
peers:
  - {name: node-b, role: ai, control: "https://127.0.0.1:18199", dbe: "127.0.0.1:18200"}
tenants:
  - {id: ALPHA, roe_level: SOC_ASSIST, compartments: [SOC, SIGNALS]}
  - {id: BRAVO, roe_level: ANALYSIS_ONLY, compartments: [SOC]}
devices:
  - {id: 18, tenant: ALPHA}
  - {range: 51-53}
logging: {level: debug, file: var/a.log}
)";

TEST(NodeConfig, ParsesEverySection) {
  auto c = ParseNodeConfig(kGood, "node-a.yaml", "/srv/dsmil");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->name, "node-a");
  EXPECT_EQ(c->role, Role::kSoc);
  EXPECT_EQ(c->control.port, 18099);
  EXPECT_EQ(c->tls_ca, "/srv/dsmil/pki/ca.crt");
  EXPECT_EQ(c->tls_key, "/etc/dsmil/certs/node-a.key");
  ASSERT_EQ(c->peers.size(), 1u);
  EXPECT_EQ(c->peers[0].role, Role::kAi);
  EXPECT_EQ(c->peers[0].dbe, "127.0.0.1:18200");
  ASSERT_EQ(c->tenants.size(), 2u);
  EXPECT_EQ(c->tenants[1].roe_level, "ANALYSIS_ONLY");
  ASSERT_EQ(c->devices.size(), 4u);
  EXPECT_EQ(c->devices[0].tenant, "ALPHA");
  EXPECT_EQ(c->devices[3].id, 53);
  EXPECT_EQ(c->log_file, "/srv/dsmil/var/a.log");
}

TEST(NodeConfig, DefaultDevicesFollowTheRole) {
  auto c = ParseNodeConfig("node: {name: node-b, role: ai}\ntls: {ca: a, cert: b, key: c}\n", "b.yaml", "");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->devices.size(), 18u);  // 33..50
  EXPECT_EQ(c->devices.front().id, 33);
  EXPECT_EQ(c->devices.back().id, 50);
}

struct BadCase {
  const char* yaml;
  const char* expect;  // substring of the error message
};

TEST(NodeConfig, BadConfigNamesTheProblem) {
  const std::string tls = "tls: {ca: a, cert: b, key: c}\n";
  const BadCase cases[] = {
      {"node: {name: node-a}\n", "node.role: missing"},
      {"node: {name: node-a, role: gpu}\n", "node.role: unknown role 'gpu'"},
      {"node: {name: Node A, role: soc}\n", "node.name"},
      {"nodes: {}\n", "nodes: unknown key"},
      {"node: {name: a, role: soc}\n", "tls: missing"},
      {"node: {name: a, role: soc}\nlisten: {control: '127.0.0.1:99999'}\n", "listen.control: port 99999 out of range"},
      {"node: {name: a, role: soc}\nlisten: {control: 'localhost'}\n", "listen.control: 'localhost' is not host:port"},
      {"node: {name: a, role: soc}\nlisten: {http: '127.0.0.1:1', control: '127.0.0.1:1'}\n", "is used twice"},
      {"node: {name: a, role: soc}\ndevices: [{id: 104}]\n", "devices[0].id: 104 out of range 0..103"},
      {"node: {name: a, role: soc}\ndevices: [{id: 5, tenant: ZULU}]\n", "tenant 'ZULU' is not in tenants"},
      {"node: {name: a, role: soc}\ntenants: [{id: alpha}]\n", "tenants[0].id: 'alpha' must be"},
      {"node: {name: a, role: soc}\ntenants: [{id: A, roe_level: KINETIC}]\n", "unknown ROE level 'KINETIC'"},
      {"node: {name: a, role: soc}\npeers: [{name: b, role: ai, control: 'http://x:1'}]\n", "must be an https:// URL"},
      {"node: {name: a, role: soc}\nstores: {kind: redis}\n", "stores.kind: unknown kind 'redis'"},
      {"node: [unclosed\n", "t.yaml:"},
      // The devices' sections are parsed once, here, with the key named.
      {"node: {name: a, role: soc}\nsoc: {batch: 0}\n", "t.yaml: soc.batch: must be an integer in 1..10000"},
      {"node: {name: a, role: soc}\nsoc: {colour: red}\n", "t.yaml: soc.colour: unknown key"},
      {"node: {name: a, role: ai}\nllm: {models: [{device: 47}]}\n", "t.yaml: llm.models[0].path: is required"},
      {"node: {name: a, role: soc}\npolicies: {}\n", "t.yaml: policies.dir: must name the directory"},
      {"node: {name: a, role: soc}\nsoc: [1]\n", "t.yaml: soc: must be a mapping"},
      {"node: {name: a, role: soc}\nwidgets: {}\n", "t.yaml: widgets: unknown key"},
  };
  for (const auto& bc : cases) {
    std::string text = bc.yaml;
    if (text.find("tls") == std::string::npos && std::string(bc.expect) != "tls: missing") {
      text += tls;
    }
    auto c = ParseNodeConfig(text, "t.yaml", "");
    ASSERT_FALSE(c.ok()) << bc.yaml;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(c.status().message().find(bc.expect), std::string::npos)
        << "yaml: " << bc.yaml << "\nerror: " << c.status().message();
  }
}

TEST(NodeConfig, DeviceSectionsAreParsedOnce) {
  auto c = ParseNodeConfig(
      "node: {name: a, role: soc}\ntls: {ca: a, cert: b, key: c}\n"
      "soc: {batch: 64, l4_model: models/l4.json}\npolicies: {dir: pol}\n"
      "llm: {models: [{device: 44, path: m.gguf}]}\nl7: {listen: 127.0.0.1:8001}\n",
      "t.yaml", "/srv/dsmil");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const soc::SocConfig* s = c->device_sections.Get<soc::SocConfig>("soc", 0);
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->present);
  EXPECT_EQ(s->batch, 64u);
  EXPECT_EQ(s->l4_model, "/srv/dsmil/models/l4.json");
  EXPECT_EQ(c->device_sections.Get<devices::PoliciesConfig>("policies", 0)->dir, "/srv/dsmil/pol");
  const auto* llm = c->device_sections.Get<devices::llm_worker::LlmConfig>("llm", 0);
  ASSERT_NE(llm, nullptr);
  ASSERT_EQ(llm->models.size(), 1u);
  EXPECT_EQ(llm->models[0].path, "/srv/dsmil/m.gguf");
  // The l7 section is typed too; device 43 is handed it with policies.
  EXPECT_TRUE(c->device_sections.present("l7"));
  EXPECT_EQ(devices::DeclaredSections(43), (std::vector<std::string>{"l7", "policies"}));
  // What device 52 is handed: only its declared sections.
  devices::ConfigSections for52 = c->device_sections.Select(devices::DeclaredSections(52));
  EXPECT_EQ(for52.names(), (std::vector<std::string>{"policies", "soc"}));
  devices::ConfigSections for59 = c->device_sections.Select(devices::DeclaredSections(59));
  EXPECT_EQ(for59.names(), std::vector<std::string>{"policies"});
}

TEST(NodeConfig, MissingFileIsNotFound) {
  auto c = LoadNodeConfig("/nonexistent/dsmil.yaml");
  EXPECT_EQ(c.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace dsmil::node
