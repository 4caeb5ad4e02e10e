// One connection interface for every node-to-node transport: QUIC (quic.h),
// TCP + TLS (tcp_tls.h) and the in-process pair used by tests and the local
// bus. The DBE secure session (session.h) runs unchanged on any of them.
//
// A Connection carries whole frames (byte strings up to kMaxConnectionFrame),
// reliably and in order, in both directions. Both ends authenticated each
// other with X.509 certificates from the cluster CA before a Connection is
// returned (the in-process pair excepted); PeerName() is the verified CN.
//
// Thread safety: Send may be called from several threads at once; Receive
// from one thread at a time; Close from any thread, and it wakes a blocked
// Receive (which then returns Unavailable).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "core/coding.h"
#include "core/status.h"

namespace dsmil::net {

// Largest frame a transport carries (a DBE frame of 1 MiB plus session overhead).
inline constexpr size_t kMaxConnectionFrame = (1u << 20) + 4096;

class Connection {
 public:
  virtual ~Connection() = default;

  // Queues one frame for sending. Unavailable once the connection is closed
  // (by either side); ResourceExhausted when the frame is over
  // kMaxConnectionFrame or the send buffer limit is reached.
  virtual Status Send(ByteView frame) = 0;

  // Waits up to `timeout` for the next frame. DeadlineExceeded on timeout
  // (the connection stays usable); Unavailable when closed; DataLoss when
  // the peer sent something that is not a valid frame (the connection is
  // then closed).
  virtual Result<Bytes> Receive(std::chrono::milliseconds timeout) = 0;

  // Closes both directions; idempotent.
  virtual void Close() = 0;

  // The verified common name of the peer's certificate ("node-b"); "" for the
  // in-process pair.
  virtual std::string PeerName() const = 0;
  // For logs: "quic 127.0.0.1:8100 (node-b)".
  virtual std::string Describe() const = 0;
};

class Listener {
 public:
  virtual ~Listener() = default;
  // Waits up to `timeout` for the next authenticated connection.
  // DeadlineExceeded on timeout, Unavailable once closed.
  virtual Result<std::unique_ptr<Connection>> Accept(std::chrono::milliseconds timeout) = 0;
  virtual uint16_t port() const = 0;
  virtual void Close() = 0;
};

// Two connected in-process endpoints (no TLS, no encryption): tests, and
// devices that share one process.
std::pair<std::unique_ptr<Connection>, std::unique_ptr<Connection>> MakeConnectionPair();

}  // namespace dsmil::net
