// dsmilctl audit verify: checks a tenant's tamper-evident audit log (spec
// §4.3, §7.2) where the node keeps it (the node config's `stores:` section:
// PostgreSQL for kind servers, <path>/archive/<TENANT>.db for embedded),
// with the node log key <secrets_dir>/audit.key.
//
//   dsmilctl audit verify --tenant ALPHA --node-config node-c.yaml
//
// The log is also checked against the tenant's latest valid signed checkpoint
// (docs/audit.md), from the node's checkpoint directory (the node config's
// `audit.checkpoint_dir`, or --checkpoint-dir) with the node's checkpoint
// public key (<signing key>.pub, or --public-key: better a copy kept apart
// from the node). Without a checkpoint the chain is still verified, but
// truncation cannot be detected, and the output says so.
//
// Prints the rows checked, every problem (edited, deleted, inserted or
// reordered rows, by seq; rows missing after a checkpoint, a rolled-back log,
// checkpoints that do not verify) and the checkpoint trusted. Exit 0 intact,
// 1 broken, 2 bad input or the log cannot be read.
#include <sys/stat.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "core/coding.h"
#include "node/config.h"
#include "store/archive.h"
#include "store/audit.h"
#include "store/audit_checkpoint.h"

namespace dsmil::ctl {
namespace {

struct AuditArgs {
  std::string tenant, node_config;
  std::string checkpoint_dir, public_key;  // "" = from the node config
};

bool FileExists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

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
  // The checkpoints: where the node writes them unless told otherwise.
  std::string dir = a.checkpoint_dir;
  std::string pub_file = a.public_key;
  const node::AuditConfig& ac = config->audit;
  if (dir.empty() && ac.enabled) dir = ac.checkpoint_dir;
  if (pub_file.empty() && !dir.empty()) {
    pub_file = (!a.checkpoint_dir.empty() || ac.signing_key.empty() ? store::DefaultAuditCheckpointKeyPrefix(dir)
                                                                    : ac.signing_key) +
               ".pub";
  }
  store::AuditCheckpointLog ckpts;
  std::string no_checkpoint_why;
  if (dir.empty()) {
    no_checkpoint_why = "audit checkpoints are disabled in the node config";
  } else {
    const std::string file = store::AuditCheckpointFile(dir, scope->tenant());
    if (a.public_key.empty() && !FileExists(pub_file) && !FileExists(file)) {
      no_checkpoint_why = "no checkpoint public key at " + pub_file;
    } else {
      auto pub = store::ReadAuditCheckpointPublicKey(pub_file);
      if (!pub.ok()) return Fail(ctx, 2, "audit verify: " + pub.status().message());
      auto log = store::ReadAuditCheckpointLog(dir, scope->tenant(), *pub);
      if (!log.ok()) return Fail(ctx, 2, "audit verify: " + log.status().message());
      ckpts = std::move(*log);
      if (!ckpts.exists) no_checkpoint_why = "no checkpoint file " + file;
    }
  }
  // The rows. An embedded archive file that is gone is an error, unless a
  // checkpoint says the log had rows: then it is a truncation.
  std::vector<store::AuditRow> rows;
  bool have_archive = true;
  if (stores.kind == "embedded") {
    std::string file = stores.path + "/archive/" + scope->tenant() + ".db";
    struct stat st {};
    if (stat(file.c_str(), &st) != 0) {
      if (!ckpts.latest || ckpts.latest->seq == 0) {
        return Fail(ctx, 2, "audit verify: tenant " + scope->tenant() + " has no archive at " + file);
      }
      std::printf("tenant %s has no archive at %s\n", scope->tenant().c_str(), file.c_str());
      have_archive = false;
    }
  }
  if (have_archive) {
    auto archive = store::OpenArchive(stores, *scope);
    if (!archive.ok()) return Fail(ctx, 2, "audit verify: " + archive.status().message());
    auto read = (*archive)->ReadAudit();
    if (!read.ok()) return Fail(ctx, 2, "audit verify: " + read.status().message());
    rows = std::move(*read);
  }
  std::string log_key(key->begin(), key->end());
  store::AuditVerdict v = store::VerifyAuditWithCheckpoints(rows, log_key, ckpts);
  std::printf("audit log of %s: %zu rows checked\n", scope->tenant().c_str(), v.rows);
  for (const auto& p : v.problems) std::printf("  %s\n", p.c_str());
  for (const auto& n : v.notes) {
    if (n.rfind("no checkpoint:", 0) == 0 && !no_checkpoint_why.empty()) {
      std::printf("%s (%s)\n", n.c_str(), no_checkpoint_why.c_str());
    } else {
      std::printf("%s\n", n.c_str());
    }
  }
  if (v.trusted) {
    std::printf("trusted %s: seq %lld, %lld rows, head %s\n", store::DescribeCheckpoint(*v.trusted).c_str(),
                static_cast<long long>(v.trusted->seq), static_cast<long long>(v.trusted->rows),
                v.trusted->head.c_str());
  }
  if (v.ok) {
    std::printf("chain intact%s\n", v.rows ? (", last seq " + std::to_string(rows.back().seq)).c_str() : " (empty)");
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
  verify->add_option("--checkpoint-dir", args->checkpoint_dir,
                     "directory of the signed checkpoints (default: the node config's audit.checkpoint_dir)");
  verify->add_option("--public-key", args->public_key,
                     "the checkpoint signing public key (default: <signing key>.pub beside the checkpoints)");
  verify->callback([args, &ctx] { Verify(ctx, *args); });
});

}  // namespace
}  // namespace dsmil::ctl
