// dsmilctl tenant render-acl: the Redis users.acl for the node's tenants
// (spec §4.1), with a password file per Redis user created where missing.
//
//   dsmilctl tenant render-acl --tenants ALPHA,BRAVO --secrets var/node-c/secrets
//       --out deploy/redis/users.acl
//   dsmilctl tenant render-acl --node-config node-c.yaml --out /etc/redis/users.acl
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

#include "commands.h"
#include "node/config.h"
#include "store/redis_acl.h"

namespace dsmil::ctl {
namespace {

struct RenderAclOptions {
  std::vector<std::string> tenants;
  std::string node_config;
  std::string secrets;
  std::string out;
};

Status WriteFileAtomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << text;
    f.close();
    if (!f) return Status::Unavailable("cannot write " + tmp);
  }
  ::chmod(tmp.c_str(), 0640);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return Status::Unavailable("cannot rename " + tmp + " to " + path);
  }
  return Status::Ok();
}

void RenderAcl(const RenderAclOptions& o, Context& ctx) {
  std::vector<std::string> tenants;
  auto add = [&](const std::string& t) {
    for (const auto& have : tenants) {
      if (have == t) return;
    }
    tenants.push_back(t);
  };
  for (const auto& t : o.tenants) add(t);
  std::string secrets = o.secrets;
  if (!o.node_config.empty()) {
    auto cfg = node::LoadNodeConfig(o.node_config);
    if (!cfg.ok()) return Fail(ctx, 2, cfg.status().message());
    for (const auto& t : cfg->tenants) add(t.id);
    if (secrets.empty()) {
      secrets = !cfg->stores.secrets_dir.empty() ? cfg->stores.secrets_dir
                : !cfg->stores.path.empty()      ? cfg->stores.path + "/secrets"
                                                 : "";
    }
  }
  if (tenants.empty()) return Fail(ctx, 2, "tenant render-acl: no tenants (give --tenants or --node-config)");
  if (secrets.empty()) {
    return Fail(ctx, 2, "tenant render-acl: no secrets directory (give --secrets, or a node config with stores.path)");
  }
  std::vector<std::string> created;
  auto passwords = store::EnsureRedisPasswords(secrets, tenants, &created);
  if (!passwords.ok()) {
    return Fail(ctx, passwords.status().code() == StatusCode::kInvalidArgument ? 2 : 1,
                "tenant render-acl: " + passwords.status().message());
  }
  auto acl = store::RenderRedisAcl(tenants, *passwords);
  if (!acl.ok()) return Fail(ctx, 2, "tenant render-acl: " + acl.status().message());
  if (Status s = WriteFileAtomically(o.out, *acl); !s.ok()) return Fail(ctx, 1, "tenant render-acl: " + s.message());
  for (const auto& path : created) std::cout << "created " << path << "\n";
  std::cout << "wrote " << o.out << ": " << passwords->size() << " users (";
  for (size_t i = 0; i < tenants.size(); ++i) std::cout << (i ? ", " : "") << tenants[i];
  std::cout << ", " << store::kRedisAdminUser << "); passwords under " << secrets << "/redis\n";
  ctx.exit_code = 0;
}

CommandGroup kTenantAcl([](CLI::App& app, Context& ctx) {
  CLI::App* tenant = Group(app, "tenant", "Tenants: registry, API keys, Redis ACLs");
  auto o = std::make_shared<RenderAclOptions>();
  CLI::App* cmd = tenant->add_subcommand(
      "render-acl", "Write the Redis users.acl for the tenants (creates missing password files, mode 0600)");
  cmd->add_option("--tenants", o->tenants, "Tenant ids, comma separated (ALPHA,BRAVO)")->delimiter(',');
  cmd->add_option("--node-config", o->node_config, "Node config whose tenants (and stores.secrets_dir) to use");
  cmd->add_option("--secrets", o->secrets, "Secrets directory (passwords go to <dir>/redis/<user>.pass)");
  cmd->add_option("--out", o->out, "ACL file to write (e.g. deploy/redis/users.acl)")->required();
  cmd->callback([o, &ctx] { RenderAcl(*o, ctx); });
});

}  // namespace
}  // namespace dsmil::ctl
