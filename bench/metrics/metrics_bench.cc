// Scrape cost of a node's /metrics (docs/observability.md): the exposition's
// size in bytes and its render time with 2 and with 20 tenants, each tenant
// as busy as a tenant can be label-wise — every series a node creates for it:
// the standard families for the SOC, L7 and L9 devices and their message
// types, the pipeline's families (six streams, four severities, six SOAR
// actions, twelve flags), COA scenarios, NC3 outcomes, refusals and the
// isolation gauge — plus the node-level families (DBE peers, processes).
//
// Beside each render, in the same rounds, the physical floor of a scrape:
// copying the same number of bytes (memcpy). Rounds interleaved, thread CPU
// time, medians and the ratio printed; nothing asserted.
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "core/dsmil_metrics.h"
#include "core/metrics.h"
#include "devices/soc/event.h"
#include "devices/soc/soc_metrics.h"
#include "store/scope.h"

namespace {

using namespace dsmil;

double CpuMicros() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e6 + double(ts.tv_nsec) / 1e3;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string CpuModel() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown CPU";
}

// Every series a node creates for `tenants` busy tenants.
void Populate(Registry& r, int tenants) {
  StandardMetrics m(r);
  soc::SocMetrics soc(r);
  RegisterProcessMetrics(r);
  m.SetBuildInfo("5.0.0");
  auto& refusals = r.AddCounter("dsmil_refusals_total", "refusals", {"tenant_id", "entry", "reason"});
  auto& coa = r.AddCounter("dsmil_coa_scenarios_total", "coa", {"tenant_id", "source", "threat_level"});
  auto& nc3 = r.AddCounter("dsmil_nc3_queries_total", "nc3", {"tenant_id", "outcome"});
  auto& iso = r.AddGauge("dsmil_tenant_isolation_ok", "iso", {"tenant_id"});
  auto& dbe = r.AddCounter("dsmil_dbe_messages_total", "dbe", {"node", "peer", "direction"});
  auto& up = r.AddGauge("dsmil_dbe_peer_session_up", "up", {"node", "peer"});
  for (const char* peer : {"node-b", "node-c"}) {
    up.Labels({"node-a", peer}).Set(1);
    for (const char* d : {"sent", "received"}) dbe.Labels({"node-a", peer, d}).Inc();
  }
  struct DeviceMsg {
    int device;
    const char* msg;
  };
  const DeviceMsg devices[] = {{18, "0x20"}, {25, "0x23"}, {58, "0x50"}, {43, "0x41"}, {47, "0x41"},
                               {50, "0x44"}, {59, "0x60"}, {61, "0x62"}, {52, "0x51"}};
  soc::SocEvent e;
  e.l8.flags = (1u << soc::kFlagCount) - 1;
  for (const char* a :
       {"ISOLATE_HOST", "BLOCK_DOMAIN", "BLOCK_IP", "DISABLE_ACCOUNT", "QUARANTINE_FILE", "ALERT_ONLY"}) {
    e.proposals.push_back({a, "", ""});
  }
  for (int t = 0; t < tenants; ++t) {
    std::string id = "T" + std::to_string(t);
    for (const auto& d : devices) {
      m.TimeRequest(id, d.device, d.msg).Stop();
      m.CountError(id, d.device, "refused");
    }
    for (store::StreamKind k : store::kAllStreams) soc.CountAppended(id, k, 5);
    for (soc::Severity s :
         {soc::Severity::kLow, soc::Severity::kMedium, soc::Severity::kHigh, soc::Severity::kCritical}) {
      e.l4.severity = s;
      soc.CountEnriched(id, e);
    }
    for (const char* entry : {"control", "l7", "dbe"}) refusals.Labels({id, entry, "tenant_not_covered"}).Inc();
    for (const char* lvl : {"LOW", "MEDIUM", "HIGH", "CRITICAL"}) coa.Labels({id, "soc", lvl}).Inc();
    for (const char* o : {"ACCEPTED", "ROE_MISMATCH", "TWO_PERSON_REQUIRED"}) nc3.Labels({id, o}).Inc();
    iso.Labels({id}).Set(1);
  }
}

}  // namespace

int main() {
  std::printf("CPU: %s\n", CpuModel().c_str());
  std::printf("Scrape cost of /metrics (Registry::Expose, thread CPU time, 9 interleaved rounds, medians)\n\n");
  std::printf("%8s %10s %8s %14s %14s %10s\n", "tenants", "bytes", "series", "render us", "memcpy us", "ratio");
  for (int tenants : {2, 20}) {
    Registry r;
    Populate(r, tenants);
    std::string text = r.Expose();
    size_t series = 0;
    for (size_t i = 0; i < text.size(); ++i) {
      if ((i == 0 || text[i - 1] == '\n') && text[i] != '#') ++series;
    }
    std::vector<char> dst(text.size());
    std::vector<double> render, copy, ratio;
    const int iters = tenants == 2 ? 400 : 60;
    for (int round = 0; round < 9; ++round) {
      double t0 = CpuMicros();
      size_t sink = 0;
      for (int i = 0; i < iters; ++i) sink += r.Expose().size();
      double a = (CpuMicros() - t0) / iters;
      t0 = CpuMicros();
      for (int i = 0; i < iters * 50; ++i) {
        std::memcpy(dst.data(), text.data(), text.size());
        asm volatile("" : : "r"(dst.data()) : "memory");
      }
      double b = (CpuMicros() - t0) / (iters * 50);
      if (sink == 0) std::printf("empty exposition\n");
      render.push_back(a);
      copy.push_back(b);
      ratio.push_back(a / b);
    }
    std::printf("%8d %10zu %8zu %14.1f %14.2f %9.0fx\n", tenants, text.size(), series, Median(render), Median(copy),
                Median(ratio));
  }
  std::printf("\nratio = render time / memcpy of the same bytes (the floor of producing them).\n");
  return 0;
}
