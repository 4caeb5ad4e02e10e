// L7 front benchmark (docs/l7.md). Starts, in this process, an instant
// OpenAI-compatible upstream (Beast, through net::HttpServer) and device 43
// (router + OpenAI front) whose only worker is that upstream, with device 51's
// check routed in-process; then runs wrk (POST /v1/chat/completions, 5 s
// each) at 16 and 64 connections against:
//   upstream  the instant upstream alone (the floor)
//   dsmil     :8001 -> router (key, claim token, policy, injection check) -> upstream
//   haproxy   HAProxy (a generated config, keep-alive to the upstream) -> upstream
//   portkey   @portkey-ai/gateway -> upstream, when DSMIL_PORTKEY_DIR holds it
// and prints req/s, p50/p99 and the latency each adds over the upstream alone,
// with ratios; then the injection detector: prompts/s, p50/p99 latency and
// rates of the rules alone and of the full check (views + roles + model).
//
//   l7_bench [seconds per run, default 5]
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "devices/device.h"
#include "devices/l7/router.h"
#include "devices/l8/injection.h"
#include "devices/l8/injection_check.h"
#include "devices/l8/injection_corpus.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "support/ports.h"
#include "tenant/keys.h"

using namespace dsmil;
using nlohmann::json;

namespace {

constexpr char kKey[] = "sk-alpha-0000b001-benchmarkkeybenchmarkkey01";
const char kBody[] =
    R"({"model":"bench","max_tokens":16,"messages":[{"role":"user","content":"Summarize the current threat landscape in 3 sentences."}]})";

// A port for the router, HAProxy or Portkey, which must be told a number:
// reserved (tests/support/ports.h) until the benchmark exits.
uint16_t ReservedPort() {
  static std::vector<dsmil::testing::PortReservation> reserved;
  auto r = dsmil::testing::ReservePort();
  if (!r.ok()) {
    std::fprintf(stderr, "l7_bench: %s\n", r.status().ToString().c_str());
    std::exit(1);
  }
  reserved.push_back(std::move(*r));
  return reserved.back().port();
}

struct WrkResult {
  bool ok = false;
  double rps = 0, p50_ms = 0, p99_ms = 0;
  long non2xx = 0;
  std::string error;
};

double ToMs(const std::string& v) {
  double x = std::atof(v.c_str());
  if (v.find("us") != std::string::npos) return x / 1000;
  if (v.find("ms") != std::string::npos) return x;
  if (v.find('s') != std::string::npos) return x * 1000;
  return x;
}

WrkResult RunWrk(const std::string& url, int conns, int seconds, const std::string& lua) {
  WrkResult r;
  std::string cmd = "wrk -t2 -c" + std::to_string(conns) + " -d" + std::to_string(seconds) + "s --latency -s " + lua +
                    " " + url + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) {
    r.error = "cannot run wrk";
    return r;
  }
  char line[512];
  std::string all;
  while (std::fgets(line, sizeof(line), p)) {
    std::string s(line);
    all += s;
    char v[64];
    if (std::sscanf(line, " 50%% %63s", v) == 1) r.p50_ms = ToMs(v);
    if (std::sscanf(line, " 99%% %63s", v) == 1) r.p99_ms = ToMs(v);
    if (std::sscanf(line, "Requests/sec: %63s", v) == 1) r.rps = std::atof(v);
    long n = 0;
    if (std::sscanf(line, "  Non-2xx or 3xx responses: %ld", &n) == 1) r.non2xx = n;
  }
  int rc = ::pclose(p);
  r.ok = rc == 0 && r.rps > 0;
  if (!r.ok) r.error = all.substr(0, 300);
  return r;
}

pid_t Spawn(const std::vector<std::string>& argv) {
  pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> a;
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    ::execvp(a[0], a.data());
    ::_exit(127);
  }
  return pid;
}

bool WaitHttp(const std::string& url, const net::HttpHeaders& headers = {}) {
  for (int i = 0; i < 100; ++i) {
    net::HttpClientRequest r;
    r.url = url;
    r.headers = headers;
    r.timeout = std::chrono::milliseconds(500);
    auto resp = net::HttpFetch(r);
    if (resp.ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  int seconds = argc > 1 ? std::atoi(argv[1]) : 5;
  if (seconds < 1) seconds = 5;
  ::signal(SIGPIPE, SIG_IGN);
  char tmpl[] = "/tmp/dsmil-l7-bench-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);

  // The instant upstream.
  const std::string completion =
      R"({"id":"b","object":"chat.completion","created":0,"model":"bench","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":1,"total_tokens":13}})";
  net::HttpServerOptions uo;
  uo.threads = 2;
  uo.handler = [&](const net::HttpRequest& req) {
    net::HttpResponse r;
    r.body = req.path == "/v1/models" ? std::string(R"({"object":"list","data":[]})") : completion;
    return r;
  };
  auto upstream = net::HttpServer::Start(std::move(uo));
  if (!upstream.ok()) {
    std::fprintf(stderr, "upstream: %s\n", upstream.status().ToString().c_str());
    return 1;
  }
  uint16_t up_port = (*upstream)->port();
  std::string up = "http://127.0.0.1:" + std::to_string(up_port);

  // Device 43.
  auto keys = tenant::ApiKeyStore::Open(dir + "/tenant/api_keys");
  if (!keys.ok() || !(*keys)->Import("ALPHA", kKey).ok()) return 1;
  uint16_t port = ReservedPort();
  devices::DeviceContext ctx;
  ctx.id = 43;
  ctx.stores.kind = "embedded";
  ctx.stores.path = dir;
  ctx.tenants = {{"ALPHA", "SOC_ASSIST", {"SOC"}}};
  devices::RegisterBuiltinDevices();
  ctx.config = devices::ConfigSections().Select(devices::DeclaredSections(43));
  if (Status s = ctx.config.PutJson("l7",
                                    json({{"listen", "127.0.0.1:" + std::to_string(port)},
                                          {"threads", 8},
                                          // No per-tenant limits: the benchmark measures the gateway itself.
                                          {"limits", {{"default", json::object()}}},
                                          {"workers", {{{"model", "bench"}, {"upstream", up + "/v1"}}}}})
                                        .dump(),
                                    dir);
      !s.ok()) {
    std::fprintf(stderr, "l7 section: %s\n", s.message().c_str());
    return 1;
  }
  ctx.call = [](const dbe::Message& m, std::chrono::milliseconds) -> Result<dbe::Message> {
    if (m.header().dst_device == 51) return devices::HandlePromptCheck(m);
    return Status::Unavailable("no route");
  };
  auto router = devices::l7::CreateRouterDevice(ctx);
  if (!router.ok() || !(*router)->Start().ok()) {
    std::fprintf(stderr, "router did not start\n");
    return 1;
  }

  // HAProxy.
  uint16_t hp_port = ReservedPort();
  std::string hp_cfg = dir + "/haproxy.cfg";
  {
    std::ofstream f(hp_cfg);
    f << "global\n  maxconn 4096\n  nbthread 2\ndefaults\n  mode http\n  option http-keep-alive\n"
         "  timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n"
         "frontend f\n  bind 127.0.0.1:"
      << hp_port << "\n  default_backend b\nbackend b\n  http-reuse always\n  server u 127.0.0.1:" << up_port << "\n";
  }
  pid_t haproxy = Spawn({"haproxy", "-db", "-f", hp_cfg});
  bool hp_up = WaitHttp("http://127.0.0.1:" + std::to_string(hp_port) + "/v1/models");

  // Portkey, when installed.
  pid_t portkey = -1;
  uint16_t pk_port = 0;
  std::string pk_note;
  const char* pk_dir = std::getenv("DSMIL_PORTKEY_DIR");
  if (pk_dir != nullptr) {
    pk_port = ReservedPort();
    std::string start = std::string(pk_dir) + "/node_modules/@portkey-ai/gateway/build/start-server.js";
    portkey = Spawn({"node", start, "--port=" + std::to_string(pk_port), "--headless"});
    if (!WaitHttp("http://127.0.0.1:" + std::to_string(pk_port) + "/")) pk_note = "did not start";
  } else {
    pk_note = "not run: set DSMIL_PORTKEY_DIR to a folder with `npm install @portkey-ai/gateway`";
  }

  // wrk scripts.
  auto lua = [&](const std::string& name, const std::vector<std::pair<std::string, std::string>>& headers) {
    std::string path = dir + "/" + name + ".lua";
    std::ofstream f(path);
    f << "wrk.method = \"POST\"\nwrk.body = [[" << kBody << "]]\n";
    f << "wrk.headers[\"Content-Type\"] = \"application/json\"\n";
    for (const auto& [k, v] : headers) f << "wrk.headers[\"" << k << "\"] = \"" << v << "\"\n";
    return path;
  };
  std::string plain = lua("plain", {});
  std::string dsmil = lua("dsmil", {{"Authorization", std::string("Bearer ") + kKey}});
  std::string pk = lua(
      "portkey",
      {{"x-portkey-provider", "openai"}, {"x-portkey-custom-host", up + "/v1"}, {"Authorization", "Bearer sk-bench"}});

  struct Target {
    std::string name, url, lua;
    bool up;
  };
  std::vector<Target> targets = {
      {"upstream", up + "/v1/chat/completions", plain, true},
      {"dsmil", "http://127.0.0.1:" + std::to_string(port) + "/v1/chat/completions", dsmil, true},
      {"haproxy", "http://127.0.0.1:" + std::to_string(hp_port) + "/v1/chat/completions", plain, hp_up},
      {"portkey", "http://127.0.0.1:" + std::to_string(pk_port) + "/v1/chat/completions", pk,
       portkey > 0 && pk_note.empty()},
  };
  unsigned cores = std::thread::hardware_concurrency();
  std::printf("L7 front benchmark: wrk %d s per run, POST /v1/chat/completions (%zu-byte body), %u CPU cores\n",
              seconds, sizeof(kBody) - 1, cores);
  std::printf(
      "instant upstream: net::HttpServer (Beast), 2 threads; dsmil router: 8 threads, key + ML-DSA-87 claim "
      "(cached) + policy + device-51 injection check per request\n\n");
  std::printf("%-9s %5s %10s %9s %9s %11s %11s %8s\n", "target", "conns", "req/s", "p50 ms", "p99 ms", "+p50 ms",
              "+p99 ms", "non-2xx");
  for (int conns : {16, 64}) {
    WrkResult base;
    std::vector<std::pair<std::string, WrkResult>> rows;
    for (const Target& t : targets) {
      if (!t.up) {
        std::printf("%-9s %5d   %s\n", t.name.c_str(), conns, t.name == "portkey" ? pk_note.c_str() : "did not start");
        continue;
      }
      WrkResult r = RunWrk(t.url, conns, seconds, t.lua);
      if (!r.ok) {
        std::printf("%-9s %5d   wrk failed: %s\n", t.name.c_str(), conns, r.error.c_str());
        continue;
      }
      if (t.name == "upstream") base = r;
      rows.emplace_back(t.name, r);
      std::printf("%-9s %5d %10.0f %9.3f %9.3f %11.3f %11.3f %8ld\n", t.name.c_str(), conns, r.rps, r.p50_ms, r.p99_ms,
                  t.name == "upstream" ? 0.0 : r.p50_ms - base.p50_ms,
                  t.name == "upstream" ? 0.0 : r.p99_ms - base.p99_ms, r.non2xx);
    }
    double dsmil_rps = 0, hp_rps = 0, pk_rps = 0;
    for (const auto& [n, r] : rows) {
      if (n == "dsmil") dsmil_rps = r.rps;
      if (n == "haproxy") hp_rps = r.rps;
      if (n == "portkey") pk_rps = r.rps;
    }
    if (base.rps > 0 && dsmil_rps > 0) {
      std::printf("  ratios at %d: dsmil/upstream %.2f", conns, dsmil_rps / base.rps);
      if (hp_rps > 0) std::printf(", dsmil/haproxy %.2f, haproxy/upstream %.2f", dsmil_rps / hp_rps, hp_rps / base.rps);
      if (pk_rps > 0) std::printf(", dsmil/portkey %.2f", dsmil_rps / pk_rps);
      std::printf("\n");
    }
  }

  // Injection detector: the phrase rules alone, and the full check device 51
  // runs (decoding views, roles, the learned component), over the old
  // corpus and the dev set, one core.
  std::vector<std::vector<devices::PromptMessage>> prompts;
  std::vector<bool> is_attack;
  for (bool attack : {true, false}) {
    auto old = devices::ReadLegacyInjectionText(
        std::string(DSMIL_SOURCE_DIR) + "/data/injection/" + (attack ? "attacks.txt" : "benign.txt"), attack);
    if (old.ok()) {
      for (const auto& e : *old) prompts.push_back(e.messages), is_attack.push_back(attack);
    }
  }
  size_t old_count = prompts.size();
  if (auto dev = devices::ReadInjectionDir(std::string(DSMIL_SOURCE_DIR) + "/data/injection/dev"); dev.ok()) {
    for (const auto& e : *dev) prompts.push_back(e.messages), is_attack.push_back(e.attack);
  }
  std::printf("\ninjection detector, one core, %zu prompts (old corpus %zu, dev %zu), 5 rounds:\n", prompts.size(),
              old_count, prompts.size() - old_count);
  std::printf("%-28s %12s %10s %10s %12s %12s\n", "detector", "prompts/s", "p50 us", "p99 us", "detection",
              "false pos");
  for (int full = 0; full < 2; ++full) {
    std::vector<double> us;
    size_t tp = 0, fp = 0, attacks = 0, benign = 0;
    const int rounds = 5;
    auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < rounds; ++r) {
      for (size_t i = 0; i < prompts.size(); ++i) {
        auto a = std::chrono::steady_clock::now();
        bool hit = false;
        if (full) {
          hit = devices::CheckPromptMessages(prompts[i]).injection;
        } else {
          std::string text;
          for (const auto& m : prompts[i]) text += (text.empty() ? "" : "\n") + m.content;
          hit = devices::DetectPromptInjection(text).injection;
        }
        us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - a).count());
        if (r == 0) {
          if (is_attack[i]) {
            tp += hit, ++attacks;
          } else {
            fp += hit, ++benign;
          }
        }
      }
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::sort(us.begin(), us.end());
    auto pct = [&](double q) { return us.empty() ? 0.0 : us[std::min(us.size() - 1, size_t(q * double(us.size())))]; };
    std::printf("%-28s %12.0f %10.1f %10.1f %5zu/%-5zu %6zu/%-5zu\n",
                full ? "rules + views + model" : "rules alone (text)", double(us.size()) / secs, pct(0.50), pct(0.99),
                tp, attacks, fp, benign);
  }
  std::printf("(threshold: rules %.2f, full check %.4f chosen on dev)\n", devices::kInjectionThreshold,
              devices::DefaultInjectionThreshold());

  (*router)->Stop();
  (*upstream)->Stop();
  if (haproxy > 0) ::kill(haproxy, SIGTERM), ::waitpid(haproxy, nullptr, 0);
  if (portkey > 0) ::kill(portkey, SIGTERM), ::waitpid(portkey, nullptr, 0);
  std::string rm = "rm -rf " + dir;
  (void)std::system(rm.c_str());
  return 0;
}
