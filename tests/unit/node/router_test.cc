#include "node/router.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>

#include "node/config.h"

namespace dsmil::node {
namespace {

using namespace std::chrono_literals;

// Answers HEALTH_PING with HEALTH_PONG naming the device and node.
class PongDevice final : public devices::Device {
 public:
  explicit PongDevice(int id, std::string tenant = "") : id_(id), tenant_(std::move(tenant)) {}
  int id() const override { return id_; }
  const std::string& tenant() const override { return tenant_; }
  Status Start() override { return Status::Ok(); }
  void Stop() override {}
  devices::DeviceHealth Health() const override { return {devices::DeviceState::kHealthy, ""}; }
  Result<dbe::Message> Handle(const dbe::Message& request) override {
    if (int ms = delay_ms.load(); ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    handled++;
    dbe::Message reply(dbe::MsgType::kHealthPong);
    reply.header().src_device = uint16_t(id_);
    reply.header().dst_device = request.header().src_device;
    reply.SetString(dbe::TlvType::kTenantId, request.tenant_id());
    if (auto id = request.Find(uint16_t(dbe::TlvType::kRequestId))) reply.SetBytes(dbe::TlvType::kRequestId, *id);
    return reply;
  }
  std::atomic<int> handled{0};
  std::atomic<int> delay_ms{0};  // how long Handle takes

 private:
  int id_;
  std::string tenant_;
};

// A listener fed by the test's dialers.
class PipeListener final : public net::Listener {
 public:
  Result<std::unique_ptr<net::Connection>> Accept(std::chrono::milliseconds timeout) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return closed_ || !q_.empty(); })) {
      return Status::DeadlineExceeded("no connection");
    }
    if (closed_) return Status::Unavailable("closed");
    auto c = std::move(q_.front());
    q_.pop_front();
    return c;
  }
  uint16_t port() const override { return 0; }
  void Close() override {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  Status Push(std::unique_ptr<net::Connection> c) {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return Status::Unavailable("listener closed");
    q_.push_back(std::move(c));
    cv_.notify_all();
    return Status::Ok();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<net::Connection>> q_;
  bool closed_ = false;
};

// A client end that the test can still close after the router dropped it.
class SharedConnection final : public net::Connection {
 public:
  explicit SharedConnection(std::shared_ptr<net::Connection> c) : c_(std::move(c)) {}
  Status Send(ByteView frame) override { return c_->Send(frame); }
  Result<Bytes> Receive(std::chrono::milliseconds timeout) override { return c_->Receive(timeout); }
  void Close() override { c_->Close(); }
  std::string PeerName() const override { return c_->PeerName(); }
  std::string Describe() const override { return c_->Describe(); }

 private:
  std::shared_ptr<net::Connection> c_;
};

// Stands in for a stopped process (SIGSTOP): while frozen, every call on a
// connection end it guards waits until it is thawed, so the node neither reads
// nor writes, and its peers' frames wait in the pipe, as in a socket buffer.
class Freezer {
 public:
  void Freeze() {
    std::lock_guard<std::mutex> lock(mu_);
    frozen_ = true;
  }
  void Thaw() {
    std::lock_guard<std::mutex> lock(mu_);
    frozen_ = false;
    cv_.notify_all();
  }
  void WaitWhileFrozen() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !frozen_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool frozen_ = false;
};

class FreezableConnection final : public net::Connection {
 public:
  FreezableConnection(std::unique_ptr<net::Connection> c, Freezer* f) : c_(std::move(c)), f_(f) {}
  Status Send(ByteView frame) override {
    f_->WaitWhileFrozen();
    return c_->Send(frame);
  }
  Result<Bytes> Receive(std::chrono::milliseconds timeout) override {
    f_->WaitWhileFrozen();
    return c_->Receive(timeout);
  }
  void Close() override { c_->Close(); }
  std::string PeerName() const override { return c_->PeerName(); }
  std::string Describe() const override { return c_->Describe(); }

 private:
  std::unique_ptr<net::Connection> c_;
  Freezer* f_;
};

// The reachability of one node's listener, shared by the dialers of others.
struct Endpoint {
  std::mutex mu;
  PipeListener* listener = nullptr;  // null: the node is away
  Freezer* freezer = nullptr;        // set: the listener's ends can be frozen
  // Client ends handed out, so that the test can cut them.
  std::vector<std::shared_ptr<net::Connection>> clients;

  Result<std::unique_ptr<net::Connection>> Dial() {
    std::lock_guard<std::mutex> lock(mu);
    if (!listener) return Status::Unavailable("connection refused");
    auto [a, b] = net::MakeConnectionPair();
    if (freezer) b = std::make_unique<FreezableConnection>(std::move(b), freezer);
    DSMIL_RETURN_IF_ERROR(listener->Push(std::move(b)));
    std::shared_ptr<net::Connection> shared(std::move(a));
    clients.push_back(shared);
    return std::unique_ptr<net::Connection>(new SharedConnection(shared));
  }
};

struct Identities {
  net::NodeIdentity a, b;
  net::PinnedPeers pins;
};

const Identities& Ids() {
  static const Identities* ids = [] {
    auto* i = new Identities;
    i->a = *net::GenerateNodeIdentity("node-a");
    i->b = *net::GenerateNodeIdentity("node-b");
    EXPECT_TRUE(i->pins.Pin("node-a", i->a.public_key).ok());
    EXPECT_TRUE(i->pins.Pin("node-b", i->b.public_key).ok());
    return i;
  }();
  return *ids;
}

dbe::Message Ping(int dst, std::string id, std::string tenant = "ALPHA") {
  dbe::Message m(dbe::MsgType::kHealthPing);
  m.header().src_device = 43;
  m.header().dst_device = uint16_t(dst);
  m.SetString(dbe::TlvType::kTenantId, tenant);
  m.SetString(dbe::TlvType::kRequestId, id);
  return m;
}

double GaugeValue(const Registry& r, const std::string& line_prefix) {
  std::string text = r.Expose();
  auto pos = text.find(line_prefix);
  if (pos == std::string::npos) return -1;
  return std::stod(text.substr(pos + line_prefix.size()));
}

bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds limit = 10s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

// Two routers: node-a hosts devices 61 (unimplemented) and 62 (pong);
// node-b hosts 43 (pong) and dials node-a.
class RouterPair : public ::testing::Test {
 protected:
  void SetUp() override { (void)Ids(); }
  void TearDown() override {
    freezer_.Thaw();
    if (b_) b_->Stop();
    if (a_) a_->Stop();
  }

  void StartA() {
    auto listener = std::make_unique<PipeListener>();
    {
      std::lock_guard<std::mutex> lock(ep_a_.mu);
      ep_a_.listener = listener.get();
      ep_a_.clients.clear();
    }
    RouterOptions o;
    o.node = "node-a";
    o.devices = {&nc3_, &pong_a_};
    o.peers = {RouterPeer{"node-b", "pipe", {43}, nullptr}};
    o.listener = std::move(listener);
    o.identity = Ids().a;
    o.pinned = Ids().pins;
    o.metrics = &reg_a_;
    auto r = Router::Start(std::move(o));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    a_ = std::move(*r);
  }

  void StopA() {
    {
      std::lock_guard<std::mutex> lock(ep_a_.mu);
      ep_a_.listener = nullptr;
    }
    a_->Stop();
    a_.reset();
  }

  void StartB(size_t max_queue = 1024) {
    RouterOptions o;
    o.node = "node-b";
    o.devices = {&pong_b_};
    o.peers = {RouterPeer{"node-a", "pipe", {61, 62}, [this] { return ep_a_.Dial(); }}};
    o.identity = Ids().b;
    o.pinned = Ids().pins;
    o.metrics = &reg_b_;
    o.max_queue = max_queue;
    o.backoff_initial = 10ms;
    o.backoff_max = 50ms;
    auto r = Router::Start(std::move(o));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    b_ = std::move(*r);
  }

  bool BUp() {
    auto p = b_->Peers();
    return p.size() == 1 && p[0].up;
  }

  devices::UnimplementedDevice nc3_{devices::DeviceContext{61, "", "node-a"}};
  PongDevice pong_a_{62};
  PongDevice pong_b_{43};
  Endpoint ep_a_;
  Freezer freezer_;
  Registry reg_a_, reg_b_;
  std::unique_ptr<Router> a_, b_;
};

TEST_F(RouterPair, LocalDeliveryCallsTheDevice) {
  StartA();
  auto r = a_->Call(Ping(62, "r1"), 2s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->type(), dbe::MsgType::kHealthPong);
  EXPECT_EQ(*r->GetString(dbe::TlvType::kRequestId), "r1");
  EXPECT_EQ(pong_a_.handled.load(), 1);
  EXPECT_EQ(a_->HostOf(62), "node-a");
  EXPECT_EQ(a_->HostOf(43), "node-b");
  EXPECT_EQ(a_->HostOf(99), "");
}

TEST_F(RouterPair, RefusesWhatCannotBeRouted) {
  StartA();
  dbe::Message no_tenant = Ping(62, "r1");
  no_tenant.Remove(dbe::TlvType::kTenantId);
  Status s = a_->Send(no_tenant);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("TENANT_ID"), std::string::npos) << s.ToString();
  dbe::Message no_id = Ping(62, "r1");
  no_id.Remove(dbe::TlvType::kRequestId);
  EXPECT_EQ(a_->Send(no_id, [](Result<dbe::Message>) {}).code(), StatusCode::kInvalidArgument);
  s = a_->Send(Ping(99, "r2"));
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("device 99"), std::string::npos) << s.ToString();
}

TEST_F(RouterPair, RemoteDeliveryAndBack) {
  StartA();
  StartB();
  ASSERT_TRUE(WaitFor([&] { return BUp(); }));
  auto r = b_->Call(Ping(62, "remote-1"), 5s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->type(), dbe::MsgType::kHealthPong);
  EXPECT_EQ(r->header().src_device, 62);
  EXPECT_EQ(*r->GetString(dbe::TlvType::kRequestId), "remote-1");
  // Device 61 is not implemented: its ERROR is the honest answer.
  dbe::Message q(dbe::MsgType::kL9Nc3Query);
  q.header().src_device = 43;
  q.header().dst_device = 61;
  q.SetString(dbe::TlvType::kTenantId, "ALPHA");
  q.SetString(dbe::TlvType::kRequestId, "nc3-1");
  r = b_->Call(q, 5s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->type(), dbe::MsgType::kError);
  EXPECT_EQ(*r->GetString(dbe::TlvType::kErrorReason), "DEVICE_NOT_IMPLEMENTED");
  EXPECT_EQ(*r->GetString(dbe::TlvType::kRequestId), "nc3-1");
  // node-a reaches node-b's device over the session node-b opened.
  ASSERT_TRUE(WaitFor([&] { return a_->Peers()[0].up; }));
  r = a_->Call(Ping(43, "back-1"), 5s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->header().src_device, 43);
  EXPECT_EQ(pong_b_.handled.load(), 1);
  EXPECT_EQ(GaugeValue(reg_b_, "dsmil_dbe_peer_session_up{node=\"node-b\",peer=\"node-a\"} "), 1);
  // Envelopes each way, announcements aside: node-b sent two requests and one
  // reply and received two replies and one request; node-a the mirror.
  auto messages = [](const Registry& r, const std::string& node, const std::string& peer, const std::string& dir) {
    return GaugeValue(
        r, "dsmil_dbe_messages_total{node=\"" + node + "\",peer=\"" + peer + "\",direction=\"" + dir + "\"} ");
  };
  EXPECT_TRUE(WaitFor([&] { return messages(reg_a_, "node-a", "node-b", "sent") == 3; }));
  // node-b counts its reply once Send returns, which may be after node-a has it.
  EXPECT_TRUE(WaitFor([&] { return messages(reg_b_, "node-b", "node-a", "sent") == 3; }));
  EXPECT_EQ(messages(reg_b_, "node-b", "node-a", "received"), 3);
  EXPECT_EQ(messages(reg_a_, "node-a", "node-b", "received"), 3);
}

TEST_F(RouterPair, RepliesMatchTheirRequests) {
  StartA();
  StartB();
  ASSERT_TRUE(WaitFor([&] { return BUp(); }));
  constexpr int kN = 200;
  std::mutex mu;
  std::map<std::string, std::string> got;  // request id -> reply's request id
  for (int i = 0; i < kN; ++i) {
    std::string id = "m" + std::to_string(i);
    ASSERT_TRUE(b_->Send(Ping(i % 2 ? 62 : 61, id), [&, id](Result<dbe::Message> r) {
                    std::lock_guard<std::mutex> lock(mu);
                    got[id] = r.ok() ? std::string(*r->GetString(dbe::TlvType::kRequestId)) : r.status().ToString();
                  }).ok());
  }
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> lock(mu);
    return got.size() == kN;
  }));
  for (auto& [id, reply_id] : got) EXPECT_EQ(id, reply_id);
  // A second request with a REQUEST_ID still waiting is refused.
  StopA();
  ASSERT_TRUE(b_->Send(Ping(62, "dup"), [](Result<dbe::Message>) {}).ok());
  EXPECT_EQ(b_->Send(Ping(62, "dup"), [](Result<dbe::Message>) {}).code(), StatusCode::kInvalidArgument);
}

TEST_F(RouterPair, QueuedWhilePeerAwayThenDelivered) {
  StartB();  // node-a is not there yet
  ASSERT_TRUE(WaitFor([&] { return !b_->Peers()[0].reason.empty() && b_->Peers()[0].reason != "not connected yet"; }));
  EXPECT_FALSE(BUp());
  std::atomic<int> replies{0};
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(b_->Send(Ping(62, "q" + std::to_string(i)), [&](Result<dbe::Message> r) {
                    EXPECT_TRUE(r.ok()) << r.status().ToString();
                    replies++;
                  }).ok());
  }
  EXPECT_EQ(b_->Peers()[0].queued, 10u);
  EXPECT_EQ(GaugeValue(reg_b_, "dsmil_dbe_peer_queued_envelopes{node=\"node-b\",peer=\"node-a\"} "), 10);
  EXPECT_EQ(GaugeValue(reg_b_, "dsmil_dbe_peer_session_up{node=\"node-b\",peer=\"node-a\"} "), 0);
  StartA();
  ASSERT_TRUE(WaitFor([&] { return replies.load() == 10; }));
  EXPECT_EQ(pong_a_.handled.load(), 10);
  EXPECT_EQ(b_->Peers()[0].queued, 0u);

  // node-a restarts: node-b reconnects and delivers what waited meanwhile.
  StopA();
  ASSERT_TRUE(WaitFor([&] { return !BUp(); }));
  ASSERT_TRUE(b_->Send(Ping(62, "after"), [&](Result<dbe::Message> r) {
                  EXPECT_TRUE(r.ok()) << r.status().ToString();
                  replies++;
                }).ok());
  StartA();
  ASSERT_TRUE(WaitFor([&] { return replies.load() == 11; }));
}

TEST_F(RouterPair, CutLinkReconnects) {
  StartA();
  StartB();
  ASSERT_TRUE(WaitFor([&] { return BUp(); }));
  {
    std::lock_guard<std::mutex> lock(ep_a_.mu);
    for (auto& c : ep_a_.clients) c->Close();
  }
  // node-b notices, dials again and is back up.
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> lock(ep_a_.mu);
    return ep_a_.clients.size() >= 2 && BUp();
  }));
  auto r = b_->Call(Ping(62, "x"), 5s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
}

TEST_F(RouterPair, FullQueueIsRefused) {
  StartB(/*max_queue=*/3);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(b_->Send(Ping(62, "f" + std::to_string(i))).ok());
  Status s = b_->Send(Ping(62, "f3"));
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("queue for node-a is full"), std::string::npos) << s.ToString();
  // Stop answers what waited.
  std::atomic<int> failed{0};
  b_->Stop();
  EXPECT_EQ(b_->Send(Ping(62, "late")).code(), StatusCode::kUnavailable);
  (void)failed;
}

TEST_F(RouterPair, UnpinnedNodeIsRefused) {
  StartA();
  auto stranger = net::GenerateNodeIdentity("node-x");
  ASSERT_TRUE(stranger.ok());
  net::PinnedPeers pins = Ids().pins;
  RouterOptions o;
  o.node = "node-x";
  o.peers = {RouterPeer{"node-a", "pipe", {62}, [this] { return ep_a_.Dial(); }}};
  o.identity = *stranger;
  o.pinned = pins;
  Registry reg;
  o.metrics = &reg;
  o.backoff_initial = 10ms;
  auto x = Router::Start(std::move(o));
  ASSERT_TRUE(x.ok());
  ASSERT_TRUE(WaitFor([&] { return (*x)->Peers()[0].reason.find("dbe-session") != std::string::npos; }))
      << (*x)->Peers()[0].reason;
  EXPECT_FALSE((*x)->Peers()[0].up);
  (*x)->Stop();
}

TEST(RouterConfig, DbeSectionAndPeerDevices) {
  constexpr char kYaml[] = R"(
node: {name: node-b, role: ai}
tls: {ca: ca.crt, cert: b.crt, key: b.key}
peers:
  - {name: node-a, role: soc}
  - {name: node-c, role: data, devices: [9, "63-65"]}
dbe: {transport: quic, keys_dir: keys, passphrase_env: DSMIL_KEY_PASS}
)";
  auto c = ParseNodeConfig(kYaml, "b.yaml", "/srv");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->dbe_session.transport, "quic");
  EXPECT_EQ(c->dbe_session.keys_dir, "/srv/keys");
  EXPECT_EQ(c->dbe_session.passphrase_env, "DSMIL_KEY_PASS");
  EXPECT_EQ(c->peers[0].devices.size(), 31u);  // 14-32, 51-62
  EXPECT_EQ(c->peers[1].devices, (std::vector<int>{9, 63, 64, 65}));

  auto plain = ParseNodeConfig("node: {name: a, role: soc}\ntls: {ca: c, cert: c, key: k}\n", "a.yaml", "");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->dbe_session.transport, "tcp");
  EXPECT_EQ(plain->dbe_session.keys_dir, "");

  struct Bad {
    const char* yaml;
    const char* expect;
  } cases[] = {
      {"dbe: {transport: udp, keys_dir: k}\n", "dbe.transport: unknown transport 'udp' (tcp or quic)"},
      {"dbe: {transport: tcp}\n", "dbe.keys_dir: missing"},
      {"dbe: {keys_dir: k, colour: red}\n", "dbe.colour: unknown key"},
      {"peers: [{name: b, role: ai, devices: [20]}]\n", "peers[0].devices: device 20 is already hosted by a"},
      {"peers: [{name: b, role: ai, devices: ['40-30']}]\n", "peers[0].devices[0]: '40-30' is empty"},
      {"peers: [{name: b, role: ai, devices: [200]}]\n", "peers[0].devices[0]: 200 out of range 0..103"},
      {"peers: [{name: b, role: ai, devices: 5}]\n", "peers[0].devices: must be a list"},
  };
  for (const auto& bc : cases) {
    std::string text = std::string("node: {name: a, role: soc}\ntls: {ca: c, cert: c, key: k}\n") + bc.yaml;
    auto r = ParseNodeConfig(text, "t.yaml", "");
    ASSERT_FALSE(r.ok()) << bc.yaml;
    EXPECT_NE(r.status().message().find(bc.expect), std::string::npos)
        << "yaml: " << bc.yaml << "\nerror: " << r.status().message();
  }
}

}  // namespace
}  // namespace dsmil::node

namespace dsmil::node {
namespace {

TEST_F(RouterPair, DeviceMapIsCheckedWhenTheSessionComesUp) {
  StartA();
  // node-b's config claims node-a hosts device 63 too; node-a announces 61 and 62 only.
  RouterOptions o;
  o.node = "node-b";
  o.devices = {&pong_b_};
  o.peers = {RouterPeer{"node-a", "pipe", {61, 62, 63}, [this] { return ep_a_.Dial(); }}};
  o.identity = Ids().b;
  o.pinned = Ids().pins;
  o.metrics = &reg_b_;
  o.backoff_initial = 10ms;
  o.backoff_max = 50ms;
  auto r = Router::Start(std::move(o));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  b_ = std::move(*r);
  ASSERT_TRUE(WaitFor([&] { return b_->Peers()[0].reason.find("device map mismatch") != std::string::npos; }))
      << b_->Peers()[0].reason;
  EXPECT_NE(b_->Peers()[0].reason.find("node-a does not host device(s) 63"), std::string::npos)
      << b_->Peers()[0].reason;
}

}  // namespace
}  // namespace dsmil::node

namespace dsmil::node {
namespace {

double SessionUpGauge(const Registry& r, const std::string& node, const std::string& peer) {
  return GaugeValue(r, "dsmil_dbe_peer_session_up{node=\"" + node + "\",peer=\"" + peer + "\"} ");
}

// node-a stops answering (as under SIGSTOP: its sessions stay open, nothing
// comes out of them): node-b's keep-alive check marks it down within
// peer_timeout (1.5 s by default), status and gauge agree, and the session
// comes back by itself once node-a runs again.
TEST_F(RouterPair, StoppedPeerIsMarkedDownAndComesBack) {
  ep_a_.freezer = &freezer_;
  StartA();
  StartB();
  ASSERT_TRUE(WaitFor([&] { return BUp() && a_->Peers()[0].up; }));
  // Several keep-alive periods with both sides idle: nobody is marked down.
  std::this_thread::sleep_for(2500ms);
  ASSERT_TRUE(BUp()) << b_->Peers()[0].reason;
  ASSERT_TRUE(a_->Peers()[0].up) << a_->Peers()[0].reason;

  const auto frozen_at = std::chrono::steady_clock::now();
  freezer_.Freeze();
  ASSERT_TRUE(WaitFor([&] { return !BUp(); }, 10s));
  const auto detect_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - frozen_at).count();
  std::printf("[ measured ] stopped peer marked down after %lld ms (peer_timeout 1500 ms)\n", (long long)detect_ms);
  EXPECT_LT(detect_ms, 3000) << "a loaded machine may be slower, but not by this much";
  // The silence is counted from the last frame received, which may come up
  // to one keep-alive period (500 ms) before the freeze: never earlier than
  // peer_timeout - keepalive after it.
  EXPECT_GE(detect_ms, 1500 - 500 - 100);
  auto p = b_->Peers()[0];
  EXPECT_NE(p.reason.find("nothing received from node-a"), std::string::npos) << p.reason;
  // Status and gauge come from the same state.
  EXPECT_EQ(SessionUpGauge(reg_b_, "node-b", "node-a"), 0);

  // A request meanwhile waits in the queue and is delivered after the thaw.
  std::atomic<int> replies{0};
  ASSERT_TRUE(b_->Send(Ping(62, "while-stopped"), [&](const Result<dbe::Message>& r) {
                  EXPECT_TRUE(r.ok()) << r.status().ToString();
                  replies++;
                }).ok());
  std::this_thread::sleep_for(500ms);
  EXPECT_FALSE(BUp());

  const auto thawed_at = std::chrono::steady_clock::now();
  freezer_.Thaw();
  ASSERT_TRUE(WaitFor([&] { return BUp(); }, 20s)) << b_->Peers()[0].reason;
  const auto back_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - thawed_at).count();
  std::printf("[ measured ] session back up %lld ms after the peer resumed\n", (long long)back_ms);
  EXPECT_EQ(SessionUpGauge(reg_b_, "node-b", "node-a"), 1);
  ASSERT_TRUE(WaitFor([&] { return replies.load() == 1; }));
  auto r = b_->Call(Ping(62, "after-resume"), 5s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
}

// A reader busy in a slow device for longer than peer_timeout reads the
// keep-alives that queued up meanwhile: nobody is marked down.
TEST_F(RouterPair, SlowDeviceDoesNotLookLikeADeadPeer) {
  StartA();
  StartB();
  ASSERT_TRUE(WaitFor([&] { return BUp() && a_->Peers()[0].up; }));
  pong_a_.delay_ms = 2500;
  std::atomic<bool> down_seen{false};
  std::atomic<bool> done{false};
  std::thread watch([&] {
    while (!done) {
      if (!BUp() || !a_->Peers()[0].up) down_seen = true;
      std::this_thread::sleep_for(20ms);
    }
  });
  auto r = b_->Call(Ping(62, "slow"), 10s);
  done = true;
  watch.join();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(down_seen.load());
}

TEST(RouterConfig, KeepAliveSettings) {
  const std::string head = "node: {name: a, role: soc}\ntls: {ca: c, cert: c, key: k}\n";
  auto c = ParseNodeConfig(head + "dbe: {keys_dir: k}\n", "a.yaml", "");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->dbe_session.keepalive_ms, 500);
  EXPECT_EQ(c->dbe_session.peer_timeout_ms, 1500);
  c = ParseNodeConfig(head + "dbe: {keys_dir: k, keepalive_ms: 250, peer_timeout_ms: 1000}\n", "a.yaml", "");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->dbe_session.keepalive_ms, 250);
  EXPECT_EQ(c->dbe_session.peer_timeout_ms, 1000);
  c = ParseNodeConfig(head + "dbe: {keys_dir: k, keepalive_ms: 0}\n", "a.yaml", "");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->dbe_session.keepalive_ms, 0);
  struct Bad {
    const char* yaml;
    const char* expect;
  } cases[] = {
      {"dbe: {keys_dir: k, keepalive_ms: 10}\n", "dbe.keepalive_ms: must be 0 (off) or 50..60000"},
      {"dbe: {keys_dir: k, keepalive_ms: 1000}\n", "dbe.peer_timeout_ms: must be at least twice dbe.keepalive_ms"},
      {"dbe: {keys_dir: k, peer_timeout_ms: 50}\n", "dbe.peer_timeout_ms"},
  };
  for (const auto& bc : cases) {
    auto r = ParseNodeConfig(head + bc.yaml, "t.yaml", "");
    ASSERT_FALSE(r.ok()) << bc.yaml;
    EXPECT_NE(r.status().message().find(bc.expect), std::string::npos)
        << "yaml: " << bc.yaml << "\nerror: " << r.status().message();
  }
  RouterOptions o;
  o.node = "node-a";
  o.keepalive_interval = 1000ms;
  o.peer_timeout = 1500ms;
  Registry reg;
  o.metrics = &reg;
  auto r = Router::Start(std::move(o));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace dsmil::node
