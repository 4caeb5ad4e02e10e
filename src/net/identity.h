// DBE node identities (docs/dbe-session.md §1): a node's ML-DSA-87 key pair,
// its SPIFFE-style ID, and the set of peers' pinned public keys.
//
// Files:
//   DIR/NODE-mldsa87.key   0600; the DSMILKEY container of docs/crypto.md, or
//                          that container encrypted with a passphrase
//                          (scrypt + AES-256-GCM, "DSMILENC"). Refused when
//                          the group or others have any access.
//   DIR/NODE-mldsa87.pub   raw FIPS 204 public key (2592 bytes), 0644
//   peer_keys/PEER-mldsa87.pub, PEER-mldsa87.SUFFIX.pub   pinned peer keys
//
// Thread safety: free functions are thread-safe. NodeIdentity and PinnedPeers
// are values: concurrent const use is safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/coding.h"
#include "core/status.h"
#include "crypto/ossl.h"

namespace dsmil::net {

inline constexpr std::string_view kSpiffeNodePrefix = "spiffe://dsmil.local/node/";
inline constexpr std::string_view kIdentityKeySuffix = "-mldsa87.key";
inline constexpr std::string_view kIdentityPubSuffix = "-mldsa87.pub";

// Lower-case letters, digits and '-', 1..63 characters (a certificate CN).
bool IsValidNodeName(std::string_view name);
// "spiffe://dsmil.local/node/" + node.
std::string SpiffeIdForNode(std::string_view node);

// A node's own identity. The secret key is wiped when the object dies.
struct NodeIdentity {
  std::string node;                // "node-a"
  std::string spiffe_id;           // "spiffe://dsmil.local/node/node-a"
  std::string cert_cn;             // CN of the node's X.509 certificate (= node)
  Bytes public_key;                // 2592 bytes
  crypto::SecretBytes secret_key;  // 4896 bytes
};

// A fresh identity (new ML-DSA-87 key pair) for `node`. InvalidArgument for a
// bad node name; Internal when the DRBG fails.
Result<NodeIdentity> GenerateNodeIdentity(std::string_view node);

// scrypt cost of new encrypted key files (log2 N, r, p).
struct PassphraseParams {
  uint8_t log2_n = 15;
  uint8_t r = 8;
  uint8_t p = 1;
};

// Writes DIR/NODE-mldsa87.key (0600, private key written first) and
// DIR/NODE-mldsa87.pub (0644). With a passphrase (non-empty) the key file is
// encrypted. Replaces existing files. The directory must exist.
Status WriteNodeIdentity(const std::string& dir, const NodeIdentity& id,
                         std::optional<std::string_view> passphrase = std::nullopt, PassphraseParams params = {});

// Reads DIR/NODE-mldsa87.key (mode checked; decrypted when it is a DSMILENC
// file, for which a passphrase is required: FailedPrecondition without one,
// Unauthenticated when it is wrong) and DIR/NODE-mldsa87.pub, which must be
// the matching public key: the secret key's tr must equal SHAKE256(pk, 64)
// (DataLoss otherwise). cert_cn is set to the node name.
Result<NodeIdentity> LoadNodeIdentity(const std::string& dir, std::string_view node,
                                      std::optional<std::string_view> passphrase = std::nullopt);

// Encrypted key container (for tests and dsmilctl): encrypts / decrypts the
// bytes of a DSMILKEY container.
Result<Bytes> EncryptKeyFile(ByteView container, std::string_view passphrase, PassphraseParams params = {});
Result<crypto::SecretBytes> DecryptKeyFile(ByteView file, std::string_view passphrase);
// True when `file` starts with the DSMILENC magic.
bool IsEncryptedKeyFile(ByteView file);

// The pinned public keys of the peers, by node name.
class PinnedPeers {
 public:
  // Adds a key for `node` (InvalidArgument for a bad name or key length).
  Status Pin(std::string_view node, ByteView public_key);
  // Every key pinned for `node`, or nullptr when the node is not pinned.
  const std::vector<Bytes>* Find(std::string_view node) const;
  bool Contains(std::string_view node) const { return Find(node) != nullptr; }
  // Whether `public_key` is one of the keys pinned for `node`.
  bool Matches(std::string_view node, ByteView public_key) const;
  size_t size() const { return keys_.size(); }
  std::vector<std::string> Nodes() const;

 private:
  std::map<std::string, std::vector<Bytes>, std::less<>> keys_;
};

// Reads every `PEER-mldsa87.pub` and `PEER-mldsa87.SUFFIX.pub` in `dir`
// (other files are ignored). NotFound when `dir` does not exist; DataLoss
// naming the file for a key of the wrong length.
Result<PinnedPeers> LoadPinnedPeers(const std::string& dir);

}  // namespace dsmil::net
