// Key files for ML-DSA-87 and ML-KEM-1024 keys, and private-file helpers.
//
// A key pair is stored under a prefix (docs/crypto.md, "Key files"):
//   PREFIX.pub  the raw standard public key: the FIPS 204 pkEncode bytes
//               (2592) or the FIPS 203 encapsulation key (1568). Any other
//               implementation reads it as is. Mode 0644.
//   PREFIX.key  a 16-byte header + the raw standard private key (FIPS 204
//               skEncode, 4896 bytes, or the FIPS 203 decapsulation key,
//               3168 bytes). Mode 0600; refused on load when the group or
//               others have any access to it.
//
//   header: "DSMILKEY" (8) | version 0x01 | alg id (1 = ml-dsa-87,
//           2 = ml-kem-1024) | 0x00 0x00 | u32be length of the key bytes
//
// All functions are thread-safe (no shared state) but race with other
// processes writing the same paths like any file I/O. Secrets read are
// returned in SecretBytes (wiped when freed), except ReadPrivateFile whose
// caller owns and wipes the Bytes it gets.
#pragma once

#include <string>
#include <string_view>

#include "core/coding.h"
#include "core/status.h"
#include "crypto/ossl.h"

namespace dsmil::crypto {

enum class KeyAlg : uint8_t {
  kMlDsa87 = 1,
  kMlKem1024 = 2,
};

inline constexpr char kKeyFileMagic[] = "DSMILKEY";  // 8 bytes on disk, no NUL
inline constexpr uint8_t kKeyFileVersion = 1;
inline constexpr size_t kKeyFileHeaderBytes = 16;
// Largest file ReadPrivateFile / ReadPublicFile accept.
inline constexpr size_t kMaxKeyFileBytes = 1 << 20;

// "ml-dsa-87" / "ml-kem-1024".
std::string_view KeyAlgName(KeyAlg alg);
// Parses "ml-dsa-87" / "ml-kem-1024" (case-insensitive); InvalidArgument
// listing the accepted names otherwise.
Result<KeyAlg> ParseKeyAlg(std::string_view name);
// Sizes of the raw standard encodings.
size_t PublicKeyBytes(KeyAlg alg);
size_t PrivateKeyBytes(KeyAlg alg);

// Writes `bytes` to `path` with mode 0600: written to a fresh temporary file
// (O_CREAT|O_EXCL, 0600) in the same directory, fsynced, then renamed over
// `path`, so the secret is never readable by others even for an instant and a
// crash leaves either the old or the new file. Replaces an existing file.
Status WritePrivateFile(const std::string& path, ByteView bytes);
// Reads a private file: refuses (FailedPrecondition, naming the file and its
// mode) a file the group or others can read, write or execute, and anything
// not a regular file or larger than kMaxKeyFileBytes. The caller owns the
// returned bytes and wipes them (SecureWipe) when done.
Result<Bytes> ReadPrivateFile(const std::string& path);

// Public files: written 0644 (same temporary-and-rename discipline), read
// without a mode check.
Status WritePublicFile(const std::string& path, ByteView bytes);
Result<Bytes> ReadPublicFile(const std::string& path);

struct PrivateKey {
  KeyAlg alg;
  SecretBytes key;  // raw FIPS 203 dk / FIPS 204 sk
};

// The PREFIX.key container for a raw private key (length checked).
Result<SecretBytes> EncodePrivateKeyFile(KeyAlg alg, ByteView raw_key);
// Parses a PREFIX.key container: DataLoss for a bad magic/version/length,
// InvalidArgument for an unknown algorithm id. For ML-KEM-1024 the FIPS 203
// decapsulation key check runs too.
Result<PrivateKey> DecodePrivateKeyFile(ByteView file);

// Writes PREFIX.pub and PREFIX.key. The private key is written first.
Status WriteKeyPair(const std::string& prefix, KeyAlg alg, ByteView public_key, ByteView private_key);
// Reads a PREFIX.key file (mode-checked, decoded). When `expected` is given,
// a key of another algorithm is refused with InvalidArgument.
Result<PrivateKey> ReadPrivateKey(const std::string& path);
Result<PrivateKey> ReadPrivateKey(const std::string& path, KeyAlg expected);
// Reads a raw public key file of `alg`: length checked, and for ML-KEM-1024
// the FIPS 203 encapsulation key (modulus) check.
Result<Bytes> ReadPublicKey(const std::string& path, KeyAlg alg);

}  // namespace dsmil::crypto
