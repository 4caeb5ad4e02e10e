// dsmilctl tenant render-sql: the PostgreSQL init SQL of the archive (schemas
// dsmil_<t>, roles <t>_app, row-level security; store/pg_init.h).
//
//   dsmilctl tenant render-sql --tenants ALPHA,BRAVO --secrets secrets --out deploy/postgres/init.sql
//   dsmilctl tenant render-sql --node-config node-c.yaml          (tenants and secrets_dir from the node)
//
// Role passwords are read from <secrets>/postgres/<t>_app.pass, created
// (0600) when missing; the SQL holds only their SCRAM-SHA-256 verifiers.
// Without --out the SQL goes to stdout.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "node/config.h"
#include "store/pg_init.h"
#include "store/scope.h"

namespace dsmil::ctl {
namespace {

struct SqlArgs {
  std::string tenants, secrets, out, node_config;
};

void Render(Context& ctx, const SqlArgs& a) {
  std::vector<std::string> ids;
  std::string secrets = a.secrets;
  if (!a.node_config.empty()) {
    auto config = node::LoadNodeConfig(a.node_config);
    if (!config.ok()) return Fail(ctx, 2, config.status().message());
    if (a.tenants.empty()) {
      for (const auto& t : config->tenants) ids.push_back(t.id);
    }
    if (secrets.empty()) {
      secrets = config->stores.secrets_dir.empty() ? config->stores.path + "/secrets" : config->stores.secrets_dir;
    }
  }
  if (!a.tenants.empty()) {
    size_t start = 0;
    while (start <= a.tenants.size()) {
      size_t comma = a.tenants.find(',', start);
      if (comma == std::string::npos) comma = a.tenants.size();
      std::string id = a.tenants.substr(start, comma - start);
      if (!id.empty()) ids.push_back(id);
      start = comma + 1;
    }
  }
  if (ids.empty()) return Fail(ctx, 2, "tenant render-sql: no tenants (give --tenants ALPHA,BRAVO or --node-config)");
  if (secrets.empty() || secrets == "/secrets") {
    return Fail(ctx, 2, "tenant render-sql: no secrets directory (give --secrets DIR or --node-config)");
  }
  std::vector<store::TenantScope> scopes;
  for (const auto& id : ids) {
    auto s = store::TenantScope::For(id);
    if (!s.ok()) return Fail(ctx, 2, "tenant render-sql: --tenants: " + s.status().message());
    scopes.push_back(*s);
  }
  auto sql = store::RenderPgInitSql(scopes, secrets);
  if (!sql.ok()) return Fail(ctx, 2, "tenant render-sql: " + sql.status().message());
  if (a.out.empty() || a.out == "-") {
    std::fwrite(sql->data(), 1, sql->size(), stdout);
    ctx.exit_code = 0;
    return;
  }
  // Written beside, then renamed: a reader never sees half a file.
  std::string tmp = a.out + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Fail(ctx, 2, "tenant render-sql: cannot write " + tmp + ": " + std::strerror(errno));
  bool ok = write(fd, sql->data(), sql->size()) == ssize_t(sql->size());
  ok = fsync(fd) == 0 && ok;
  close(fd);
  if (!ok || rename(tmp.c_str(), a.out.c_str()) != 0) {
    unlink(tmp.c_str());
    return Fail(ctx, 2, "tenant render-sql: cannot write " + a.out);
  }
  std::fprintf(stderr, "wrote %s for %zu tenant%s (passwords under %s/postgres)\n", a.out.c_str(), scopes.size(),
               scopes.size() == 1 ? "" : "s", secrets.c_str());
  ctx.exit_code = 0;
}

const CommandGroup kTenantSql([](CLI::App& app, Context& ctx) {
  CLI::App* tenant = Group(app, "tenant", "tenants: API keys, credentials, policies");
  auto args = std::make_shared<SqlArgs>();
  CLI::App* render = tenant->add_subcommand("render-sql", "render the PostgreSQL init SQL (schemas, roles, RLS)");
  render->add_option("--tenants", args->tenants, "comma-separated tenant ids, e.g. ALPHA,BRAVO");
  render->add_option("--secrets", args->secrets, "secrets directory (role passwords under postgres/)");
  render->add_option("--out", args->out, "output file (default stdout)");
  render->add_option("--node-config", args->node_config, "take tenants and secrets_dir from this node config");
  render->callback([args, &ctx] { Render(ctx, *args); });
});

}  // namespace
}  // namespace dsmil::ctl
