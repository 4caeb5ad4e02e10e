// dsmilctl roe issue|list|revoke: rules-of-engagement tokens (tenant/roe.h;
// docs/l9.md). Runs on the node that hosts device 61 and works on its stores:
// the token registry <DIR>/tenant/roe_tokens and the cluster ROE key
// <secrets_dir>/roe/roe-mldsa87.{key,pub} (created by the first issue).
//
//   dsmilctl roe issue --tenant ALPHA --scope nc3 --ttl 15m [--issuer CN] [--data-dir DIR]
//       prints the token id
//   dsmilctl roe list [--tenant ALPHA]
//   dsmilctl roe revoke ID
//
// DIR is the node's stores.path: --data-dir, else $DSMIL_DATA_DIR;
// --secrets-dir overrides <DIR>/secrets as the node's stores.secrets_dir does.
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <memory>
#include <string>

#include "commands.h"
#include "crypto/keyfile.h"
#include "tenant/roe.h"

namespace dsmil::ctl {
namespace {

struct RoeArgs {
  std::string tenant, scope = "nc3", ttl = "15m", issuer, id, data_dir, secrets_dir;
};

Result<store::StoresConfig> Stores(const RoeArgs& a) {
  store::StoresConfig s;
  s.path = a.data_dir;
  if (s.path.empty()) {
    const char* env = std::getenv("DSMIL_DATA_DIR");
    if (env != nullptr) s.path = env;
  }
  if (s.path.empty()) return Status::InvalidArgument("roe: give --data-dir (the node's stores.path) or DSMIL_DATA_DIR");
  s.secrets_dir = a.secrets_dir;
  return s;
}

// "900", "900s", "15m", "2h" -> seconds.
Result<int64_t> ParseTtl(const std::string& s) {
  if (s.empty()) return Status::InvalidArgument("--ttl is empty");
  int64_t unit = 1;
  std::string num = s;
  switch (s.back()) {
    case 's':
      num.pop_back();
      break;
    case 'm':
      unit = 60;
      num.pop_back();
      break;
    case 'h':
      unit = 3600;
      num.pop_back();
      break;
    default:
      break;
  }
  if (num.empty() || num.size() > 9 || num.find_first_not_of("0123456789") != std::string::npos) {
    return Status::InvalidArgument("--ttl " + s + ": want a number of seconds, or N followed by s, m or h");
  }
  return int64_t(std::stoll(num)) * unit;
}

int64_t NowS() { return int64_t(std::time(nullptr)); }

std::string Time(int64_t s) {
  if (s == 0) return "-";
  std::time_t t = std::time_t(s);
  char buf[32];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void Issue(Context& ctx, const RoeArgs& a) {
  auto stores = Stores(a);
  if (!stores.ok()) return Fail(ctx, 2, stores.status().message());
  auto ttl = ParseTtl(a.ttl);
  if (!ttl.ok()) return Fail(ctx, 2, ttl.status().message());
  std::string prefix = tenant::RoeKeyPrefix(*stores);
  auto pub = tenant::EnsureRoeKeyPair(prefix);
  if (!pub.ok()) return Fail(ctx, 2, pub.status().message());
  auto key = crypto::ReadPrivateKey(prefix + ".key", crypto::KeyAlg::kMlDsa87);
  if (!key.ok()) return Fail(ctx, 2, key.status().message());
  auto store = tenant::RoeTokenStore::Open(tenant::RoeTokenFile(*stores));
  if (!store.ok()) return Fail(ctx, 2, store.status().message());
  std::string issuer = a.issuer;
  if (issuer.empty()) {
    const char* user = std::getenv("USER");
    issuer = std::string("local:") + (user != nullptr && *user != '\0' ? user : "unknown");
  }
  auto t = (*store)->Issue(a.tenant, a.scope, *ttl, issuer, key->key, NowS());
  if (!t.ok()) return Fail(ctx, 2, t.status().message());
  std::cout << t->id << "\n";
  std::cerr << "ROE token " << t->id << " for tenant " << t->tenant << ", scope " << t->scope << ", valid until "
            << Time(t->exp_s) << " (signed with " << prefix << ".key)\n";
  ctx.exit_code = 0;
}

void List(Context& ctx, const RoeArgs& a) {
  auto stores = Stores(a);
  if (!stores.ok()) return Fail(ctx, 2, stores.status().message());
  auto store = tenant::RoeTokenStore::Open(tenant::RoeTokenFile(*stores));
  if (!store.ok()) return Fail(ctx, 2, store.status().message());
  auto tokens = (*store)->List(a.tenant);
  if (!tokens.ok()) return Fail(ctx, 2, tokens.status().message());
  int64_t now = NowS();
  std::printf("%-20s  %-8s  %-6s  %-20s  %-20s  %-8s  %s\n", "ID", "TENANT", "SCOPE", "ISSUED", "EXPIRES", "STATE",
              "ISSUER");
  for (const auto& t : *tokens) {
    const char* state = t.revoked() ? "revoked" : now >= t.exp_s ? "expired" : "valid";
    std::printf("%-20s  %-8s  %-6s  %-20s  %-20s  %-8s  %s\n", t.id.c_str(), t.tenant.c_str(), t.scope.c_str(),
                Time(t.issued_at_s).c_str(), Time(t.exp_s).c_str(), state, t.issuer.c_str());
  }
  ctx.exit_code = 0;
}

void Revoke(Context& ctx, const RoeArgs& a) {
  auto stores = Stores(a);
  if (!stores.ok()) return Fail(ctx, 2, stores.status().message());
  auto store = tenant::RoeTokenStore::Open(tenant::RoeTokenFile(*stores));
  if (!store.ok()) return Fail(ctx, 2, store.status().message());
  Status s = (*store)->Revoke(a.id, NowS());
  if (s.code() == StatusCode::kNotFound) return Fail(ctx, 1, s.message());
  if (!s.ok()) return Fail(ctx, 2, s.message());
  std::cout << "ROE token " << a.id << " revoked\n";
  ctx.exit_code = 0;
}

const CommandGroup kRoe([](CLI::App& app, Context& ctx) {
  CLI::App* roe = app.add_subcommand("roe", "Rules-of-engagement tokens (device 61, NC3)");
  roe->require_subcommand(1);
  auto args = std::make_shared<RoeArgs>();
  auto common = [&](CLI::App* c) {
    c->add_option("--data-dir", args->data_dir, "the node's data directory (stores.path)");
    c->add_option("--secrets-dir", args->secrets_dir, "the node's stores.secrets_dir (default <data-dir>/secrets)");
  };
  CLI::App* issue = roe->add_subcommand("issue", "issue a signed ROE token (its id is printed)");
  common(issue);
  issue->add_option("--tenant", args->tenant, "tenant id, e.g. ALPHA")->required();
  issue->add_option("--scope", args->scope, "scope (default nc3)");
  issue->add_option("--ttl", args->ttl, "lifetime: 900, 900s, 15m, 2h (at most 24h; default 15m)");
  issue->add_option("--issuer", args->issuer, "who issues it (default local:$USER)");
  issue->callback([args, &ctx] { Issue(ctx, *args); });
  CLI::App* list = roe->add_subcommand("list", "list ROE tokens");
  common(list);
  list->add_option("--tenant", args->tenant, "only this tenant's tokens");
  list->callback([args, &ctx] { List(ctx, *args); });
  CLI::App* revoke = roe->add_subcommand("revoke", "revoke a token");
  common(revoke);
  revoke->add_option("id", args->id, "token id (from list)")->required();
  revoke->callback([args, &ctx] { Revoke(ctx, *args); });
});

}  // namespace
}  // namespace dsmil::ctl
