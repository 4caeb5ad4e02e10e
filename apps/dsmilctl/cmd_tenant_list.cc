// dsmilctl tenant list: the tenants of a node and a live isolation audit
// (spec §8.1, §10.2).
//
//   dsmilctl tenant list [--node-config var/cluster/node-c.yaml] [--keys-file F] [-o text|json]
//
// For every tenant of the node config: ROE level, its streams, its schema with
// the archived event count, its vector collections with their counts, its
// active API keys (<stores.path>/tenant/api_keys unless --keys-file), and its
// event rate (entries of <T>_L3_IN in the last 5 minutes) (node/tenant_report.h).
//
// Where: the node config given with --node-config, or the local cluster's when
// it is on this machine, is read directly. Otherwise (an operator workstation
// holding only its certificate and the dsmilctl config) the first node of the
// dsmilctl config that answers GET /v1/tenants?inspect=1 builds the same
// reports on its own stores, for the tenants the certificate covers.
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
// A FAIL names every path that was not refused. Without the cluster CA's key
// (a workstation) the entry points are not probed, and the output says so.
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
#include "node/tenant_report.h"
#include "node_target.h"
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
  bool node_config_given = false;
};

using Probe = store::IsolationProbe;
using node::TenantReport;

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
        std::string path = "entry: ";
        path += n.name;
        path += " " + method;
        path += " " + what;
        path += " (certificate covering no tenant)";
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

// The reports from the stores named by a node config on this machine.
Result<std::vector<TenantReport>> LocalReports(const ListArgs& a, std::string* node, std::string* stores) {
  DSMIL_ASSIGN_OR_RETURN(node::NodeConfig cfg, node::LoadNodeConfig(a.node_config));
  if (cfg.tenants.empty()) return Status::InvalidArgument(a.node_config + " configures no tenants");
  *node = cfg.name;
  *stores = cfg.stores.kind;
  std::vector<TenantReport> reports;
  for (const auto& t : cfg.tenants) reports.push_back(node::InspectTenant(cfg, t, a.keys_file));
  return reports;
}

// The reports from a node's control API (GET /v1/tenants?inspect=1): the
// first node of the dsmilctl config that answers, with the operator's
// certificate (its tenants only).
Result<std::vector<TenantReport>> RemoteReports(const Context& ctx, std::string* node, std::string* stores) {
  DSMIL_ASSIGN_OR_RETURN(CtlConfig cfg, LoadCtlConfig(ctx.config_path));
  if (cfg.nodes.empty()) {
    return Status::InvalidArgument("no node config on this machine and no nodes in " + ctx.config_path +
                                   " (dsmilctl config add-node, or --node-config FILE)");
  }
  std::string errors;
  for (const CtlNode& n : cfg.nodes) {
    auto req = BaseRequest(cfg, n, std::chrono::seconds(60));
    req.method = "GET";
    req.url = n.url + "/v1/tenants?inspect=1";
    req.max_response_bytes = (8u << 20);
    auto resp = net::HttpFetch(req);
    std::string why;
    if (!resp.ok()) {
      why = resp.status().message();
    } else if (resp->status != 200) {
      why = "HTTP " + std::to_string(resp->status) + ": " + resp->body.substr(0, 200);
    } else {
      json doc = json::parse(resp->body, nullptr, false);
      if (!doc.is_object() || !doc.contains("tenants") || !doc["tenants"].is_array()) {
        why = "unreadable answer";
      } else if (doc["tenants"].empty()) {
        why = "no tenant this certificate covers";
      } else {
        std::vector<TenantReport> reports;
        for (const json& t : doc["tenants"]) {
          if (!t.contains("report")) return Status::Unavailable(n.name + " sent no report (an older dsmild?)");
          DSMIL_ASSIGN_OR_RETURN(TenantReport r, node::TenantReportFromJson(t["report"]));
          reports.push_back(std::move(r));
        }
        *node = doc.value("node", n.name) + " via its control API";
        *stores = doc.value("stores", std::string("?"));
        return reports;
      }
    }
    errors += (errors.empty() ? "" : "; ") + n.name + ": " + why;
  }
  return Status::Unavailable("no node answered GET /v1/tenants?inspect=1: " + errors);
}

void List(Context& ctx, const ListArgs& a) {
  if (a.output != "text" && a.output != "json") return Fail(ctx, 2, "tenant list: -o must be text or json");
  int64_t now_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  // A node config on this machine (given, or the local cluster's) is read
  // directly; otherwise the nodes of the dsmilctl config are asked.
  const bool local = a.node_config_given || std::filesystem::exists(a.node_config);
  std::string node_name, stores_kind;
  auto got = local ? LocalReports(a, &node_name, &stores_kind) : RemoteReports(ctx, &node_name, &stores_kind);
  if (!got.ok()) return Fail(ctx, 2, "tenant list: " + got.status().message());
  std::vector<TenantReport> reports = std::move(*got);
  std::string entry_note;
  {
    std::vector<std::string> ids;
    ids.reserve(reports.size());
    for (const auto& r : reports) ids.push_back(r.id);
    auto entry = EntryProbes(ctx, a, ids, &entry_note);
    for (auto& r : reports) {
      for (auto& p : entry[r.id]) r.probes.push_back(std::move(p));
    }
  }
  bool all_pass = true;
  for (const auto& r : reports) all_pass = all_pass && r.pass();

  if (a.output == "json") {
    json out = {{"node", node_name}, {"stores", stores_kind}, {"audited_at", FormatRfc3339Utc(now_ns, 0)}};
    json arr = json::array();
    for (const auto& r : reports) arr.push_back(node::TenantReportJson(r));
    out["tenants"] = arr;
    if (!entry_note.empty()) out["note"] = entry_note;
    std::cout << out.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
  } else {
    std::cout << "\nDSMIL Tenants (" << node_name << ", stores " << stores_kind << ")\n"
              << "━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━\n";
    for (const auto& r : reports) {
      std::cout << "\n" << r.id << "\n";
      std::cout << "  ├─ ROE Level: " << r.roe << "\n";
      std::string streams;
      for (const auto& s : r.streams) streams += (streams.empty() ? "" : ", ") + s;
      std::cout << "  ├─ Redis Streams: " << streams << "\n";
      std::cout << "  ├─ Postgres Schema: " << r.schema << " (" << r.archived << ")\n";
      std::string colls;
      for (const auto& [name, count] : r.collections) {
        if (!colls.empty()) colls += ", ";
        colls += name;
        colls += " (" + count + ")";
      }
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
  list->add_option("--node-config", a->node_config,
                   "the data node's config (its tenants: and stores: sections); when absent and the default is not "
                   "on this machine, the nodes of the dsmilctl config are asked (GET /v1/tenants?inspect=1)")
      ->capture_default_str();
  list->add_option("--keys-file", a->keys_file, "API key file (default <stores.path>/tenant/api_keys)");
  list->add_option("-o,--output", a->output, "text or json")->capture_default_str();
  list->add_option("--ca-dir", a->ca_dir,
                   "cluster CA directory (ca.crt, ca.key) that issues the tenant-less certificate probing the entry "
                   "points (default: the operator certificate's directory)");
  list->callback([a, list, &ctx] {
    a->node_config_given = list->get_option("--node-config")->count() > 0;
    List(ctx, *a);
  });
});

}  // namespace
}  // namespace dsmil::ctl
