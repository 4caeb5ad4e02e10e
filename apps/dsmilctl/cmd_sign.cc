// dsmilctl sign | verify: ML-DSA-87 (FIPS 204) signatures over files, used for
// the NC3 two-person signatures (spec §9.2).
//
//   dsmilctl sign   --key PREFIX.key --in FILE --out SIG [--context TEXT] [--deterministic]
//   dsmilctl verify --pub PREFIX.pub --in FILE --sig SIG [--context TEXT]
//
// Key files are those of `dsmilctl keys gen --alg ml-dsa-87` (crypto/keyfile.h):
// PREFIX.pub is the raw FIPS 204 public key (2592 bytes); PREFIX.key is the
// DSMILKEY container of the raw secret key, and a bare raw 4896-byte FIPS 204
// secret key (as other implementations write it) is accepted too. Either way
// the secret key file must not be accessible by group or others.
// Signatures are written raw (4627 bytes). FILE may be "-" for standard input.
// verify exits 0 when the signature is valid, 1 when it is not, 2 on bad input
// (unreadable file, wrong key or signature length, context over 255 bytes).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>

#include "commands.h"
#include "core/coding.h"
#include "core/status.h"
#include "crypto/keyfile.h"
#include "crypto/mldsa.h"
#include "crypto/ossl.h"

namespace dsmil::ctl {
namespace {

Result<Bytes> ReadAll(int fd, const std::string& what) {
  Bytes out;
  uint8_t buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::InvalidArgument("cannot read " + what + ": " + std::strerror(errno));
    }
    out.insert(out.end(), buf, buf + n);
  }
  return out;
}

// Reads a whole file ("-" = standard input).
Result<Bytes> ReadFile(const std::string& path) {
  if (path == "-") return ReadAll(STDIN_FILENO, "standard input");
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::InvalidArgument("cannot open " + path + ": " + std::strerror(errno));
  Result<Bytes> data = ReadAll(fd, path);
  ::close(fd);
  return data;
}

// Reads an ML-DSA-87 secret key: a DSMILKEY key file or a raw FIPS 204 secret
// key. The file must not be accessible by group or others.
Result<crypto::SecretBytes> ReadSecretKey(const std::string& path) {
  DSMIL_ASSIGN_OR_RETURN(Bytes file, crypto::ReadPrivateFile(path));
  crypto::SecretBytes file_secret(file.begin(), file.end());
  crypto::SecureWipe(file.data(), file.size());
  const size_t magic_len = sizeof(crypto::kKeyFileMagic) - 1;
  if (file_secret.size() >= magic_len && std::memcmp(file_secret.data(), crypto::kKeyFileMagic, magic_len) == 0) {
    auto key = crypto::DecodePrivateKeyFile(file_secret);
    if (!key.ok()) return key.status().WithContext(path);
    if (key->alg != crypto::KeyAlg::kMlDsa87)
      return Status::InvalidArgument(path + " holds an " + std::string(crypto::KeyAlgName(key->alg)) +
                                     " key, not an ml-dsa-87 key");
    return std::move(key->key);
  }
  if (file_secret.size() != crypto::kMlDsa87SecretKeyBytes)
    return Status::InvalidArgument("secret key file " + path + " is " + std::to_string(file_secret.size()) +
                                   " bytes: neither a DSMILKEY key file nor a raw ML-DSA-87 secret key (" +
                                   std::to_string(crypto::kMlDsa87SecretKeyBytes) + " bytes)");
  return file_secret;
}

Status CheckContext(const std::string& context) {
  if (context.size() > crypto::kMlDsaMaxContextBytes)
    return Status::InvalidArgument("--context is " + std::to_string(context.size()) +
                                   " bytes; FIPS 204 allows at most 255");
  return Status::Ok();
}

struct SignArgs {
  std::string key, in, out, context;
  bool deterministic = false;
};

struct VerifyArgs {
  std::string pub, in, sig, context;
};

int RunSign(const SignArgs& a, Context& ctx) {
  if (Status st = CheckContext(a.context); !st.ok()) return Fail(ctx, 2, st.message()), 2;
  auto key = ReadSecretKey(a.key);
  if (!key.ok()) return Fail(ctx, 2, key.status().message()), 2;
  auto msg = ReadFile(a.in);
  if (!msg.ok()) return Fail(ctx, 2, msg.status().message()), 2;
  auto sig =
      crypto::MlDsa87Sign(*key, *msg, AsBytes(a.context),
                          a.deterministic ? crypto::MlDsaSigning::kDeterministic : crypto::MlDsaSigning::kHedged);
  if (!sig.ok()) {
    int code = sig.status().code() == StatusCode::kInvalidArgument ? 2 : 1;
    return Fail(ctx, code, a.key + ": " + sig.status().message()), code;
  }
  if (Status st = crypto::WritePublicFile(a.out, *sig); !st.ok()) return Fail(ctx, 2, st.message()), 2;
  return 0;
}

int RunVerify(const VerifyArgs& a, Context& ctx) {
  if (Status st = CheckContext(a.context); !st.ok()) return Fail(ctx, 2, st.message()), 2;
  auto pub = crypto::ReadPublicKey(a.pub, crypto::KeyAlg::kMlDsa87);
  if (!pub.ok()) return Fail(ctx, 2, pub.status().message()), 2;
  auto sig = ReadFile(a.sig);
  if (!sig.ok()) return Fail(ctx, 2, sig.status().message()), 2;
  if (sig->size() != crypto::kMlDsa87SignatureBytes)
    return Fail(ctx, 2,
                "signature file " + a.sig + " is " + std::to_string(sig->size()) +
                    " bytes; an ML-DSA-87 signature is " + std::to_string(crypto::kMlDsa87SignatureBytes) + " bytes"),
           2;
  auto msg = ReadFile(a.in);
  if (!msg.ok()) return Fail(ctx, 2, msg.status().message()), 2;
  Status st = crypto::MlDsa87Verify(*pub, *msg, AsBytes(a.context), *sig);
  if (st.ok()) {
    std::cout << "signature valid (ML-DSA-87)\n";
    return 0;
  }
  if (st.code() == StatusCode::kUnauthenticated) return Fail(ctx, 1, "signature INVALID: " + st.message()), 1;
  return Fail(ctx, 2, st.message()), 2;
}

CommandGroup kSignCommands([](CLI::App& app, Context& ctx) {
  auto sign_args = std::make_shared<SignArgs>();
  CLI::App* sign = app.add_subcommand("sign", "Sign a file with an ML-DSA-87 secret key (FIPS 204)");
  sign->add_option("--key", sign_args->key,
                   "Secret key: PREFIX.key of keys gen, or a raw 4896-byte FIPS 204 key (mode 0600)")
      ->required();
  sign->add_option("--in", sign_args->in, "File to sign ('-' = standard input)")->required();
  sign->add_option("--out", sign_args->out, "Where to write the raw 4627-byte signature")->required();
  sign->add_option("--context", sign_args->context, "FIPS 204 context string (0..255 bytes)");
  sign->add_flag("--deterministic", sign_args->deterministic, "Deterministic signing (rnd = 0) instead of hedged");
  sign->callback([sign_args, &ctx] { ctx.exit_code = RunSign(*sign_args, ctx); });

  auto verify_args = std::make_shared<VerifyArgs>();
  CLI::App* verify =
      app.add_subcommand("verify", "Verify an ML-DSA-87 signature: exit 0 valid, 1 invalid, 2 bad input");
  verify->add_option("--pub", verify_args->pub, "Public key file (raw 2592 bytes)")->required();
  verify->add_option("--in", verify_args->in, "Signed file ('-' = standard input)")->required();
  verify->add_option("--sig", verify_args->sig, "Raw signature file (4627 bytes)")->required();
  verify->add_option("--context", verify_args->context, "FIPS 204 context string (0..255 bytes)");
  verify->callback([verify_args, &ctx] { ctx.exit_code = RunVerify(*verify_args, ctx); });
});

}  // namespace
}  // namespace dsmil::ctl
