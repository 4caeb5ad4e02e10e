#include "crypto/x509.h"

#include <arpa/inet.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>
#include <utility>
#include <vector>

namespace dsmil::crypto {
namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX, X509_STORE_CTX_free>>;
using CrlPtr = std::unique_ptr<X509_CRL, Deleter<X509_CRL, X509_CRL_free>>;
using RevokedPtr = std::unique_ptr<X509_REVOKED, Deleter<X509_REVOKED, X509_REVOKED_free>>;
using AsnIntPtr = std::unique_ptr<ASN1_INTEGER, Deleter<ASN1_INTEGER, ASN1_INTEGER_free>>;
using AsnEnumPtr = std::unique_ptr<ASN1_ENUMERATED, Deleter<ASN1_ENUMERATED, ASN1_ENUMERATED_free>>;
using AsnTimePtr = std::unique_ptr<ASN1_TIME, Deleter<ASN1_TIME, ASN1_TIME_free>>;

void FreeGeneralNames(GENERAL_NAMES* names) { GENERAL_NAMES_free(names); }
using NamesPtr = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES, FreeGeneralNames>>;

// The most recent OpenSSL error as text (and clears the queue).
std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  std::string out = e ? ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "unknown" : "no detail";
  ERR_clear_error();
  return out;
}

Status OpenSslFailure(std::string_view what) {
  return Status::Internal("x509: " + std::string(what) + " failed: " + OpenSslError());
}

Result<PkeyPtr> NewP384Key() {
  PkeyPtr key(EVP_EC_gen("P-384"));
  if (!key) return OpenSslFailure("P-384 key generation");
  return key;
}

Result<std::string> BioToString(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  if (len < 0) return Status::Internal("x509: memory BIO is empty");
  return std::string(data, static_cast<size_t>(len));
}

Result<std::string> CertToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return OpenSslFailure("PEM encoding of the certificate");
  return BioToString(bio.get());
}

Result<std::string> KeyToPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OpenSslFailure("PEM encoding of the private key");
  }
  return BioToString(bio.get());
}

Result<X509Ptr> ReadCert(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return OpenSslFailure("BIO allocation");
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    ERR_clear_error();
    return Status::InvalidArgument("x509: no PEM certificate found");
  }
  return cert;
}

Result<PkeyPtr> ReadKey(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return OpenSslFailure("BIO allocation");
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    ERR_clear_error();
    return Status::InvalidArgument("x509: no PEM private key found (encrypted keys are not supported)");
  }
  return key;
}

Status CheckCommonName(std::string_view cn) {
  if (cn.empty()) return Status::InvalidArgument("x509: common name is empty");
  if (cn.size() > 64) {
    return Status::InvalidArgument("x509: common name is " + std::to_string(cn.size()) + " bytes; at most 64 allowed");
  }
  for (char c : cn) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return Status::InvalidArgument("x509: common name contains a control character");
    }
  }
  return Status::Ok();
}

Status CheckDays(int days) {
  if (days < 1 || days > kMaxCertDays) {
    return Status::InvalidArgument("x509: validity of " + std::to_string(days) + " days is out of range 1.." +
                                   std::to_string(kMaxCertDays));
  }
  return Status::Ok();
}

bool IsDnsName(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  size_t label_len = 0;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c == '.') {
      if (label_len == 0) return false;
      label_len = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              (c == '*' && i == 0 && name.size() > 1 && name[1] == '.');
    if (!ok || ++label_len > 63) return false;
    if (c == '-' && label_len == 1) return false;
  }
  return label_len > 0;
}

bool IsIpAddress(const std::string& text) {
  unsigned char buf[16];
  return inet_pton(AF_INET, text.c_str(), buf) == 1 || inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

}  // namespace

bool ValidCertTenant(std::string_view tenant) {
  if (tenant == "*") return true;
  if (tenant.empty() || tenant.size() > 32 || tenant[0] < 'A' || tenant[0] > 'Z') return false;
  for (char c : tenant) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

namespace {

// Adds one extension given in OpenSSL's config syntax ("critical,CA:TRUE").
Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext) return OpenSslFailure(std::string("extension ") + OBJ_nid2sn(nid) + "=" + value);
  if (X509_add_ext(cert, ext.get(), -1) != 1) return OpenSslFailure("adding an extension");
  return Status::Ok();
}

Status SetName(X509_NAME* name, std::string_view cn) {
  if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("DSMIL"), -1, -1,
                                 0) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.data()),
                                 static_cast<int>(cn.size()), -1, 0) != 1) {
    return OpenSslFailure("setting the subject name");
  }
  return Status::Ok();
}

// Fills version, a random positive 128-bit serial, validity and public key.
Status SetBasics(X509* cert, EVP_PKEY* key, int days) {
  if (X509_set_version(cert, 2) != 1) return OpenSslFailure("X509_set_version");
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof(serial)) != 1) return OpenSslFailure("RAND_bytes");
  serial[0] &= 0x7f;
  serial[0] |= 0x40;  // positive, and always 16 bytes long
  BnPtr bn(BN_bin2bn(serial, sizeof(serial), nullptr));
  if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert))) return OpenSslFailure("setting the serial");
  if (!X509_gmtime_adj(X509_getm_notBefore(cert), -5 * 60) ||
      !X509_time_adj_ex(X509_getm_notAfter(cert), days, 0, nullptr)) {
    return OpenSslFailure("setting the validity");
  }
  if (X509_set_pubkey(cert, key) != 1) return OpenSslFailure("X509_set_pubkey");
  return Status::Ok();
}

Status Sign(X509* cert, EVP_PKEY* key) {
  if (X509_sign(cert, key, EVP_sha384()) <= 0) return OpenSslFailure("signing with SHA-384");
  return Status::Ok();
}

std::string NameCn(const X509_NAME* name) {
  int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (idx < 0) return "";
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) return "";
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

Result<int64_t> AsnTimeToUnix(const ASN1_TIME* t) {
  struct tm tm {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return Status::InvalidArgument("x509: unreadable validity time");
  return static_cast<int64_t>(timegm(&tm));
}

std::string Hex(const unsigned char* p, size_t n, bool colons) {
  static const char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    if (colons && i) out += ':';
    out += kDigits[p[i] >> 4];
    out += kDigits[p[i] & 15];
  }
  return out;
}

Result<CertificateInfo> Describe(X509* cert) {
  CertificateInfo info;
  info.subject_cn = NameCn(X509_get_subject_name(cert));
  info.issuer_cn = NameCn(X509_get_issuer_name(cert));
  BnPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (serial) {
    char* hex = BN_bn2hex(serial.get());
    if (hex) {
      info.serial_hex = hex;
      OPENSSL_free(hex);
    }
  }
  NamesPtr names(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (names) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
      if (gn->type == GEN_DNS) {
        const ASN1_IA5STRING* s = gn->d.dNSName;
        info.dns_sans.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                   static_cast<size_t>(ASN1_STRING_length(s)));
      } else if (gn->type == GEN_IPADD) {
        const ASN1_OCTET_STRING* s = gn->d.iPAddress;
        char text[INET6_ADDRSTRLEN] = {};
        int len = ASN1_STRING_length(s);
        int family = len == 4 ? AF_INET : len == 16 ? AF_INET6 : -1;
        if (family > 0 && inet_ntop(family, ASN1_STRING_get0_data(s), text, sizeof(text))) {
          info.ip_sans.emplace_back(text);
        }
      } else if (gn->type == GEN_URI) {
        const ASN1_IA5STRING* s = gn->d.uniformResourceIdentifier;
        std::string uri(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                        static_cast<size_t>(ASN1_STRING_length(s)));
        if (uri.compare(0, kTenantUriPrefix.size(), kTenantUriPrefix) == 0) {
          std::string tenant = uri.substr(kTenantUriPrefix.size());
          if (ValidCertTenant(tenant)) info.tenants.push_back(tenant);
        }
        info.uri_sans.push_back(std::move(uri));
      }
    }
  }
  DSMIL_ASSIGN_OR_RETURN(info.not_before_unix, AsnTimeToUnix(X509_get0_notBefore(cert)));
  DSMIL_ASSIGN_OR_RETURN(info.not_after_unix, AsnTimeToUnix(X509_get0_notAfter(cert)));
  info.is_ca = X509_check_ca(cert) != 0;
  uint32_t xku = X509_get_extended_key_usage(cert);  // UINT32_MAX when absent: any usage
  info.server_auth = (xku & XKU_SSL_SERVER) != 0;
  info.client_auth = (xku & XKU_SSL_CLIENT) != 0;
  EVP_PKEY* pub = X509_get0_pubkey(cert);
  if (pub) {
    char group[64] = {};
    size_t group_len = 0;
    if (EVP_PKEY_is_a(pub, "EC") &&
        EVP_PKEY_get_utf8_string_param(pub, "group", group, sizeof(group), &group_len) == 1) {
      std::string g(group, group_len);
      info.key_type = g == "secp384r1" ? "EC P-384" : "EC " + g;
    } else {
      info.key_type = std::string(EVP_PKEY_get0_type_name(pub) ? EVP_PKEY_get0_type_name(pub) : "unknown") + " " +
                      std::to_string(EVP_PKEY_get_bits(pub)) + " bits";
    }
  }
  ERR_clear_error();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &md_len) == 1) info.sha256_fingerprint = Hex(md, md_len, true);
  return info;
}

}  // namespace

std::string_view CertUsageName(CertUsage usage) {
  switch (usage) {
    case CertUsage::kServer:
      return "server";
    case CertUsage::kClient:
      return "client";
    case CertUsage::kBoth:
      return "server+client";
  }
  return "?";
}

Result<PemCertificate> CreateCa(std::string_view common_name, int days) {
  DSMIL_RETURN_IF_ERROR(CheckCommonName(common_name));
  DSMIL_RETURN_IF_ERROR(CheckDays(days));
  DSMIL_ASSIGN_OR_RETURN(PkeyPtr key, NewP384Key());
  X509Ptr cert(X509_new());
  if (!cert) return OpenSslFailure("X509_new");
  DSMIL_RETURN_IF_ERROR(SetBasics(cert.get(), key.get(), days));
  DSMIL_RETURN_IF_ERROR(SetName(X509_get_subject_name(cert.get()), common_name));
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())) != 1) {
    return OpenSslFailure("X509_set_issuer_name");
  }
  DSMIL_RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
  DSMIL_RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign"));
  DSMIL_RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_subject_key_identifier, "hash"));
  DSMIL_RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_authority_key_identifier, "keyid:always"));
  DSMIL_RETURN_IF_ERROR(Sign(cert.get(), key.get()));
  PemCertificate out;
  DSMIL_ASSIGN_OR_RETURN(out.cert_pem, CertToPem(cert.get()));
  DSMIL_ASSIGN_OR_RETURN(out.key_pem, KeyToPem(key.get()));
  return out;
}

Result<PemCertificate> IssueCertificate(const PemCertificate& ca, const CertificateRequest& request) {
  return IssueCertificate(ca, request, {});
}

Result<PemCertificate> IssueCertificate(const PemCertificate& ca, const CertificateRequest& request,
                                        const std::vector<std::string>& tenants) {
  DSMIL_RETURN_IF_ERROR(CheckCommonName(request.common_name));
  DSMIL_RETURN_IF_ERROR(CheckDays(request.days));
  std::string san;
  for (const std::string& dns : request.dns_sans) {
    if (!IsDnsName(dns)) return Status::InvalidArgument("x509: DNS SAN \"" + dns + "\" is not a valid host name");
    san += (san.empty() ? "" : ",") + std::string("DNS:") + dns;
  }
  for (const std::string& ip : request.ip_sans) {
    if (!IsIpAddress(ip)) return Status::InvalidArgument("x509: IP SAN \"" + ip + "\" is not an IP address");
    san += (san.empty() ? "" : ",") + std::string("IP:") + ip;
  }
  for (const std::string& tenant : tenants) {
    if (!ValidCertTenant(tenant)) {
      return Status::InvalidArgument("x509: tenant \"" + tenant +
                                     "\" is neither \"*\" nor an id matching [A-Z][A-Z0-9_]{0,31}");
    }
    san += (san.empty() ? "" : ",") + std::string("URI:") + std::string(kTenantUriPrefix) + tenant;
  }
  auto ca_cert = ReadCert(ca.cert_pem);
  if (!ca_cert.ok()) return ca_cert.status().WithContext("CA certificate");
  auto ca_key = ReadKey(ca.key_pem);
  if (!ca_key.ok()) return ca_key.status().WithContext("CA key");
  if (X509_check_private_key(ca_cert->get(), ca_key->get()) != 1) {
    ERR_clear_error();
    return Status::InvalidArgument("x509: the CA key does not match the CA certificate");
  }
  if (X509_check_ca(ca_cert->get()) == 0) {
    return Status::InvalidArgument("x509: the CA certificate \"" + NameCn(X509_get_subject_name(ca_cert->get())) +
                                   "\" is not a CA (basicConstraints CA:FALSE or absent)");
  }

  DSMIL_ASSIGN_OR_RETURN(PkeyPtr key, NewP384Key());
  X509Ptr cert(X509_new());
  if (!cert) return OpenSslFailure("X509_new");
  DSMIL_RETURN_IF_ERROR(SetBasics(cert.get(), key.get(), request.days));
  DSMIL_RETURN_IF_ERROR(SetName(X509_get_subject_name(cert.get()), request.common_name));
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert->get())) != 1) {
    return OpenSslFailure("X509_set_issuer_name");
  }
  X509* issuer = ca_cert->get();
  DSMIL_RETURN_IF_ERROR(AddExtension(cert.get(), issuer, NID_basic_constraints, "critical,CA:FALSE"));
  DSMIL_RETURN_IF_ERROR(AddExtension(cert.get(), issuer, NID_key_usage, "critical,digitalSignature"));
  const char* eku = request.usage == CertUsage::kServer   ? "serverAuth"
                    : request.usage == CertUsage::kClient ? "clientAuth"
                                                          : "serverAuth,clientAuth";
  DSMIL_RETURN_IF_ERROR(AddExtension(cert.get(), issuer, NID_ext_key_usage, eku));
  if (!san.empty()) DSMIL_RETURN_IF_ERROR(AddExtension(cert.get(), issuer, NID_subject_alt_name, san));
  DSMIL_RETURN_IF_ERROR(AddExtension(cert.get(), issuer, NID_subject_key_identifier, "hash"));
  DSMIL_RETURN_IF_ERROR(AddExtension(cert.get(), issuer, NID_authority_key_identifier, "keyid:always"));
  DSMIL_RETURN_IF_ERROR(Sign(cert.get(), ca_key->get()));
  PemCertificate out;
  DSMIL_ASSIGN_OR_RETURN(out.cert_pem, CertToPem(cert.get()));
  DSMIL_ASSIGN_OR_RETURN(out.key_pem, KeyToPem(key.get()));
  return out;
}

Result<CertificateInfo> ParseCertificatePem(std::string_view pem) {
  DSMIL_ASSIGN_OR_RETURN(X509Ptr cert, ReadCert(pem));
  return Describe(cert.get());
}

Result<CertificateInfo> LoadCertificateFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("x509: cannot open " + path);
  std::ostringstream data;
  data << in.rdbuf();
  auto info = ParseCertificatePem(data.str());
  if (!info.ok()) return Status::InvalidArgument("x509: " + path + " holds no PEM certificate");
  return info;
}

Status VerifyCertificate(std::string_view ca_cert_pem, std::string_view cert_pem) {
  auto ca = ReadCert(ca_cert_pem);
  if (!ca.ok()) return ca.status().WithContext("CA certificate");
  auto cert = ReadCert(cert_pem);
  if (!cert.ok()) return cert.status();
  StorePtr store(X509_STORE_new());
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!store || !ctx || X509_STORE_add_cert(store.get(), ca->get()) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), cert->get(), nullptr) != 1) {
    return OpenSslFailure("setting up verification");
  }
  if (X509_verify_cert(ctx.get()) != 1) {
    int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return Status::Unauthenticated(std::string("x509: certificate \"") + NameCn(X509_get_subject_name(cert->get())) +
                                   "\" does not verify: " + X509_verify_cert_error_string(err));
  }
  return Status::Ok();
}

namespace {

// RFC 5280 CRLReason codes that may be given (certificateHold and the CA
// reasons are not offered: a hold can be lifted, and this CA revokes leaves).
constexpr std::pair<const char*, int> kReasons[] = {
    {"unspecified", 0}, {"keyCompromise", 1},        {"affiliationChanged", 3},
    {"superseded", 4},  {"cessationOfOperation", 5}, {"privilegeWithdrawn", 9},
};

std::string ReasonName(long code) {
  static constexpr std::pair<int, const char*> kAll[] = {
      {0, "unspecified"},        {1, "keyCompromise"},        {2, "cACompromise"},    {3, "affiliationChanged"},
      {4, "superseded"},         {5, "cessationOfOperation"}, {6, "certificateHold"}, {8, "removeFromCRL"},
      {9, "privilegeWithdrawn"}, {10, "aACompromise"}};
  for (const auto& [c, name] : kAll) {
    if (c == code) return name;
  }
  return "reason " + std::to_string(code);
}

std::string SerialToHex(const ASN1_INTEGER* serial) {
  BnPtr bn(ASN1_INTEGER_to_BN(serial, nullptr));
  if (!bn) return "";
  char* hex = BN_bn2hex(bn.get());
  if (!hex) return "";
  std::string out(hex);
  OPENSSL_free(hex);
  return out;
}

Result<CrlPtr> ReadCrl(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return OpenSslFailure("BIO allocation");
  CrlPtr crl(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
  if (!crl) {
    ERR_clear_error();
    return Status::InvalidArgument("x509: no PEM CRL found");
  }
  return crl;
}

// Every certificate in `pem`, in order.
std::vector<X509Ptr> ReadCerts(std::string_view pem) {
  std::vector<X509Ptr> out;
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return out;
  for (;;) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) break;
    out.push_back(std::move(cert));
  }
  ERR_clear_error();
  return out;
}

}  // namespace

bool ValidRevocationReason(std::string_view reason) {
  for (const auto& [name, code] : kReasons) {
    if (reason == name) return true;
  }
  return false;
}

Result<std::string> NormalizeSerialHex(std::string_view serial) {
  std::string_view s = serial;
  if (s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s.remove_prefix(2);
  std::string out;
  for (char c : s) {
    if (c == ':') continue;
    if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) {
      return Status::InvalidArgument("x509: serial \"" + std::string(serial) + "\" is not hexadecimal");
    }
    if (out.empty() && c == '0') continue;
    out += c;
  }
  if (s.empty()) return Status::InvalidArgument("x509: serial is empty");
  if (out.size() > 80) return Status::InvalidArgument("x509: serial \"" + std::string(serial) + "\" is over 40 bytes");
  if (out.empty()) out = "0";
  return out;
}

Result<std::string> CreateCrl(const PemCertificate& ca, const std::vector<RevokedCertificate>& revoked, int days,
                              uint64_t number) {
  DSMIL_RETURN_IF_ERROR(CheckDays(days));
  auto ca_cert = ReadCert(ca.cert_pem);
  if (!ca_cert.ok()) return ca_cert.status().WithContext("CA certificate");
  auto ca_key = ReadKey(ca.key_pem);
  if (!ca_key.ok()) return ca_key.status().WithContext("CA key");
  if (X509_check_private_key(ca_cert->get(), ca_key->get()) != 1) {
    ERR_clear_error();
    return Status::InvalidArgument("x509: the CA key does not match the CA certificate");
  }
  if (X509_check_ca(ca_cert->get()) == 0) {
    return Status::InvalidArgument("x509: the CA certificate \"" + NameCn(X509_get_subject_name(ca_cert->get())) +
                                   "\" is not a CA (basicConstraints CA:FALSE or absent)");
  }
  CrlPtr crl(X509_CRL_new());
  if (!crl) return OpenSslFailure("X509_CRL_new");
  if (X509_CRL_set_version(crl.get(), 1) != 1 ||  // v2
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(ca_cert->get())) != 1) {
    return OpenSslFailure("setting the CRL issuer");
  }
  AsnTimePtr this_update(X509_gmtime_adj(nullptr, 0));
  AsnTimePtr next_update(X509_time_adj_ex(nullptr, days, 0, nullptr));
  if (!this_update || !next_update || X509_CRL_set1_lastUpdate(crl.get(), this_update.get()) != 1 ||
      X509_CRL_set1_nextUpdate(crl.get(), next_update.get()) != 1) {
    return OpenSslFailure("setting the CRL validity");
  }
  for (const RevokedCertificate& r : revoked) {
    DSMIL_ASSIGN_OR_RETURN(std::string hex, NormalizeSerialHex(r.serial_hex));
    int code = -1;
    for (const auto& [name, c] : kReasons) {
      if (r.reason == name) code = c;
    }
    if (code < 0 && !r.reason.empty()) {
      return Status::InvalidArgument("x509: revocation reason \"" + r.reason +
                                     "\" is not one of unspecified, keyCompromise, affiliationChanged, superseded, "
                                     "cessationOfOperation, privilegeWithdrawn");
    }
    BIGNUM* raw_bn = nullptr;
    if (BN_hex2bn(&raw_bn, hex.c_str()) == 0) return OpenSslFailure("parsing serial " + hex);
    BnPtr bn(raw_bn);
    AsnIntPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
    AsnTimePtr when(ASN1_TIME_set(nullptr, static_cast<time_t>(r.revoked_unix)));
    RevokedPtr entry(X509_REVOKED_new());
    if (!serial || !when || !entry || X509_REVOKED_set_serialNumber(entry.get(), serial.get()) != 1 ||
        X509_REVOKED_set_revocationDate(entry.get(), when.get()) != 1) {
      return OpenSslFailure("adding revoked serial " + hex);
    }
    if (code > 0) {  // RFC 5280 §5.3.1: "unspecified" is expressed by omitting the extension
      AsnEnumPtr reason(ASN1_ENUMERATED_new());
      if (!reason || ASN1_ENUMERATED_set(reason.get(), code) != 1 ||
          X509_REVOKED_add1_ext_i2d(entry.get(), NID_crl_reason, reason.get(), 0, 0) != 1) {
        return OpenSslFailure("adding the revocation reason");
      }
    }
    if (X509_CRL_add0_revoked(crl.get(), entry.get()) != 1) return OpenSslFailure("X509_CRL_add0_revoked");
    entry.release();
  }
  AsnIntPtr crl_number(ASN1_INTEGER_new());
  if (!crl_number || ASN1_INTEGER_set_uint64(crl_number.get(), number) != 1 ||
      X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, crl_number.get(), 0, 0) != 1) {
    return OpenSslFailure("adding the CRL number");
  }
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, ca_cert->get(), nullptr, nullptr, crl.get(), 0);
  ExtPtr akid(X509V3_EXT_conf_nid(nullptr, &v3, NID_authority_key_identifier, "keyid:always"));
  if (!akid || X509_CRL_add_ext(crl.get(), akid.get(), -1) != 1) return OpenSslFailure("adding the CRL key identifier");
  if (X509_CRL_sort(crl.get()) != 1) return OpenSslFailure("X509_CRL_sort");
  if (X509_CRL_sign(crl.get(), ca_key->get(), EVP_sha384()) <= 0) return OpenSslFailure("signing the CRL");
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509_CRL(bio.get(), crl.get()) != 1) return OpenSslFailure("PEM encoding of the CRL");
  return BioToString(bio.get());
}

Result<CrlInfo> ParseCrlPem(std::string_view pem) {
  DSMIL_ASSIGN_OR_RETURN(CrlPtr crl, ReadCrl(pem));
  CrlInfo info;
  info.issuer_cn = NameCn(X509_CRL_get_issuer(crl.get()));
  if (const ASN1_TIME* t = X509_CRL_get0_lastUpdate(crl.get())) {
    DSMIL_ASSIGN_OR_RETURN(info.this_update_unix, AsnTimeToUnix(t));
  }
  if (const ASN1_TIME* t = X509_CRL_get0_nextUpdate(crl.get())) {
    DSMIL_ASSIGN_OR_RETURN(info.next_update_unix, AsnTimeToUnix(t));
  }
  int crit = 0;
  AsnIntPtr number(static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(crl.get(), NID_crl_number, &crit, nullptr)));
  uint64_t n = 0;
  if (number && ASN1_INTEGER_get_uint64(&n, number.get()) == 1) info.number = n;
  STACK_OF(X509_REVOKED)* entries = X509_CRL_get_REVOKED(crl.get());
  for (int i = 0; i < sk_X509_REVOKED_num(entries); ++i) {
    const X509_REVOKED* r = sk_X509_REVOKED_value(entries, i);
    RevokedCertificate out;
    auto serial = NormalizeSerialHex(SerialToHex(X509_REVOKED_get0_serialNumber(r)));
    if (!serial.ok()) return Status::InvalidArgument("x509: CRL entry " + std::to_string(i) + " has no usable serial");
    out.serial_hex = std::move(*serial);
    auto when = AsnTimeToUnix(X509_REVOKED_get0_revocationDate(r));
    out.revoked_unix = when.ok() ? *when : 0;
    AsnEnumPtr reason(static_cast<ASN1_ENUMERATED*>(X509_REVOKED_get_ext_d2i(r, NID_crl_reason, &crit, nullptr)));
    out.reason = reason ? ReasonName(ASN1_ENUMERATED_get(reason.get())) : "unspecified";
    info.revoked.push_back(std::move(out));
  }
  ERR_clear_error();
  return info;
}

Status VerifyCrl(std::string_view ca_cert_pem, std::string_view crl_pem) {
  DSMIL_ASSIGN_OR_RETURN(CrlPtr crl, ReadCrl(crl_pem));
  std::vector<X509Ptr> cas = ReadCerts(ca_cert_pem);
  if (cas.empty()) return Status::InvalidArgument("x509: no PEM certificate found in the CA file");
  std::string issuer = NameCn(X509_CRL_get_issuer(crl.get()));
  bool name_matched = false;
  for (const X509Ptr& ca : cas) {
    if (X509_NAME_cmp(X509_CRL_get_issuer(crl.get()), X509_get_subject_name(ca.get())) != 0) continue;
    name_matched = true;
    EVP_PKEY* pub = X509_get0_pubkey(ca.get());
    if (pub && X509_CRL_verify(crl.get(), pub) == 1) return Status::Ok();
    ERR_clear_error();
  }
  if (name_matched) {
    return Status::Unauthenticated("x509: the CRL names \"" + issuer +
                                   "\" as its issuer but its signature does not verify with that CA's key");
  }
  return Status::Unauthenticated("x509: the CRL was issued by \"" + issuer + "\", not by the CA \"" +
                                 NameCn(X509_get_subject_name(cas.front().get())) + "\"");
}

Status VerifyIssuedBy(std::string_view ca_cert_pem, std::string_view cert_pem) {
  auto ca = ReadCert(ca_cert_pem);
  if (!ca.ok()) return ca.status().WithContext("CA certificate");
  DSMIL_ASSIGN_OR_RETURN(X509Ptr cert, ReadCert(cert_pem));
  EVP_PKEY* pub = X509_get0_pubkey(ca->get());
  if (X509_NAME_cmp(X509_get_issuer_name(cert.get()), X509_get_subject_name(ca->get())) != 0 || !pub ||
      X509_verify(cert.get(), pub) != 1) {
    ERR_clear_error();
    return Status::Unauthenticated("x509: certificate \"" + NameCn(X509_get_subject_name(cert.get())) +
                                   "\" was not issued by \"" + NameCn(X509_get_subject_name(ca->get())) + "\"");
  }
  return Status::Ok();
}

std::string FormatUtc(int64_t unix_seconds) {
  time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace dsmil::crypto
