// OpenSSL contexts for the HTTP server and client. Internal to src/net: only
// http_server.cc and http_client.cc include it.
#pragma once

#ifndef DSMIL_INTERNAL_NET
#error \
    "net/tls_internal.h is internal to dsmil_net: include its public headers (a white-box test opts in with dsmil_white_box)"
#endif

#include <openssl/ssl.h>

#include <memory>
#include <optional>
#include <string>

#include "core/status.h"
#include "net/revocation.h"
#include "net/tls.h"

namespace dsmil::net::internal {

// A server SSL_CTX (TLS 1.2+, ECDHE AEAD suites for 1.2) with the certificate
// chain, the private key (checked by ReadPrivateKeyFile and against the
// certificate) and client verification against options.ca_file, refusing
// client certificates listed in options.crl_file when it is set. The caller
// owns the result (SSL_CTX_free).
Result<SSL_CTX*> NewServerContext(const TlsOptions& options);

// A client SSL_CTX (TLS 1.2+) verifying servers against ca_file (empty: the
// system's trust store), with an optional client certificate, refusing server
// certificates listed in crl_file when it is set. The caller owns the result.
Result<SSL_CTX*> NewClientContext(const std::string& ca_file, const std::string& cert_file, const std::string& key_file,
                                  const std::string& crl_file = "");

// Makes `ctx` refuse peer certificates that `list` revokes: its verify
// callback fails a leaf certificate whose serial is listed
// (X509_V_ERR_CERT_REVOKED, so the peer gets a "certificate revoked" alert).
// `where` names the endpoint in log lines ("https server"). Keeps the verify
// mode already set.
void AttachRevocation(SSL_CTX* ctx, std::shared_ptr<RevocationList> list, std::string where);

// The revocation list attached to the context of `ssl`, or null.
std::shared_ptr<RevocationList> RevocationOf(SSL* ssl);

// The serial of the peer certificate (crypto::NormalizeSerialHex form), ""
// without one.
std::string PeerSerialHex(SSL* ssl);

// Whether the peer certificate of an established connection is revoked now
// (connections that stay open are checked again with it). False without a
// revocation list or a peer certificate.
bool PeerCertificateRevoked(SSL* ssl);

// Sets SNI (for DNS names) and the name or IP address the server certificate
// must match, on one client connection.
Status SetExpectedPeer(SSL* ssl, const std::string& host);

// The subject CN of the peer certificate if one was presented and verified.
std::optional<std::string> VerifiedPeerCommonName(SSL* ssl);

// The verification failure of `ssl` as text ("unable to get local issuer
// certificate", "hostname mismatch"), or "" if verification passed.
std::string VerifyFailure(SSL* ssl);

// The first OpenSSL error in the thread's queue as text (clears the queue).
std::string TakeOpenSslError();

}  // namespace dsmil::net::internal
