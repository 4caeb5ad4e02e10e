// QUIC transport for node-to-node traffic (the DBE endpoint, UDP :8100),
// implementing net::Connection and net::Listener (connection.h) on ngtcp2 0.12
// with GnuTLS 3.7 for the TLS 1.3 handshake.
//
// Authentication. Both ends present an X.509 certificate from the cluster CA
// (QuicOptions::ca_file) and both verify the other's: the chain must reach
// that CA, and the leaf must carry the extended key usage for its role
// (serverAuth for the listener, clientAuth for the dialer). The listener
// REQUIRES a client certificate. The dialer also checks the server's name
// (QuicOptions::server_name, or the dialed host): it must match a DNS or IP
// subject alternative name, or equal the subject CN. A listener may pin the
// client's CN (QuicOptions::peer_name). A Connection is handed out only after
// the handshake is confirmed on both sides, so a refused client certificate
// fails DialQuic, not a later Send. ALPN is "dsmil-dbe/1" and mandatory.
//
// Wire format on one connection:
//   - The client opens exactly one bidirectional stream (stream 0); neither
//     side allows any other stream (initial_max_streams_bidi is 1 at the
//     listener, 0 at the dialer; no unidirectional streams).
//   - The client writes the 4-byte preamble "DQF1" first, so the listener
//     sees the stream even before the first frame.
//   - Then, in both directions, frames: u32 big-endian length | payload,
//     length <= kMaxConnectionFrame. A longer length, a bad preamble, or a
//     stream that ends or is reset is a protocol error: the receiver closes
//     the connection (application error 1) and Receive reports DataLoss.
//   - Close() sends CONNECTION_CLOSE with application error 0 once the frames
//     already queued are acknowledged (or after QuicOptions::close_linger).
//
// Threads. Every endpoint (one per DialQuic; one per ListenQuic, shared by
// all connections it accepts) runs one event-loop thread that owns the UDP
// socket and all ngtcp2/GnuTLS state. Send/Receive/Close hand work to it
// through a queue and an eventfd. The thread safety of connection.h holds:
// Send from any thread, Receive from one thread at a time, Close from any
// thread. Accepted connections keep working after their Listener is closed or
// destroyed; the loop ends when the listener and all its connections are gone.
//
// Flow control is end to end: bytes count against the receive window until
// Receive hands the frame to the caller, so a reader that stops reading
// stops the writer, whose Send then fails with ResourceExhausted once
// QuicOptions::max_send_buffer bytes are queued unacknowledged.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"
#include "net/connection.h"

namespace dsmil::net {

inline constexpr const char* kQuicAlpn = "dsmil-dbe/1";
inline constexpr uint16_t kQuicDefaultPort = 8100;
// First bytes the client writes on the stream.
inline constexpr char kQuicPreamble[4] = {'D', 'Q', 'F', '1'};

struct QuicOptions {
  // Our certificate (PEM, leaf first) and its private key (PEM; refused when
  // readable by group or others). Required for ListenQuic. DialQuic may omit
  // both (the listener then refuses the handshake), never just one.
  std::string cert_file;
  std::string key_file;
  // The cluster CA (PEM) that the peer's certificate must chain to. Required.
  std::string ca_file;
  // Dialer: the name sent as SNI and required of the server certificate (DNS
  // or IP SAN, or CN). Empty: the host given to DialQuic.
  std::string server_name;
  // Listener: when set, a client whose certificate CN differs is refused.
  std::string peer_name;
  std::string alpn = kQuicAlpn;
  // Dialer: how long DialQuic waits for a confirmed handshake. Listener: how
  // long a handshake may take before the attempt is dropped.
  std::chrono::milliseconds handshake_timeout{5000};
  // A connection with no packets from the peer for this long is closed
  // (QUIC max_idle_timeout; the smaller of both ends' values applies).
  std::chrono::milliseconds idle_timeout{30000};
  // PING interval on a quiet connection, so that a live peer never idles out;
  // zero disables keep-alives.
  std::chrono::milliseconds keep_alive{10000};
  // RTT assumed before the first measurement (pacing and loss timers during
  // the handshake). Cluster links are LAN-like; larger values only slow the
  // handshake, smaller ones only cause early retransmissions.
  std::chrono::milliseconds initial_rtt{10};
  // How long Close() waits for queued frames to be acknowledged.
  std::chrono::milliseconds close_linger{1000};
  // Bytes a connection may hold queued and unacknowledged before Send fails
  // with ResourceExhausted. At least kMaxConnectionFrame + 4.
  size_t max_send_buffer = 16u << 20;
  // Receive window per connection (stream and connection flow control).
  size_t receive_window = 4u << 20;
  // Listener: most connections at once (handshaking, waiting for Accept, or
  // accepted and open); new ones beyond it are ignored.
  size_t max_connections = 1024;
  // Listener: authenticated connections waiting for Accept; more are closed.
  size_t accept_backlog = 64;
  // A PEM CRL signed by the CA in ca_file (TlsOptions::crl_file); empty: no
  // revocation check. A peer certificate it lists is refused during the
  // handshake ("is revoked"); the file is re-read when it changes, checked at
  // most once a second (revocation.h). A missing, unreadable or foreign CRL
  // fails ListenQuic / DialQuic, naming the file.
  std::string crl_file = {};
};

// Binds a UDP socket on host:port (port 0: an ephemeral port, see
// Listener::port()) and starts accepting QUIC connections. host is an IPv4 or
// IPv6 address or a name ("0.0.0.0", "::", "127.0.0.1", "localhost").
// InvalidArgument for bad options or unusable files (the message names the
// file), NotFound for a missing file, FailedPrecondition for a key file that
// others can read, Unavailable when the address cannot be bound.
// The caller owns the Listener; Accept may be called from several threads.
Result<std::unique_ptr<Listener>> ListenQuic(const std::string& host, uint16_t port, const QuicOptions& options);

// Connects to host:port and completes the handshake (both certificates
// verified). Unauthenticated when either side refused the other's
// certificate (the message says which and why), DeadlineExceeded when no
// handshake completed within options.handshake_timeout, Unavailable for
// network errors, and the errors of ListenQuic for options and files.
Result<std::unique_ptr<Connection>> DialQuic(const std::string& host, uint16_t port, const QuicOptions& options);

}  // namespace dsmil::net
