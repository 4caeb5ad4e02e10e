// The internal PKI: an ECDSA P-384 certificate authority and the certificates
// it issues to nodes (server + client, for mTLS both ways) and operators
// (client only), all signed with SHA-384, through OpenSSL 3.
//
// Everything here works on PEM strings; reading and writing files is the
// caller's business (private keys must be written 0600). Certificates carry
// random 128-bit serials, subject and authority key identifiers, and a
// notBefore five minutes in the past to tolerate clock skew between nodes.
//
// Thread safety: every function is reentrant; nothing is shared.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace dsmil::crypto {

// A certificate and its private key, both PEM ("-----BEGIN CERTIFICATE-----",
// "-----BEGIN PRIVATE KEY-----" as unencrypted PKCS#8).
struct PemCertificate {
  std::string cert_pem;
  std::string key_pem;
};

// What a leaf certificate may be used for (extendedKeyUsage).
enum class CertUsage {
  kServer,  // serverAuth
  kClient,  // clientAuth (operators)
  kBoth,    // serverAuth + clientAuth (nodes: mTLS in both directions)
};

// "server", "client", "server+client".
std::string_view CertUsageName(CertUsage usage);

// Default validity of issued certificates (spec §9.1: 90-day rotation).
inline constexpr int kDefaultCertDays = 90;
// Default validity of the CA certificate.
inline constexpr int kDefaultCaDays = 3650;
// Upper bound accepted for any validity, CA included (100 years).
inline constexpr int kMaxCertDays = 36500;

struct CertificateRequest {
  std::string common_name;            // required, at most 64 bytes
  std::vector<std::string> dns_sans;  // e.g. "node-a.dsmil.local", "localhost"
  std::vector<std::string> ip_sans;   // IPv4 or IPv6 text, e.g. "172.20.0.10"
  CertUsage usage = CertUsage::kBoth;
  int days = kDefaultCertDays;  // 1 .. kMaxCertDays
};

// The URI SAN prefix naming a tenant in an operator certificate.
inline constexpr std::string_view kTenantUriPrefix = "urn:dsmil:tenant:";

// Whether `tenant` may appear in CertificateRequest::tenants: "*" or
// [A-Z][A-Z0-9_]{0,31}.
bool ValidCertTenant(std::string_view tenant);

// Creates a self-signed CA (basicConstraints CA:TRUE, pathlen 0; keyUsage
// keyCertSign + cRLSign) with a fresh P-384 key. InvalidArgument for an empty
// or over-long name or days out of range; Internal if OpenSSL fails.
Result<PemCertificate> CreateCa(std::string_view common_name, int days = kDefaultCaDays);

// Issues a leaf certificate signed by `ca` with a fresh P-384 key.
// InvalidArgument for a bad request (empty CN, a SAN that is not a valid DNS
// name or IP address, days out of range) or a CA whose key does not match its
// certificate or that is not a CA.
Result<PemCertificate> IssueCertificate(const PemCertificate& ca, const CertificateRequest& request);

// The same, for an operator certificate covering `tenants`: each is written
// as the URI SAN "urn:dsmil:tenant:<T>" (T matching [A-Z][A-Z0-9_]{0,31}, or
// "*" for every tenant), which servers read back into
// net::HttpRequest::client_cert_tenants. InvalidArgument names a tenant that
// fails ValidCertTenant.
Result<PemCertificate> IssueCertificate(const PemCertificate& ca, const CertificateRequest& request,
                                        const std::vector<std::string>& tenants);

// What status displays need from a certificate.
struct CertificateInfo {
  std::string subject_cn;
  std::string issuer_cn;
  std::string serial_hex;  // upper-case hex
  std::vector<std::string> dns_sans;
  std::vector<std::string> ip_sans;   // text form ("172.20.0.10", "::1")
  std::vector<std::string> uri_sans;  // every URI SAN, as written
  std::vector<std::string> tenants;   // the tenants of "urn:dsmil:tenant:<T>" URI SANs ("*" = all)
  int64_t not_before_unix = 0;        // seconds since the epoch, UTC
  int64_t not_after_unix = 0;
  bool is_ca = false;
  bool server_auth = false;        // extendedKeyUsage serverAuth
  bool client_auth = false;        // extendedKeyUsage clientAuth
  std::string key_type;            // e.g. "EC P-384"
  std::string sha256_fingerprint;  // "AB:CD:..." over the DER encoding
};

// Parses the first certificate in `pem`. InvalidArgument if there is none.
Result<CertificateInfo> ParseCertificatePem(std::string_view pem);

// Reads and parses a PEM certificate file. NotFound if the file cannot be
// opened, InvalidArgument if it holds no certificate (the message names the path).
Result<CertificateInfo> LoadCertificateFile(const std::string& path);

// Verifies that `cert_pem` was issued by `ca_cert_pem` and is valid at the
// current time. Unauthenticated with OpenSSL's reason if not.
Status VerifyCertificate(std::string_view ca_cert_pem, std::string_view cert_pem);

// Certificate revocation lists (RFC 5280 §5): X.509 v2 CRLs signed by the CA
// with SHA-384, carrying a CRL number and the CA's authority key identifier.

// One revoked certificate.
struct RevokedCertificate {
  std::string serial_hex;    // upper-case hex without leading zeros, as CertificateInfo::serial_hex
  int64_t revoked_unix = 0;  // revocationDate, seconds since the epoch
  std::string reason;        // an RFC 5280 CRLReason name, "unspecified" when absent
};

// The reason names CreateCrl accepts: "unspecified", "keyCompromise",
// "affiliationChanged", "superseded", "cessationOfOperation",
// "privilegeWithdrawn".
bool ValidRevocationReason(std::string_view reason);

// A serial number as written by CertificateInfo::serial_hex: hex digits with
// optional "0x" prefix and ':' separators, case and leading zeros ignored.
// InvalidArgument for anything else (or more than 40 bytes).
Result<std::string> NormalizeSerialHex(std::string_view serial);

// What a CRL says.
struct CrlInfo {
  std::string issuer_cn;
  int64_t this_update_unix = 0;
  int64_t next_update_unix = 0;             // 0 when absent
  uint64_t number = 0;                      // cRLNumber extension, 0 when absent
  std::vector<RevokedCertificate> revoked;  // in the CRL's order (sorted by serial)
};

// Creates a CRL signed by `ca` listing `revoked`, valid from now for `days`
// (nextUpdate), with cRLNumber `number`. InvalidArgument for a bad serial,
// reason or days, or a CA whose key does not match or that is not a CA.
// Returns PEM ("-----BEGIN X509 CRL-----").
Result<std::string> CreateCrl(const PemCertificate& ca, const std::vector<RevokedCertificate>& revoked, int days,
                              uint64_t number);

// Parses the first CRL in `pem` without checking its signature.
// InvalidArgument if there is none.
Result<CrlInfo> ParseCrlPem(std::string_view pem);

// Checks that the CRL in `crl_pem` names one of the certificates in
// `ca_cert_pem` (one or more PEM certificates) as its issuer and carries that
// certificate's signature. Unauthenticated naming both when it does not,
// InvalidArgument when either input holds no CRL / certificate.
Status VerifyCrl(std::string_view ca_cert_pem, std::string_view crl_pem);

// Checks that `cert_pem` names the CA in `ca_cert_pem` as its issuer and
// carries its signature (validity dates are not checked, so an expired
// certificate can still be revoked). Unauthenticated if not.
Status VerifyIssuedBy(std::string_view ca_cert_pem, std::string_view cert_pem);

// Formats seconds since the epoch as "2026-02-25T12:00:00Z".
std::string FormatUtc(int64_t unix_seconds);

}  // namespace dsmil::crypto
