// dsmilctl tenant key create|list|revoke: the API keys of the OpenAI-compatible
// API (:8001). Runs on the node that serves :8001 and works on its key file
// (tenant/keys.h), which the running router re-reads on change.
//
//   dsmilctl tenant key create --tenant ALPHA [--label ci] [--data-dir DIR | --keys-file FILE]
//       prints the new key once: it is stored only as a hash
//   dsmilctl tenant key list   --tenant ALPHA
//   dsmilctl tenant key revoke --tenant ALPHA --id 3f9a1c2b
//
// The key file: --keys-file, else <--data-dir>/tenant/api_keys, else
// $DSMIL_DATA_DIR/tenant/api_keys (DIR is the node's stores.path).
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <memory>
#include <string>

#include "commands.h"
#include "tenant/keys.h"

namespace dsmil::ctl {
namespace {

struct KeyArgs {
  std::string tenant, label, id, data_dir, keys_file;
};

Result<std::unique_ptr<tenant::ApiKeyStore>> OpenStore(const KeyArgs& a) {
  std::string path = a.keys_file;
  if (path.empty()) {
    std::string dir = a.data_dir;
    if (dir.empty()) {
      const char* env = std::getenv("DSMIL_DATA_DIR");
      if (env != nullptr) dir = env;
    }
    if (dir.empty()) {
      return Status::InvalidArgument(
          "tenant key: give --keys-file, --data-dir (the node's stores.path) or DSMIL_DATA_DIR");
    }
    path = dir + "/tenant/api_keys";
  }
  return tenant::ApiKeyStore::Open(path);
}

std::string Time(int64_t ms) {
  if (ms == 0) return "-";
  std::time_t t = std::time_t(ms / 1000);
  char buf[32];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void Create(Context& ctx, const KeyArgs& a) {
  auto store = OpenStore(a);
  if (!store.ok()) return Fail(ctx, 2, store.status().message());
  auto k = (*store)->Create(a.tenant, a.label);
  if (!k.ok()) return Fail(ctx, 2, k.status().message());
  std::cout << k->key << "\n";
  std::cerr << "key " << k->info.id << " for tenant " << a.tenant
            << " created; it is shown only now (stored as its SHA3-256 hash)\n";
  ctx.exit_code = 0;
}

void List(Context& ctx, const KeyArgs& a) {
  auto store = OpenStore(a);
  if (!store.ok()) return Fail(ctx, 2, store.status().message());
  auto keys = (*store)->List(a.tenant);
  if (!keys.ok()) return Fail(ctx, 2, keys.status().message());
  std::printf("%-8s  %-8s  %-20s  %-20s  %s\n", "ID", "TENANT", "CREATED", "REVOKED", "LABEL");
  for (const auto& k : *keys) {
    std::printf("%-8s  %-8s  %-20s  %-20s  %s\n", k.id.c_str(), k.tenant.c_str(), Time(k.created_ms).c_str(),
                Time(k.revoked_ms).c_str(), k.label.c_str());
  }
  ctx.exit_code = 0;
}

void Revoke(Context& ctx, const KeyArgs& a) {
  auto store = OpenStore(a);
  if (!store.ok()) return Fail(ctx, 2, store.status().message());
  Status s = (*store)->Revoke(a.tenant, a.id);
  if (s.code() == StatusCode::kNotFound) return Fail(ctx, 1, s.message());
  if (!s.ok()) return Fail(ctx, 2, s.message());
  std::cout << "key " << a.id << " of tenant " << a.tenant << " revoked\n";
  ctx.exit_code = 0;
}

const CommandGroup kTenantKeys([](CLI::App& app, Context& ctx) {
  CLI::App* tenant = Group(app, "tenant", "tenants: API keys, credentials, policies");
  CLI::App* key = tenant->add_subcommand("key", "API keys of the OpenAI-compatible API (:8001)");
  key->require_subcommand(1);
  auto args = std::make_shared<KeyArgs>();
  auto common = [&](CLI::App* c) {
    c->add_option("--tenant", args->tenant, "tenant id, e.g. ALPHA")->required();
    c->add_option("--data-dir", args->data_dir, "the node's data directory (stores.path)");
    c->add_option("--keys-file", args->keys_file, "the key file (default <data-dir>/tenant/api_keys)");
  };
  CLI::App* create = key->add_subcommand("create", "create a key (printed once)");
  common(create);
  create->add_option("--label", args->label, "free text shown by list");
  create->callback([args, &ctx] { Create(ctx, *args); });
  CLI::App* list = key->add_subcommand("list", "list a tenant's keys");
  common(list);
  list->callback([args, &ctx] { List(ctx, *args); });
  CLI::App* revoke = key->add_subcommand("revoke", "revoke a key by id");
  common(revoke);
  revoke->add_option("--id", args->id, "key id (8 hex digits, from list)")->required();
  revoke->callback([args, &ctx] { Revoke(ctx, *args); });
});

}  // namespace
}  // namespace dsmil::ctl
