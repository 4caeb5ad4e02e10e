// Test driver over the dsmil_crypto library for the interop tests: raw key,
// ciphertext and secret files in, raw files out.
//
//   crypto_tool mlkem-keygen EK_OUT DK_OUT [SEED_HEX(64 bytes d||z)]
//   crypto_tool mlkem-encaps EK_FILE CT_OUT SS_OUT [M_HEX(32 bytes)]
//   crypto_tool mlkem-decaps DK_FILE CT_FILE SS_OUT
//   crypto_tool mldsa-keygen PK_OUT SK_OUT [XI_HEX(32 bytes)]
//   crypto_tool mldsa-sign SK_FILE MSG_FILE SIG_OUT [--context HEX] [--deterministic]
//   crypto_tool mldsa-verify PK_FILE MSG_FILE SIG_FILE [--context HEX]
//
// Keys and signatures are the raw FIPS 203 / FIPS 204 encodings.
// Exit 0 on success, 1 on a refused input (message on stderr), 2 on usage.
// mldsa-verify: exit 0 when the signature is valid, 1 when it is not (or an
// input is malformed), 2 on usage.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <span>
#include <string>
#include <utility>

#include "core/coding.h"
#include "crypto/mldsa.h"
#include "crypto/mlkem.h"

namespace {

using dsmil::Bytes;
using dsmil::ByteView;

bool ReadAll(const std::string& path, Bytes& out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  out.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return true;
}

bool WriteAll(const std::string& path, ByteView data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  return static_cast<bool>(f);
}

int Fail(const std::string& msg) {
  std::cerr << "crypto_tool: " << msg << "\n";
  return 1;
}

// Parses the options after the positional arguments of mldsa-sign/verify:
// --context HEX and (when allowed) --deterministic. False on anything else.
bool ParseDsaOptions(int argc, char** argv, int first, bool allow_deterministic, Bytes& context, bool& deterministic) {
  context.clear();
  deterministic = false;
  for (int i = first; i < argc; ++i) {
    std::string opt = argv[i];
    if (opt == "--context" && i + 1 < argc) {
      auto ctx = dsmil::FromHex(argv[++i]);
      if (!ctx.ok()) {
        std::cerr << "crypto_tool: --context is not hex: " << ctx.status().ToString() << "\n";
        return false;
      }
      context = std::move(*ctx);
    } else if (opt == "--deterministic" && allow_deterministic) {
      deterministic = true;
    } else {
      std::cerr << "crypto_tool: unexpected argument " << opt << "\n";
      return false;
    }
  }
  return true;
}

int Run(int argc, char** argv) {
  using namespace dsmil::crypto;
  if (argc < 2) return 2;
  std::string cmd = argv[1];
  if (cmd == "mlkem-keygen" && (argc == 4 || argc == 5)) {
    dsmil::Result<MlKem1024KeyPair> kp = dsmil::Status::Internal("unset");
    if (argc == 5) {
      auto seed = dsmil::FromHex(argv[4]);
      if (!seed.ok() || seed->size() != 64) return Fail("seed must be 64 bytes of hex");
      kp = MlKem1024KeyGenInternal(ByteView(*seed).first(32), ByteView(*seed).subspan(32));
    } else {
      kp = MlKem1024KeyGen();
    }
    if (!kp.ok()) return Fail(kp.status().ToString());
    if (!WriteAll(argv[2], kp->ek) || !WriteAll(argv[3], kp->dk)) return Fail("write failed");
    return 0;
  }
  if (cmd == "mlkem-encaps" && (argc == 5 || argc == 6)) {
    Bytes ek;
    if (!ReadAll(argv[2], ek)) return Fail(std::string("cannot read ") + argv[2]);
    dsmil::Result<MlKemEncapsulation> enc = dsmil::Status::Internal("unset");
    if (argc == 6) {
      auto m = dsmil::FromHex(argv[5]);
      if (!m.ok()) return Fail("bad m hex");
      enc = MlKem1024EncapsInternal(ek, *m);
    } else {
      enc = MlKem1024Encaps(ek);
    }
    if (!enc.ok()) return Fail(enc.status().ToString());
    if (!WriteAll(argv[3], enc->ciphertext) || !WriteAll(argv[4], enc->shared_secret)) {
      return Fail("write failed");
    }
    return 0;
  }
  if (cmd == "mlkem-decaps" && argc == 5) {
    Bytes dk, ct;
    if (!ReadAll(argv[2], dk)) return Fail(std::string("cannot read ") + argv[2]);
    if (!ReadAll(argv[3], ct)) return Fail(std::string("cannot read ") + argv[3]);
    auto ss = MlKem1024Decaps(dk, ct);
    SecureWipe(dk.data(), dk.size());
    if (!ss.ok()) return Fail(ss.status().ToString());
    if (!WriteAll(argv[4], *ss)) return Fail("write failed");
    return 0;
  }
  if (cmd == "mldsa-keygen" && (argc == 4 || argc == 5)) {
    dsmil::Result<MlDsa87KeyPair> kp = dsmil::Status::Internal("unset");
    if (argc == 5) {
      auto xi = dsmil::FromHex(argv[4]);
      if (!xi.ok() || xi->size() != kMlDsa87SeedBytes) return Fail("xi must be 32 bytes of hex");
      kp = MlDsa87KeyGenFromSeed(std::span<const uint8_t, kMlDsa87SeedBytes>(xi->data(), kMlDsa87SeedBytes));
    } else {
      kp = MlDsa87KeyGen();
    }
    if (!kp.ok()) return Fail(kp.status().ToString());
    if (!WriteAll(argv[2], kp->public_key) || !WriteAll(argv[3], kp->secret_key)) {
      return Fail("write failed");
    }
    return 0;
  }
  if (cmd == "mldsa-sign" && argc >= 5) {
    Bytes context;
    bool deterministic = false;
    if (!ParseDsaOptions(argc, argv, 5, /*allow_deterministic=*/true, context, deterministic)) return 2;
    Bytes sk, msg;
    if (!ReadAll(argv[2], sk)) return Fail(std::string("cannot read ") + argv[2]);
    if (!ReadAll(argv[3], msg)) return Fail(std::string("cannot read ") + argv[3]);
    auto sig = MlDsa87Sign(sk, msg, context, deterministic ? MlDsaSigning::kDeterministic : MlDsaSigning::kHedged);
    SecureWipe(sk.data(), sk.size());
    if (!sig.ok()) return Fail(sig.status().ToString());
    if (!WriteAll(argv[4], *sig)) return Fail("write failed");
    return 0;
  }
  if (cmd == "mldsa-verify" && argc >= 5) {
    Bytes context;
    bool deterministic = false;
    if (!ParseDsaOptions(argc, argv, 5, /*allow_deterministic=*/false, context, deterministic)) return 2;
    Bytes pk, msg, sig;
    if (!ReadAll(argv[2], pk)) return Fail(std::string("cannot read ") + argv[2]);
    if (!ReadAll(argv[3], msg)) return Fail(std::string("cannot read ") + argv[3]);
    if (!ReadAll(argv[4], sig)) return Fail(std::string("cannot read ") + argv[4]);
    dsmil::Status st = MlDsa87Verify(pk, msg, context, sig);
    if (!st.ok()) return Fail(st.ToString());
    return 0;
  }
  std::cerr << "usage: crypto_tool mlkem-keygen EK DK [SEED_HEX] | mlkem-encaps EK CT SS [M_HEX] | "
               "mlkem-decaps DK CT SS |\n"
               "  mldsa-keygen PK SK [XI_HEX] | mldsa-sign SK MSG SIG [--context HEX] [--deterministic] |\n"
               "  mldsa-verify PK MSG SIG [--context HEX]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
