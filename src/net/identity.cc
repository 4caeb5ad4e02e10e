#include "net/identity.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "crypto/keyfile.h"
#include "crypto/mldsa.h"
#include "crypto/sha3.h"

namespace dsmil::net {
namespace {

constexpr char kEncMagic[] = "DSMILENC";  // 8 bytes on disk
constexpr uint8_t kEncVersion = 1;
constexpr uint8_t kKdfScrypt = 1;
constexpr size_t kSaltBytes = 16;
constexpr size_t kEncHeaderBytes = 16 + kSaltBytes + crypto::kAesGcmNonceBytes;  // 44

Result<crypto::SecretBytes> Scrypt(std::string_view passphrase, ByteView salt, uint8_t log2_n, uint8_t r, uint8_t p) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "SCRYPT", nullptr);
  if (kdf == nullptr) return Status::Internal("identity: OpenSSL has no SCRYPT KDF");
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  EVP_KDF_free(kdf);
  if (ctx == nullptr) return Status::Internal("identity: EVP_KDF_CTX_new failed");
  uint64_t n = uint64_t{1} << log2_n;
  uint32_t rr = r, pp = p;
  uint64_t maxmem = 1ull << 31;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, const_cast<char*>(passphrase.data()),
                                        passphrase.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<uint8_t*>(salt.data()), salt.size()),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &rr),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &pp),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
      OSSL_PARAM_construct_end()};
  crypto::SecretBytes key(crypto::kAesGcmKeyBytes);
  int ok = EVP_KDF_derive(ctx, key.data(), key.size(), params);
  EVP_KDF_CTX_free(ctx);
  if (ok != 1) return Status::Internal("identity: scrypt key derivation failed");
  return key;
}

std::string KeyPath(const std::string& dir, std::string_view node) {
  return dir + "/" + std::string(node) + std::string(kIdentityKeySuffix);
}
std::string PubPath(const std::string& dir, std::string_view node) {
  return dir + "/" + std::string(node) + std::string(kIdentityPubSuffix);
}

}  // namespace

bool IsValidNodeName(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

std::string SpiffeIdForNode(std::string_view node) { return std::string(kSpiffeNodePrefix) + std::string(node); }

Result<NodeIdentity> GenerateNodeIdentity(std::string_view node) {
  if (!IsValidNodeName(node)) {
    return Status::InvalidArgument("identity: node name \"" + std::string(node) +
                                   "\" must be lower-case letters, digits and '-' (1-63)");
  }
  DSMIL_ASSIGN_OR_RETURN(crypto::MlDsa87KeyPair kp, crypto::MlDsa87KeyGen());
  NodeIdentity id;
  id.node = std::string(node);
  id.spiffe_id = SpiffeIdForNode(node);
  id.cert_cn = id.node;
  id.public_key = std::move(kp.public_key);
  id.secret_key = crypto::ToSecret(kp.secret_key);
  crypto::SecureWipe(kp.secret_key.data(), kp.secret_key.size());
  return id;
}

bool IsEncryptedKeyFile(ByteView file) { return file.size() >= 8 && std::memcmp(file.data(), kEncMagic, 8) == 0; }

Result<Bytes> EncryptKeyFile(ByteView container, std::string_view passphrase, PassphraseParams params) {
  if (passphrase.empty()) return Status::InvalidArgument("identity: empty passphrase");
  if (params.log2_n < 10 || params.log2_n > 20 || params.r < 1 || params.r > 32 || params.p < 1 || params.p > 16) {
    return Status::InvalidArgument("identity: scrypt parameters out of range (log2 N 10..20, r 1..32, p 1..16)");
  }
  Bytes out(kEncHeaderBytes);
  std::memcpy(out.data(), kEncMagic, 8);
  out[8] = kEncVersion;
  out[9] = kKdfScrypt;
  out[10] = params.log2_n;
  out[11] = params.r;
  out[12] = params.p;
  DSMIL_RETURN_IF_ERROR(
      crypto::RandomBytes(std::span<uint8_t>(out.data() + 16, kSaltBytes + crypto::kAesGcmNonceBytes)));
  DSMIL_ASSIGN_OR_RETURN(crypto::SecretBytes key,
                         Scrypt(passphrase, ByteView(out.data() + 16, kSaltBytes), params.log2_n, params.r, params.p));
  DSMIL_ASSIGN_OR_RETURN(Bytes sealed,
                         crypto::AesGcmSeal(key, ByteView(out.data() + 16 + kSaltBytes, crypto::kAesGcmNonceBytes),
                                            container, ByteView(out.data(), kEncHeaderBytes)));
  out.insert(out.end(), sealed.begin(), sealed.end());
  return out;
}

Result<crypto::SecretBytes> DecryptKeyFile(ByteView file, std::string_view passphrase) {
  if (!IsEncryptedKeyFile(file)) return Status::DataLoss("identity: not an encrypted key file (no DSMILENC magic)");
  if (file.size() < kEncHeaderBytes + crypto::kAesGcmTagBytes) {
    return Status::DataLoss("identity: encrypted key file is " + std::to_string(file.size()) +
                            " bytes, shorter than header and tag (" +
                            std::to_string(kEncHeaderBytes + crypto::kAesGcmTagBytes) + ")");
  }
  if (file[8] != kEncVersion)
    return Status::DataLoss("identity: encrypted key file version " + std::to_string(file[8]) + ", want 1");
  if (file[9] != kKdfScrypt)
    return Status::DataLoss("identity: encrypted key file kdf " + std::to_string(file[9]) + ", want 1 (scrypt)");
  uint8_t log2_n = file[10], r = file[11], p = file[12];
  if (log2_n < 10 || log2_n > 20 || r < 1 || r > 32 || p < 1 || p > 16) {
    return Status::DataLoss("identity: encrypted key file scrypt parameters out of range (log2 N " +
                            std::to_string(log2_n) + ", r " + std::to_string(r) + ", p " + std::to_string(p) + ")");
  }
  if (passphrase.empty())
    return Status::FailedPrecondition("identity: key file is encrypted; a passphrase is required");
  DSMIL_ASSIGN_OR_RETURN(crypto::SecretBytes key, Scrypt(passphrase, file.subspan(16, kSaltBytes), log2_n, r, p));
  auto opened = crypto::AesGcmOpen(key, file.subspan(16 + kSaltBytes, crypto::kAesGcmNonceBytes),
                                   file.subspan(kEncHeaderBytes), file.first(kEncHeaderBytes));
  if (!opened.ok()) {
    return Status::Unauthenticated("identity: wrong passphrase or corrupted key file (AES-256-GCM tag check failed)");
  }
  crypto::SecretBytes plain = crypto::ToSecret(*opened);
  crypto::SecureWipe(opened->data(), opened->size());
  return plain;
}

Status WriteNodeIdentity(const std::string& dir, const NodeIdentity& id, std::optional<std::string_view> passphrase,
                         PassphraseParams params) {
  if (!IsValidNodeName(id.node)) return Status::InvalidArgument("identity: bad node name \"" + id.node + "\"");
  DSMIL_ASSIGN_OR_RETURN(crypto::SecretBytes container,
                         crypto::EncodePrivateKeyFile(crypto::KeyAlg::kMlDsa87, id.secret_key));
  if (passphrase.has_value() && !passphrase->empty()) {
    DSMIL_ASSIGN_OR_RETURN(Bytes enc, EncryptKeyFile(container, *passphrase, params));
    DSMIL_RETURN_IF_ERROR(crypto::WritePrivateFile(KeyPath(dir, id.node), enc));
  } else {
    DSMIL_RETURN_IF_ERROR(crypto::WritePrivateFile(KeyPath(dir, id.node), container));
  }
  return crypto::WritePublicFile(PubPath(dir, id.node), id.public_key);
}

Result<NodeIdentity> LoadNodeIdentity(const std::string& dir, std::string_view node,
                                      std::optional<std::string_view> passphrase) {
  if (!IsValidNodeName(node)) {
    return Status::InvalidArgument("identity: node name \"" + std::string(node) +
                                   "\" must be lower-case letters, digits and '-' (1-63)");
  }
  const std::string key_path = KeyPath(dir, node);
  DSMIL_ASSIGN_OR_RETURN(Bytes raw, crypto::ReadPrivateFile(key_path));
  crypto::SecretBytes file = crypto::ToSecret(raw);
  crypto::SecureWipe(raw.data(), raw.size());
  if (IsEncryptedKeyFile(file)) {
    auto plain = DecryptKeyFile(file, passphrase.value_or(std::string_view()));
    if (!plain.ok()) return Status(plain.status().code(), plain.status().message() + " (" + key_path + ")");
    file = std::move(*plain);
  }
  auto decoded = crypto::DecodePrivateKeyFile(file);
  if (!decoded.ok()) return Status(decoded.status().code(), decoded.status().message() + " (" + key_path + ")");
  if (decoded->alg != crypto::KeyAlg::kMlDsa87) {
    return Status::InvalidArgument("identity: " + key_path + " holds an " +
                                   std::string(crypto::KeyAlgName(decoded->alg)) + " key, want ml-dsa-87");
  }
  const std::string pub_path = PubPath(dir, node);
  DSMIL_ASSIGN_OR_RETURN(Bytes pub, crypto::ReadPublicKey(pub_path, crypto::KeyAlg::kMlDsa87));
  uint8_t tr[64];
  crypto::Shake256Hash(pub, tr);
  if (decoded->key.size() != crypto::kMlDsa87SecretKeyBytes ||
      !crypto::ConstantTimeEquals(ByteView(tr, 64), ByteView(decoded->key.data() + 64, 64))) {
    return Status::DataLoss("identity: " + pub_path + " is not the public key of " + key_path);
  }
  NodeIdentity id;
  id.node = std::string(node);
  id.spiffe_id = SpiffeIdForNode(node);
  id.cert_cn = id.node;
  id.public_key = std::move(pub);
  id.secret_key = std::move(decoded->key);
  return id;
}

Status PinnedPeers::Pin(std::string_view node, ByteView public_key) {
  if (!IsValidNodeName(node))
    return Status::InvalidArgument("identity: bad peer node name \"" + std::string(node) + "\"");
  if (public_key.size() != crypto::kMlDsa87PublicKeyBytes) {
    return Status::InvalidArgument("identity: pinned key for " + std::string(node) + " is " +
                                   std::to_string(public_key.size()) + " bytes, want 2592");
  }
  auto& v = keys_[std::string(node)];
  Bytes k(public_key.begin(), public_key.end());
  if (std::find(v.begin(), v.end(), k) == v.end()) v.push_back(std::move(k));
  return Status::Ok();
}

const std::vector<Bytes>* PinnedPeers::Find(std::string_view node) const {
  auto it = keys_.find(node);
  return it == keys_.end() ? nullptr : &it->second;
}

bool PinnedPeers::Matches(std::string_view node, ByteView public_key) const {
  const auto* v = Find(node);
  if (v == nullptr) return false;
  for (const Bytes& k : *v) {
    if (k.size() == public_key.size() && std::equal(k.begin(), k.end(), public_key.begin())) return true;
  }
  return false;
}

std::vector<std::string> PinnedPeers::Nodes() const {
  std::vector<std::string> out;
  for (const auto& [n, _] : keys_) out.push_back(n);
  return out;
}

Result<PinnedPeers> LoadPinnedPeers(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    return Status::NotFound("identity: peer key directory " + dir + " does not exist");
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) files.push_back(entry.path());
  if (ec) return Status::Unavailable("identity: cannot list " + dir + ": " + ec.message());
  std::sort(files.begin(), files.end());
  PinnedPeers peers;
  constexpr std::string_view kMid = "-mldsa87";
  for (const auto& path : files) {
    std::string name = path.filename().string();
    if (name.size() < 4 || name.compare(name.size() - 4, 4, ".pub") != 0) continue;
    size_t mid = name.find(kMid);
    if (mid == std::string::npos || mid == 0) continue;
    std::string rest = name.substr(mid + kMid.size());  // ".pub" or ".SUFFIX.pub"
    if (rest != ".pub" && rest.front() != '.') continue;
    std::string node = name.substr(0, mid);
    if (!IsValidNodeName(node)) continue;
    auto key = crypto::ReadPublicKey(path.string(), crypto::KeyAlg::kMlDsa87);
    if (!key.ok()) return Status::DataLoss("identity: pinned key " + path.string() + ": " + key.status().message());
    DSMIL_RETURN_IF_ERROR(peers.Pin(node, *key));
  }
  return peers;
}

}  // namespace dsmil::net
