#include "node/config.h"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "devices/device.h"
#include "net/revocation.h"
#include "store/audit_checkpoint.h"

namespace dsmil::node {
namespace {

namespace fs = std::filesystem;

std::string_view kKnownTop[] = {"node", "listen", "tls", "peers", "tenants", "devices",  "stores", "logging",
                                "dbe",  "soc",    "l7",  "llm",   "rag",     "policies", "audit",  "shrink"};
// Sections handed to the devices (and "shrink", read by the node itself:
// docs/shrink.md), each parsed once here by the parser its
// device group registered (devices/config_section.h; DeviceContext::config).
std::string_view kDeviceSections[] = {"soc", "l7", "llm", "rag", "policies", "shrink"};

// A YAML node as JSON: plain scalars that read as booleans, null or numbers
// become those; quoted scalars stay strings.
nlohmann::json YamlToJson(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Sequence: {
      nlohmann::json a = nlohmann::json::array();
      for (const auto& e : n) a.push_back(YamlToJson(e));
      return a;
    }
    case YAML::NodeType::Map: {
      nlohmann::json o = nlohmann::json::object();
      for (const auto& kv : n) o[kv.first.as<std::string>()] = YamlToJson(kv.second);
      return o;
    }
    case YAML::NodeType::Scalar:
      break;
  }
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") return s;  // quoted
  if (s == "true" || s == "True" || s == "yes") return true;
  if (s == "false" || s == "False" || s == "no") return false;
  if (s == "null" || s == "~") return nullptr;
  if (!s.empty() && (std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-' || s[0] == '+' || s[0] == '.')) {
    char* end = nullptr;
    long long iv = std::strtoll(s.c_str(), &end, 10);
    if (end && *end == '\0') return iv;
    double dv = std::strtod(s.c_str(), &end);
    if (end && *end == '\0') return dv;
  }
  return s;
}

class Parser {
 public:
  Parser(std::string_view source, std::string_view base_dir) : source_(source), base_(base_dir) {}

  Status Error(const std::string& path, const std::string& what) const {
    return Status::InvalidArgument(source_ + ": " + path + ": " + what);
  }

  Status CheckKeys(const YAML::Node& n, const std::string& path, std::initializer_list<std::string_view> keys) const {
    if (!n.IsMap()) return Error(path, "must be a mapping");
    for (const auto& kv : n) {
      std::string k = kv.first.as<std::string>();
      bool known = false;
      for (auto kk : keys) known |= (kk == k);
      if (!known) return Error(path.empty() ? k : path + "." + k, "unknown key");
    }
    return Status::Ok();
  }

  Result<std::string> String(const YAML::Node& n, const std::string& path) const {
    if (!n.IsScalar()) return Error(path, "must be a string");
    return n.as<std::string>();
  }

  Result<int64_t> Int(const YAML::Node& n, const std::string& path, int64_t lo, int64_t hi) const {
    if (!n.IsScalar()) return Error(path, "must be an integer");
    std::string s = n.as<std::string>();
    int64_t v = 0;
    size_t used = 0;
    try {
      v = std::stoll(s, &used, 0);
    } catch (...) {
      used = 0;
    }
    if (used == 0 || used != s.size()) return Error(path, "'" + s + "' is not an integer");
    if (v < lo || v > hi) {
      return Error(path, std::to_string(v) + " out of range " + std::to_string(lo) + ".." + std::to_string(hi));
    }
    return v;
  }

  Result<HostPort> Addr(const YAML::Node& n, const std::string& path) const {
    DSMIL_ASSIGN_OR_RETURN(std::string s, String(n, path));
    auto colon = s.rfind(':');
    if (colon == std::string::npos || colon == 0) return Error(path, "'" + s + "' is not host:port");
    HostPort hp;
    hp.host = s.substr(0, colon);
    if (hp.host.size() > 2 && hp.host.front() == '[' && hp.host.back() == ']')
      hp.host = hp.host.substr(1, hp.host.size() - 2);
    YAML::Node port_node(s.substr(colon + 1));
    auto port = Int(port_node, path, 1, 65535);
    if (!port.ok())
      return Error(path, "port " + port.status().message().substr(port.status().message().rfind(": ") + 2));
    hp.port = uint16_t(*port);
    return hp;
  }

  std::string Path(const std::string& p) const {
    if (p.empty() || fs::path(p).is_absolute() || base_.empty()) return p;
    return (fs::path(base_) / p).lexically_normal().string();
  }

  Result<Role> ParseRole(const YAML::Node& n, const std::string& path) const {
    DSMIL_ASSIGN_OR_RETURN(std::string s, String(n, path));
    if (s == "soc" || s == "SOC") return Role::kSoc;
    if (s == "ai" || s == "AI") return Role::kAi;
    if (s == "data" || s == "DATA") return Role::kData;
    return Error(path, "unknown role '" + s + "' (expected soc, ai or data)");
  }

  static bool ValidName(const std::string& s, bool upper) {
    if (s.empty() || s.size() > 32) return false;
    for (char c : s) {
      bool ok =
          (c >= '0' && c <= '9') || c == '_' || (upper ? (c >= 'A' && c <= 'Z') : ((c >= 'a' && c <= 'z') || c == '-'));
      if (!ok) return false;
    }
    return true;
  }

  // A list of device ids and LO-HI ranges: [33, "40-50"].
  Result<std::vector<int>> DeviceIds(const YAML::Node& n, const std::string& path) const {
    if (!n.IsSequence()) return Error(path, "must be a list of device ids or LO-HI ranges");
    std::vector<int> out;
    std::set<int> seen;
    for (size_t j = 0; j < n.size(); ++j) {
      std::string p = path + "[" + std::to_string(j) + "]";
      DSMIL_ASSIGN_OR_RETURN(std::string s, String(n[j], p));
      int64_t lo = 0, hi = 0;
      auto dash = s.find('-');
      if (dash == std::string::npos) {
        DSMIL_ASSIGN_OR_RETURN(lo, Int(n[j], p, 0, 103));
        hi = lo;
      } else {
        DSMIL_ASSIGN_OR_RETURN(lo, Int(YAML::Node(s.substr(0, dash)), p, 0, 103));
        DSMIL_ASSIGN_OR_RETURN(hi, Int(YAML::Node(s.substr(dash + 1)), p, 0, 103));
        if (lo > hi) return Error(p, "'" + s + "' is empty (LO > HI)");
      }
      for (int64_t id = lo; id <= hi; ++id) {
        if (!seen.insert(int(id)).second) return Error(p, "device " + std::to_string(id) + " listed twice");
        out.push_back(int(id));
      }
    }
    return out;
  }

  Result<NodeConfig> Parse(const YAML::Node& root) {
    NodeConfig c;
    if (!root.IsMap()) return Error("(top)", "must be a mapping with a 'node' section");
    for (const auto& kv : root) {
      std::string k = kv.first.as<std::string>();
      bool known = false;
      for (auto kk : kKnownTop) known |= (kk == k);
      if (!known) {
        return Error(k,
                     "unknown key (expected one of node, listen, tls, peers, tenants, devices, stores, logging, dbe, "
                     "soc, l7, llm, rag, policies, audit, shrink)");
      }
    }
    // node
    YAML::Node node = root["node"];
    if (!node) return Error("node", "missing");
    DSMIL_RETURN_IF_ERROR(CheckKeys(node, "node", {"name", "role", "address"}));
    if (!node["name"]) return Error("node.name", "missing");
    DSMIL_ASSIGN_OR_RETURN(c.name, String(node["name"], "node.name"));
    if (!ValidName(c.name, false)) return Error("node.name", "'" + c.name + "' must be 1-32 of [a-z0-9_-]");
    if (!node["role"]) return Error("node.role", "missing (soc, ai or data)");
    DSMIL_ASSIGN_OR_RETURN(c.role, ParseRole(node["role"], "node.role"));
    if (node["address"]) {
      DSMIL_ASSIGN_OR_RETURN(c.address, String(node["address"], "node.address"));
    }
    // listen
    if (YAML::Node l = root["listen"]) {
      DSMIL_RETURN_IF_ERROR(CheckKeys(l, "listen", {"http", "control", "dbe"}));
      if (l["http"]) {
        DSMIL_ASSIGN_OR_RETURN(c.http, Addr(l["http"], "listen.http"));
      }
      if (l["control"]) {
        DSMIL_ASSIGN_OR_RETURN(c.control, Addr(l["control"], "listen.control"));
      }
      if (l["dbe"]) {
        DSMIL_ASSIGN_OR_RETURN(c.dbe, Addr(l["dbe"], "listen.dbe"));
      }
    }
    std::set<std::pair<std::string, uint16_t>> used;
    for (auto [name, hp] :
         {std::pair{"listen.http", &c.http}, {"listen.control", &c.control}, {"listen.dbe", &c.dbe}}) {
      if (!used.insert({hp->host, hp->port}).second) return Error(name, hp->ToString() + " is used twice");
    }
    // tls
    YAML::Node tls = root["tls"];
    if (!tls) return Error("tls", "missing (the control API needs ca, cert and key; `dsmilctl pki init` makes them)");
    DSMIL_RETURN_IF_ERROR(CheckKeys(tls, "tls", {"ca", "cert", "key", "crl"}));
    for (auto [key, out] : {std::pair{"ca", &c.tls_ca}, {"cert", &c.tls_cert}, {"key", &c.tls_key}}) {
      if (!tls[key]) return Error(std::string("tls.") + key, "missing");
      DSMIL_ASSIGN_OR_RETURN(std::string p, String(tls[key], std::string("tls.") + key));
      *out = Path(p);
    }
    if (tls["crl"]) {
      DSMIL_ASSIGN_OR_RETURN(std::string p, String(tls["crl"], "tls.crl"));
      c.tls_crl = Path(p);
      // Checked here so that `dsmild --check` names a bad CRL.
      if (Status s = net::CheckRevocationList(c.tls_crl, c.tls_ca); !s.ok()) return Error("tls.crl", s.message());
    }
    // peers
    std::vector<bool> peer_devices_given;
    if (YAML::Node peers = root["peers"]) {
      if (!peers.IsSequence()) return Error("peers", "must be a list");
      std::set<std::string> names{c.name};
      for (size_t i = 0; i < peers.size(); ++i) {
        std::string p = "peers[" + std::to_string(i) + "]";
        DSMIL_RETURN_IF_ERROR(CheckKeys(peers[i], p, {"name", "role", "control", "dbe", "devices"}));
        PeerConfig pc;
        if (!peers[i]["name"]) return Error(p + ".name", "missing");
        DSMIL_ASSIGN_OR_RETURN(pc.name, String(peers[i]["name"], p + ".name"));
        if (!names.insert(pc.name).second) {
          return Error(p + ".name", "'" + pc.name + "' appears twice (or is this node)");
        }
        if (!peers[i]["role"]) return Error(p + ".role", "missing");
        DSMIL_ASSIGN_OR_RETURN(pc.role, ParseRole(peers[i]["role"], p + ".role"));
        if (peers[i]["control"]) {
          DSMIL_ASSIGN_OR_RETURN(pc.control_url, String(peers[i]["control"], p + ".control"));
          if (pc.control_url.rfind("https://", 0) != 0) return Error(p + ".control", "must be an https:// URL");
        }
        if (peers[i]["dbe"]) {
          DSMIL_ASSIGN_OR_RETURN(HostPort hp, Addr(peers[i]["dbe"], p + ".dbe"));
          pc.dbe = hp.ToString();
        }
        peer_devices_given.push_back(bool(peers[i]["devices"]));
        if (YAML::Node pd = peers[i]["devices"]) {
          DSMIL_ASSIGN_OR_RETURN(pc.devices, DeviceIds(pd, p + ".devices"));
        } else {
          for (const auto& d : DefaultDevices(pc.role)) pc.devices.push_back(d.id);
        }
        c.peers.push_back(std::move(pc));
      }
    }
    // tenants
    if (YAML::Node ts = root["tenants"]) {
      if (!ts.IsSequence()) return Error("tenants", "must be a list");
      std::set<std::string> ids;
      for (size_t i = 0; i < ts.size(); ++i) {
        std::string p = "tenants[" + std::to_string(i) + "]";
        DSMIL_RETURN_IF_ERROR(CheckKeys(ts[i], p, {"id", "roe_level", "compartments"}));
        TenantConfig t;
        if (!ts[i]["id"]) return Error(p + ".id", "missing");
        DSMIL_ASSIGN_OR_RETURN(t.id, String(ts[i]["id"], p + ".id"));
        if (!ValidName(t.id, true)) return Error(p + ".id", "'" + t.id + "' must be 1-32 of [A-Z0-9_]");
        if (!ids.insert(t.id).second) return Error(p + ".id", "tenant '" + t.id + "' appears twice");
        if (ts[i]["roe_level"]) {
          DSMIL_ASSIGN_OR_RETURN(t.roe_level, String(ts[i]["roe_level"], p + ".roe_level"));
          if (t.roe_level != "ANALYSIS_ONLY" && t.roe_level != "SOC_ASSIST" && t.roe_level != "TRAINING") {
            return Error(p + ".roe_level",
                         "unknown ROE level '" + t.roe_level + "' (ANALYSIS_ONLY, SOC_ASSIST or TRAINING)");
          }
        } else {
          t.roe_level = "ANALYSIS_ONLY";
        }
        if (YAML::Node cs = ts[i]["compartments"]) {
          if (!cs.IsSequence()) return Error(p + ".compartments", "must be a list");
          for (size_t j = 0; j < cs.size(); ++j) {
            DSMIL_ASSIGN_OR_RETURN(std::string s, String(cs[j], p + ".compartments[" + std::to_string(j) + "]"));
            t.compartments.push_back(s);
          }
        }
        c.tenants.push_back(std::move(t));
      }
    }
    // devices
    if (YAML::Node ds = root["devices"]) {
      if (!ds.IsSequence()) return Error("devices", "must be a list");
      std::set<std::pair<int, std::string>> seen;
      for (size_t i = 0; i < ds.size(); ++i) {
        std::string p = "devices[" + std::to_string(i) + "]";
        DSMIL_RETURN_IF_ERROR(CheckKeys(ds[i], p, {"id", "range", "tenant"}));
        std::string tenant;
        if (ds[i]["tenant"]) {
          DSMIL_ASSIGN_OR_RETURN(tenant, String(ds[i]["tenant"], p + ".tenant"));
          bool known = false;
          for (auto& t : c.tenants) known |= (t.id == tenant);
          if (!known) return Error(p + ".tenant", "tenant '" + tenant + "' is not in tenants");
        }
        int lo = 0, hi = 0;
        if (ds[i]["id"] && ds[i]["range"]) return Error(p, "give either id or range, not both");
        if (ds[i]["id"]) {
          DSMIL_ASSIGN_OR_RETURN(int64_t id, Int(ds[i]["id"], p + ".id", 0, 103));
          lo = hi = int(id);
        } else if (ds[i]["range"]) {
          DSMIL_ASSIGN_OR_RETURN(std::string r, String(ds[i]["range"], p + ".range"));
          auto dash = r.find('-');
          if (dash == std::string::npos) return Error(p + ".range", "'" + r + "' is not LO-HI");
          DSMIL_ASSIGN_OR_RETURN(int64_t a, Int(YAML::Node(r.substr(0, dash)), p + ".range", 0, 103));
          DSMIL_ASSIGN_OR_RETURN(int64_t b, Int(YAML::Node(r.substr(dash + 1)), p + ".range", 0, 103));
          if (a > b) return Error(p + ".range", "'" + r + "' is empty (LO > HI)");
          lo = int(a);
          hi = int(b);
        } else {
          return Error(p, "needs id or range");
        }
        for (int id = lo; id <= hi; ++id) {
          if (!seen.insert({id, tenant}).second) return Error(p, "device " + std::to_string(id) + " listed twice");
          c.devices.push_back({id, tenant});
        }
      }
    } else {
      c.devices = DefaultDevices(c.role);
    }
    // A device has one host: peers' explicit lists must not claim a device of
    // this node or of an earlier peer; role defaults leave such devices out.
    {
      std::map<int, std::string> host;
      for (const auto& d : c.devices) host[d.id] = c.name;
      for (size_t i = 0; i < c.peers.size(); ++i) {
        std::vector<int> kept;
        for (int id : c.peers[i].devices) {
          auto [it, fresh] = host.emplace(id, c.peers[i].name);
          if (fresh) {
            kept.push_back(id);
          } else if (peer_devices_given[i]) {
            return Error("peers[" + std::to_string(i) + "].devices",
                         "device " + std::to_string(id) + " is already hosted by " + it->second);
          }
        }
        c.peers[i].devices = std::move(kept);
      }
    }
    // dbe
    if (YAML::Node d = root["dbe"]) {
      DSMIL_RETURN_IF_ERROR(
          CheckKeys(d, "dbe", {"transport", "keys_dir", "passphrase_env", "keepalive_ms", "peer_timeout_ms"}));
      if (d["transport"]) {
        DSMIL_ASSIGN_OR_RETURN(c.dbe_session.transport, String(d["transport"], "dbe.transport"));
        if (c.dbe_session.transport != "tcp" && c.dbe_session.transport != "quic") {
          return Error("dbe.transport", "unknown transport '" + c.dbe_session.transport + "' (tcp or quic)");
        }
      }
      if (!d["keys_dir"]) return Error("dbe.keys_dir", "missing (`dsmilctl pki node-keys` writes the identity there)");
      DSMIL_ASSIGN_OR_RETURN(std::string k, String(d["keys_dir"], "dbe.keys_dir"));
      if (k.empty()) return Error("dbe.keys_dir", "must not be empty");
      c.dbe_session.keys_dir = Path(k);
      if (d["passphrase_env"]) {
        DSMIL_ASSIGN_OR_RETURN(c.dbe_session.passphrase_env, String(d["passphrase_env"], "dbe.passphrase_env"));
        if (c.dbe_session.passphrase_env.empty()) return Error("dbe.passphrase_env", "must not be empty");
      }
      if (d["keepalive_ms"]) {
        DSMIL_ASSIGN_OR_RETURN(c.dbe_session.keepalive_ms, Int(d["keepalive_ms"], "dbe.keepalive_ms", 0, 60000));
        if (c.dbe_session.keepalive_ms != 0 && c.dbe_session.keepalive_ms < 50) {
          return Error("dbe.keepalive_ms", "must be 0 (off) or 50..60000");
        }
      }
      if (d["peer_timeout_ms"]) {
        DSMIL_ASSIGN_OR_RETURN(c.dbe_session.peer_timeout_ms,
                               Int(d["peer_timeout_ms"], "dbe.peer_timeout_ms", 100, 600000));
      }
      if (c.dbe_session.keepalive_ms != 0 && c.dbe_session.peer_timeout_ms < 2 * c.dbe_session.keepalive_ms) {
        return Error("dbe.peer_timeout_ms",
                     "must be at least twice dbe.keepalive_ms (" + std::to_string(c.dbe_session.keepalive_ms) + ")");
      }
    }
    // stores
    if (YAML::Node s = root["stores"]) {
      DSMIL_RETURN_IF_ERROR(
          CheckKeys(s, "stores", {"kind", "path", "secrets_dir", "buffer_dir", "redis", "postgres", "qdrant", "loki"}));
      if (s["kind"]) {
        DSMIL_ASSIGN_OR_RETURN(c.stores.kind, String(s["kind"], "stores.kind"));
        if (c.stores.kind != "embedded" && c.stores.kind != "servers") {
          return Error("stores.kind", "unknown kind '" + c.stores.kind + "' (embedded or servers)");
        }
      }
      if (s["path"]) {
        DSMIL_ASSIGN_OR_RETURN(std::string p, String(s["path"], "stores.path"));
        c.stores.path = Path(p);
      }
      if (s["secrets_dir"]) {
        DSMIL_ASSIGN_OR_RETURN(std::string p, String(s["secrets_dir"], "stores.secrets_dir"));
        c.stores.secrets_dir = Path(p);
      }
      if (s["buffer_dir"]) {
        DSMIL_ASSIGN_OR_RETURN(std::string p, String(s["buffer_dir"], "stores.buffer_dir"));
        c.stores.buffer_dir = Path(p);
      }
      if (YAML::Node r = s["redis"]) {
        DSMIL_RETURN_IF_ERROR(CheckKeys(r, "stores.redis", {"host", "port", "connect_timeout_ms"}));
        if (r["host"]) {
          DSMIL_ASSIGN_OR_RETURN(c.stores.redis.host, String(r["host"], "stores.redis.host"));
        }
        if (r["port"]) {
          DSMIL_ASSIGN_OR_RETURN(int64_t v, Int(r["port"], "stores.redis.port", 1, 65535));
          c.stores.redis.port = uint16_t(v);
        }
        if (r["connect_timeout_ms"]) {
          DSMIL_ASSIGN_OR_RETURN(int64_t v, Int(r["connect_timeout_ms"], "stores.redis.connect_timeout_ms", 1, 600000));
          c.stores.redis.connect_timeout_ms = int(v);
        }
      }
      if (YAML::Node pg = s["postgres"]) {
        DSMIL_RETURN_IF_ERROR(CheckKeys(pg, "stores.postgres", {"host", "port", "dbname", "connect_timeout_s"}));
        if (pg["host"]) {
          DSMIL_ASSIGN_OR_RETURN(c.stores.postgres.host, String(pg["host"], "stores.postgres.host"));
        }
        if (pg["port"]) {
          DSMIL_ASSIGN_OR_RETURN(int64_t v, Int(pg["port"], "stores.postgres.port", 1, 65535));
          c.stores.postgres.port = uint16_t(v);
        }
        if (pg["dbname"]) {
          DSMIL_ASSIGN_OR_RETURN(c.stores.postgres.dbname, String(pg["dbname"], "stores.postgres.dbname"));
        }
        if (pg["connect_timeout_s"]) {
          DSMIL_ASSIGN_OR_RETURN(int64_t v, Int(pg["connect_timeout_s"], "stores.postgres.connect_timeout_s", 1, 600));
          c.stores.postgres.connect_timeout_s = int(v);
        }
      }
      if (YAML::Node q = s["qdrant"]) {
        DSMIL_RETURN_IF_ERROR(CheckKeys(q, "stores.qdrant", {"url"}));
        if (q["url"]) {
          DSMIL_ASSIGN_OR_RETURN(c.stores.qdrant.url, String(q["url"], "stores.qdrant.url"));
        }
      }
      if (YAML::Node l = s["loki"]) {
        DSMIL_RETURN_IF_ERROR(CheckKeys(l, "stores.loki", {"url", "spool_dir"}));
        if (l["url"]) {
          DSMIL_ASSIGN_OR_RETURN(c.stores.loki.url, String(l["url"], "stores.loki.url"));
        }
        if (l["spool_dir"]) {
          DSMIL_ASSIGN_OR_RETURN(std::string p, String(l["spool_dir"], "stores.loki.spool_dir"));
          c.stores.loki.spool_dir = Path(p);
        }
      }
    }
    // audit (after stores: the checkpoints must live outside them)
    {
      YAML::Node a = root["audit"];
      if (a) {
        DSMIL_RETURN_IF_ERROR(
            CheckKeys(a, "audit", {"enabled", "checkpoint_dir", "signing_key", "interval_s", "isolation_interval_s"}));
      }
      if (a && a["enabled"]) {
        DSMIL_ASSIGN_OR_RETURN(std::string e, String(a["enabled"], "audit.enabled"));
        if (e != "true" && e != "false") return Error("audit.enabled", "'" + e + "' is not true or false");
        c.audit.enabled = e == "true";
      }
      bool explicit_dir = a && a["checkpoint_dir"];
      if (explicit_dir) {
        DSMIL_ASSIGN_OR_RETURN(std::string p, String(a["checkpoint_dir"], "audit.checkpoint_dir"));
        if (p.empty()) return Error("audit.checkpoint_dir", "must not be empty");
        c.audit.checkpoint_dir = Path(p);
      } else {
        c.audit.checkpoint_dir = Path("audit-checkpoints/" + c.name);
      }
      if (a && a["signing_key"]) {
        DSMIL_ASSIGN_OR_RETURN(std::string p, String(a["signing_key"], "audit.signing_key"));
        if (p.empty()) return Error("audit.signing_key", "must not be empty");
        c.audit.signing_key = Path(p);
      }
      if (a && a["interval_s"]) {
        DSMIL_ASSIGN_OR_RETURN(int64_t v, Int(a["interval_s"], "audit.interval_s", 1, 86400));
        c.audit.interval_s = int(v);
      }
      if (a && a["isolation_interval_s"]) {
        DSMIL_ASSIGN_OR_RETURN(int64_t v, Int(a["isolation_interval_s"], "audit.isolation_interval_s", 0, 86400));
        c.audit.isolation_interval_s = int(v);
      }
      if (c.audit.enabled) {
        const std::string secrets =
            c.stores.secrets_dir.empty() && !c.stores.path.empty() ? c.stores.path + "/secrets" : c.stores.secrets_dir;
        for (const auto& [what, dir] :
             {std::pair<std::string, std::string>{"stores.path", c.stores.path}, {"stores.secrets_dir", secrets}}) {
          const char* why = " (whoever can rewrite the archive could rewrite its checkpoints)";
          if (store::PathIsInside(c.audit.checkpoint_dir, dir)) {
            std::string msg = c.audit.checkpoint_dir;
            msg += explicit_dir ? "" : " (the default)";
            msg.append(" is inside ").append(what).append(" ").append(dir).append(why);
            msg += explicit_dir ? "" : "; set audit.checkpoint_dir outside it";
            return Error("audit.checkpoint_dir", msg);
          }
          if (!c.audit.signing_key.empty() && store::PathIsInside(c.audit.signing_key, dir)) {
            std::string msg = c.audit.signing_key;
            msg.append(" is inside ").append(what).append(" ").append(dir).append(why);
            return Error("audit.signing_key", msg);
          }
        }
      }
    }
    for (auto name : kDeviceSections) {
      YAML::Node sec = root[std::string(name)];
      if (!sec) continue;
      if (!sec.IsMap()) return Error(std::string(name), "must be a mapping");
      if (!devices::IsConfigSectionRegistered(name)) {
        return Status::Internal(source_ + ": " + std::string(name) + ": no device group parses this section");
      }
      // The parser's message starts with the key ("soc.batch: ...").
      auto parsed = devices::ParseConfigSection(name, YamlToJson(sec).dump(), base_);
      if (!parsed.ok()) return Status::InvalidArgument(source_ + ": " + parsed.status().message());
      c.device_sections.Put(std::string(name), std::move(*parsed));
    }
    c.base_dir = base_;
    // logging
    if (YAML::Node l = root["logging"]) {
      DSMIL_RETURN_IF_ERROR(CheckKeys(l, "logging", {"level", "file"}));
      if (l["level"]) {
        DSMIL_ASSIGN_OR_RETURN(c.log_level, String(l["level"], "logging.level"));
        if (c.log_level != "debug" && c.log_level != "info" && c.log_level != "warn" && c.log_level != "error") {
          return Error("logging.level", "unknown level '" + c.log_level + "' (debug, info, warn, error)");
        }
      }
      if (l["file"]) {
        DSMIL_ASSIGN_OR_RETURN(std::string p, String(l["file"], "logging.file"));
        c.log_file = Path(p);
      }
    }
    return c;
  }

 private:
  std::string source_;
  std::string base_;
};

}  // namespace

std::string_view RoleName(Role r) {
  switch (r) {
    case Role::kSoc:
      return "soc";
    case Role::kAi:
      return "ai";
    case Role::kData:
      return "data";
  }
  return "?";
}

std::string_view RoleDisplayName(Role r) {
  switch (r) {
    case Role::kSoc:
      return "SOC/Control";
    case Role::kAi:
      return "AI/Inference";
    case Role::kData:
      return "Data/Logging";
  }
  return "?";
}

std::string HostPort::ToString() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::vector<DeviceConfig> DefaultDevices(Role role) {
  std::vector<DeviceConfig> out;
  auto add = [&](int lo, int hi) {
    for (int i = lo; i <= hi; ++i) out.push_back({i, ""});
  };
  switch (role) {
    case Role::kSoc:
      add(14, 32);
      add(51, 62);
      break;  // L3, L4, L8, L9
    case Role::kAi:
      add(33, 50);
      break;  // L5, L6, L7
    case Role::kData:
      break;  // stores only
  }
  return out;
}

Result<NodeConfig> ParseNodeConfig(std::string_view yaml, std::string_view source, std::string_view base_dir) {
  Parser parser(source.empty() ? "config" : source, base_dir);
  if (yaml.size() > kMaxConfigBytes) {
    return Status::InvalidArgument(std::string(source) + ": " + std::to_string(yaml.size()) +
                                   " bytes, over the limit of " + std::to_string(kMaxConfigBytes));
  }
  // The device groups register the parsers of their config sections.
  devices::RegisterBuiltinDevices();
  try {
    YAML::Node root = YAML::Load(std::string(yaml));
    auto c = parser.Parse(root);
    if (c.ok()) c->source = std::string(source);
    return c;
  } catch (const YAML::Exception& e) {
    std::ostringstream msg;
    msg << source << ":" << (e.mark.line + 1) << ":" << (e.mark.column + 1) << ": " << e.msg;
    return Status::InvalidArgument(msg.str());
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string(source) + ": " + e.what());
  }
}

Result<NodeConfig> LoadNodeConfig(const std::string& path) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  if (ec) return Status::NotFound(path + ": cannot read config: " + ec.message());
  if (size > kMaxConfigBytes) {
    return Status::InvalidArgument(path + ": " + std::to_string(size) + " bytes, over the limit of " +
                                   std::to_string(kMaxConfigBytes));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound(path + ": cannot open config");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string base = fs::absolute(fs::path(path)).parent_path().string();
  return ParseNodeConfig(ss.str(), path, base);
}

}  // namespace dsmil::node
