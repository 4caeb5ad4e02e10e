// L9 latencies (docs/l9.md), printed beside their references; asserts nothing.
//
//   device 59  one L9_COA_REQ with a 1,000-event analyst scenario (claim
//              check, ROE check, event validation, COA method, COA file
//              update), wall time, p50/p99 beside the spec §6.1 SLO (3,000 ms);
//   device 61  one accepted L9_NC3_QUERY (ROE token verify, two operator
//              signatures verified, request id recorded, audit row), wall
//              time p50/p99, beside one bare ML-DSA-87 verify of the same run.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/metrics.h"
#include "crypto/keyfile.h"
#include "crypto/mldsa.h"
#include "dbe/message.h"
#include "devices/l9/coa.h"
#include "devices/l9/nc3.h"
#include "devices/l9/nc3_request.h"
#include "store/audit_sink.h"
#include "tenant/claims.h"
#include "tenant/operators.h"
#include "tenant/roe.h"

namespace {

using namespace dsmil;
using namespace dsmil::devices;
using nlohmann::json;
namespace fs = std::filesystem;

std::string CpuModel() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown CPU";
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double Ms(const std::function<void()>& op) {
  auto t0 = std::chrono::steady_clock::now();
  op();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

double Pct(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, size_t(q * double(v.size() - 1) + 0.5));
  return v[i];
}

void Print(const char* what, const std::vector<double>& v) {
  std::printf("  %-44s n=%-4zu p50 %9.3f ms   p99 %9.3f ms\n", what, v.size(), Pct(v, 0.5), Pct(v, 0.99));
}

// A 1,000-event scenario: 40 hosts, every category and severity, L8 flags
// and SOAR proposals on a share of the events.
json Scenario(int64_t now_ms) {
  const char* cats[] = {"NETWORK", "CRYPTO", "SOC", "IDENTITY", "MALWARE", "INSIDER"};
  const char* sevs[] = {"LOW", "MEDIUM", "HIGH", "CRITICAL"};
  json events = json::array();
  for (int i = 0; i < int(l9::kMaxScenarioEvents); ++i) {
    char id[40];
    std::snprintf(id, sizeof(id), "00000000-0000-4000-8000-%012d", i);
    std::string host = "ws-" + std::to_string(i % 40);
    json e = {{"event_id", id},
              {"ts_ms", now_ms - 600000 + i},
              {"source", "edr-01"},
              {"features",
               {{"src_host", host},
                {"dst_domain", "d" + std::to_string(i % 25) + ".example"},
                {"dst_ip", "10.0." + std::to_string(i % 7) + "." + std::to_string(i % 200)},
                {"user", "u" + std::to_string(i % 30)}}},
              {"l4",
               {{"category", cats[i % 6]},
                {"severity", sevs[(i / 6) % 4]},
                {"confidence", 0.8},
                {"device", 25},
                {"ts_ms", now_ms}}}};
    if (i % 3 == 0) {
      e["l8_enrichment"] = {{"analytics_flags", {"CAMPAIGN_SUSPECTED"}},
                            {"threat_intel_flags", i % 9 == 0 ? json({"IOC_MATCH"}) : json::array()},
                            {"netsec_flags", {"SUSPICIOUS_EGRESS"}},
                            {"ts_ms", now_ms}};
      e["soar"] = {{"proposals", {{{"action", "ISOLATE_HOST"}, {"target", host}, {"reason", "CAMPAIGN_SUSPECTED"}}}}};
      e["enriched"] = true;
    }
    events.push_back(e);
  }
  return events;
}

}  // namespace

int main() {
  fs::path dir = fs::temp_directory_path() / ("l9_bench." + std::to_string(::getpid()));
  fs::create_directories(dir / "policies");
  std::ofstream(dir / "policies" / "alpha.yaml")
      << "tenant: ALPHA\nversion: 1\nroe_level: SOC_ASSIST\ncompartments: [SOC]\n"
         "allowed_actions: [ISOLATE_HOST, BLOCK_DOMAIN, BLOCK_IP, DISABLE_ACCOUNT, ALERT_ONLY]\n";
  store::StoresConfig stores;
  stores.path = (dir / "data").string();
  Registry metrics;
  store::AuditSink audit(stores, &metrics);
  tenant::ClaimKeyring keyring((dir / "claims").string());
  tenant::ClaimVerifier verifier([&](const std::string& t) { return keyring.PublicKey(t); });

  std::printf("L9 benchmark on %s\n", CpuModel().c_str());

  // Device 59.
  {
    DeviceContext ctx(l9::kCoaDeviceId, "", "node-a");
    ctx.stores = stores;
    ctx.tenants = {{"ALPHA", "SOC_ASSIST", {"SOC"}}};
    ctx.config.Put("policies", devices::PoliciesConfig{(dir / "policies").string()});
    ctx.metrics = &metrics;
    ctx.audit = &audit;
    ctx.claims = &verifier;
    l9::CoaDevice dev(ctx);
    auto key = keyring.SigningKey("ALPHA");
    int64_t now_s = NowMs() / 1000;
    auto claim =
        tenant::SignClaim({"ALPHA", "operator:bench", now_s, now_s + 3600}, ByteView(key->data(), key->size()));
    dbe::Message req(dbe::MsgType::kL9CoaReq);
    req.header().dst_device = l9::kCoaDeviceId;
    req.SetString(dbe::TlvType::kTenantId, "ALPHA").SetString(dbe::TlvType::kRequestId, "bench-1");
    req.SetString(dbe::TlvType::kRoeLevel, "SOC_ASSIST");
    req.SetString(dbe::TlvType::kPayload, json{{"source", "analyst"}, {"events", Scenario(NowMs())}}.dump());
    req.SetString(dbe::TlvType::kL7ClaimToken,
                  std::string(reinterpret_cast<const char*>(claim->data()), claim->size()));
    std::vector<double> t;
    for (int i = 0; i < 40; ++i) {
      bool ok = false;
      double ms = Ms([&] {
        auto r = dev.Handle(req);
        ok = r.ok() && r->type() == dbe::MsgType::kL9CoaResp;
      });
      if (!ok) {
        std::printf("device 59 refused the scenario\n");
        return 1;
      }
      if (i > 0) t.push_back(ms);  // the first one loads the policy and claim key
    }
    std::printf("device 59 COA engine, 1,000-event analyst scenario -> 3 COAs\n");
    Print("L9_COA_REQ (wall)", t);
    std::printf("  SLO (spec 6.1): p99 < 3000 ms\n");
  }

  // Device 61 and a bare ML-DSA-87 verify.
  {
    const int64_t now_ms = NowMs();
    auto pub = tenant::EnsureRoeKeyPair(tenant::RoeKeyPrefix(stores));
    auto roe_key = crypto::ReadPrivateKey(tenant::RoeKeyPrefix(stores) + ".key", crypto::KeyAlg::kMlDsa87);
    auto roe = tenant::RoeTokenStore::Open(tenant::RoeTokenFile(stores));
    auto ops = tenant::OperatorRegistry::Open(tenant::OperatorFile(stores));
    if (!pub.ok() || !roe_key.ok() || !roe.ok() || !ops.ok()) {
      std::printf("NC3 setup failed\n");
      return 1;
    }
    auto token = (*roe)->Issue("ALPHA", "nc3", 900, "CN=bench", roe_key->key, now_ms / 1000);
    auto alice = crypto::MlDsa87KeyGen();
    auto bob = crypto::MlDsa87KeyGen();
    (void)(*ops)->Register("alice", alice->public_key, now_ms / 1000);
    (void)(*ops)->Register("bob", bob->public_key, now_ms / 1000);
    constexpr int kN = 100;
    std::vector<dbe::Message> reqs;
    for (int i = 0; i < kN; ++i) {
      dbe::Message m = l9::MakeNc3Request("ALPHA", token->id, "bench-" + std::to_string(i), now_ms, "status");
      auto a = l9::SignNc3Request(m, alice->secret_key);
      auto b = l9::SignNc3Request(m, bob->secret_key);
      (void)l9::AttachNc3Signatures(m, {{0, "alice", *a}, {0, "bob", *b}});
      reqs.push_back(std::move(m));
    }
    DeviceContext ctx(l9::kNc3DeviceId, "", "node-a");
    ctx.stores = stores;
    ctx.tenants = {{"ALPHA", "SOC_ASSIST", {"SOC"}}};
    ctx.audit = &audit;
    ctx.metrics = &metrics;
    l9::Nc3Options o;
    o.now_ms = [now_ms] { return now_ms; };
    l9::Nc3Device dev(ctx, o);
    auto signing = l9::Nc3SigningBytes(reqs[0]);
    auto sig = l9::SignNc3Request(reqs[0], alice->secret_key);
    std::vector<double> nc3, verify;
    for (int i = 0; i < kN; ++i) {
      bool ok = false;
      nc3.push_back(Ms([&] {
        auto r = dev.Handle(reqs[size_t(i)]);
        ok = r.ok() && r->type() == dbe::MsgType::kL9Nc3Resp;
      }));
      if (!ok) {
        std::printf("device 61 refused request %d\n", i);
        return 1;
      }
      verify.push_back(Ms(
          [&] { (void)crypto::MlDsa87Verify(alice->public_key, *signing, AsBytes(l9::kNc3SignatureContext), *sig); }));
    }
    std::printf("device 61 NC3 authorization (valid two-person request), interleaved with a bare verify\n");
    Print("L9_NC3_QUERY accepted (wall)", nc3);
    Print("ML-DSA-87 verify, one signature (wall)", verify);
    std::printf("  ratio NC3 p50 / verify p50: %.1f (the query verifies 3 signatures: ROE token + 2 operators)\n",
                Pct(nc3, 0.5) / Pct(verify, 0.5));
  }
  fs::remove_all(dir);
  return 0;
}
