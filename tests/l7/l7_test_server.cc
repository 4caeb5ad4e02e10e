// The L7 plane of a node, in one process, for the openai-client tests: device
// 43 (router + OpenAI front on a reserved loopback port), device 50 (RAG), device
// 51's prompt check, and an OpenAI-compatible upstream worker that echoes the
// last user message and counts what it receives.
//
//   l7_test_server DATA_DIR
// prints one JSON line {"base_url","upstream","alpha_key","bravo_key"} and
// serves until stdin closes. GET <upstream>/stats gives
// {"chats","streams_aborted","streams_finished","prompts":[...]}.
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "devices/device.h"
#include "devices/l7/rag.h"
#include "devices/l7/router.h"
#include "devices/l8/injection_check.h"
#include "net/http_server.h"
#include "support/ports.h"
#include "tenant/claims.h"
#include "tenant/keys.h"

using nlohmann::json;
using namespace dsmil;

namespace {

constexpr char kAlphaKey[] = "sk-alpha-0000000a-openaiclienttestalpha0123";
constexpr char kBravoKey[] = "sk-bravo-0000000b-openaiclienttestbravo0123";

std::mutex mu;
std::vector<std::string> prompts;
std::atomic<int> chats{0}, aborted{0}, finished{0};

net::HttpResponse Upstream(const net::HttpRequest& req) {
  net::HttpResponse r;
  if (req.path == "/v1/models") {
    r.body = R"({"object":"list","data":[]})";
    return r;
  }
  if (req.path == "/stats") {
    std::lock_guard<std::mutex> g(mu);
    r.body = json({{"chats", chats.load()},
                   {"streams_aborted", aborted.load()},
                   {"streams_finished", finished.load()},
                   {"prompts", prompts}})
                 .dump();
    return r;
  }
  json j = json::parse(req.body, nullptr, false);
  if (!j.is_object() || !j.contains("messages")) return net::HttpResponse::JsonError(400, "bad request");
  std::string all, last;
  for (const auto& m : j["messages"]) {
    std::string c = m.value("content", std::string());
    all += c + "\n";
    if (m.value("role", std::string()) == "user") last = c;
  }
  {
    std::lock_guard<std::mutex> g(mu);
    prompts.push_back(all);
  }
  ++chats;
  if (!j.value("stream", false)) {
    r.body = json({{"id", "up"},
                   {"object", "chat.completion"},
                   {"created", 0},
                   {"model", j.value("model", "")},
                   {"choices",
                    {{{"index", 0},
                      {"message", {{"role", "assistant"}, {"content", "echo: " + last}}},
                      {"finish_reason", "stop"}}}},
                   {"usage", {{"prompt_tokens", 5}, {"completion_tokens", 3}, {"total_tokens", 8}}}})
                 .dump();
    return r;
  }
  int n = last.find("slow") != std::string::npos ? 500 : 4;
  r.content_type = "text/event-stream";
  r.stream = [n](net::HttpStreamWriter& out) {
    for (int i = 0; i < n; ++i) {
      json c = {{"object", "chat.completion.chunk"},
                {"choices", {{{"index", 0}, {"delta", {{"content", "tok" + std::to_string(i) + " "}}}}}}};
      if (!out.write("data: " + c.dump() + "\n\n")) {
        ++aborted;
        return;
      }
      if (n > 10) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    out.write("data: [DONE]\n\n");
    ++finished;
  };
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: l7_test_server DATA_DIR\n");
    return 2;
  }
  std::string dir = argv[1];
  net::HttpServerOptions uo;
  uo.threads = 4;
  uo.handler = Upstream;
  auto upstream = net::HttpServer::Start(std::move(uo));
  if (!upstream.ok()) {
    std::fprintf(stderr, "upstream: %s\n", upstream.status().ToString().c_str());
    return 1;
  }
  std::string up = "http://127.0.0.1:" + std::to_string((*upstream)->port());
  auto keys = tenant::ApiKeyStore::Open(dir + "/tenant/api_keys");
  if (!keys.ok() || !(*keys)->Import("ALPHA", kAlphaKey).ok() || !(*keys)->Import("BRAVO", kBravoKey).ok()) {
    std::fprintf(stderr, "cannot provision the test keys under %s\n", dir.c_str());
    return 1;
  }
  // The router binds the address of its l7 section and does not report the
  // port, so the number is reserved here for as long as the process serves.
  auto reserved = testing::ReservePort();
  if (!reserved.ok()) {
    std::fprintf(stderr, "l7 port: %s\n", reserved.status().ToString().c_str());
    return 1;
  }
  const uint16_t port = reserved->port();
  devices::DeviceContext ctx;
  ctx.id = 43;
  ctx.node = "node-b";
  ctx.stores.kind = "embedded";
  ctx.stores.path = dir;
  ctx.tenants = {{"ALPHA", "SOC_ASSIST", {"SOC", "SIGNALS"}}, {"BRAVO", "ANALYSIS_ONLY", {"SOC"}}};
  devices::RegisterBuiltinDevices();
  ctx.config = devices::ConfigSections().Select(devices::DeclaredSections(43));
  if (Status s = ctx.config.PutJson("l7",
                                    json({{"listen", "127.0.0.1:" + std::to_string(port)},
                                          {"threads", 8},
                                          {"workers", {{{"model", "gpt-test"}, {"upstream", up + "/v1"}}}}})
                                        .dump(),
                                    dir);
      !s.ok()) {
    std::fprintf(stderr, "l7 section: %s\n", s.message().c_str());
    return 1;
  }
  // Device 50 verifies the router's claims with the keys the router signs with.
  tenant::ClaimKeyring claim_keys(dir + "/secrets/claims");
  tenant::ClaimVerifier claims([&claim_keys](const std::string& t) { return claim_keys.PublicKey(t); });
  devices::DeviceContext rag_ctx = ctx;
  rag_ctx.id = 50;
  rag_ctx.config = devices::ConfigSections().Select(devices::DeclaredSections(50));
  rag_ctx.claims = &claims;
  auto rag = devices::l7::CreateRagDevice(rag_ctx);
  if (!rag.ok() || !(*rag)->Start().ok()) {
    std::fprintf(stderr, "rag device did not start\n");
    return 1;
  }
  devices::Device* rag_dev = rag->get();
  ctx.call = [rag_dev](const dbe::Message& m, std::chrono::milliseconds) -> Result<dbe::Message> {
    if (m.header().dst_device == 51) return devices::HandlePromptCheck(m);
    if (m.header().dst_device == 50) return rag_dev->Handle(m);
    return Status::Unavailable("no route to device " + std::to_string(m.header().dst_device));
  };
  auto router = devices::l7::CreateRouterDevice(ctx);
  if (!router.ok()) return 1;
  Status s = (*router)->Start();
  if (!s.ok()) {
    std::fprintf(stderr, "router: %s\n", s.ToString().c_str());
    return 1;
  }
  std::cout << json({{"base_url", "http://127.0.0.1:" + std::to_string(port) + "/v1"},
                     {"upstream", up},
                     {"alpha_key", kAlphaKey},
                     {"bravo_key", kBravoKey}})
                   .dump()
            << std::endl;
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  (*router)->Stop();
  (*rag)->Stop();
  (*upstream)->Stop();
  return 0;
}
