// dsmilctl pki node-keys: a node's ML-DSA-87 identity for the DBE secure
// session (docs/dbe-session.md §1).
//
//   dsmilctl pki node-keys NODE [--dir DIR] [--passphrase-file F | --passphrase-env VAR] [--force]
//
// Writes DIR/NODE-mldsa87.key (0600; encrypted with scrypt + AES-256-GCM when
// a passphrase is given) and DIR/NODE-mldsa87.pub, and prints the node's
// SPIFFE ID. Peers pin the .pub file as peer_keys/NODE-mldsa87.pub.
// Exit 0 written, 1 files exist (without --force), 2 bad input.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include "commands.h"
#include "crypto/ossl.h"
#include "net/identity.h"

namespace dsmil::ctl {
namespace {

struct NodeKeysOptions {
  std::string node;
  std::string dir = ".";
  std::string passphrase_file;
  std::string passphrase_env;
  bool force = false;
};

void RunNodeKeys(const NodeKeysOptions& o, Context& ctx) {
  if (!net::IsValidNodeName(o.node)) {
    return Fail(ctx, 2,
                "pki node-keys: node name \"" + o.node + "\" must be lower-case letters, digits and '-' (1-63)");
  }
  if (!o.passphrase_file.empty() && !o.passphrase_env.empty()) {
    return Fail(ctx, 2, "pki node-keys: give at most one of --passphrase-file and --passphrase-env");
  }
  std::string passphrase;
  if (!o.passphrase_file.empty()) {
    std::ifstream in(o.passphrase_file, std::ios::binary);
    if (!in) return Fail(ctx, 2, "pki node-keys: cannot read passphrase file " + o.passphrase_file);
    std::getline(in, passphrase);
    if (!passphrase.empty() && passphrase.back() == '\r') passphrase.pop_back();
    if (passphrase.empty()) return Fail(ctx, 2, "pki node-keys: passphrase file " + o.passphrase_file + " is empty");
  } else if (!o.passphrase_env.empty()) {
    const char* v = std::getenv(o.passphrase_env.c_str());
    if (v == nullptr || *v == '\0') {
      return Fail(ctx, 2, "pki node-keys: environment variable " + o.passphrase_env + " is unset or empty");
    }
    passphrase = v;
  }
  std::error_code ec;
  std::filesystem::create_directories(o.dir, ec);
  if (ec) return Fail(ctx, 2, "pki node-keys: cannot create " + o.dir + ": " + ec.message());
  const std::string key_path = o.dir + "/" + o.node + std::string(net::kIdentityKeySuffix);
  const std::string pub_path = o.dir + "/" + o.node + std::string(net::kIdentityPubSuffix);
  if (!o.force && (std::filesystem::exists(key_path, ec) || std::filesystem::exists(pub_path, ec))) {
    return Fail(ctx, 1,
                "pki node-keys: " + key_path + " or " + pub_path +
                    " exists; rotate with --force after pinning the new key on the peers");
  }
  auto id = net::GenerateNodeIdentity(o.node);
  if (!id.ok()) return Fail(ctx, 2, "pki node-keys: " + id.status().message());
  Status s = passphrase.empty() ? net::WriteNodeIdentity(o.dir, *id)
                                : net::WriteNodeIdentity(o.dir, *id, std::string_view(passphrase));
  crypto::SecureWipe(passphrase.data(), passphrase.size());
  if (!s.ok()) return Fail(ctx, 2, "pki node-keys: " + s.message());
  std::cout << "wrote " << key_path << (o.passphrase_file.empty() && o.passphrase_env.empty() ? "" : " (encrypted)")
            << "\nwrote " << pub_path << "\nspiffe id " << id->spiffe_id << "\n";
  ctx.exit_code = 0;
}

void AddNodeKeys(CLI::App& pki, Context& ctx) {
  auto o = std::make_shared<NodeKeysOptions>();
  CLI::App* cmd = pki.add_subcommand("node-keys", "Generate a node's ML-DSA-87 identity for the DBE secure session");
  cmd->add_option("node", o->node, "Node name (e.g. node-a)")->required();
  cmd->add_option("--dir", o->dir, "Directory for NODE-mldsa87.key and NODE-mldsa87.pub (default .)");
  cmd->add_option("--passphrase-file", o->passphrase_file, "Encrypt the key file with the passphrase in this file");
  cmd->add_option("--passphrase-env", o->passphrase_env, "Encrypt the key file with the passphrase in this variable");
  cmd->add_flag("--force", o->force, "Replace existing files (identity rotation)");
  cmd->callback([o, &ctx] { RunNodeKeys(*o, ctx); });
}

CLI::App* FindSubcommand(CLI::App& app, const std::string& name) {
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    if (sub->get_name() == name) return sub;
  }
  return nullptr;
}

// The pki group may be registered after this one (registration follows link
// order), so node-keys attaches itself when parsing starts if pki is not there
// yet.
const CommandGroup kNodeKeysGroup([](CLI::App& app, Context& ctx) {
  auto attach = [&app, &ctx] {
    CLI::App* pki = FindSubcommand(app, "pki");
    if (pki == nullptr) pki = app.add_subcommand("pki", "Internal certificate authority and node identities");
    if (FindSubcommand(*pki, "node-keys") == nullptr) AddNodeKeys(*pki, ctx);
  };
  if (FindSubcommand(app, "pki") != nullptr) {
    attach();
  } else {
    app.preparse_callback([attach](size_t) { attach(); });
  }
});

}  // namespace
}  // namespace dsmil::ctl
