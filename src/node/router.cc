#include "node/router.h"

#include <cstdlib>
#include <set>

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <optional>
#include <thread>

#include "core/mutex.h"
#include "dbe/registry.h"

namespace dsmil::node {
namespace {

constexpr auto kPoll = std::chrono::milliseconds(200);
constexpr char kSystemTenant[] = "SYSTEM";     // node-level traffic (docs/dbe.md)
constexpr char kKeepAliveId[] = "keep-alive";  // REQUEST_ID of keep-alive envelopes

int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool IsReply(const dbe::Message& m) {
  if (m.type() == dbe::MsgType::kError) return true;
  const dbe::MsgSpec* spec = dbe::FindMsgSpec(uint8_t(m.type()));
  return spec && spec->kind == dbe::MsgKind::kResponse;
}

bool IsRequest(const dbe::Message& m) {
  const dbe::MsgSpec* spec = dbe::FindMsgSpec(uint8_t(m.type()));
  return spec && spec->kind == dbe::MsgKind::kRequest;
}

std::optional<std::string> RequestId(const dbe::Message& m) {
  auto id = m.Find(uint16_t(dbe::TlvType::kRequestId));
  if (!id) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(id->data()), id->size());
}

}  // namespace

dbe::Message ErrorReplyFor(const dbe::Message& request, const Status& status) {
  return dbe::MakeErrorReply(request, status.code(), StatusCodeName(status.code()), status.message().substr(0, 1024));
}

struct Router::Impl {
  // One secure session and the thread that reads it.
  struct Link {
    std::string peer;  // known after the handshake
    bool outbound = false;
    std::unique_ptr<net::Connection> conn;
    // Destroyed before conn. Set once: before the link is in `links` (dialled)
    // or under Impl::mu (accepted, on the reader thread: Stop reads it).
    std::unique_ptr<net::SecureSession> session;
    std::thread reader;
    std::atomic<bool> finished{false};
    // Steady-clock time of the last record received (or of the handshake).
    std::atomic<int64_t> last_rx_ns{0};
    ~Link() {
      session.reset();
      conn.reset();
    }
  };

  struct Queued {
    dbe::Message msg;
    std::optional<std::string> request_id;  // registered in pending
  };

  // cfg, the gauges and dialer are fixed after Start; the rest is guarded by
  // Impl::mu (which the analysis cannot name from here).
  struct Peer {
    RouterPeer cfg;
    std::deque<Queued> queue;
    std::shared_ptr<Link> out, in;
    std::string reason = "not connected yet";
    // Whether a session is up: what Peers() reports and up_gauge shows, both
    // written by UpdateGauges alone.
    bool up = false;
    Gauge* up_gauge = nullptr;
    Gauge* queued_gauge = nullptr;
    Counter* sent = nullptr;      // dsmil_dbe_messages_total{direction="sent"}
    Counter* received = nullptr;  // dsmil_dbe_messages_total{direction="received"}
    std::thread dialer;
    std::shared_ptr<Link> Active() const { return out ? out : in; }
  };

  struct Pending {
    ReplyCallback callback;
    Link* link = nullptr;  // the session it went out on; null while queued
    // A copy of the request while it is on a session: when that session is
    // lost before the reply, the request goes back to the head of the peer's
    // queue once (docs/dbe-session.md §6b), then it fails.
    std::optional<dbe::Message> in_flight;
    bool resent = false;
  };

  RouterOptions opt;
  Logger default_logger;
  const Logger* log = nullptr;
  Registry* registry = nullptr;

  mutable Mutex mu;
  CondVar cv;
  bool stopping DSMIL_GUARDED_BY(mu) = false;
  std::vector<std::unique_ptr<Peer>> peers;                       // fixed after Start
  std::map<int, Peer*> remote;                                    // device -> peer; fixed after Start
  std::map<std::string, Pending> pending DSMIL_GUARDED_BY(mu);    // REQUEST_ID -> waiting request
  std::vector<std::shared_ptr<Link>> links DSMIL_GUARDED_BY(mu);  // every live or unjoined link
  std::thread acceptor;
  std::thread keeper;  // sends the keep-alives

  Peer* FindPeer(std::string_view name) {
    for (auto& p : peers) {
      if (p->cfg.name == name) return p.get();
    }
    return nullptr;
  }

  devices::Device* FindLocal(const dbe::Message& m) const {
    int dst = m.header().dst_device;
    std::string_view tenant = m.tenant_id();
    devices::Device* any = nullptr;
    for (auto* d : opt.devices) {
      if (d->id() != dst) continue;
      if (d->tenant() == tenant) return d;
      if (d->tenant().empty()) any = d;
    }
    return any;
  }

  bool HostsLocally(int device) const {
    for (auto* d : opt.devices) {
      if (d->id() == device) return true;
    }
    return false;
  }

  // Runs a request on a local device; always yields a reply frame.
  dbe::Message HandleLocal(const dbe::Message& m) {
    devices::Device* d = FindLocal(m);
    if (!d) {
      std::string why = HostsLocally(m.header().dst_device)
                            ? "device " + std::to_string(m.header().dst_device) + " on " + opt.node +
                                  " does not serve tenant " + std::string(m.tenant_id())
                            : "device " + std::to_string(m.header().dst_device) + " is not hosted on " + opt.node;
      return ErrorReplyFor(m, Status::NotFound(why));
    }
    auto r = d->Handle(m);
    if (!r.ok()) return ErrorReplyFor(m, r.status());
    return std::move(*r);
  }

  void UpdateGauges(Peer& p) DSMIL_REQUIRES(mu) {
    p.up = p.Active() != nullptr;
    p.up_gauge->Set(p.up ? 1 : 0);
    p.queued_gauge->Set(double(p.queue.size()));
  }

  // Answers every pending request that went out on `link`; the callbacks are
  // returned to be run without the lock.
  // The requests waiting for a reply on `link`, which was lost: each one sent
  // for the first time goes back to the head of `peer`'s queue (sent again
  // when a session is up: at least once, same REQUEST_ID); the others are
  // returned to be failed.
  std::vector<ReplyCallback> RequeueOrFailPendingOn(Link* link, Peer* peer) DSMIL_REQUIRES(mu) {
    std::vector<ReplyCallback> out;
    for (auto it = pending.begin(); it != pending.end();) {
      Pending& w = it->second;
      if (w.link == link && peer != nullptr && !stopping && !w.resent && w.in_flight) {
        w.link = nullptr;
        w.resent = true;
        peer->queue.push_front(Queued{std::move(*w.in_flight), it->first});
        w.in_flight.reset();
        UpdateGauges(*peer);
        ++it;
      } else if (w.link == link) {
        if (w.callback) out.push_back(std::move(w.callback));
        it = pending.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }

  void Deliver(const dbe::Message& reply, const std::string& from) {
    auto id = RequestId(reply);
    ReplyCallback cb;
    if (id) {
      MutexLock lock(mu);
      auto it = pending.find(*id);
      if (it != pending.end() && it->second.link != nullptr) {
        cb = std::move(it->second.callback);
        pending.erase(it);
      }
    }
    if (cb) {
      cb(reply);
    } else {
      log->Warn("dbe reply matches no waiting request", {{"peer", from}, {"request_id", id.value_or("")}});
    }
  }

  // Device map check: as soon as a session is up, each side announces the
  // devices it hosts (HEALTH_PING, tenant SYSTEM, PAYLOAD "33,34,..."). The
  // receiver refuses the session when the peer does not host a device this
  // node routes to it, so a node with a wrong device map is caught at
  // handshake time instead of failing requests later.
  dbe::Message DeviceAnnouncement() const {
    std::string list;
    for (auto* d : opt.devices) list += (list.empty() ? "" : ",") + std::to_string(d->id());
    dbe::Message m(dbe::MsgType::kHealthPing);
    m.SetString(dbe::TlvType::kTenantId, kSystemTenant);
    m.SetString(dbe::TlvType::kRequestId, "device-announcement");
    m.SetString(dbe::TlvType::kPayload, "devices=" + list);
    return m;
  }

  bool IsDeviceAnnouncement(const dbe::Message& m) const {
    if (m.type() != dbe::MsgType::kHealthPing || m.tenant_id() != kSystemTenant) return false;
    auto payload = m.GetString(dbe::TlvType::kPayload);
    return payload.ok() && payload->rfind("devices=", 0) == 0;
  }

  // Keep-alive (docs/dbe-session.md §6b): HEALTH_PING, tenant SYSTEM,
  // REQUEST_ID "keep-alive", no other TLV; never answered, never counted.
  static dbe::Message KeepAlive() {
    dbe::Message m(dbe::MsgType::kHealthPing);
    m.SetString(dbe::TlvType::kTenantId, kSystemTenant);
    m.SetString(dbe::TlvType::kRequestId, kKeepAliveId);
    return m;
  }

  static bool IsKeepAlive(const dbe::Message& m) {
    if (m.type() != dbe::MsgType::kHealthPing || m.tenant_id() != kSystemTenant) return false;
    auto id = m.GetString(dbe::TlvType::kRequestId);
    return id.ok() && *id == kKeepAliveId;
  }

  // Sends a keep-alive on every established session each keepalive_interval,
  // from its own thread so that a reader busy in a device does not starve it.
  void KeepAliveLoop() {
    mu.Lock();
    while (!stopping) {
      WaitForStop(opt.keepalive_interval);
      if (stopping) break;
      std::vector<std::shared_ptr<Link>> live;
      for (const auto& l : links) {
        if (l->session && !l->finished) live.push_back(l);
      }
      mu.Unlock();
      const dbe::Message ka = KeepAlive();
      for (const auto& l : live) {
        // A failure shows up on the reader's side (closed or silent session).
        (void)l->session->Send(ka);
      }
      live.clear();
      mu.Lock();
    }
    mu.Unlock();
  }

  // OK when the announced devices cover every device routed to `peer`.
  Status CheckDeviceAnnouncement(const std::string& peer, const dbe::Message& m) {
    std::string_view list = *m.GetString(dbe::TlvType::kPayload);
    list.remove_prefix(8);
    std::set<int> hosted;
    while (!list.empty()) {
      size_t comma = list.find(',');
      std::string item(list.substr(0, comma));
      list.remove_prefix(comma == std::string_view::npos ? list.size() : comma + 1);
      char* end = nullptr;
      const int64_t id = std::strtoll(item.c_str(), &end, 10);
      if (item.empty() || *end != '\0' || id < 0 || id > 103) {
        return Status::InvalidArgument("dbe: " + peer + " announced a malformed device list");
      }
      hosted.insert(int(id));
    }
    std::string missing;
    MutexLock lock(mu);
    for (const auto& [device, p] : remote) {
      if (p->cfg.name == peer && !hosted.count(device)) {
        missing += (missing.empty() ? "" : ",") + std::to_string(device);
      }
    }
    if (!missing.empty()) {
      return Status::FailedPrecondition("dbe: device map mismatch: " + peer + " does not host device(s) " + missing +
                                        " that " + opt.node + " routes to it");
    }
    return Status::Ok();
  }

  // The reading side of one session: replies complete waiting requests,
  // requests are handled by local devices and answered on the same session.
  void ReadLoop(const std::shared_ptr<Link>& link) {
    Status why;
    const bool check_silence = opt.keepalive_interval.count() > 0;
    const auto poll = check_silence ? std::min<std::chrono::milliseconds>(kPoll, opt.peer_timeout / 5) : kPoll;
    link->last_rx_ns = SteadyNowNs();
    while (true) {
      {
        MutexLock lock(mu);
        if (stopping) break;
      }
      auto r = link->session->Receive(poll);
      if (r.ok() || r.status().code() != StatusCode::kDeadlineExceeded) link->last_rx_ns = SteadyNowNs();
      if (r.ok()) {
        if (IsKeepAlive(*r)) continue;
        if (IsDeviceAnnouncement(*r)) {
          Status check = CheckDeviceAnnouncement(link->peer, *r);
          if (!check.ok()) {
            log->Error("dbe session refused", {{"peer", link->peer}, {"error", check.ToString()}});
            why = check;
            break;
          }
          continue;
        }
        // Requests and replies are counted; the session's own announcements are not.
        Peer* from = FindPeer(link->peer);  // peers are fixed after Start
        if (from != nullptr) from->received->Inc();
        if (IsReply(*r)) {
          Deliver(*r, link->peer);
        } else {
          dbe::Message reply = HandleLocal(*r);
          if (IsRequest(*r)) {
            Status s = link->session->Send(reply);
            if (!s.ok()) {
              log->Warn("dbe reply not sent", {{"peer", link->peer}, {"error", s.ToString()}});
            } else if (from != nullptr) {
              from->sent->Inc();
            }
          }
        }
        continue;
      }
      if (r.status().code() == StatusCode::kDeadlineExceeded) {
        // Nothing is waiting to be read: the peer has sent nothing since
        // last_rx (a reader busy in a device reads what queued up first).
        const int64_t silent_ms = (SteadyNowNs() - link->last_rx_ns) / 1000000;
        if (check_silence && silent_ms > opt.peer_timeout.count()) {
          why = Status::Unavailable("dbe: nothing received from " + link->peer + " for " + std::to_string(silent_ms) +
                                    " ms (peer_timeout " + std::to_string(opt.peer_timeout.count()) +
                                    " ms): peer stopped or unreachable");
          break;
        }
        continue;
      }
      if (r.status().code() == StatusCode::kUnavailable || r.status().code() == StatusCode::kDataLoss) {
        why = r.status();
        break;
      }
      // A refused record: the session stays usable (counted and logged by the session).
    }
    link->conn->Close();
    std::vector<ReplyCallback> failed;
    bool was_stopping = false;
    {
      MutexLock lock(mu);
      was_stopping = stopping;
      if (Peer* p = FindPeer(link->peer)) {
        if (p->out == link) p->out.reset();
        if (p->in == link) p->in.reset();
        // Another session to the same peer may still be up (both ends dial).
        if (!stopping && !p->Active()) p->reason = "session lost: " + why.ToString();
        UpdateGauges(*p);
      }
      failed = RequeueOrFailPendingOn(link.get(), FindPeer(link->peer));
      link->finished = true;
    }
    cv.NotifyAll();
    if (!was_stopping) log->Warn("dbe session down", {{"peer", link->peer}, {"error", why.ToString()}});
    for (auto& cb : failed) {
      cb(Status::Unavailable("dbe: session to " + link->peer + " was lost before the reply: " + why.ToString()));
    }
  }

  // Joins links whose reader has finished.
  void Reap() DSMIL_EXCLUDES(mu) {
    std::vector<std::shared_ptr<Link>> done;
    {
      MutexLock lock(mu);
      for (auto it = links.begin(); it != links.end();) {
        if ((*it)->finished) {
          done.push_back(*it);
          it = links.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& l : done) {
      if (l->reader.joinable()) l->reader.join();
    }
  }

  void StartReader(const std::shared_ptr<Link>& link) {
    link->reader = std::thread([this, link] { ReadLoop(link); });
  }

  void AcceptLoop() {
    while (true) {
      {
        MutexLock lock(mu);
        if (stopping) return;
      }
      Reap();
      auto c = opt.listener->Accept(kPoll);
      if (!c.ok()) {
        if (c.status().code() == StatusCode::kDeadlineExceeded) continue;
        if (c.status().code() == StatusCode::kUnavailable) return;
        log->Warn("dbe accept failed", {{"error", c.status().ToString()}});
        continue;
      }
      auto link = std::make_shared<Link>();
      link->conn = std::move(*c);
      MutexLock lock(mu);
      if (stopping) return;
      links.push_back(link);
      // The handshake runs on the link's own thread, then its read loop.
      link->reader = std::thread([this, link] {
        auto s = net::SecureSession::Accept(*link->conn, opt.identity, opt.pinned, opt.session);
        if (!s.ok()) {
          link->conn->Close();
          log->Warn("dbe session refused", {{"from", link->conn->Describe()}, {"error", s.status().ToString()}});
          link->finished = true;
          return;
        }
        {
          MutexLock l2(mu);
          link->session = std::move(*s);
          link->peer = link->session->peer();
          if (Peer* p = FindPeer(link->peer)) {
            p->in = link;
            p->reason.clear();
            UpdateGauges(*p);
          }
        }
        cv.NotifyAll();
        if (Status a = link->session->Send(DeviceAnnouncement()); !a.ok()) {
          log->Warn("dbe device announcement not sent", {{"peer", link->peer}, {"error", a.ToString()}});
        }
        log->Info("dbe session accepted", {{"peer", link->peer}});
        ReadLoop(link);
      });
    }
  }

  // Connects to a peer (with backoff), then sends its queue while the
  // session is up.
  void DialLoop(Peer& p) {
    auto backoff = opt.backoff_initial;
    mu.Lock();
    while (!stopping) {
      if (p.cfg.dial && !p.out) {
        mu.Unlock();
        Reap();
        Status failure;
        auto conn = p.cfg.dial();
        if (conn.ok()) {
          auto link = std::make_shared<Link>();
          link->outbound = true;
          link->conn = std::move(*conn);
          auto s = net::SecureSession::Initiate(*link->conn, opt.identity, opt.pinned, opt.session);
          if (s.ok() && (*s)->peer() != p.cfg.name) {
            failure =
                Status::Unauthenticated("dbe: dialled " + p.cfg.name + " but the session is with " + (*s)->peer());
          } else if (s.ok()) {
            link->session = std::move(*s);
            link->peer = p.cfg.name;
            mu.Lock();
            if (stopping) break;
            links.push_back(link);
            p.out = link;
            p.reason.clear();
            UpdateGauges(p);
            StartReader(link);
            if (Status a = link->session->Send(DeviceAnnouncement()); !a.ok()) {
              log->Warn("dbe device announcement not sent", {{"peer", p.cfg.name}, {"error", a.ToString()}});
            }
            log->Info("dbe session up", {{"peer", p.cfg.name}, {"transport", p.cfg.transport}});
            backoff = opt.backoff_initial;
            cv.NotifyAll();
            continue;
          } else {
            failure = s.status();
          }
          link->conn->Close();
        } else {
          failure = conn.status();
        }
        mu.Lock();
        if (p.reason != failure.ToString()) {
          log->Warn("dbe dial failed", {{"peer", p.cfg.name}, {"error", failure.ToString()}});
        }
        p.reason = failure.ToString();
        UpdateGauges(p);
        WaitForStop(backoff);
        backoff = std::min(backoff * 2, opt.backoff_max);
        continue;
      }
      // Drain the queue onto the active session.
      std::shared_ptr<Link> active = p.Active();
      if (active && !p.queue.empty()) {
        Queued q = std::move(p.queue.front());
        p.queue.pop_front();
        if (q.request_id) {
          auto it = pending.find(*q.request_id);
          if (it != pending.end()) {
            it->second.link = active.get();
            it->second.in_flight = q.msg;
          }
        }
        UpdateGauges(p);
        mu.Unlock();
        Status s = active->session->Send(q.msg);
        if (s.ok()) p.sent->Inc();
        mu.Lock();
        if (!s.ok()) {
          // Not sent: back to the head of the queue; the session is closed
          // so that the reader notices and the dialer reconnects.
          if (q.request_id) {
            auto it = pending.find(*q.request_id);
            if (it != pending.end()) it->second.link = nullptr;
          }
          p.queue.push_front(std::move(q));
          UpdateGauges(p);
          active->conn->Close();
          WaitForStop(kPoll);
        }
        continue;
      }
      const auto deadline = std::chrono::steady_clock::now() + kPoll;
      while (!stopping && !(p.cfg.dial && !p.out) && !(p.Active() && !p.queue.empty())) {
        if (!cv.WaitUntil(mu, deadline)) break;
      }
    }
    mu.Unlock();
  }

  // Waits on cv until stopping is set or `timeout` passes.
  template <class Duration>
  void WaitForStop(Duration timeout) DSMIL_REQUIRES(mu) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!stopping) {
      if (!cv.WaitUntil(mu, deadline)) break;
    }
  }

  Status Send(const dbe::Message& msg, ReplyCallback cb) {
    if (msg.tenant_id().empty()) {
      return Status::InvalidArgument("router: envelope " + std::string(dbe::MsgTypeName(msg.type())) +
                                     " has no TENANT_ID (TLV 0x01)");
    }
    auto id = RequestId(msg);
    if (cb && !id) return Status::InvalidArgument("router: a request expecting a reply needs REQUEST_ID (TLV 0x02)");
    int dst = msg.header().dst_device;
    if (HostsLocally(dst)) {
      {
        MutexLock lock(mu);
        if (stopping) return Status::Unavailable("router: " + opt.node + " is stopping");
      }
      dbe::Message reply = HandleLocal(msg);
      if (cb) cb(std::move(reply));
      return Status::Ok();
    }
    {
      MutexLock lock(mu);
      if (stopping) return Status::Unavailable("router: " + opt.node + " is stopping");
      auto it = remote.find(dst);
      if (it == remote.end()) {
        return Status::NotFound("router: no node hosts device " + std::to_string(dst) + " (not on " + opt.node +
                                " nor on any configured peer)");
      }
      Peer& p = *it->second;
      if (p.queue.size() >= opt.max_queue) {
        return Status::ResourceExhausted("router: queue for " + p.cfg.name + " is full (" +
                                         std::to_string(opt.max_queue) + " envelopes; session " +
                                         (p.Active() ? "up" : "down: " + p.reason) + ")");
      }
      std::optional<std::string> registered;
      if (cb) {
        if (pending.count(*id)) {
          return Status::InvalidArgument("router: a request with REQUEST_ID " + *id +
                                         " is still waiting for its reply");
        }
        pending[*id] = Pending{std::move(cb), nullptr, std::nullopt, false};
        registered = id;
      }
      p.queue.push_back(Queued{msg, registered});
      UpdateGauges(p);
    }
    cv.NotifyAll();
    return Status::Ok();
  }

  void Stop() {
    std::vector<std::shared_ptr<Link>> all;
    {
      MutexLock lock(mu);
      if (stopping) return;
      stopping = true;
    }
    cv.NotifyAll();
    if (opt.listener) opt.listener->Close();
    if (acceptor.joinable()) acceptor.join();
    if (keeper.joinable()) keeper.join();
    for (auto& p : peers) {
      if (p->dialer.joinable()) p->dialer.join();
    }
    // An accepted link's reader sets its session under mu (it may still be
    // in the handshake): read them under the lock too. A session, once set,
    // lives as long as its link.
    std::vector<net::SecureSession*> sessions;
    {
      MutexLock lock(mu);
      all = links;
      for (auto& l : all) sessions.push_back(l->session.get());
    }
    for (size_t i = 0; i < all.size(); ++i) {
      if (sessions[i]) sessions[i]->Close();
      all[i]->conn->Close();
    }
    for (auto& l : all) {
      if (l->reader.joinable()) l->reader.join();
    }
    std::vector<ReplyCallback> failed;
    {
      MutexLock lock(mu);
      links.clear();
      for (auto& [id, w] : pending) {
        if (w.callback) failed.push_back(std::move(w.callback));
      }
      pending.clear();
      for (auto& p : peers) {
        p->queue.clear();
        p->out.reset();
        p->in.reset();
        p->reason = "stopped";
        UpdateGauges(*p);
      }
    }
    for (auto& cb : failed) cb(Status::Unavailable("router: " + opt.node + " stopped before the reply"));
  }
};

Router::Router(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Router::~Router() { Stop(); }

Result<std::unique_ptr<Router>> Router::Start(RouterOptions options) {
  auto impl = std::make_unique<Impl>();
  Impl& m = *impl;
  m.opt = std::move(options);
  m.log = m.opt.logger ? m.opt.logger : &m.default_logger;
  m.registry = m.opt.metrics ? m.opt.metrics : &DefaultRegistry();
  if (m.opt.max_queue == 0) return Status::InvalidArgument("router: max_queue must be at least 1");
  if (m.opt.keepalive_interval.count() < 0 ||
      (m.opt.keepalive_interval.count() > 0 && m.opt.peer_timeout < 2 * m.opt.keepalive_interval)) {
    return Status::InvalidArgument("router: peer_timeout must be at least twice keepalive_interval");
  }
  auto& up = m.registry->AddGauge("dsmil_dbe_peer_session_up", "DBE secure session to the peer is up (1) or down (0)",
                                  {"node", "peer"});
  auto& queued = m.registry->AddGauge("dsmil_dbe_peer_queued_envelopes", "DBE envelopes waiting for the peer's session",
                                      {"node", "peer"});
  auto& messages = m.registry->AddCounter("dsmil_dbe_messages_total",
                                          "DBE envelopes exchanged with a peer over its secure session, by direction "
                                          "(sent, received)",
                                          {"node", "peer", "direction"});
  for (auto& pc : m.opt.peers) {
    if (m.FindPeer(pc.name)) return Status::InvalidArgument("router: peer " + pc.name + " given twice");
    auto p = std::make_unique<Impl::Peer>();
    p->cfg = pc;
    p->up_gauge = &up.Labels({m.opt.node, pc.name});
    p->queued_gauge = &queued.Labels({m.opt.node, pc.name});
    p->sent = &messages.Labels({m.opt.node, pc.name, "sent"});
    p->received = &messages.Labels({m.opt.node, pc.name, "received"});
    {
      MutexLock lock(m.mu);  // not shared yet; held all the same
      m.UpdateGauges(*p);
    }
    for (int d : pc.devices) {
      if (m.HostsLocally(d)) {
        return Status::InvalidArgument("router: device " + std::to_string(d) + " is hosted here and on " + pc.name);
      }
      auto [it, fresh] = m.remote.emplace(d, p.get());
      if (!fresh) {
        return Status::InvalidArgument("router: device " + std::to_string(d) + " is claimed by " +
                                       it->second->cfg.name + " and " + pc.name);
      }
    }
    m.peers.push_back(std::move(p));
  }
  if (m.opt.listener) m.acceptor = std::thread([&m] { m.AcceptLoop(); });
  if (m.opt.keepalive_interval.count() > 0) m.keeper = std::thread([&m] { m.KeepAliveLoop(); });
  for (auto& p : m.peers) {
    Impl::Peer* peer = p.get();
    peer->dialer = std::thread([&m, peer] { m.DialLoop(*peer); });
  }
  return std::unique_ptr<Router>(new Router(std::move(impl)));
}

Status Router::Send(const dbe::Message& msg, ReplyCallback on_reply) { return impl_->Send(msg, std::move(on_reply)); }

Result<dbe::Message> Router::Call(const dbe::Message& request, std::chrono::milliseconds timeout) {
  struct Waiter {
    Mutex mu;
    CondVar cv;
    std::optional<Result<dbe::Message>> result DSMIL_GUARDED_BY(mu);
  };
  auto w = std::make_shared<Waiter>();
  DSMIL_RETURN_IF_ERROR(Send(request, [w](Result<dbe::Message> r) {
    MutexLock lock(w->mu);
    w->result = std::move(r);
    w->cv.NotifyAll();
  }));
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  {
    MutexLock lock(w->mu);
    while (!w->result.has_value()) {
      if (!w->cv.WaitUntil(w->mu, deadline)) break;
    }
    if (w->result.has_value()) return std::move(*w->result);
  }
  if (auto id = RequestId(request)) {
    MutexLock l2(impl_->mu);
    impl_->pending.erase(*id);
  }
  return Status::DeadlineExceeded("router: no reply from device " + std::to_string(request.header().dst_device) +
                                  " on " + HostOf(request.header().dst_device) + " within " +
                                  std::to_string(timeout.count()) + " ms");
}

std::string Router::HostOf(int device) const {
  if (impl_->HostsLocally(device)) return impl_->opt.node;
  MutexLock lock(impl_->mu);
  auto it = impl_->remote.find(device);
  return it == impl_->remote.end() ? "" : it->second->cfg.name;
}

std::vector<PeerSessionInfo> Router::Peers() const {
  MutexLock lock(impl_->mu);
  std::vector<PeerSessionInfo> out;
  for (const auto& p : impl_->peers) {
    PeerSessionInfo i;
    i.name = p->cfg.name;
    i.transport = p->cfg.transport;
    i.up = p->up;
    i.reason = i.up ? "" : p->reason;
    i.queued = p->queue.size();
    out.push_back(std::move(i));
  }
  return out;
}

void Router::Stop() {
  if (impl_) impl_->Stop();
}

}  // namespace dsmil::node
