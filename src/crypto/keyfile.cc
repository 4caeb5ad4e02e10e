// Key files and private-file helpers (docs/crypto.md, "Key files").
#include "crypto/keyfile.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "crypto/mldsa.h"
#include "crypto/mlkem.h"

namespace dsmil::crypto {
namespace {

std::string Errno(const std::string& what, const std::string& path, int err) {
  return "keyfile: " + what + " " + path + ": " + std::strerror(err);
}

std::string ModeString(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

Status WriteFileAtomically(const std::string& path, ByteView bytes, mode_t mode) {
  std::string dir = ".";
  size_t slash = path.rfind('/');
  if (slash != std::string::npos) dir = slash == 0 ? "/" : path.substr(0, slash);
  std::string tmpl = path + ".tmp.XXXXXX";
  int fd = mkstemp(tmpl.data());  // O_CREAT | O_EXCL, mode 0600
  if (fd < 0) return Status::FailedPrecondition(Errno("cannot create a file beside", path, errno));
  auto fail = [&](const std::string& what) {
    int err = errno;
    close(fd);
    unlink(tmpl.c_str());
    return Status::FailedPrecondition(Errno(what, path, err));
  };
  if (fchmod(fd, mode) != 0) return fail("cannot set the mode of");
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = write(fd, bytes.data() + off, bytes.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write");
    }
    off += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) return fail("cannot sync");
  if (close(fd) != 0) {
    int err = errno;
    unlink(tmpl.c_str());
    return Status::FailedPrecondition(Errno("cannot close", path, err));
  }
  if (rename(tmpl.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(tmpl.c_str());
    return Status::FailedPrecondition(Errno("cannot rename the new file onto", path, err));
  }
  // Make the rename durable (best effort: some filesystems refuse fsync on dirs).
  int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)fsync(dfd);
    close(dfd);
  }
  return Status::Ok();
}

Result<Bytes> ReadFile(const std::string& path, bool private_file) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return Status::NotFound(Errno("cannot open", path, err));
    return Status::FailedPrecondition(Errno("cannot open", path, err));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return Status::FailedPrecondition(Errno("cannot stat", path, err));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return Status::FailedPrecondition("keyfile: " + path + " is not a regular file");
  }
  if (private_file && (st.st_mode & 077) != 0) {
    close(fd);
    return Status::FailedPrecondition("keyfile: private key file " + path + " is accessible by group or others (mode " +
                                      ModeString(st.st_mode) + "); run: chmod 600 " + path);
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxKeyFileBytes) {
    close(fd);
    return Status::InvalidArgument("keyfile: " + path + " is " + std::to_string(st.st_size) +
                                   " bytes, larger than the " + std::to_string(kMaxKeyFileBytes) + "-byte limit");
  }
  Bytes out(static_cast<size_t>(st.st_size));
  size_t off = 0;
  while (off < out.size()) {
    ssize_t n = read(fd, out.data() + off, out.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      close(fd);
      SecureWipe(out.data(), out.size());
      return Status::DataLoss(Errno("short read of", path, err));
    }
    off += static_cast<size_t>(n);
  }
  close(fd);
  return out;
}

}  // namespace

std::string_view KeyAlgName(KeyAlg alg) {
  switch (alg) {
    case KeyAlg::kMlDsa87:
      return "ml-dsa-87";
    case KeyAlg::kMlKem1024:
      return "ml-kem-1024";
  }
  return "unknown";
}

Result<KeyAlg> ParseKeyAlg(std::string_view name) {
  std::string lower(name);
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (lower == "ml-dsa-87") return KeyAlg::kMlDsa87;
  if (lower == "ml-kem-1024") return KeyAlg::kMlKem1024;
  return Status::InvalidArgument("keyfile: unknown key algorithm \"" + std::string(name) +
                                 "\" (expected ml-dsa-87 or ml-kem-1024)");
}

size_t PublicKeyBytes(KeyAlg alg) {
  return alg == KeyAlg::kMlDsa87 ? kMlDsa87PublicKeyBytes : kMlKem1024EncapsKeyBytes;
}

size_t PrivateKeyBytes(KeyAlg alg) {
  return alg == KeyAlg::kMlDsa87 ? kMlDsa87SecretKeyBytes : kMlKem1024DecapsKeyBytes;
}

Status WritePrivateFile(const std::string& path, ByteView bytes) { return WriteFileAtomically(path, bytes, 0600); }

Result<Bytes> ReadPrivateFile(const std::string& path) { return ReadFile(path, true); }

Status WritePublicFile(const std::string& path, ByteView bytes) { return WriteFileAtomically(path, bytes, 0644); }

Result<Bytes> ReadPublicFile(const std::string& path) { return ReadFile(path, false); }

Result<SecretBytes> EncodePrivateKeyFile(KeyAlg alg, ByteView raw_key) {
  if (alg != KeyAlg::kMlDsa87 && alg != KeyAlg::kMlKem1024) {
    return Status::InvalidArgument("keyfile: unknown algorithm id " + std::to_string(static_cast<int>(alg)));
  }
  if (raw_key.size() != PrivateKeyBytes(alg)) {
    return Status::InvalidArgument("keyfile: " + std::string(KeyAlgName(alg)) + " private key is " +
                                   std::to_string(raw_key.size()) + " bytes, expected " +
                                   std::to_string(PrivateKeyBytes(alg)));
  }
  SecretBytes out(kKeyFileHeaderBytes + raw_key.size());
  std::memcpy(out.data(), kKeyFileMagic, 8);
  out[8] = kKeyFileVersion;
  out[9] = static_cast<uint8_t>(alg);
  out[10] = 0;
  out[11] = 0;
  PutU32BE(out.data() + 12, static_cast<uint32_t>(raw_key.size()));
  std::memcpy(out.data() + kKeyFileHeaderBytes, raw_key.data(), raw_key.size());
  return out;
}

Result<PrivateKey> DecodePrivateKeyFile(ByteView file) {
  if (file.size() < kKeyFileHeaderBytes) {
    return Status::DataLoss("keyfile: private key file is " + std::to_string(file.size()) +
                            " bytes, shorter than the 16-byte header");
  }
  if (std::memcmp(file.data(), kKeyFileMagic, 8) != 0) {
    return Status::DataLoss("keyfile: not a DSMIL private key file (magic is not \"DSMILKEY\")");
  }
  if (file[8] != kKeyFileVersion) {
    return Status::DataLoss("keyfile: unsupported key file version " + std::to_string(file[8]) +
                            " (this build reads version 1)");
  }
  uint8_t id = file[9];
  if (id != static_cast<uint8_t>(KeyAlg::kMlDsa87) && id != static_cast<uint8_t>(KeyAlg::kMlKem1024)) {
    return Status::InvalidArgument("keyfile: unknown algorithm id " + std::to_string(id) +
                                   " (1 = ml-dsa-87, 2 = ml-kem-1024)");
  }
  if (file[10] != 0 || file[11] != 0) {
    return Status::DataLoss("keyfile: reserved header bytes are not zero");
  }
  KeyAlg alg = static_cast<KeyAlg>(id);
  uint32_t len = GetU32BE(file.data() + 12);
  size_t want = PrivateKeyBytes(alg);
  if (len != want || file.size() - kKeyFileHeaderBytes != want) {
    return Status::DataLoss("keyfile: " + std::string(KeyAlgName(alg)) + " key length field " + std::to_string(len) +
                            ", " + std::to_string(file.size() - kKeyFileHeaderBytes) + " key bytes present, expected " +
                            std::to_string(want));
  }
  PrivateKey key{alg, ToSecret(file.subspan(kKeyFileHeaderBytes))};
  if (alg == KeyAlg::kMlKem1024) {
    DSMIL_RETURN_IF_ERROR(MlKem1024CheckDecapsKey(key.key).WithContext("keyfile"));
  }
  return key;
}

Status WriteKeyPair(const std::string& prefix, KeyAlg alg, ByteView public_key, ByteView private_key) {
  if (public_key.size() != PublicKeyBytes(alg)) {
    return Status::InvalidArgument("keyfile: " + std::string(KeyAlgName(alg)) + " public key is " +
                                   std::to_string(public_key.size()) + " bytes, expected " +
                                   std::to_string(PublicKeyBytes(alg)));
  }
  DSMIL_ASSIGN_OR_RETURN(SecretBytes container, EncodePrivateKeyFile(alg, private_key));
  DSMIL_RETURN_IF_ERROR(WritePrivateFile(prefix + ".key", container));
  return WritePublicFile(prefix + ".pub", public_key);
}

Result<PrivateKey> ReadPrivateKey(const std::string& path) {
  DSMIL_ASSIGN_OR_RETURN(Bytes raw, ReadPrivateFile(path));
  auto key = DecodePrivateKeyFile(raw);
  SecureWipe(raw.data(), raw.size());
  if (!key.ok()) return key.status().WithContext(path);
  return key;
}

Result<PrivateKey> ReadPrivateKey(const std::string& path, KeyAlg expected) {
  DSMIL_ASSIGN_OR_RETURN(PrivateKey key, ReadPrivateKey(path));
  if (key.alg != expected) {
    return Status::InvalidArgument("keyfile: " + path + " holds an " + std::string(KeyAlgName(key.alg)) +
                                   " key, expected " + std::string(KeyAlgName(expected)));
  }
  return key;
}

Result<Bytes> ReadPublicKey(const std::string& path, KeyAlg alg) {
  DSMIL_ASSIGN_OR_RETURN(Bytes pub, ReadPublicFile(path));
  if (pub.size() != PublicKeyBytes(alg)) {
    return Status::InvalidArgument("keyfile: " + path + " is " + std::to_string(pub.size()) + " bytes, not an " +
                                   std::string(KeyAlgName(alg)) + " public key (" +
                                   std::to_string(PublicKeyBytes(alg)) + " bytes)");
  }
  if (alg == KeyAlg::kMlKem1024) {
    DSMIL_RETURN_IF_ERROR(MlKem1024CheckEncapsKey(pub).WithContext(path));
  }
  return pub;
}

}  // namespace dsmil::crypto
