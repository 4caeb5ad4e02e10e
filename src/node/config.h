// dsmild configuration: one YAML file per node.
//
//   node:    {name: node-a, role: soc|ai|data, address: 127.0.0.1}
//   listen:  {http: 127.0.0.1:8080, control: 127.0.0.1:8099, dbe: 127.0.0.1:8100}
//   tls:     {ca: pki/ca.crt, cert: pki/node-a.crt, key: pki/node-a.key, crl: pki/crl.pem}
//            (crl optional: revoked certificates, re-read when the file changes)
//   peers:   [{name: node-b, role: ai, control: https://127.0.0.1:8199, dbe: 127.0.0.1:8200,
//             devices: [33, 40-50]}]                    (devices default: the peer role's devices)
//   dbe:     {transport: tcp|quic, keys_dir: keys, passphrase_env: DSMIL_NODE_KEY_PASSPHRASE,
//             keepalive_ms: 500, peer_timeout_ms: 1500}
//   tenants: [{id: ALPHA, roe_level: SOC_ASSIST, compartments: [SOC, SIGNALS]}]
//   devices: [{id: 18, tenant: ALPHA}, {range: 14-22}]      (default: the role's devices)
//   stores:  {kind: embedded|servers, path: var/node-c, secrets_dir, redis, postgres, qdrant, loki}
//   audit:   {checkpoint_dir: audit-checkpoints/node-c, signing_key, interval_s: 60, enabled: true,
//             isolation_interval_s: 60}
//   soc: {...}, l7: {...}, llm: {...}, rag: {...}, policies: {...}   (the devices' sections)
//   shrink:  {listen: 0.0.0.0:8500, half_life_s: 900} | {forward: https://node-a:8500}  (docs/shrink.md)
//   logging: {level: info, file: var/node-a.log}
//
// Relative paths are resolved against the directory of the config file. Every
// error names the file, the key path and what is wrong, e.g.
// "node-a.yaml: listen.control: port 99999 out of range 1..65535".
// docs/configuration.md documents every key.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "devices/config_section.h"
#include "store/config.h"

namespace dsmil::node {

enum class Role { kSoc, kAi, kData };
std::string_view RoleName(Role r);         // "soc", "ai", "data"
std::string_view RoleDisplayName(Role r);  // "SOC/Control", "AI/Inference", "Data/Logging"

struct HostPort {
  std::string host;
  uint16_t port = 0;
  std::string ToString() const;
};

struct PeerConfig {
  std::string name;
  Role role = Role::kSoc;
  std::string control_url;   // https://host:port of the peer's control API
  std::string dbe;           // host:port
  std::vector<int> devices;  // devices it hosts (default: DefaultDevices(role))
};

// The DBE secure session between nodes (docs/dbe-session.md).
struct DbeSessionConfig {
  std::string transport = "tcp";  // "tcp" (TCP + TLS) or "quic"
  // Directory of the node's identity (<keys_dir>/<node>-mldsa87.key and .pub)
  // and of the peers' pinned keys (<keys_dir>/peer_keys/). Empty: the node
  // opens no DBE sessions (local devices only).
  std::string keys_dir;
  // Environment variable holding the identity key's passphrase ("" = none).
  std::string passphrase_env;
  // Failure detection (docs/dbe-session.md §6b): a keep-alive envelope on
  // every session each keepalive_ms (0: none sent, no silence check); a
  // session silent for peer_timeout_ms is closed and the peer marked down.
  int64_t keepalive_ms = 500;
  int64_t peer_timeout_ms = 1500;
};

struct TenantConfig {
  std::string id;                         // upper-case, [A-Z0-9_]{1,32}
  std::string roe_level;                  // ANALYSIS_ONLY, SOC_ASSIST, TRAINING
  std::vector<std::string> compartments;  // SOC, SIGNALS, ...
};

struct DeviceConfig {
  int id = 0;
  std::string tenant;  // empty: serves every tenant of the node
};

// The `stores:` section (store/config.h): kind embedded|servers, path,
// secrets_dir, redis {host, port}, postgres {host, port, dbname},
// qdrant {url}, loki {url, spool_dir}.
using StoresConfig = store::StoresConfig;

// The `audit:` section: signed checkpoints of the tenants' audit chains
// (store/audit_checkpoint.h, docs/audit.md).
struct AuditConfig {
  bool enabled = true;
  // Where the per-tenant checkpoint files go; never inside stores.path or
  // stores.secrets_dir. ParseNodeConfig's default:
  // <config dir>/audit-checkpoints/<node name>. "" = no checkpoints.
  std::string checkpoint_dir;
  // Signing key prefix (PREFIX.key, PREFIX.pub); "" = <checkpoint_dir>/checkpoint-mldsa87.
  std::string signing_key;
  int interval_s = 60;
  // Seconds between the data node's live tenant isolation audits
  // (store/isolation_audit.h: dsmil_tenant_isolation_ok); 0 = off.
  int isolation_interval_s = 60;
};

struct NodeConfig {
  std::string source;  // file the config came from ("" when parsed from a string)
  std::string name;
  Role role = Role::kSoc;
  std::string address = "127.0.0.1";
  HostPort http{"127.0.0.1", 8080};
  HostPort control{"127.0.0.1", 8099};
  HostPort dbe{"127.0.0.1", 8100};
  std::string tls_ca, tls_cert, tls_key;
  std::string tls_crl;  // "" = no revocation list
  std::vector<PeerConfig> peers;
  std::vector<TenantConfig> tenants;
  std::vector<DeviceConfig> devices;
  DbeSessionConfig dbe_session;  // the `dbe:` section
  StoresConfig stores;
  AuditConfig audit;
  std::string log_level = "info";
  std::string log_file;  // "" = stderr only
  // Sections soc, l7, llm, rag, policies, each parsed once by the parser its
  // device group registered (devices/config_section.h); each device gets the
  // ones it declared.
  devices::ConfigSections device_sections;
  std::string base_dir;  // directory relative paths were resolved against
};

// Largest config file accepted (bytes).
inline constexpr size_t kMaxConfigBytes = 1 << 20;

// Parses YAML text. `base_dir` resolves relative paths; `source` names the text in errors.
Result<NodeConfig> ParseNodeConfig(std::string_view yaml, std::string_view source, std::string_view base_dir);
// Reads and parses a file (refuses files over kMaxConfigBytes).
Result<NodeConfig> LoadNodeConfig(const std::string& path);

// The devices a role hosts when `devices:` is absent (spec §3.1).
std::vector<DeviceConfig> DefaultDevices(Role role);

}  // namespace dsmil::node
