// dsmilctl audit verify: checks a tenant's tamper-evident audit log (spec
// §4.3, §7.2) where the node keeps it (the node config's `stores:` section:
// PostgreSQL for kind servers, <path>/archive/<TENANT>.db for embedded),
// with the node log key <secrets_dir>/audit.key.
//
//   dsmilctl audit verify --tenant ALPHA --node-config node-c.yaml
//
// Prints the rows checked and every problem (edited, deleted, inserted or
// reordered rows, by seq). Exit 0 intact, 1 broken, 2 bad input or the log
// cannot be read.
#include <sys/stat.h>

#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "core/coding.h"
#include "node/config.h"
#include "store/archive.h"
#include "store/audit.h"

namespace dsmil::ctl {
namespace {

struct AuditArgs {
  std::string tenant, node_config;
};

void Verify(Context& ctx, const AuditArgs& a) {
  auto scope = store::TenantScope::For(a.tenant);
  if (!scope.ok()) return Fail(ctx, 2, "audit verify: --tenant: " + scope.status().message());
  auto config = node::LoadNodeConfig(a.node_config);
  if (!config.ok()) return Fail(ctx, 2, config.status().message());
  const store::StoresConfig& stores = config->stores;
  // The key must already exist: a new key would make every row look forged.
  auto key_hex = store::ReadSecret(stores, "audit.key");
  if (!key_hex.ok()) return Fail(ctx, 2, "audit verify: node log key: " + key_hex.status().message());
  auto key = FromHex(*key_hex);
  if (!key.ok() || key->size() != 32) return Fail(ctx, 2, "audit verify: the node log key is not 32 bytes of hex");
  if (stores.kind == "embedded") {
    std::string file = stores.path + "/archive/" + scope->tenant() + ".db";
    struct stat st {};
    if (stat(file.c_str(), &st) != 0) {
      return Fail(ctx, 2, "audit verify: tenant " + scope->tenant() + " has no archive at " + file);
    }
  }
  auto archive = store::OpenArchive(stores, *scope);
  if (!archive.ok()) return Fail(ctx, 2, "audit verify: " + archive.status().message());
  auto rows = (*archive)->ReadAudit();
  if (!rows.ok()) return Fail(ctx, 2, "audit verify: " + rows.status().message());
  std::string log_key(key->begin(), key->end());
  store::AuditVerdict v = store::VerifyAuditChain(*rows, log_key);
  std::printf("audit log of %s: %zu rows checked\n", scope->tenant().c_str(), v.rows);
  for (const auto& p : v.problems) std::printf("  %s\n", p.c_str());
  if (v.ok) {
    std::printf("chain intact%s\n",
                v.rows ? (", last seq " + std::to_string(rows->back().seq)).c_str() : " (empty)");
    ctx.exit_code = 0;
  } else {
    std::printf("chain BROKEN: %zu problem%s\n", v.problems.size(), v.problems.size() == 1 ? "" : "s");
    ctx.exit_code = 1;
  }
}

const CommandGroup kAudit([](CLI::App& app, Context& ctx) {
  CLI::App* audit = Group(app, "audit", "the tenants' tamper-evident audit logs");
  auto args = std::make_shared<AuditArgs>();
  CLI::App* verify = audit->add_subcommand("verify", "verify a tenant's audit chain (exit 0 intact, 1 broken)");
  verify->add_option("--tenant", args->tenant, "tenant id, e.g. ALPHA")->required();
  verify->add_option("--node-config", args->node_config, "the node config whose stores: section holds the log")
      ->required();
  verify->callback([args, &ctx] { Verify(ctx, *args); });
});

}  // namespace
}  // namespace dsmil::ctl
