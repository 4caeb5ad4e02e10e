// dsmilctl keys gen / kem encaps / kem decaps: post-quantum key files and
// ML-KEM-1024 encapsulation from the command line.
//
//   dsmilctl keys gen --alg ml-dsa-87|ml-kem-1024 --out PREFIX
//       writes PREFIX.pub (raw public key) and PREFIX.key (mode 0600)
//   dsmilctl kem encaps --pub PREFIX.pub --ct CT --secret SS
//       writes the raw 1568-byte ciphertext and the raw 32-byte secret (0600)
//   dsmilctl kem decaps --key PREFIX.key --ct CT --secret SS
//       writes the raw 32-byte secret (0600)
#include <iostream>
#include <string>

#include "commands.h"
#include "crypto/keyfile.h"
#include "crypto/mldsa.h"
#include "crypto/mlkem.h"

namespace dsmil::ctl {
namespace {

using crypto::KeyAlg;

void KeysGen(Context& ctx, const std::string& alg_name, const std::string& prefix) {
  auto alg = crypto::ParseKeyAlg(alg_name);
  if (!alg.ok()) return Fail(ctx, 2, alg.status().message());
  Status s;
  if (*alg == KeyAlg::kMlKem1024) {
    auto kp = crypto::MlKem1024KeyGen();
    if (!kp.ok()) return Fail(ctx, 1, kp.status().ToString());
    s = crypto::WriteKeyPair(prefix, *alg, kp->ek, kp->dk);
  } else {
    auto kp = crypto::MlDsa87KeyGen();
    if (!kp.ok()) return Fail(ctx, 1, kp.status().ToString());
    s = crypto::WriteKeyPair(prefix, *alg, kp->public_key, kp->secret_key);
    crypto::SecureWipe(kp->secret_key.data(), kp->secret_key.size());
  }
  if (!s.ok()) return Fail(ctx, 2, s.message());
  std::cout << crypto::KeyAlgName(*alg) << " key pair written: " << prefix << ".pub, " << prefix << ".key\n";
  ctx.exit_code = 0;
}

void KemEncaps(Context& ctx, const std::string& pub_path, const std::string& ct_path, const std::string& secret_path) {
  auto ek = crypto::ReadPublicKey(pub_path, KeyAlg::kMlKem1024);
  if (!ek.ok()) return Fail(ctx, 2, ek.status().message());
  auto enc = crypto::MlKem1024Encaps(*ek);
  if (!enc.ok()) return Fail(ctx, 2, enc.status().message());
  Status s = crypto::WritePrivateFile(secret_path, enc->shared_secret);
  if (s.ok()) s = crypto::WritePublicFile(ct_path, enc->ciphertext);
  if (!s.ok()) return Fail(ctx, 2, s.message());
  ctx.exit_code = 0;
}

void KemDecaps(Context& ctx, const std::string& key_path, const std::string& ct_path, const std::string& secret_path) {
  auto key = crypto::ReadPrivateKey(key_path, KeyAlg::kMlKem1024);
  if (!key.ok()) return Fail(ctx, 2, key.status().message());
  auto ct = crypto::ReadPublicFile(ct_path);
  if (!ct.ok()) return Fail(ctx, 2, ct.status().message());
  auto ss = crypto::MlKem1024Decaps(key->key, *ct);
  if (!ss.ok()) return Fail(ctx, 2, ss.status().message() + " (" + ct_path + ")");
  Status s = crypto::WritePrivateFile(secret_path, *ss);
  if (!s.ok()) return Fail(ctx, 2, s.message());
  ctx.exit_code = 0;
}

struct Options {
  std::string alg, out, pub, key, ct, secret;
};

const CommandGroup kKeysGroup([](CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<Options>();

  CLI::App* keys = app.add_subcommand("keys", "Post-quantum key files (ML-DSA-87, ML-KEM-1024)");
  keys->require_subcommand(1);
  CLI::App* gen = keys->add_subcommand("gen", "Generate a key pair: PREFIX.pub and PREFIX.key (0600)");
  gen->add_option("--alg", opts->alg, "ml-dsa-87 or ml-kem-1024")->required();
  gen->add_option("--out", opts->out, "output prefix")->required();
  gen->callback([opts, &ctx] { KeysGen(ctx, opts->alg, opts->out); });

  CLI::App* kem = app.add_subcommand("kem", "ML-KEM-1024 encapsulation with key files");
  kem->require_subcommand(1);
  CLI::App* enc = kem->add_subcommand("encaps", "Encapsulate to PREFIX.pub: write CT and SS");
  enc->add_option("--pub", opts->pub, "raw ML-KEM-1024 encapsulation key file")->required();
  enc->add_option("--ct", opts->ct, "ciphertext output file (raw, 1568 bytes)")->required();
  enc->add_option("--secret", opts->secret, "shared secret output file (raw, 32 bytes, 0600)")->required();
  enc->callback([opts, &ctx] { KemEncaps(ctx, opts->pub, opts->ct, opts->secret); });

  CLI::App* dec = kem->add_subcommand("decaps", "Decapsulate CT with PREFIX.key: write SS");
  dec->add_option("--key", opts->key, "ML-KEM-1024 private key file (PREFIX.key)")->required();
  dec->add_option("--ct", opts->ct, "ciphertext file (raw, 1568 bytes)")->required();
  dec->add_option("--secret", opts->secret, "shared secret output file (raw, 32 bytes, 0600)")->required();
  dec->callback([opts, &ctx] { KemDecaps(ctx, opts->key, opts->ct, opts->secret); });
});

}  // namespace
}  // namespace dsmil::ctl
