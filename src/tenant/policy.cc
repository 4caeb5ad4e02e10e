#include "tenant/policy.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "core/log.h"
#include "dbe/registry.h"

namespace dsmil::tenant {
namespace {

constexpr std::string_view kActions[] = {"ISOLATE_HOST",    "BLOCK_DOMAIN",    "BLOCK_IP",
                                         "DISABLE_ACCOUNT", "QUARANTINE_FILE", "ALERT_ONLY"};

bool IsCompartmentName(std::string_view name) {
  for (int i = 0; i < 64; ++i) {
    std::string_view n = dbe::CompartmentName(uint64_t(1) << i);
    if (!n.empty() && n == name) return true;
  }
  return false;
}

bool ValidTenant(std::string_view t) {
  if (t.empty() || t.size() > 32 || t[0] < 'A' || t[0] > 'Z') return false;
  for (char c : t)
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

Status Bad(std::string_view source, std::string_view what) {
  return Status::InvalidArgument(std::string(source) + ": " + std::string(what));
}

Result<std::vector<std::string>> StringList(const YAML::Node& n, std::string_view key, std::string_view source) {
  if (!n || !n.IsSequence()) return Bad(source, std::string(key) + " must be a list");
  std::vector<std::string> out;
  for (size_t i = 0; i < n.size(); ++i) {
    if (!n[i].IsScalar()) return Bad(source, std::string(key) + "[" + std::to_string(i) + "] must be a name");
    out.push_back(n[i].as<std::string>());
  }
  return out;
}

}  // namespace

bool PolicyBundle::Allows(std::string_view action) const {
  for (const auto& a : allowed_actions)
    if (a == action) return true;
  return false;
}

bool IsPolicyAction(std::string_view action) {
  for (auto a : kActions)
    if (a == action) return true;
  return false;
}

Result<PolicyBundle> ParsePolicyBundle(std::string_view text, std::string_view source,
                                       std::string_view expected_tenant) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return Bad(source, std::string("not valid YAML: ") + e.what());
  }
  if (!root.IsMap())
    return Bad(source, "must be a mapping (tenant, version, roe_level, compartments, allowed_actions)");
  PolicyBundle b;
  b.source = std::string(source);
  try {
    for (auto it = root.begin(); it != root.end(); ++it) {
      std::string key = it->first.as<std::string>();
      if (key != "tenant" && key != "version" && key != "roe_level" && key != "compartments" &&
          key != "allowed_actions" && key != "injection_threshold" && key != "description")
        return Bad(source, "unknown key '" + key + "'");
    }
    if (!root["tenant"] || !root["tenant"].IsScalar()) return Bad(source, "tenant is required");
    b.tenant = root["tenant"].as<std::string>();
    if (!ValidTenant(b.tenant)) return Bad(source, "tenant: invalid tenant id '" + b.tenant + "'");
    if (!expected_tenant.empty() && b.tenant != expected_tenant)
      return Bad(source, "tenant: the file names '" + b.tenant + "', expected '" + std::string(expected_tenant) + "'");
    if (root["version"]) {
      if (!root["version"].IsScalar()) return Bad(source, "version must be an integer");
      try {
        b.version = root["version"].as<int64_t>();
      } catch (const YAML::Exception&) {
        return Bad(source, "version must be an integer, got '" + root["version"].as<std::string>() + "'");
      }
    }
    if (!root["roe_level"] || !root["roe_level"].IsScalar()) return Bad(source, "roe_level is required");
    b.roe_level = root["roe_level"].as<std::string>();
    if (!dbe::IsRoeLevel(b.roe_level))
      return Bad(source, "roe_level: unknown level '" + b.roe_level + "' (ANALYSIS_ONLY, SOC_ASSIST, TRAINING)");
    DSMIL_ASSIGN_OR_RETURN(b.compartments, StringList(root["compartments"], "compartments", source));
    for (size_t i = 0; i < b.compartments.size(); ++i) {
      if (!IsCompartmentName(b.compartments[i]))
        return Bad(source, "compartments[" + std::to_string(i) + "]: unknown compartment '" + b.compartments[i] + "'");
    }
    DSMIL_ASSIGN_OR_RETURN(b.allowed_actions, StringList(root["allowed_actions"], "allowed_actions", source));
    for (size_t i = 0; i < b.allowed_actions.size(); ++i) {
      if (!IsPolicyAction(b.allowed_actions[i]))
        return Bad(source,
                   "allowed_actions[" + std::to_string(i) + "]: unknown action '" + b.allowed_actions[i] +
                       "' (ISOLATE_HOST, BLOCK_DOMAIN, BLOCK_IP, DISABLE_ACCOUNT, QUARANTINE_FILE, ALERT_ONLY)");
    }
    if (const YAML::Node t = root["injection_threshold"]) {
      double v = 0;
      bool ok = t.IsScalar();
      if (ok) {
        try {
          v = t.as<double>();
        } catch (const YAML::Exception&) {
          ok = false;
        }
      }
      if (!ok || !(v > 0 && v <= 1)) {
        return Bad(source, "injection_threshold must be a number in (0, 1]" +
                               (t.IsScalar() ? ", got '" + t.as<std::string>() + "'" : std::string()));
      }
      b.injection_threshold = v;
    }
  } catch (const YAML::Exception& e) {
    return Bad(source, std::string("malformed: ") + e.what());
  }
  return b;
}

Result<PolicyBundle> LoadPolicyBundle(const std::string& path, std::string_view expected_tenant) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("policy file " + path + " cannot be opened");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ParsePolicyBundle(ss.str(), path, expected_tenant);
}

Result<std::string> PolicyDirFromSection(const std::string& section_json, const std::string& config_dir) {
  nlohmann::json j = nlohmann::json::parse(section_json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::InvalidArgument("policies: must be a mapping {dir: ...}");
  if (!j.contains("dir") || !j["dir"].is_string() || j["dir"].get<std::string>().empty())
    return Status::InvalidArgument("policies.dir: must name the directory of the tenant policy files");
  std::string dir = j["dir"].get<std::string>();
  if (dir[0] != '/' && !config_dir.empty()) dir = config_dir + "/" + dir;
  return dir;
}

PolicyStore::PolicyStore(std::string dir, std::chrono::milliseconds poll_interval, const Logger* log)
    : dir_(std::move(dir)), poll_(poll_interval), log_(log) {}

std::string PolicyStore::PathFor(const std::string& tenant) const {
  std::string lower = tenant;
  for (char& c : lower)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return dir_ + "/" + lower + ".yaml";
}

Result<std::shared_ptr<const PolicyBundle>> PolicyStore::Get(const std::string& tenant) {
  if (!ValidTenant(tenant)) return Status::InvalidArgument("policy: invalid tenant id '" + tenant + "'");
  MutexLock lock(mu_);
  Entry& e = entries_[tenant];
  auto now = std::chrono::steady_clock::now();
  if (e.good && now - e.checked < poll_) return e.good;
  e.checked = now;
  std::string path = PathFor(tenant);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    e.error = "policy file " + path + " is missing";
    if (e.good) {
      if (log_) log_->Warn("policy file missing: keeping the last good policy", {{"tenant", tenant}, {"path", path}});
      return e.good;
    }
    return Status::NotFound("no policy for tenant " + tenant + ": " + e.error);
  }
  int64_t mtime = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  if (e.good && mtime == e.mtime_ns && int64_t(st.st_size) == e.size) return e.good;
  e.mtime_ns = mtime;
  e.size = int64_t(st.st_size);
  auto b = LoadPolicyBundle(path, tenant);
  if (!b.ok()) {
    e.error = b.status().message();
    if (log_)
      log_->Warn("policy rejected: keeping the last good policy",
                 {{"tenant", tenant}, {"path", path}, {"reason", e.error}, {"in_force", e.good ? "yes" : "none"}});
    if (e.good) return e.good;
    return b.status();
  }
  e.error.clear();
  e.good = std::make_shared<const PolicyBundle>(std::move(*b));
  if (log_)
    log_->Info("policy loaded", {{"tenant", tenant},
                                 {"path", path},
                                 {"version", e.good->version},
                                 {"allowed_actions", static_cast<int64_t>(e.good->allowed_actions.size())}});
  return e.good;
}

std::string PolicyStore::LastError(const std::string& tenant) const {
  MutexLock lock(mu_);
  auto it = entries_.find(tenant);
  return it == entries_.end() ? std::string() : it->second.error;
}

}  // namespace dsmil::tenant
