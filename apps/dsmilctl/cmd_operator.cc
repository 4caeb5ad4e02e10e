// dsmilctl operator register|list|remove: the operators whose ML-DSA-87 keys
// may sign two-person NC3 requests (tenant/operators.h; docs/l9.md). Works on
// <DIR>/tenant/operators, DIR the node's stores.path (--data-dir, else
// $DSMIL_DATA_DIR).
//
//   dsmilctl keys gen --alg ml-dsa-87 --out alice          (on alice's machine)
//   dsmilctl operator register alice --pub alice.pub [--data-dir DIR]
//   dsmilctl operator list
//   dsmilctl operator remove alice
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <memory>
#include <string>

#include "commands.h"
#include "crypto/keyfile.h"
#include "crypto/sha3.h"
#include "tenant/operators.h"

namespace dsmil::ctl {
namespace {

struct OperatorArgs {
  std::string name, pub, data_dir;
};

Result<std::unique_ptr<tenant::OperatorRegistry>> OpenRegistry(const OperatorArgs& a) {
  store::StoresConfig s;
  s.path = a.data_dir;
  if (s.path.empty()) {
    const char* env = std::getenv("DSMIL_DATA_DIR");
    if (env != nullptr) s.path = env;
  }
  if (s.path.empty()) {
    return Status::InvalidArgument("operator: give --data-dir (the node's stores.path) or DSMIL_DATA_DIR");
  }
  return tenant::OperatorRegistry::Open(tenant::OperatorFile(s));
}

// First 16 hex digits of SHA3-256 of the public key: what operators compare.
std::string Fingerprint(ByteView key) { return ToHex(crypto::Sha3_256(key)).substr(0, 16); }

void Register(Context& ctx, const OperatorArgs& a) {
  auto reg = OpenRegistry(a);
  if (!reg.ok()) return Fail(ctx, 2, reg.status().message());
  auto pub = crypto::ReadPublicKey(a.pub, crypto::KeyAlg::kMlDsa87);
  if (!pub.ok()) return Fail(ctx, 2, pub.status().message());
  auto op = (*reg)->Register(a.name, *pub, int64_t(std::time(nullptr)));
  if (!op.ok()) return Fail(ctx, op.status().code() == StatusCode::kAlreadyExists ? 1 : 2, op.status().message());
  std::cout << "operator " << op->name << " registered (key " << Fingerprint(op->public_key) << ")\n";
  ctx.exit_code = 0;
}

void List(Context& ctx, const OperatorArgs& a) {
  auto reg = OpenRegistry(a);
  if (!reg.ok()) return Fail(ctx, 2, reg.status().message());
  auto ops = (*reg)->List();
  if (!ops.ok()) return Fail(ctx, 2, ops.status().message());
  std::printf("%-24s  %-16s  %s\n", "NAME", "KEY", "STATE");
  for (const auto& op : *ops) {
    std::printf("%-24s  %-16s  %s\n", op.name.c_str(), Fingerprint(op.public_key).c_str(),
                op.removed() ? "removed" : "registered");
  }
  ctx.exit_code = 0;
}

void Remove(Context& ctx, const OperatorArgs& a) {
  auto reg = OpenRegistry(a);
  if (!reg.ok()) return Fail(ctx, 2, reg.status().message());
  Status s = (*reg)->Remove(a.name, int64_t(std::time(nullptr)));
  if (s.code() == StatusCode::kNotFound) return Fail(ctx, 1, s.message());
  if (!s.ok()) return Fail(ctx, 2, s.message());
  std::cout << "operator " << a.name << " removed\n";
  ctx.exit_code = 0;
}

const CommandGroup kOperator([](CLI::App& app, Context& ctx) {
  CLI::App* op = app.add_subcommand("operator", "Operators who sign two-person NC3 requests");
  op->require_subcommand(1);
  auto args = std::make_shared<OperatorArgs>();
  CLI::App* reg = op->add_subcommand("register", "register an operator's ML-DSA-87 public key");
  reg->add_option("name", args->name, "operator name ([A-Za-z0-9._@-]{1,64})")->required();
  reg->add_option("--pub", args->pub, "PREFIX.pub from dsmilctl keys gen --alg ml-dsa-87")->required();
  reg->add_option("--data-dir", args->data_dir, "the node's data directory (stores.path)");
  reg->callback([args, &ctx] { Register(ctx, *args); });
  CLI::App* list = op->add_subcommand("list", "list operators");
  list->add_option("--data-dir", args->data_dir, "the node's data directory (stores.path)");
  list->callback([args, &ctx] { List(ctx, *args); });
  CLI::App* rm = op->add_subcommand("remove", "remove an operator (their signatures stop counting)");
  rm->add_option("name", args->name, "operator name")->required();
  rm->add_option("--data-dir", args->data_dir, "the node's data directory (stores.path)");
  rm->callback([args, &ctx] { Remove(ctx, *args); });
});

}  // namespace
}  // namespace dsmil::ctl
