#include "node/tenant_report.h"

#include <chrono>
#include <sstream>

#include "core/strings.h"
#include "store/archive.h"
#include "store/scope.h"
#include "store/streams.h"
#include "store/vectors.h"
#include "tenant/keys.h"

namespace dsmil::node {

using json = nlohmann::json;

TenantReport InspectTenant(const NodeConfig& cfg, const TenantConfig& tc, const std::string& keys_file) {
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
      for (const auto& info : *list) r.collections.emplace_back(info.name, Thousands(info.count) + " vectors");
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
  std::vector<store::IsolationProbe> probes = store::ProbeIsolation(c, *scope, others);
  r.probes.insert(r.probes.end(), probes.begin(), probes.end());
  return r;
}

json TenantReportJson(const TenantReport& r) {
  json colls = json::array();
  for (const auto& [name, count] : r.collections) colls.push_back({{"name", name}, {"count", count}});
  json probes = json::array();
  for (const auto& p : r.probes) probes.push_back({{"path", p.path}, {"refused", p.refused}, {"detail", p.detail}});
  return {{"tenant", r.id},
          {"roe_level", r.roe},
          {"streams", r.streams},
          {"schema", r.schema},
          {"archived", r.archived},
          {"collections", colls},
          {"collections_error", r.collections_error},
          {"api_keys", r.api_keys},
          {"event_rate", r.event_rate},
          {"isolation", r.pass() ? "PASS" : "FAIL"},
          {"checks", probes}};
}

Result<TenantReport> TenantReportFromJson(const json& j) {
  auto str = [&](const char* k, std::string* out) {
    if (!j.contains(k) || !j[k].is_string()) return false;
    *out = j[k].get<std::string>();
    return true;
  };
  TenantReport r;
  if (!j.is_object()) return Status::InvalidArgument("tenant report: want an object");
  for (auto [k, out] : {std::pair<const char*, std::string*>{"tenant", &r.id},
                        {"roe_level", &r.roe},
                        {"schema", &r.schema},
                        {"archived", &r.archived},
                        {"collections_error", &r.collections_error},
                        {"api_keys", &r.api_keys},
                        {"event_rate", &r.event_rate}}) {
    if (!str(k, out)) return Status::InvalidArgument(std::string("tenant report: ") + k + ": want a string");
  }
  if (!j.contains("streams") || !j["streams"].is_array()) {
    return Status::InvalidArgument("tenant report: streams: want an array");
  }
  for (const json& s : j["streams"]) {
    if (!s.is_string()) return Status::InvalidArgument("tenant report: streams: want strings");
    r.streams.push_back(s.get<std::string>());
  }
  if (!j.contains("collections") || !j["collections"].is_array()) {
    return Status::InvalidArgument("tenant report: collections: want an array");
  }
  for (const json& c : j["collections"]) {
    if (!c.is_object() || !c.contains("name") || !c["name"].is_string() || !c.contains("count") ||
        !c["count"].is_string()) {
      return Status::InvalidArgument("tenant report: collections: want {name, count}");
    }
    r.collections.emplace_back(c["name"].get<std::string>(), c["count"].get<std::string>());
  }
  if (!j.contains("checks") || !j["checks"].is_array()) {
    return Status::InvalidArgument("tenant report: checks: want an array");
  }
  for (const json& p : j["checks"]) {
    if (!p.is_object() || !p.contains("path") || !p["path"].is_string() || !p.contains("refused") ||
        !p["refused"].is_boolean() || !p.contains("detail") || !p["detail"].is_string()) {
      return Status::InvalidArgument("tenant report: checks: want {path, refused, detail}");
    }
    r.probes.push_back({p["path"].get<std::string>(), p["refused"].get<bool>(), p["detail"].get<std::string>()});
  }
  return r;
}

}  // namespace dsmil::node
