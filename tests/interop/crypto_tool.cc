// Test driver over the dsmil_crypto library for the interop tests: raw key,
// ciphertext and secret files in, raw files out.
//
//   crypto_tool mlkem-keygen EK_OUT DK_OUT [SEED_HEX(64 bytes d||z)]
//   crypto_tool mlkem-encaps EK_FILE CT_OUT SS_OUT [M_HEX(32 bytes)]
//   crypto_tool mlkem-decaps DK_FILE CT_FILE SS_OUT
//
// Exit 0 on success, 1 on a refused input (message on stderr), 2 on usage.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

#include "core/coding.h"
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
  std::cerr << "usage: crypto_tool mlkem-keygen EK DK [SEED_HEX] | mlkem-encaps EK CT SS [M_HEX] | "
               "mlkem-decaps DK CT SS\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
