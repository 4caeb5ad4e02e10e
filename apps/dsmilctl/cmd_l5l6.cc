// dsmilctl forecast | risk: the L5 forecasts (devices 33-35) and the L6 risk
// assessment (device 37) of a tenant, through the DBE path like
// test-dbe-message: POST /v1/dbe on the node that hosts the device (mTLS; the
// node attaches the operator's claim for the tenant). docs/l5-l6.md.
//
//   dsmilctl forecast --tenant ALPHA [--hours 24] [--history-days 14] [--check-hours 24] [-o json] [--node N]
//   dsmilctl risk --tenant ALPHA --scenario FILE [--samples N] [--seed S] [-o json] [--node N]
//
// Exit status: 0 every part answered, 1 a device answered ERROR, 2 bad input
// or no node could be asked.
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>

#include "commands.h"
#include "core/coding.h"
#include "ctl_config.h"
#include "dbe/message.h"
#include "dbe/registry.h"
#include "net/http_client.h"
#include "node_target.h"

namespace dsmil::ctl {
namespace {

using json = nlohmann::json;

struct L5L6Args {
  std::string tenant, node, scenario, output = "table";
  int hours = 24, history_days = 14, check_hours = 24, timeout_s = 30;
  int64_t samples = 0, seed = -1;
};

std::string NewRequestId(const char* prefix) {
  std::random_device rd;
  uint64_t a = (uint64_t(rd()) << 32) | rd();
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s-%016llx", prefix, static_cast<unsigned long long>(a));
  return buf;
}

std::string Hour(int64_t ms) {
  std::time_t t = std::time_t(ms / 1000);
  char buf[32];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:00Z", &tm);
  return buf;
}

// One request to `device`; the reply's JSON body, or the ERROR's reason and
// detail as a FailedPrecondition ("REASON: detail"). Other failures are
// Unavailable / InvalidArgument.
Result<json> Call(const CtlConfig& cfg, const Target& target, dbe::MsgType type, int device, const std::string& tenant,
                  const std::string& payload, int timeout_s) {
  dbe::Message m(type);
  m.header().dst_device = uint16_t(device);
  m.SetString(dbe::TlvType::kTenantId, tenant);
  std::string rid = NewRequestId(type == dbe::MsgType::kL5ForecastReq ? "l5" : "l6");
  m.SetString(dbe::TlvType::kRequestId, rid);
  m.SetU8(dbe::TlvType::kContentType, uint8_t(dbe::ContentType::kJson));
  m.SetString(dbe::TlvType::kPayload, payload);
  DSMIL_ASSIGN_OR_RETURN(Bytes frame, dbe::Encode(m));
  auto req = BaseRequest(cfg, target.node);
  req.method = "POST";
  req.url = target.node.url + "/v1/dbe";
  req.headers = {{"Content-Type", "application/octet-stream"}};
  req.body.assign(reinterpret_cast<const char*>(frame.data()), frame.size());
  req.timeout = std::chrono::seconds(timeout_s);
  req.max_response_bytes = (4u << 20);
  auto resp = net::HttpFetch(req);
  if (!resp.ok()) return Status::Unavailable(target.node.name + ": " + resp.status().message());
  auto reply = dbe::Decode(AsBytes(resp->body));
  if (!reply.ok()) {
    return Status::Unavailable(target.node.name + " answered HTTP " + std::to_string(resp->status) + ": " +
                               resp->body.substr(0, 300));
  }
  if (reply->type() == dbe::MsgType::kError) {
    auto reason = reply->GetString(dbe::TlvType::kErrorReason);
    auto detail = reply->GetString(dbe::TlvType::kErrorDetail);
    return Status::FailedPrecondition("device " + std::to_string(device) + ": " +
                                      (reason.ok() ? std::string(*reason) : "ERROR") + ": " +
                                      (detail.ok() ? std::string(*detail) : ""));
  }
  auto body = reply->GetBytes(dbe::TlvType::kPayload);
  if (!body.ok()) return Status::Unavailable("device " + std::to_string(device) + " answered without a PAYLOAD");
  json doc = json::parse(AsString(*body), nullptr, false);
  if (doc.is_discarded()) return Status::Unavailable("device " + std::to_string(device) + " answered non-JSON");
  return doc;
}

Result<std::pair<CtlConfig, Target>> Resolve(const L5L6Args& a, Context& ctx, int device) {
  DSMIL_ASSIGN_OR_RETURN(CtlConfig cfg, LoadCtlConfig(ctx.config_path));
  if (cfg.nodes.empty()) {
    return Status::InvalidArgument("no nodes configured (dsmilctl config add-node NAME URL --cert CA)");
  }
  DSMIL_ASSIGN_OR_RETURN(Target t, FindTarget(cfg, device, a.node, Fallback::kNone));
  return std::make_pair(std::move(cfg), std::move(t));
}

int FailStatus(Context& ctx, const Status& s) {
  int code = s.code() == StatusCode::kFailedPrecondition ? 1 : 2;
  Fail(ctx, code, s.message());
  return code;
}

void PrintSeries(const std::string& name, const json& s) {
  const json& pts = s["points"];
  std::printf("  %-14s next %zu h: %.1f events expected", name.c_str(), pts.size(),
              s["horizon_sum"]["mean"].get<double>());
  if (!pts.empty()) {
    std::printf("; first hour %.1f [%.1f, %.1f]", pts[0]["mean"].get<double>(), pts[0]["lower"].get<double>(),
                pts[0]["upper"].get<double>());
  }
  std::printf("\n");
}

int Forecast(const L5L6Args& a, Context& ctx) {
  auto resolved = Resolve(a, ctx, 33);
  if (!resolved.ok()) return FailStatus(ctx, resolved.status());
  const auto& [cfg, target] = *resolved;
  json payload = {{"horizon_h", a.hours}, {"history_days", a.history_days}, {"check_hours", a.check_hours}};
  json out = json::object();
  for (int device : {33, 34, 35}) {
    auto r = Call(cfg, target, dbe::MsgType::kL5ForecastReq, device, a.tenant, payload.dump(), a.timeout_s);
    if (!r.ok()) return FailStatus(ctx, r.status());
    out[std::to_string(device)] = std::move(*r);
  }
  if (a.output == "json") {
    std::cout << json{{"rate", out["33"]}, {"severity_mix", out["34"]}, {"anomalies", out["35"]}}.dump(2) << "\n";
    return 0;
  }
  const json& rate = out["33"];
  std::printf("Forecast for %s via %s (%s): history %zu h (%zu events) from %s, 95 %% intervals\n", a.tenant.c_str(),
              target.node.name.c_str(), target.why.c_str(), rate["history"]["hours"].get<size_t>(),
              rate["history"]["events"].get<size_t>(), Hour(rate["history"]["first_hour_ms"].get<int64_t>()).c_str());
  std::printf("\nRate (device 33), hour by hour for the total:\n");
  std::printf("  %-17s  %8s  %17s\n", "HOUR (UTC)", "MEAN", "95% INTERVAL");
  for (const json& p : rate["total"]["points"]) {
    std::printf("  %-17s  %8.1f  [%6.1f, %7.1f]\n", Hour(p["hour_ms"].get<int64_t>()).c_str(), p["mean"].get<double>(),
                p["lower"].get<double>(), p["upper"].get<double>());
  }
  std::printf("\nBy category:\n");
  PrintSeries("TOTAL", rate["total"]);
  for (const auto& [name, s] : rate["categories"].items()) PrintSeries(name, s);
  const json& mix = out["34"];
  std::printf("\nSeverity mix (device 34):\n");
  for (const auto& [name, s] : mix["severities"].items()) PrintSeries(name, s);
  std::printf("  expected share:");
  for (const auto& [name, v] : mix["share"].items()) std::printf(" %s %.1f%%", name.c_str(), v.get<double>() * 100);
  std::printf("\n");
  const json& an = out["35"];
  std::printf("\nAnomalies (device 35), last %d h against the one-step 99 %% interval: %zu flag(s)", a.check_hours,
              an["flags"].size());
  std::printf(" (%zu newly written to the tenant's audit chain)\n", an["audit"]["written"].get<size_t>());
  for (const json& f : an["flags"]) {
    std::printf("  %-20s  %-14s  %s  actual %.0f, expected %.1f [%.1f, %.1f]\n", f["flag"].get<std::string>().c_str(),
                f["series"].get<std::string>().c_str(), Hour(f["hour_ms"].get<int64_t>()).c_str(),
                f["actual"].get<double>(), f["expected"].get<double>(), f["lower"].get<double>(),
                f["upper"].get<double>());
  }
  if (an.contains("audit") && an["audit"].contains("error")) {
    std::printf("  note: %s\n", an["audit"]["error"].get<std::string>().c_str());
  }
  return 0;
}

int Risk(const L5L6Args& a, Context& ctx) {
  std::ifstream f(a.scenario);
  if (!f) return FailStatus(ctx, Status::InvalidArgument("--scenario: cannot read " + a.scenario));
  std::stringstream ss;
  ss << f.rdbuf();
  json scenario = json::parse(ss.str(), nullptr, false);
  if (scenario.is_discarded() || !scenario.is_object()) {
    return FailStatus(ctx, Status::InvalidArgument("--scenario: " + a.scenario + " is not a JSON object"));
  }
  if (a.samples > 0) scenario["samples"] = a.samples;
  if (a.seed >= 0) scenario["seed"] = a.seed;
  auto resolved = Resolve(a, ctx, 37);
  if (!resolved.ok()) return FailStatus(ctx, resolved.status());
  const auto& [cfg, target] = *resolved;
  auto r = Call(cfg, target, dbe::MsgType::kL6RiskReq, 37, a.tenant, scenario.dump(), a.timeout_s);
  if (!r.ok()) return FailStatus(ctx, r.status());
  if (a.output == "json") {
    std::cout << r->dump(2) << "\n";
    return 0;
  }
  const json& l = (*r)["loss"];
  std::printf("Risk assessment for %s via %s (%s): %zu hosts, %zu edges, %zu samples, seed %llu\n", a.tenant.c_str(),
              target.node.name.c_str(), target.why.c_str(), (*r)["hosts_total"].get<size_t>(),
              (*r)["edges_total"].get<size_t>(), (*r)["samples"].get<size_t>(),
              static_cast<unsigned long long>((*r)["seed"].get<uint64_t>()));
  std::printf("  archive: %zu events of the last %lld h used\n", (*r)["archive"]["events"].get<size_t>(),
              static_cast<long long>((*r)["archive"]["window_hours"].get<int64_t>()));
  if (r->contains("parts") && (*r)["parts"].is_object()) {
    const json& parts = (*r)["parts"];
    std::string where;
    if (parts.contains("evidence") && parts["evidence"].is_string()) {
      where += "evidence on " + parts["evidence"].get<std::string>() + "; ";
    }
    where += "shards on";
    if (parts.contains("shards") && parts["shards"].is_array()) {
      for (const json& s : parts["shards"]) {
        if (s.contains("ran_on") && s["ran_on"].is_string()) where += " " + s["ran_on"].get<std::string>() + ",";
      }
    }
    if (!where.empty() && where.back() == ',') where.pop_back();
    std::printf("  parts: %s\n", where.c_str());
  }
  std::printf("  loss: mean %.3f (Monte Carlo standard error %.3f), sd %.3f\n", l["mean"].get<double>(),
              l["stderr"].get<double>(), l["sd"].get<double>());
  for (const char* q : {"p5", "p50", "p95"}) {
    std::string ci = std::string(q) + "_ci95";
    std::printf("  %-4s %.3f  (95%% interval %.3f .. %.3f)\n", q, l[q].get<double>(), l[ci][0].get<double>(),
                l[ci][1].get<double>());
  }
  std::printf("  P(any host compromised) %.4f\n\n", (*r)["p_any_compromise"].get<double>());
  std::printf("  %-24s  %7s  %8s  %9s  %13s  %s\n", "HOST", "P_ENTRY", "P_COMPR", "IMPACT", "EXPECTED LOSS", "BASIS");
  for (const json& h : (*r)["hosts"]) {
    std::printf("  %-24s  %7.4f  %8.4f  %9.2f  %13.3f  %s\n", h["host"].get<std::string>().c_str(),
                h["p_entry"].get<double>(), h["p_compromised"].get<double>(), h["impact"].get<double>(),
                h["expected_loss"].get<double>(), h["basis"].get<std::string>().c_str());
  }
  return 0;
}

const CommandGroup kL5L6([](CLI::App& app, Context& ctx) {
  auto a = std::make_shared<L5L6Args>();
  CLI::App* fc = app.add_subcommand("forecast", "L5 forecasts of a tenant's SOC event rates (devices 33-35)");
  fc->add_option("--tenant", a->tenant, "the tenant")->required();
  fc->add_option("--hours", a->hours, "forecast horizon in hours, 1..168 (default 24)");
  fc->add_option("--history-days", a->history_days, "days of archive to fit on, 3..60 (default 14)");
  fc->add_option("--check-hours", a->check_hours, "hours the anomaly detector checks, 1..168 (default 24)");
  fc->add_option("-o,--output", a->output, "table or json")->check(CLI::IsMember({"table", "json"}));
  fc->add_option("--node", a->node, "ask this configured node instead of the host of device 33");
  fc->add_option("--timeout", a->timeout_s, "seconds to wait per device (default 30)");
  fc->callback([a, &ctx] { ctx.exit_code = Forecast(*a, ctx); });
  CLI::App* rk = app.add_subcommand("risk", "L6 risk assessment of a tenant's scenario (device 37)");
  rk->add_option("--tenant", a->tenant, "the tenant")->required();
  rk->add_option("--scenario", a->scenario, "scenario JSON file (docs/l5-l6.md section 5)")->required();
  rk->add_option("--samples", a->samples, "Monte Carlo samples (overrides the scenario's)");
  rk->add_option("--seed", a->seed, "seed (overrides the scenario's)");
  rk->add_option("-o,--output", a->output, "table or json")->check(CLI::IsMember({"table", "json"}));
  rk->add_option("--node", a->node, "ask this configured node instead of the host of device 37");
  rk->add_option("--timeout", a->timeout_s, "seconds to wait (default 30)");
  rk->callback([a, &ctx] { ctx.exit_code = Risk(*a, ctx); });
});

}  // namespace
}  // namespace dsmil::ctl
