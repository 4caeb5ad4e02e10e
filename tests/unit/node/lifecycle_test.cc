// Node lifecycle: a start that fails half-way (a port in use after the devices
// started) stops everything it started; start and stop while requests are in
// flight. Threads are counted in /proc/self/task: nothing may outlive the node.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "net/http_client.h"
#include "node/config.h"
#include "node/node.h"
#include "support/test_pki.h"

namespace dsmil::node {
namespace {

namespace fs = std::filesystem;

size_t Threads() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/task")) ++n;
  return n;
}

// Waits up to 5 s for the thread count to come back to `want`.
size_t SettledThreads(size_t want) {
  size_t n = Threads();
  for (int i = 0; i < 100 && n > want; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    n = Threads();
  }
  return n;
}

class LifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "dsmil-lifecycle-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    auto pki = dsmil::testing::TestPki::Create(dir_);
    ASSERT_TRUE(pki.ok()) << pki.status().ToString();
    auto node = pki->IssueNode("node", "node-a");
    ASSERT_TRUE(node.ok()) << node.status().ToString();
    fs::create_directories(dir_ + "/data");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // A SOC node on the embedded stores: its devices run consumer threads.
  NodeConfig Config() {
    std::string yaml = R"(
node: {name: node-a, role: soc, address: 127.0.0.1}
listen: {http: "127.0.0.1:1", control: "127.0.0.1:2", dbe: "127.0.0.1:3"}
tls: {ca: ca.crt, cert: node.crt, key: node.key}
tenants:
  - {id: ALPHA, roe_level: SOC_ASSIST, compartments: [SOC]}
  - {id: BRAVO, roe_level: ANALYSIS_ONLY, compartments: [SOC]}
stores: {kind: embedded, path: data}
logging: {level: error}
)";
    auto cfg = ParseNodeConfig(yaml, dir_ + "/node.yaml", dir_);
    EXPECT_TRUE(cfg.ok()) << cfg.status().ToString();
    cfg->http.port = 0;
    cfg->control.port = 0;
    cfg->dbe.port = 0;
    return *cfg;
  }

  std::string dir_;
};

TEST_F(LifecycleTest, FailedStartStopsWhatItStarted) {
  // The control port is taken: the node fails after its devices started.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  size_t before = Threads();
  NodeConfig c = Config();
  c.control.port = ntohs(a.sin_port);
  auto n = Node::Start(std::move(c));
  ::close(fd);
  ASSERT_FALSE(n.ok());
  EXPECT_NE(n.status().message().find("listen.control"), std::string::npos) << n.status().ToString();
  EXPECT_EQ(SettledThreads(before), before) << "threads of the half-started node are still running";
}

TEST_F(LifecycleTest, StartStopUnderLoad) {
  size_t before = Threads();
  for (int round = 0; round < 3; ++round) {
    auto n = Node::Start(Config());
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    uint16_t port = (*n)->http_port();
    std::atomic<bool> done{false};
    std::atomic<int> answered{0};
    constexpr int kClients = 4;
    std::vector<std::thread> clients;
    clients.reserve(kClients);
    for (int t = 0; t < kClients; ++t) {
      clients.emplace_back([&] {
        while (!done) {
          net::HttpClientRequest r;
          r.url = "http://127.0.0.1:" + std::to_string(port) + (answered % 2 ? "/healthz" : "/metrics");
          r.timeout = std::chrono::milliseconds(2000);
          if (net::HttpFetch(r).ok()) ++answered;
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    (*n)->Stop();  // while requests are in flight
    done = true;
    for (auto& t : clients) t.join();
    n->reset();
    EXPECT_GT(answered.load(), 0);
  }
  EXPECT_EQ(SettledThreads(before), before);
}

}  // namespace
}  // namespace dsmil::node
