// TCP + TLS transport for node-to-node DBE traffic: net::Connection and
// net::Listener over Asio + OpenSSL with mutual X.509 verification against
// the cluster CA. Frames are length-prefixed on the TLS stream:
//
//   u32be length (1 .. kMaxConnectionFrame) || frame bytes
//
// A length of 0 or over kMaxConnectionFrame is a protocol error: the
// receiver's Receive returns DataLoss and the connection is closed.
//
// Each dialled connection runs its own I/O thread; a listener runs one I/O
// thread shared by the connections it accepted (they keep it alive, so the
// listener may be destroyed first). Nagle is off. Close flushes frames already
// queued before closing the socket; destroying a connection waits up to 1 s
// for that flush.
// Thread safety: as net::Connection / net::Listener.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"
#include "net/connection.h"
#include "net/tls.h"

namespace dsmil::net {

struct TcpTlsDialOptions {
  // The name (DNS or IP SAN, or CN) the server certificate must carry; empty:
  // the host given to DialTcpTls.
  std::string server_name = {};
  // When set, the server certificate's CN must equal it ("node-b").
  std::string expected_peer_cn = {};
  // Connect + TLS handshake limit.
  std::chrono::milliseconds timeout{5000};
  // Bytes queued for sending before Send fails with ResourceExhausted.
  size_t max_send_buffer = 16u << 20;
};

struct TcpTlsListenOptions {
  // TLS handshake limit per accepted connection.
  std::chrono::milliseconds handshake_timeout{5000};
  // Authenticated connections waiting for Accept; more are closed.
  size_t accept_backlog = 64;
  size_t max_send_buffer = 16u << 20;
};

// Listens on host:port (port 0: an ephemeral port, see Listener::port()).
// `tls` gives the server certificate, its key and the CA that client
// certificates must chain to; require_client_cert must be true (mutual
// authentication), InvalidArgument otherwise. Connections whose client
// certificate has no CN are dropped. With tls.crl_file, a revoked client
// certificate fails the handshake, and an accepted connection whose
// certificate is revoked later is closed (its Receive returns
// PermissionDenied) within about a second of the CRL changing.
Result<std::unique_ptr<Listener>> ListenTcpTls(const std::string& host, uint16_t port, const TlsOptions& tls,
                                               const TcpTlsListenOptions& options = {});

// Connects to host:port and completes a TLS handshake presenting
// `client.cert_file` / `client.key_file` and verifying the server against
// `client.ca_file` (all three required); with `client.crl_file`, a revoked
// server certificate fails the handshake ("certificate revoked"), and the
// connection closes if it is revoked later. Unavailable when the connection or
// the handshake fails (the message names the verification failure);
// DeadlineExceeded after options.timeout.
Result<std::unique_ptr<Connection>> DialTcpTls(const std::string& host, uint16_t port, const TlsOptions& client,
                                               const TcpTlsDialOptions& options = {});

}  // namespace dsmil::net
