// TLS settings shared by the HTTP server and client, and the private-key file
// rule: a private key readable by group or others is refused.
#pragma once

#include <string>

#include "core/status.h"

namespace dsmil::net {

// Server side TLS. Certificates and keys are PEM files.
struct TlsOptions {
  std::string cert_file;  // server certificate (chain) presented to clients
  std::string key_file;   // its private key; must not be readable by group/others
  std::string ca_file;    // CA that client certificates must chain to
  // true: a client without a certificate from ca_file fails the handshake
  // (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT). false: a certificate
  // is verified if offered, and the connection is accepted without one.
  bool require_client_cert = true;
  // A PEM CRL signed by the CA in ca_file (`dsmilctl pki revoke` writes
  // <pki dir>/crl.pem); empty: no revocation check. A peer certificate whose
  // serial it lists fails the handshake ("certificate revoked"); the file is
  // re-read when it changes, checked at most once a second (see
  // revocation.h). A file that is missing, unreadable or not signed by the CA
  // fails the start of the server, naming the file.
  std::string crl_file = {};
};

// Reads a PEM private key file through crypto::ReadPrivateFile, which refuses
// a file that group or others can access (checked on the opened descriptor).
// Errors carry a "tls: " prefix: NotFound if it does not exist,
// FailedPrecondition naming the file and its mode ("tls: keyfile: private key
// file /etc/dsmil/certs/node-a.key is accessible by group or others (mode
// 0644); run: chmod 600 ...").
Result<std::string> ReadPrivateKeyFile(const std::string& path);

// The TLS versions we speak: 1.2 and 1.3 (1.3 preferred). For documentation
// and status output.
inline constexpr const char* kTlsVersions = "TLSv1.2, TLSv1.3";

}  // namespace dsmil::net
