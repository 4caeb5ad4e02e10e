// L5 and L6 latencies (docs/l5-l6.md §6), printed beside their SLOs (spec
// §6.1: L5 < 200 ms, L6 < 300 ms p99); asserts nothing.
//
//   devices 33, 34, 35  one L5_FORECAST_REQ each (claim check, archive read of
//              14 days, hourly buckets, fits, forecast or detection), on an
//              embedded archive of 14 days at 100 and at 1,000 events an hour:
//              the first request of a device (every hour counted, the
//              reference) and later ones with events arriving between them
//              (counted hours reused, devices/l5/hourly_cache.h), with the
//              ratio of their medians;
//   device 37  one L6_RISK_REQ (claim check, archive read and parse of the
//              last 168 h, likelihood model, 20,000 Monte Carlo samples) over
//              a scenario of 200 hosts and 600 edges plus the archive's hosts.
//
//   l5l6_bench [runs]   (default 30 per figure)
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/metrics.h"
#include "dbe/message.h"
#include "devices/l5/forecast_device.h"
#include "devices/l6/risk_device.h"
#include "devices/l6/risk_parts.h"
#include "store/archive.h"
#include "store/audit_sink.h"
#include "store/scope.h"
#include "tenant/claims.h"

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

double Pct(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(q * double(v.size())))];
}

// 14 days of events for `tenant`: `per_hour` on average, with a daily cycle,
// over 40 hosts, categories and severities in turn.
void Seed(const store::StoresConfig& stores, const std::string& tenant, int per_hour, int64_t now) {
  auto archive = store::OpenArchive(stores, *store::TenantScope::For(tenant));
  const char* cats[] = {"NETWORK", "MALWARE", "IDENTITY", "SOC"};
  const char* sevs[] = {"LOW", "LOW", "MEDIUM", "HIGH", "LOW", "CRITICAL"};
  const int64_t hour = 3600000, end = now - now % hour;
  int n = 0;
  std::vector<store::ArchivedEvent> rows;
  for (int64_t h = end - 14 * 24 * hour; h < end; h += hour) {
    int count = int(per_hour * (1.0 + 0.5 * std::sin(2 * M_PI * double((h / hour) % 24) / 24.0)));
    for (int i = 0; i < count; ++i) {
      char id[40];
      std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", ++n);
      int64_t ts = h + int64_t(i) * (hour / (count + 1));
      const char* cat = cats[n % 4];
      const char* sev = sevs[n % 6];
      std::string body = std::string("{\"event_id\":\"") + id + "\",\"ts_ms\":" + std::to_string(ts) +
                         ",\"source\":\"edr-01\",\"features\":{\"src_host\":\"ws-" + std::to_string(n % 40) +
                         "\"},\"l4\":{\"category\":\"" + cat + "\",\"severity\":\"" + sev +
                         "\",\"confidence\":0.9,\"device\":25,\"ts_ms\":" + std::to_string(ts) + "}}";
      rows.push_back({id, ts, cat, sev, body});
      if (rows.size() == 20000) {
        (void)(*archive)->Ingest(rows);
        rows.clear();
      }
    }
  }
  (void)(*archive)->Ingest(rows);
}

void Report(const char* what, const std::vector<double>& v, double slo) {
  std::printf("  %-52s n=%-3zu p50 %8.2f ms  p99 %8.2f ms  (SLO %3.0f ms: %s)\n", what, v.size(), Pct(v, 0.5),
              Pct(v, 0.99), slo, Pct(v, 0.99) < slo ? "met" : "MISSED");
}

int Run(int argc, char** argv) {
  int runs = argc > 1 ? std::max(3, std::atoi(argv[1])) : 30;
  fs::path dir = fs::temp_directory_path() / ("l5l6_bench." + std::to_string(::getpid()));
  store::StoresConfig stores;
  stores.path = (dir / "data").string();
  Registry metrics;
  store::AuditSink audit(stores, &metrics);
  tenant::ClaimKeyring keyring((dir / "claims").string());
  tenant::ClaimVerifier verifier([&](const std::string& t) { return keyring.PublicKey(t); });
  const int64_t now = NowMs();
  std::printf("L5/L6 benchmark on %s, %d runs per figure\n", CpuModel().c_str(), runs);

  auto context = [&](int id) {
    DeviceContext ctx(id, "", "node-b");
    ctx.stores = stores;
    ctx.tenants = {{"ALPHA", "SOC_ASSIST", {"SOC"}}, {"BRAVO", "SOC_ASSIST", {"SOC"}}};
    ctx.metrics = &metrics;
    ctx.audit = &audit;
    ctx.claims = &verifier;
    return ctx;
  };
  auto request = [&](dbe::MsgType type, int id, const std::string& tenant, const json& payload) {
    auto key = keyring.SigningKey(tenant);
    int64_t now_s = NowMs() / 1000;
    auto claim = tenant::SignClaim({tenant, "operator:bench", now_s, now_s + 3600}, ByteView(key->data(), key->size()));
    dbe::Message req(type);
    req.header().dst_device = uint16_t(id);
    req.SetString(dbe::TlvType::kTenantId, tenant).SetString(dbe::TlvType::kRequestId, "bench");
    req.SetBytes(dbe::TlvType::kL7ClaimToken, *claim);
    req.SetString(dbe::TlvType::kPayload, payload.dump());
    return req;
  };
  auto time = [&](Device& dev, const dbe::Message& req, dbe::MsgType want, const std::function<void()>& before = {}) {
    std::vector<double> ms;
    for (int i = 0; i < runs; ++i) {
      if (before) before();
      auto t0 = std::chrono::steady_clock::now();
      auto r = dev.Handle(req);
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      if (!r.ok() || r->type() != want) {
        std::printf("  unexpected reply: %s\n", r.ok() ? "ERROR frame" : r.status().ToString().c_str());
        return std::vector<double>{};
      }
    }
    return ms;
  };

  for (auto [tenant, per_hour] : {std::pair<const char*, int>{"ALPHA", 100}, {"BRAVO", 1000}}) {
    Seed(stores, tenant, per_hour, now);
    std::printf("L5, tenant %s: 14 days at %d events/h on average (embedded archive)\n", tenant, per_hour);
    auto archive = store::OpenArchive(stores, *store::TenantScope::For(tenant));
    int arrivals = 0;
    // One new event of the current hour between requests, as a live tenant
    // has: outside the window (the current hour is left out), so the cached
    // hours stay valid.
    auto arrive = [&] {
      char id[40];
      std::snprintf(id, sizeof id, "00000000-0000-4000-9000-%012d", ++arrivals);
      int64_t ts = NowMs();
      (void)(*archive)->Ingest(std::vector<store::ArchivedEvent>{{id, ts, "NETWORK", "LOW", "{}"}});
    };
    for (int id : {33, 34, 35}) {
      json payload = {{"horizon_h", 24}, {"history_days", 14}, {"check_hours", 24}};
      auto req = request(dbe::MsgType::kL5ForecastReq, id, tenant, payload);
      std::vector<double> cold;
      int cold_runs = std::max(3, runs / 3);
      for (int i = 0; i < cold_runs; ++i) {
        l5::ForecastDevice fresh(context(id));
        auto t0 = std::chrono::steady_clock::now();
        auto r = fresh.Handle(req);
        cold.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        if (!r.ok() || r->type() != dbe::MsgType::kL5ForecastResp) cold.clear();
        if (cold.empty()) break;
      }
      l5::ForecastDevice dev(context(id));
      (void)dev.Handle(req);  // the first request counts every hour
      auto warm = time(dev, req, dbe::MsgType::kL5ForecastResp, arrive);
      if (cold.empty() || warm.empty()) continue;
      std::string what = "device " + std::to_string(id) + " first request (every hour counted)";
      Report(what.c_str(), cold, 200);
      what = "device " + std::to_string(id) + " later requests (counted hours reused)";
      Report(what.c_str(), warm, 200);
      std::printf("  %-52s p50 ratio later/first %.3f\n", "", Pct(warm, 0.5) / Pct(cold, 0.5));
    }
  }

  json scenario = {{"samples", 20000}, {"seed", 1}, {"default_impact", 5}, {"window_hours", 168}};
  for (int k = 0; k < 200; ++k) {
    scenario["assets"].push_back({{"host", "srv-" + std::to_string(k)}, {"impact", 10 + k}, {"impact_sd", 5}});
  }
  for (int k = 0; k < 600; ++k) {
    scenario["edges"].push_back({{"from", k < 40 ? "ws-" + std::to_string(k) : "srv-" + std::to_string((k * 7) % 200)},
                                 {"to", "srv-" + std::to_string((k * 13 + 1) % 200)},
                                 {"p", 0.05 + 0.001 * (k % 100)}});
  }
  // Devices 36 and 38..42 in this process, as on NODE-B: device 37 reaches
  // them directly (the node's local lookup), the shards run at once.
  std::map<int, std::unique_ptr<l6::RiskPartDevice>> parts;
  for (int id : {36, 38, 39, 40, 41, 42}) parts[id] = std::make_unique<l6::RiskPartDevice>(context(id));
  DeviceContext ctx37 = context(37);
  ctx37.local = [&](int id, const std::string&) -> Device* {
    auto it = parts.find(id);
    return it == parts.end() ? nullptr : it->second.get();
  };
  l6::RiskDevice risk(ctx37);
  l6::RiskDevice alone(context(37));
  std::printf("L6: 200 scenario hosts + 40 archive hosts, 600 edges, 20,000 samples, archive of tenant ALPHA\n");
  auto req = request(dbe::MsgType::kL6RiskReq, 37, "ALPHA", scenario);
  auto ms = time(risk, req, dbe::MsgType::kL6RiskResp);
  auto ms_alone = time(alone, req, dbe::MsgType::kL6RiskResp);
  if (!ms.empty()) Report("device 37 + 36, 38-42 (archive read, 5 shards)", ms, 300);
  if (!ms_alone.empty()) Report("device 37 alone (every part in one thread)", ms_alone, 300);
  if (!ms.empty() && !ms_alone.empty()) {
    std::printf("  %-52s p50 ratio parts/alone %.3f\n", "", Pct(ms, 0.5) / Pct(ms_alone, 0.5));
  }
  scenario["use_archive"] = false;
  req = request(dbe::MsgType::kL6RiskReq, 37, "ALPHA", scenario);
  ms = time(risk, req, dbe::MsgType::kL6RiskResp);
  ms_alone = time(alone, req, dbe::MsgType::kL6RiskResp);
  if (!ms.empty()) Report("device 37 + 38-42 (scenario only, 5 shards)", ms, 300);
  if (!ms_alone.empty()) Report("device 37 alone (scenario only)", ms_alone, 300);
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "l5l6_bench: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "l5l6_bench: unknown exception\n");
  }
  return 1;
}
