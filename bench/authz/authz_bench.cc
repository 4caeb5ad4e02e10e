// The per-request cost of the tenant-boundary checks (docs/security.md),
// measured beside the work of the request they guard, interleaved round by
// round in one run (thread CPU time, so the load of the machine does not
// distort it). Prints medians and the ratio; asserts nothing.
//
//   POST /v1/dbe   edge check: certificate covers the tenant, operator claim
//                  issued (reused) and attached to the envelope;
//   every hop      the envelope grows by the claim token (codec cost);
//   device 50/47   claim verified (cached after the first ML-DSA-87 verify).
// Beside them: a device-50 RAG query on a 1,000-chunk knowledge base (the
// request /v1/dbe serves) and the frame codec without a claim (today's hop).
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dbe/message.h"
#include "devices/authz.h"
#include "devices/device.h"
#include "devices/l7/rag.h"
#include "net/http.h"
#include "tenant/claims.h"

namespace {

using namespace dsmil;
using nlohmann::json;

double CpuMicros() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e6 + double(ts.tv_nsec) / 1e3;
}

double PerOp(const std::function<void()>& op, int iters) {
  double t0 = CpuMicros();
  for (int i = 0; i < iters; ++i) op();
  return (CpuMicros() - t0) / iters;
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

}  // namespace

int main() {
  namespace fs = std::filesystem;
  std::string tmpl = (fs::temp_directory_path() / "dsmil-authz-bench-XXXXXX").string();
  std::string dir = mkdtemp(tmpl.data());
  tenant::ClaimKeyring keyring(dir + "/secrets/claims");
  tenant::ClaimVerifier verifier([&](const std::string& t) { return keyring.PublicKey(t); });
  tenant::ClaimIssuer issuer(&keyring, std::chrono::seconds(300));
  int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto token = issuer.TokenFor("ALPHA", "operator:admin", now);
  if (!token.ok()) {
    std::fprintf(stderr, "authz_bench: %s\n", token.status().ToString().c_str());
    return 1;
  }

  devices::DeviceContext ctx(50, "", "bench");
  ctx.stores.kind = "embedded";
  ctx.stores.path = dir;
  ctx.tenants = {{"ALPHA", "SOC_ASSIST", {"SOC"}}};
  ctx.claims = &verifier;
  devices::RegisterBuiltinDevices();
  ctx.config = devices::ConfigSections().Select(devices::DeclaredSections(50));  // no rag section
  auto rag = devices::l7::CreateRagDevice(ctx);
  if (!rag.ok() || !(*rag)->Start().ok()) {
    std::fprintf(stderr, "authz_bench: device 50 did not start\n");
    return 1;
  }
  auto frame = [&](const std::string& payload, bool with_claim) {
    dbe::Message m(dbe::MsgType::kL7RagQuery);
    m.header().dst_device = 50;
    m.SetString(dbe::TlvType::kTenantId, "ALPHA");
    m.SetString(dbe::TlvType::kRequestId, "bench-1");
    m.SetString(dbe::TlvType::kPayload, payload);
    if (with_claim) m.SetBytes(dbe::TlvType::kL7ClaimToken, *token);
    return m;
  };
  // A 1,000-chunk knowledge base.
  json docs = json::array();
  for (int i = 0; i < 1000; ++i) {
    docs.push_back({{"source", "doc" + std::to_string(i)},
                    {"text", "Runbook entry " + std::to_string(i) + ": host srv-" + std::to_string(i % 97) +
                                 " rotates its keys every " + std::to_string(i % 13 + 1) + " days."}});
  }
  auto ingested = (*rag)->Handle(frame(json({{"op", "ingest"}, {"documents", docs}}).dump(), true));
  if (!ingested.ok() || ingested->type() != dbe::MsgType::kL7RagResult) {
    std::fprintf(stderr, "authz_bench: ingest failed\n");
    return 1;
  }
  const std::string query = json({{"op", "query"}, {"query", "which host rotates keys every 7 days"}, {"k", 4}}).dump();
  dbe::Message q_plain = frame(query, false), q_claim = frame(query, true);
  auto plain_bytes = *dbe::Encode(q_plain);
  auto claim_bytes = *dbe::Encode(q_claim);

  net::HttpRequest req;
  req.client_cert_cn = "admin";
  req.client_cert_tenants = {"ALPHA", "BRAVO"};

  std::vector<double> codec_plain, codec_claim, edge, dev_cached, dev_cold, rag_query;
  const int rounds = 15;
  for (int r = 0; r < rounds; ++r) {
    codec_plain.push_back(PerOp([&] { (void)dbe::Encode(*dbe::Decode(plain_bytes)); }, 2000));
    codec_claim.push_back(PerOp([&] { (void)dbe::Encode(*dbe::Decode(claim_bytes)); }, 2000));
    edge.push_back(PerOp(
        [&] {
          dbe::Message m = q_plain;
          if (!net::CertCoversTenant(req, "ALPHA")) std::abort();
          m.Remove(dbe::TlvType::kL7ClaimToken);
          auto t = issuer.TokenFor("ALPHA", "operator:admin", now);
          m.SetBytes(dbe::TlvType::kL7ClaimToken, *t);
        },
        2000));
    dev_cached.push_back(PerOp([&] { (void)devices::AuthorizeRequest(ctx, 50, q_claim); }, 2000));
    dev_cold.push_back(PerOp(
        [&] {
          tenant::ClaimVerifier fresh([&](const std::string& t) { return keyring.PublicKey(t); });
          devices::DeviceContext c2 = ctx;
          c2.claims = &fresh;
          (void)devices::AuthorizeRequest(c2, 50, q_claim);
        },
        20));
    rag_query.push_back(PerOp([&] { (void)(*rag)->Handle(q_claim); }, 200));
  }
  (*rag)->Stop();
  std::error_code ec;
  fs::remove_all(dir, ec);

  double cp = Median(codec_plain), cc = Median(codec_claim), e = Median(edge), dc = Median(dev_cached),
         dcold = Median(dev_cold), rq = Median(rag_query);
  std::printf("authz_bench: %s; thread CPU time, median of %d interleaved rounds\n", CpuModel().c_str(), rounds);
  std::printf("  frame %zu bytes without a claim, %zu with one\n", plain_bytes.size(), claim_bytes.size());
  std::printf("  %-58s %9.2f us\n", "DBE decode+encode, no claim (today's hop)", cp);
  std::printf("  %-58s %9.2f us  (+%.2f us per hop)\n", "DBE decode+encode, with the claim", cc, cc - cp);
  std::printf("  %-58s %9.2f us\n", "/v1/dbe edge check (cert covers, claim reused + attached)", e);
  std::printf("  %-58s %9.2f us\n", "device check, cached claim (every request after the first)", dc);
  std::printf("  %-58s %9.2f us\n", "device check, first use of a claim (ML-DSA-87 verify)", dcold);
  std::printf("  %-58s %9.2f us\n", "device-50 RAG query, 1,000 chunks, check included", rq);
  double added_dbe = e + dc + 2 * (cc - cp);
  std::printf("  /v1/dbe: the checks add %.2f us per request = %.3f of the RAG query they guard (%.1f%%)\n", added_dbe,
              added_dbe / rq, 100.0 * added_dbe / rq);
  double added_l7 = dc + (cc - cp);
  std::printf("  :8001 -> device 47/50: the claim carried and checked adds %.2f us per hop\n", added_l7);
  return 0;
}
