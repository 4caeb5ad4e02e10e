// dsmilctl tenant list: the tenants of a node and a live isolation audit
// (spec §8.1, §10.2).
//
//   dsmilctl tenant list [--node-config var/cluster/node-c.yaml] [--keys-file F] [-o text|json]
//
// For every tenant of the node config: ROE level, its streams, its schema with
// the archived event count, its vector collections with their counts, its
// active API keys (<stores.path>/tenant/api_keys unless --keys-file), and its
// event rate (entries of <T>_L3_IN in the last 5 minutes).
//
// The isolation audit uses each tenant's OWN credentials against every OTHER
// tenant's data, and passes only if every attempt is refused: the store probes
// of store/isolation_audit.h (Redis ACLs, PostgreSQL grants and row-level
// security, Qdrant keys; the embedded stores' per-tenant files), and
//   entry points  every node of the dsmilctl config, with an operator
//                 certificate that covers no tenant (issued for the audit by
//                 the cluster CA of --ca-dir, default the operator
//                 certificate's directory): GET /v1/soc/top, GET /v1/logs,
//                 POST /v1/events for the tenant and POST /v1/dbe with its
//                 TENANT_ID to device 50 (401/403 expected).
// A FAIL names every path that was not refused.
//
// Exit 0 every tenant PASS, 1 a tenant FAIL, 2 bad input.
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "commands.h"
#include "core/clock.h"
#include "crypto/keyfile.h"
#include "ctl_config.h"
#include "dbe/message.h"
#include "file_util.h"
#include "net/http_client.h"
#include "node/config.h"
#include "store/archive.h"
#include "store/isolation_audit.h"
#include "store/scope.h"
#include "store/streams.h"
#include "store/vectors.h"
#include "temp_cert.h"
#include "tenant/keys.h"
#include "text_util.h"

namespace dsmil::ctl {
namespace {

using json = nlohmann::json;

constexpr char kDefaultNodeConfig[] = "var/cluster/node-c.yaml";

struct ListArgs {
  std::string node_config = kDefaultNodeConfig;
  std::string keys_file;
  std::string output = "text";
  std::string ca_dir;  // "" = the directory of the operator certificate
};

using Probe = store::IsolationProbe;

struct TenantReport {
  std::string id, roe;
  std::vector<std::string> streams;
  std::string schema;
  std::string archived;  // count or "(unavailable: ...)"
  std::vector<std::pair<std::string, std::string>> collections;
  std::string collections_error;
  std::string api_keys;
  std::string event_rate;
  std::vector<Probe> probes;
  bool pass() const { return store::IsolationPasses(probes); }
};

TenantReport Inspect(const node::NodeConfig& cfg, const node::TenantConfig& tc, const std::string& keys_file) {
  TenantReport r;
  r.id = tc.id;
  r.roe = tc.roe_level.empty() ? "(not set)" : tc.roe_level;
  auto scope = store::TenantScope::For(tc.id);
  if (!scope.ok()) {
    r.probes.push_back({"tenant id", false, scope.status().message()});
    return r;
  }
  const store::StoresConfig& c = cfg.stores;
  for (store::StreamKind k : store::kAllStreams) r.streams.push_back(scope->Stream(k));
  r.schema = c.kind == "servers" ? scope->Schema() : scope->Schema() + " (embedded: archive/" + tc.id + ".db)";

  auto archive = store::OpenArchive(c, *scope);
  if (archive.ok()) {
    auto n = (*archive)->Count();
    r.archived = n.ok() ? Thousands(*n) + " events archived" : "(unavailable: " + n.status().message() + ")";
  } else {
    r.archived = "(unavailable: " + archive.status().message() + ")";
  }

  auto vectors = store::OpenVectors(c, *scope);
  if (vectors.ok()) {
    auto list = (*vectors)->ListCollections();
    if (list.ok()) {
      for (const auto& info : *list) {
        r.collections.push_back({info.name, Thousands(info.count) + " vectors"});
      }
    } else {
      r.collections_error = list.status().message();
    }
  } else {
    r.collections_error = vectors.status().message();
  }

  std::string kf = keys_file.empty() && !c.path.empty() ? c.path + "/tenant/api_keys" : keys_file;
  if (!kf.empty()) {
    auto keys = tenant::ApiKeyStore::Open(kf);
    auto list = keys.ok() ? (*keys)->List(tc.id) : Result<std::vector<tenant::ApiKeyInfo>>(keys.status());
    if (list.ok()) {
      size_t active = 0;
      for (const auto& k : *list) active += !k.revoked();
      r.api_keys = std::to_string(active);
    } else {
      r.api_keys = "(unavailable: " + list.status().message() + ")";
    }
  } else {
    r.api_keys = "(no key file)";
  }

  auto streams = store::OpenStreams(c, *scope, store::Access::kReader);
  if (streams.ok()) {
    int64_t now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    auto recent = (*streams)->Range(store::StreamKind::kL3In, std::to_string(now_ms - 300000) + "-0", 1000000);
    if (recent.ok()) {
      std::ostringstream s;
      s.setf(std::ios::fixed);
      s.precision(recent->size() >= 3000 ? 0 : 1);
      s << static_cast<double>(recent->size()) / 300.0 << " events/sec (last 5 min)";
      r.event_rate = s.str();
    } else {
      r.event_rate = "(unavailable: " + recent.status().message() + ")";
    }
  } else {
    r.event_rate = "(unavailable: " + streams.status().message() + ")";
  }

  std::vector<store::TenantScope> others;
  for (const auto& other : cfg.tenants) {
    auto u = store::TenantScope::For(other.id);
    if (u.ok()) others.push_back(std::move(*u));
  }
  std::vector<Probe> probes = store::ProbeIsolation(c, *scope, others);
  r.probes.insert(r.probes.end(), probes.begin(), probes.end());
  return r;
}

// The entry points (docs/security.md): every tenant-scoped route of every node
// of the dsmilctl config, called with an operator certificate that covers no
// tenant — issued for this audit by the cluster CA (valid one day, deleted
// after) — must refuse with 401/403. Probes by tenant; *note says why the
// entry points were not probed, when they were not.
std::map<std::string, std::vector<Probe>> EntryProbes(const Context& ctx, const ListArgs& a,
                                                      const std::vector<std::string>& tenants, std::string* note) {
  std::map<std::string, std::vector<Probe>> out;
  auto ctl = LoadCtlConfig(ctx.config_path);
  if (!ctl.ok() || ctl->nodes.empty()) {
    *note = "entry points not probed: no nodes in " + ctx.config_path + " (dsmilctl config add-node)";
    return out;
  }
  std::string ca_dir = a.ca_dir;
  if (ca_dir.empty() && !ctl->operator_cert.empty()) {
    ca_dir = std::filesystem::path(ctl->operator_cert).parent_path().string();
  }
  auto audit = TempOperatorCert::Issue(ca_dir, "isolation-audit", {});
  if (!audit.ok()) {
    *note = "entry points not probed: " + audit.status().message();
    return out;
  }
  const std::string cert_file = (*audit)->cert_file(), key_file = (*audit)->key_file();
  int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  for (const CtlNode& n : ctl->nodes) {
    for (const std::string& t : tenants) {
      auto probe = [&](const std::string& method, const std::string& target, const std::string& body,
                       const std::string& what) {
        net::HttpClientRequest r;
        r.method = method;
        r.url = n.url + target;
        r.body = body;
        r.ca_file = n.cert;
        r.cert_file = cert_file;
        r.key_file = key_file;
        r.timeout = std::chrono::seconds(5);
        if (method == "POST") {
          r.headers.emplace_back("Content-Type", target == "/v1/dbe" ? "application/octet-stream" : "application/json");
        }
        auto resp = net::HttpFetch(r);
        std::string path = "entry: " + n.name + " " + method + " " + what + " (certificate covering no tenant)";
        if (!resp.ok()) {
          out[t].push_back({path, false, "could not be checked: " + resp.status().message()});
        } else if (resp->status == 401 || resp->status == 403) {
          out[t].push_back({path, true, "HTTP " + std::to_string(resp->status)});
        } else {
          out[t].push_back({path, false, "answered HTTP " + std::to_string(resp->status) + " instead of 403"});
        }
      };
      probe("GET", "/v1/soc/top?tenant=" + t, "", "/v1/soc/top?tenant=" + t);
      probe("GET", "/v1/logs?tenant=" + t + "&limit=1", "", "/v1/logs?tenant=" + t);
      probe("POST", "/v1/events?tenant=" + t,
            R"({"ts_ms":)" + std::to_string(now_ms) + R"(,"source":"isolation-audit","features":{}})",
            "/v1/events?tenant=" + t);
      dbe::Message m(dbe::MsgType::kL7RagQuery);
      m.header().dst_device = 50;
      m.SetString(dbe::TlvType::kTenantId, t);
      m.SetString(dbe::TlvType::kRequestId, "isolation-audit-" + std::to_string(now_ms));
      m.SetString(dbe::TlvType::kPayload, R"({"op":"query","query":"isolation audit","k":1})");
      auto frame = dbe::Encode(m);
      if (frame.ok()) {
        probe("POST", "/v1/dbe", std::string(reinterpret_cast<const char*>(frame->data()), frame->size()),
              "/v1/dbe (L7_RAG_QUERY to device 50, TENANT_ID=" + t + ")");
      }
    }
  }
  return out;
}

void List(Context& ctx, const ListArgs& a) {
  if (a.output != "text" && a.output != "json") return Fail(ctx, 2, "tenant list: -o must be text or json");
  auto cfg = node::LoadNodeConfig(a.node_config);
  if (!cfg.ok()) return Fail(ctx, 2, "tenant list: " + cfg.status().message());
  if (cfg->tenants.empty()) return Fail(ctx, 2, "tenant list: " + a.node_config + " configures no tenants");
  int64_t now_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::vector<TenantReport> reports;
  for (const auto& t : cfg->tenants) reports.push_back(Inspect(*cfg, t, a.keys_file));
  std::string entry_note;
  {
    std::vector<std::string> ids;
    for (const auto& t : cfg->tenants) ids.push_back(t.id);
    auto entry = EntryProbes(ctx, a, ids, &entry_note);
    for (auto& r : reports) {
      for (auto& p : entry[r.id]) r.probes.push_back(std::move(p));
    }
  }
  bool all_pass = true;
  for (const auto& r : reports) all_pass = all_pass && r.pass();

  if (a.output == "json") {
    json out = {{"node", cfg->name}, {"stores", cfg->stores.kind}, {"audited_at", FormatRfc3339Utc(now_ns, 0)}};
    json arr = json::array();
    for (const auto& r : reports) {
      json colls = json::array();
      for (const auto& [name, count] : r.collections) colls.push_back({{"name", name}, {"count", count}});
      json probes = json::array();
      for (const auto& p : r.probes) probes.push_back({{"path", p.path}, {"refused", p.refused}, {"detail", p.detail}});
      arr.push_back({{"tenant", r.id},
                     {"roe_level", r.roe},
                     {"streams", r.streams},
                     {"schema", r.schema},
                     {"archived", r.archived},
                     {"collections", colls},
                     {"collections_error", r.collections_error},
                     {"api_keys", r.api_keys},
                     {"event_rate", r.event_rate},
                     {"isolation", r.pass() ? "PASS" : "FAIL"},
                     {"checks", probes}});
    }
    out["tenants"] = arr;
    if (!entry_note.empty()) out["note"] = entry_note;
    std::cout << out.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
  } else {
    std::cout << "\nDSMIL Tenants (" << cfg->name << ", stores " << cfg->stores.kind << ")\n"
              << "━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━\n";
    for (const auto& r : reports) {
      std::cout << "\n" << r.id << "\n";
      std::cout << "  ├─ ROE Level: " << r.roe << "\n";
      std::string streams;
      for (const auto& s : r.streams) streams += (streams.empty() ? "" : ", ") + s;
      std::cout << "  ├─ Redis Streams: " << streams << "\n";
      std::cout << "  ├─ Postgres Schema: " << r.schema << " (" << r.archived << ")\n";
      std::string colls;
      for (const auto& [name, count] : r.collections) colls += (colls.empty() ? "" : ", ") + name + " (" + count + ")";
      if (colls.empty()) colls = r.collections_error.empty() ? "(none)" : "(unavailable: " + r.collections_error + ")";
      std::cout << "  ├─ Collections: " << colls << "\n";
      std::cout << "  ├─ Active API Keys: " << r.api_keys << "\n";
      std::cout << "  ├─ Event Rate: " << r.event_rate << "\n";
      size_t refused = 0;
      for (const auto& p : r.probes) refused += p.refused;
      if (r.pass()) {
        std::cout << "  └─ Isolation Status: ✓ PASS (" << refused << "/" << r.probes.size()
                  << " cross-tenant attempts refused)\n";
      } else {
        std::cout << "  └─ Isolation Status: ✗ FAIL\n";
        for (const auto& p : r.probes) {
          if (!p.refused) std::cout << "       ✗ " << p.path << ": " << p.detail << "\n";
        }
      }
    }
    if (!entry_note.empty()) std::cout << "\nNote: " << entry_note << "\n";
    std::cout << "\nLast Isolation Audit: " << FormatRfc3339Utc(now_ns, 0) << " (now)\n";
  }
  ctx.exit_code = all_pass ? 0 : 1;
}

const CommandGroup kTenantListGroup([](CLI::App& app, Context& ctx) {
  auto a = std::make_shared<ListArgs>();
  CLI::App* tenant = Group(app, "tenant", "tenants: API keys, credentials, policies");
  CLI::App* list = tenant->add_subcommand("list", "Tenants with their data and a live cross-tenant isolation audit");
  list->add_option("--node-config", a->node_config, "the data node's config (its tenants: and stores: sections)")
      ->capture_default_str();
  list->add_option("--keys-file", a->keys_file, "API key file (default <stores.path>/tenant/api_keys)");
  list->add_option("-o,--output", a->output, "text or json")->capture_default_str();
  list->add_option("--ca-dir", a->ca_dir,
                   "cluster CA directory (ca.crt, ca.key) that issues the tenant-less certificate probing the entry "
                   "points (default: the operator certificate's directory)");
  list->callback([a, &ctx] { List(ctx, *a); });
});

}  // namespace
}  // namespace dsmil::ctl
