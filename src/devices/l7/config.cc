#include "devices/l7/config.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "crypto/keyfile.h"
#include "devices/device.h"
#include "devices/l7/openai.h"
#include "net/http_client.h"
#include "tenant/keys.h"
#include "tenant/policy.h"

namespace dsmil::devices::l7 {
namespace {

using nlohmann::json;

std::string Resolve(const std::string& dir, const std::string& p) {
  if (p.empty() || p[0] == '/' || dir.empty()) return p;
  return dir + "/" + p;
}

Status Bad(const std::string& key, const std::string& what) {
  return Status::InvalidArgument("l7." + key + ": " + what);
}
// "l7.<key>.<sub>: <what>"
Status Bad(const std::string& key, const std::string& sub, const std::string& what) {
  return Bad(key + "." + sub, what);
}

Result<tenant::TenantLimits> ParseLimits(const json& j, const std::string& key) {
  if (!j.is_object()) return Bad(key, "must be a map");
  tenant::TenantLimits l;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const json& v = it.value();
    if (!v.is_number() || v.get<double>() < 0) return Bad(key, k, "must be a number >= 0");
    if (k == "requests_per_second") {
      l.requests_per_second = v.get<double>();
    } else if (k == "burst") {
      l.burst = v.get<double>();
    } else if (k == "max_concurrent") {
      l.max_concurrent = static_cast<int>(v.get<double>());
    } else if (k == "tokens_per_day") {
      l.tokens_per_day = static_cast<uint64_t>(v.get<double>());
    } else {
      return Bad(key, k, "unknown key (requests_per_second, burst, max_concurrent, tokens_per_day)");
    }
  }
  return l;
}

Status ParseDeviceCall(const std::string& k, const json& v, DeviceCallConfig* out) {
  if (!v.is_object()) return Bad(k, "must be a map {device, timeout_ms}");
  for (auto f = v.begin(); f != v.end(); ++f) {
    if (!f.value().is_number_integer()) return Bad(k, f.key(), "must be an integer");
    int64_t n = f.value().get<int64_t>();
    if (f.key() == "device") {
      if (n < 0 || n > 103) return Bad(k + ".device", "must be a device id 0..103");
      out->device = static_cast<int>(n);
    } else if (f.key() == "timeout_ms") {
      if (n < 1 || n > 600000) return Bad(k + ".timeout_ms", "must be 1..600000");
      out->timeout_ms = static_cast<int>(n);
    } else {
      return Bad(k, f.key(), "unknown key (device, timeout_ms)");
    }
  }
  return Status::Ok();
}

Result<WorkerSpec> ParseWorker(const json& w, const std::string& p, int default_timeout_ms,
                               const std::string& config_dir) {
  if (!w.is_object()) return Bad(p, "must be a map");
  WorkerSpec s;
  s.timeout_ms = default_timeout_ms;
  for (auto f = w.begin(); f != w.end(); ++f) {
    const std::string& fk = f.key();
    const json& fv = f.value();
    if (fk == "model" || fk == "upstream" || fk == "upstream_model" || fk == "api_key_file") {
      if (!fv.is_string() || fv.get<std::string>().empty()) return Bad(p, fk, "must be a non-empty string");
      if (fk == "model") s.model = fv.get<std::string>();
      if (fk == "upstream") s.base_url = fv.get<std::string>();
      if (fk == "upstream_model") s.upstream_model = fv.get<std::string>();
      if (fk == "api_key_file") {
        std::string path = Resolve(config_dir, fv.get<std::string>());
        auto key = crypto::ReadPrivateFile(path);
        if (!key.ok()) return Bad(p + ".api_key_file", key.status().message());
        s.api_key = std::string(key->begin(), key->end());
        while (!s.api_key.empty() && (s.api_key.back() == '\n' || s.api_key.back() == '\r')) s.api_key.pop_back();
      }
    } else if (fk == "device" || fk == "max_concurrent" || fk == "timeout_ms") {
      if (!fv.is_number_integer() || fv.get<int64_t>() < 0) return Bad(p, fk, "must be an integer >= 0");
      int64_t n = fv.get<int64_t>();
      if (fk == "device") {
        if (n > 103) return Bad(p + ".device", "must be a device id 0..103");
        s.device = static_cast<int>(n);
      }
      if (fk == "max_concurrent") s.max_concurrent = static_cast<int>(n);
      if (fk == "timeout_ms") s.timeout_ms = static_cast<int>(std::max<int64_t>(100, n));
    } else if (fk == "embeddings") {
      if (!fv.is_boolean()) return Bad(p + ".embeddings", "must be a boolean");
      s.embeddings = fv.get<bool>();
    } else {
      return Bad(p, fk,
                 "unknown key (model, upstream, upstream_model, api_key_file, device, max_concurrent, "
                 "timeout_ms, embeddings)");
    }
  }
  if (s.model.empty()) return Bad(p + ".model", "is required");
  if (s.base_url.empty() == (s.device == 0)) return Bad(p, "needs exactly one of upstream (URL) or device");
  if (!s.base_url.empty()) {
    auto u = net::ParseHttpUrl(s.base_url);
    if (!u.ok()) return Bad(p + ".upstream", u.status().message());
    s.kind = "upstream";
  } else {
    s.kind = "device";
  }
  return s;
}

}  // namespace

Result<L7Config> ParseL7Config(const json& j, const std::string& config_dir) {
  if (!j.is_object()) return Status::InvalidArgument("l7: must be a map");
  L7Config c;
  c.enabled = true;
  // The keys come in sorted order, so request_timeout_ms is known before the
  // workers that default to it.
  for (auto kv = j.begin(); kv != j.end(); ++kv) {
    const std::string& k = kv.key();
    const json& v = kv.value();
    auto str = [&]() -> Result<std::string> {
      if (!v.is_string()) return Bad(k, "must be a string");
      return v.get<std::string>();
    };
    auto path = [&]() -> Result<std::string> {
      if (!v.is_string() || v.get<std::string>().empty()) return Bad(k, "must be a non-empty path");
      return Resolve(config_dir, v.get<std::string>());
    };
    auto num = [&](int64_t lo, int64_t hi) -> Result<int64_t> {
      if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > hi) {
        return Bad(k, "must be an integer " + std::to_string(lo) + ".." + std::to_string(hi));
      }
      return v.get<int64_t>();
    };
    if (k == "listen") {
      DSMIL_ASSIGN_OR_RETURN(std::string l, str());
      size_t colon = l.rfind(':');
      if (colon == std::string::npos) return Bad(k, "must be host:port, e.g. 127.0.0.1:8001");
      c.host = l.substr(0, colon);
      if (c.host.size() >= 2 && c.host.front() == '[' && c.host.back() == ']') {
        c.host = c.host.substr(1, c.host.size() - 2);
      }
      int port = 0;
      try {
        port = std::stoi(l.substr(colon + 1));
      } catch (...) {
        port = -1;
      }
      if (port < 0 || port > 65535) return Bad(k, "bad port in '" + l + "'");
      c.port = static_cast<uint16_t>(port);
    } else if (k == "threads") {
      DSMIL_ASSIGN_OR_RETURN(int64_t n, num(1, 256));
      c.threads = static_cast<int>(n);
    } else if (k == "max_body_bytes") {
      DSMIL_ASSIGN_OR_RETURN(int64_t n, num(1024, 64 << 20));
      c.max_body_bytes = static_cast<size_t>(n);
    } else if (k == "request_timeout_ms") {
      DSMIL_ASSIGN_OR_RETURN(int64_t n, num(100, 3600000));
      c.request_timeout_ms = static_cast<int>(n);
    } else if (k == "keys_file") {
      DSMIL_ASSIGN_OR_RETURN(c.keys_file, path());
    } else if (k == "claims_dir") {
      DSMIL_ASSIGN_OR_RETURN(c.claims_dir, path());
    } else if (k == "ratelimit_file") {
      DSMIL_ASSIGN_OR_RETURN(c.ratelimit_file, path());
    } else if (k == "claim_lifetime_s") {
      DSMIL_ASSIGN_OR_RETURN(int64_t n, num(10, 86400));
      c.claim_lifetime_s = static_cast<int>(n);
    } else if (k == "default_max_tokens") {
      DSMIL_ASSIGN_OR_RETURN(int64_t n, num(1, kMaxTokensLimit));
      c.default_max_tokens = static_cast<uint32_t>(n);
    } else if (k == "health_interval_ms") {
      DSMIL_ASSIGN_OR_RETURN(int64_t n, num(100, 600000));
      c.health_interval_ms = static_cast<int>(n);
    } else if (k == "limits") {
      if (!v.is_object()) return Bad(k, "must be a map of tenant (or default) to limits");
      for (auto t = v.begin(); t != v.end(); ++t) {
        DSMIL_ASSIGN_OR_RETURN(tenant::TenantLimits l, ParseLimits(t.value(), "limits." + t.key()));
        if (t.key() == "default") {
          c.default_limits = l;
        } else if (!tenant::IsTenantId(t.key())) {
          return Bad("limits." + t.key(), "not a tenant id");
        } else {
          c.limits[t.key()] = l;
        }
      }
    } else if (k == "detector") {
      DSMIL_RETURN_IF_ERROR(ParseDeviceCall(k, v, &c.detector));
    } else if (k == "rag") {
      DSMIL_RETURN_IF_ERROR(ParseDeviceCall(k, v, &c.rag));
    } else if (k == "enrichment") {
      DSMIL_RETURN_IF_ERROR(ParseDeviceCall(k, v, &c.enrichment));
    } else if (k == "workers") {
      if (!v.is_array()) return Bad(k, "must be a list");
      for (size_t i = 0; i < v.size(); ++i) {
        DSMIL_ASSIGN_OR_RETURN(
            WorkerSpec s, ParseWorker(v[i], "workers[" + std::to_string(i) + "]", c.request_timeout_ms, config_dir));
        c.workers.push_back(std::move(s));
      }
    } else {
      return Bad(k, "unknown key");
    }
  }
  if (!j.contains("workers")) {
    // The built-in profiles (spec §3.1): device 47 (7B, AMX) and device 44 (1B, NPU).
    WorkerSpec w47;
    w47.model = "llm-7b-amx", w47.kind = "device", w47.device = 47, w47.timeout_ms = c.request_timeout_ms;
    WorkerSpec w44 = w47;
    w44.model = "llm-1b-npu", w44.device = 44;
    c.workers = {w47, w44};
  }
  return c;
}

Result<L7Config> ParseL7Section(const std::string& section_json, const std::string& config_dir) {
  json j = json::parse(section_json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::InvalidArgument("l7: must be a map");
  return ParseL7Config(j, config_dir);
}

Result<L7Config> L7ConfigFrom(const DeviceContext& ctx) {
  const L7Config* parsed = ctx.Section<L7Config>("l7");
  if (parsed == nullptr) return L7Config{};  // enabled = false
  L7Config c = *parsed;
  const std::string& data = ctx.stores.path;
  std::string secrets =
      ctx.stores.secrets_dir.empty() ? (data.empty() ? "" : data + "/secrets") : ctx.stores.secrets_dir;
  if (c.keys_file.empty() && !data.empty()) c.keys_file = data + "/tenant/api_keys";
  if (c.ratelimit_file.empty() && !data.empty()) c.ratelimit_file = data + "/tenant/ratelimit.bin";
  if (c.claims_dir.empty() && !secrets.empty()) c.claims_dir = secrets + "/claims";
  if (c.keys_file.empty()) return Bad("keys_file", "not set and stores.path is empty");
  if (c.claims_dir.empty()) return Bad("claims_dir", "not set and stores.path is empty");
  if (c.ratelimit_file.empty()) return Bad("ratelimit_file", "not set and stores.path is empty");
  if (const PoliciesConfig* p = ctx.Section<PoliciesConfig>("policies"); p != nullptr) c.policies_dir = p->dir;
  return c;
}

}  // namespace dsmil::devices::l7
