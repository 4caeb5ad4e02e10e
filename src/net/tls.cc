#include "net/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

#include "core/coding.h"
#include "crypto/keyfile.h"
#include "crypto/ossl.h"
#include "crypto/x509.h"
#include "net/tls_internal.h"

namespace dsmil::net {

Result<std::string> ReadPrivateKeyFile(const std::string& path) {
  auto bytes = crypto::ReadPrivateFile(path);
  if (!bytes.ok()) return bytes.status().WithContext("tls");
  std::string pem(AsString(*bytes));
  crypto::SecureWipe(bytes->data(), bytes->size());
  return pem;
}

namespace internal {
namespace {

constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";

Status CheckReadable(const std::string& what, const std::string& path) {
  if (path.empty()) return Status::InvalidArgument("tls: " + what + " file is not set");
  if (::access(path.c_str(), R_OK) != 0) {
    int err = errno;
    std::string msg = "tls: cannot read " + what + " " + path + ": " + std::strerror(err);
    return err == ENOENT ? Status::NotFound(msg) : Status::PermissionDenied(msg);
  }
  return Status::Ok();
}

// Loads certificate chain + key into ctx.
Status UseCertificateAndKey(SSL_CTX* ctx, const std::string& cert_file, const std::string& key_file) {
  DSMIL_RETURN_IF_ERROR(CheckReadable("certificate", cert_file));
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    return Status::InvalidArgument("tls: cannot load certificate " + cert_file + ": " + TakeOpenSslError());
  }
  DSMIL_ASSIGN_OR_RETURN(std::string key_pem, ReadPrivateKeyFile(key_file));
  BIO* bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  EVP_PKEY* key = bio ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(bio);
  OPENSSL_cleanse(key_pem.data(), key_pem.size());
  if (!key) return Status::InvalidArgument("tls: cannot load private key " + key_file + ": " + TakeOpenSslError());
  int ok = SSL_CTX_use_PrivateKey(ctx, key);
  EVP_PKEY_free(key);
  if (ok != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    return Status::InvalidArgument("tls: private key " + key_file + " does not match certificate " + cert_file + ": " +
                                   TakeOpenSslError());
  }
  return Status::Ok();
}

Status SetCommon(SSL_CTX* ctx) {
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 || SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) {
    return Status::Internal("tls: configuring protocol versions failed: " + TakeOpenSslError());
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  return Status::Ok();
}

// What AttachRevocation stores in an SSL_CTX.
struct RevocationHook {
  std::shared_ptr<RevocationList> list;
  std::string where;
};

void FreeRevocationHook(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*ad*/, int /*idx*/, long /*argl*/,
                        void* /*argp*/) {
  delete static_cast<RevocationHook*>(ptr);
}

int RevocationIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, FreeRevocationHook);
  return index;
}

RevocationHook* HookOf(SSL_CTX* ctx) {
  return ctx ? static_cast<RevocationHook*>(SSL_CTX_get_ex_data(ctx, RevocationIndex())) : nullptr;
}

std::string SerialHex(const X509* cert) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  if (!bn) return "";
  char* hex = BN_bn2hex(bn);
  BN_free(bn);
  if (!hex) return "";
  std::string raw(hex);
  OPENSSL_free(hex);
  auto normal = crypto::NormalizeSerialHex(raw);
  return normal.ok() ? *normal : raw;
}

std::string SubjectCn(X509* cert) {
  char buf[256] = {};
  int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof(buf));
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

// OpenSSL's chain verification first; then a leaf whose serial the CRL lists
// is refused with X509_V_ERR_CERT_REVOKED.
int VerifyWithRevocation(int preverify_ok, X509_STORE_CTX* store) {
  if (preverify_ok != 1) return preverify_ok;
  if (X509_STORE_CTX_get_error_depth(store) != 0) return 1;
  auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  RevocationHook* hook = ssl ? HookOf(SSL_get_SSL_CTX(ssl)) : nullptr;
  X509* cert = X509_STORE_CTX_get_current_cert(store);
  if (!hook || !cert) return 1;
  std::string serial = SerialHex(cert);
  if (!hook->list->IsRevoked(serial)) return 1;
  hook->list->LogRefused(hook->where, SubjectCn(cert), serial);
  X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REVOKED);
  return 0;
}

}  // namespace

void AttachRevocation(SSL_CTX* ctx, std::shared_ptr<RevocationList> list, std::string where) {
  delete HookOf(ctx);
  SSL_CTX_set_ex_data(ctx, RevocationIndex(), new RevocationHook{std::move(list), std::move(where)});
  SSL_CTX_set_verify(ctx, SSL_CTX_get_verify_mode(ctx), VerifyWithRevocation);
}

std::shared_ptr<RevocationList> RevocationOf(SSL* ssl) {
  RevocationHook* hook = ssl ? HookOf(SSL_get_SSL_CTX(ssl)) : nullptr;
  return hook ? hook->list : nullptr;
}

std::string PeerSerialHex(SSL* ssl) {
  X509* cert = ssl ? SSL_get0_peer_certificate(ssl) : nullptr;
  return cert ? SerialHex(cert) : std::string();
}

bool PeerCertificateRevoked(SSL* ssl) {
  RevocationHook* hook = ssl ? HookOf(SSL_get_SSL_CTX(ssl)) : nullptr;
  X509* cert = ssl ? SSL_get0_peer_certificate(ssl) : nullptr;
  if (!hook || !cert) return false;
  std::string serial = SerialHex(cert);
  if (!hook->list->IsRevoked(serial)) return false;
  hook->list->LogRefused(hook->where, SubjectCn(cert), serial);
  return true;
}

std::string TakeOpenSslError() {
  unsigned long e = ERR_get_error();
  std::string out;
  if (e == 0) {
    out = "no detail from OpenSSL";
  } else {
    const char* reason = ERR_reason_error_string(e);
    out = reason ? reason : "error " + std::to_string(e);
  }
  ERR_clear_error();
  return out;
}

Result<SSL_CTX*> NewServerContext(const TlsOptions& options) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return Status::Internal("tls: SSL_CTX_new failed: " + TakeOpenSslError());
  auto fail = [ctx](Status s) -> Result<SSL_CTX*> {
    SSL_CTX_free(ctx);
    return s;
  };
  Status s = SetCommon(ctx);
  if (!s.ok()) return fail(s);
  s = UseCertificateAndKey(ctx, options.cert_file, options.key_file);
  if (!s.ok()) return fail(s);
  s = CheckReadable("CA", options.ca_file);
  if (!s.ok()) return fail(s);
  if (SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr) != 1) {
    return fail(Status::InvalidArgument("tls: cannot load CA " + options.ca_file + ": " + TakeOpenSslError()));
  }
  STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options.ca_file.c_str());
  if (!names) {
    return fail(Status::InvalidArgument("tls: no CA certificate in " + options.ca_file + ": " + TakeOpenSslError()));
  }
  SSL_CTX_set_client_CA_list(ctx, names);  // takes ownership
  int mode = SSL_VERIFY_PEER;
  if (options.require_client_cert) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(ctx, mode, nullptr);
  SSL_CTX_set_verify_depth(ctx, 4);
  static const unsigned char kSessionContext[] = "dsmil-https";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof(kSessionContext) - 1);
  if (!options.crl_file.empty()) {
    auto list = RevocationList::Load(options.crl_file, options.ca_file);
    if (!list.ok()) return fail(list.status().WithContext("tls"));
    AttachRevocation(ctx, std::move(*list), "tls server");
    // A resumed session skips certificate verification: without tickets or a
    // session cache every handshake checks the certificate against the list.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, 0);
  }
  return ctx;
}

Result<SSL_CTX*> NewClientContext(const std::string& ca_file, const std::string& cert_file, const std::string& key_file,
                                  const std::string& crl_file) {
  ERR_clear_error();
  if (cert_file.empty() != key_file.empty()) {
    return Status::InvalidArgument("tls: a client certificate needs both cert_file and key_file");
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return Status::Internal("tls: SSL_CTX_new failed: " + TakeOpenSslError());
  auto fail = [ctx](Status s) -> Result<SSL_CTX*> {
    SSL_CTX_free(ctx);
    return s;
  };
  Status s = SetCommon(ctx);
  if (!s.ok()) return fail(s);
  if (ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      return fail(Status::Internal("tls: loading the system trust store failed: " + TakeOpenSslError()));
    }
  } else {
    s = CheckReadable("CA", ca_file);
    if (!s.ok()) return fail(s);
    if (SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr) != 1) {
      return fail(Status::InvalidArgument("tls: cannot load CA " + ca_file + ": " + TakeOpenSslError()));
    }
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_verify_depth(ctx, 4);
  if (!cert_file.empty()) {
    s = UseCertificateAndKey(ctx, cert_file, key_file);
    if (!s.ok()) return fail(s);
  }
  if (!crl_file.empty()) {
    if (ca_file.empty()) return fail(Status::InvalidArgument("tls: a CRL needs the CA file that signed it"));
    auto list = RevocationList::Load(crl_file, ca_file);
    if (!list.ok()) return fail(list.status().WithContext("tls"));
    AttachRevocation(ctx, std::move(*list), "tls client");
  }
  return ctx;
}

Status SetExpectedPeer(SSL* ssl, const std::string& host) {
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  unsigned char buf[16];
  bool is_ip = inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
  if (is_ip) {
    if (X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) != 1) {
      return Status::InvalidArgument("tls: cannot verify against IP address " + host);
    }
  } else {
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size()) != 1 ||
        SSL_set_tlsext_host_name(ssl, host.c_str()) != 1) {
      return Status::InvalidArgument("tls: cannot verify against host name " + host);
    }
  }
  return Status::Ok();
}

std::optional<std::string> VerifiedPeerCommonName(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (!cert || SSL_get_verify_result(ssl) != X509_V_OK) return std::nullopt;
  X509_NAME* name = X509_get_subject_name(cert);
  int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (idx < 0) return std::string();
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) return std::string();
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

std::string VerifyFailure(SSL* ssl) {
  long result = SSL_get_verify_result(ssl);
  if (result == X509_V_OK) return "";
  return X509_verify_cert_error_string(result);
}

}  // namespace internal
}  // namespace dsmil::net
