// The node's DBE router: delivers an envelope to the device it is addressed
// to (header dst_device), on this node or on the peer node that hosts it, and
// routes the reply back to the requester.
//
//   * Local devices are called in-process (Device::Handle).
//   * Remote devices are reached through a DBE secure session
//     (net/session.h) to the peer that hosts them. The router keeps one
//     dialer per peer, which connects, runs the handshake as initiator and
//     reconnects with exponential backoff when the session is lost. A
//     listener accepts the peers' sessions (handshake as responder); requests
//     arriving on any session are handled by the local devices and answered
//     on the same session.
//   * While a peer's session is down, envelopes for it wait in a bounded
//     per-peer queue and are sent once the session is back. A full queue
//     refuses the envelope with ResourceExhausted: nothing is dropped
//     silently. A request whose session is lost after it was sent is answered
//     with Unavailable (it is not resent: the device may have acted on it).
//   * Replies are matched to requests by REQUEST_ID (TLV 0x02).
//   * Failure detection (docs/dbe-session.md §6b): every session carries a
//     keep-alive envelope each keepalive_interval in both directions; a
//     session on which nothing arrives for peer_timeout is closed, so a peer
//     that is stopped or unreachable (sockets still open, no answers) is
//     marked down within about peer_timeout, and the dialers reconnect once
//     it answers again.
//
// Metrics (in the options' registry): dsmil_dbe_peer_session_up{node,peer}
// (1 up, 0 down; the same state as PeerSessionInfo::up, set under the same
// lock) and dsmil_dbe_peer_queued_envelopes{node,peer}.
//
// Thread safety: every public method may be called from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/log.h"
#include "core/metrics.h"
#include "core/status.h"
#include "dbe/message.h"
#include "devices/device.h"
#include "net/connection.h"
#include "net/identity.h"
#include "net/session.h"

namespace dsmil::node {

// Opens a fresh authenticated connection to one peer (TCP + TLS, QUIC, or an
// in-process pair in tests).
using Dialer = std::function<Result<std::unique_ptr<net::Connection>>()>;

struct RouterPeer {
  std::string name;          // node name, as pinned ("node-b")
  std::string transport;     // for status: "tcp", "quic", "pipe"
  std::vector<int> devices;  // devices it hosts
  Dialer dial;               // null: never dialled (only its inbound session is used)
};

struct RouterOptions {
  std::string node;  // this node's name
  // Local devices (not owned; must outlive the router). A device bound to a
  // tenant only receives that tenant's envelopes.
  std::vector<devices::Device*> devices;
  std::vector<RouterPeer> peers;
  // Accepts the peers' connections (owned by the router); null: none.
  std::unique_ptr<net::Listener> listener;
  // This node's identity and the peers' pinned keys (copied).
  net::NodeIdentity identity;
  net::PinnedPeers pinned;
  net::SessionOptions session;
  // Envelopes waiting per peer while its session is down.
  size_t max_queue = 1024;
  // Reconnect backoff: initial, doubled after each failure, up to max.
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{5000};
  // Keep-alive envelope interval on every session; zero: none is sent and
  // silence is not checked (for peers that send none).
  std::chrono::milliseconds keepalive_interval{500};
  // A session with nothing received for this long is closed (peer down).
  // Must be at least twice keepalive_interval when that is not zero.
  std::chrono::milliseconds peer_timeout{1500};
  // Null: DefaultRegistry() and a default logger; when given they must
  // outlive the router.
  Registry* metrics = nullptr;
  const Logger* logger = nullptr;
};

// One peer's session as shown by /v1/status.
struct PeerSessionInfo {
  std::string name;
  std::string transport;
  bool up = false;
  std::string reason;  // why it is down (last error), "" when up
  size_t queued = 0;
};

class Router {
 public:
  // Called once with the reply (or with why no reply will come). Called on a
  // router thread or, for local devices, on the caller's thread; it must not
  // block for long.
  using ReplyCallback = std::function<void(Result<dbe::Message>)>;

  // Starts the accept loop and one dialer per peer that has a dialer.
  static Result<std::unique_ptr<Router>> Start(RouterOptions options);
  ~Router();  // Stop()

  // Routes `msg` to its dst_device. `on_reply` (may be null) receives the
  // reply. InvalidArgument when msg has no TENANT_ID or (with a callback) no
  // REQUEST_ID, or when a request with the same REQUEST_ID is still waiting;
  // NotFound when no node hosts dst_device; ResourceExhausted when the peer's
  // queue is full; Unavailable after Stop. On an error `on_reply` is not
  // called.
  Status Send(const dbe::Message& msg, ReplyCallback on_reply = nullptr);

  // Send and wait up to `timeout` for the reply (DeadlineExceeded then).
  Result<dbe::Message> Call(const dbe::Message& request, std::chrono::milliseconds timeout);

  // Which node hosts `device` ("" when none): this node's name or a peer's.
  std::string HostOf(int device) const;

  std::vector<PeerSessionInfo> Peers() const;

  // Closes the listener and sessions, joins the threads, and answers every
  // queued or waiting request with Unavailable. Idempotent.
  void Stop();

 private:
  struct Impl;
  explicit Router(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The reply a router gives in place of a device's: an ERROR frame for
// `request` made from `status` (reason from the status code, e.g.
// "UNAVAILABLE", "NOT_FOUND", "RESOURCE_EXHAUSTED").
dbe::Message ErrorReplyFor(const dbe::Message& request, const Status& status);

}  // namespace dsmil::node
