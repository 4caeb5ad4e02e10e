// dsmilctl logs: one tenant's log lines from every configured node (spec §4.3,
// §12 "Tail logs"), merged by time.
//
//   dsmilctl logs --tenant ALPHA [--device 47] [--since 10m|2026-11-27T10:00:00Z]
//                 [--limit 200] [-f] [--interval 2] [-o text|json]
//
// Each node's control API (GET /v1/logs) serves the lines it stores, and only
// for tenants the operator certificate covers (urn:dsmil:tenant:<T> SANs, or
// *): a node answering 403 makes the command fail with its reason. -f polls
// every --interval seconds for lines newer than the last one shown.
//
// Exit 0 lines shown (or none matched), 1 a node refused or could not be
// reached (the other nodes' lines are still shown), 2 bad input.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "commands.h"
#include "core/clock.h"
#include "ctl_config.h"
#include "net/http_client.h"
#include "store/scope.h"

namespace dsmil::ctl {
namespace {

using json = nlohmann::json;

struct LogsArgs {
  std::string tenant;
  int device = -1;
  std::string since;
  size_t limit = 200;
  bool follow = false;
  double interval_s = 2;
  std::string output = "text";
};

struct Line {
  int64_t ts_ns = 0;
  std::string node, layer, line;
  int device = -1;
};

struct NodeAnswer {
  std::string node;
  bool ok = false;
  int http_status = 0;
  std::string error;
  std::vector<Line> lines;
};

std::string Encode(const std::string& s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

NodeAnswer Fetch(const CtlConfig& cfg, const CtlNode& n, const LogsArgs& a, const std::string& since, bool oldest) {
  NodeAnswer r;
  r.node = n.name;
  net::HttpClientRequest req;
  req.url = n.url + "/v1/logs?tenant=" + Encode(a.tenant) + "&limit=" + std::to_string(a.limit);
  if (a.device >= 0) req.url += "&device=" + std::to_string(a.device);
  if (!since.empty()) req.url += "&since=" + Encode(since);
  if (oldest) req.url += "&order=oldest";
  req.timeout = std::chrono::seconds(10);
  req.ca_file = n.cert;
  req.cert_file = cfg.operator_cert;
  req.key_file = cfg.operator_key;
  auto resp = net::HttpFetch(req);
  if (!resp.ok()) {
    r.error = resp.status().message();
    return r;
  }
  r.http_status = resp->status;
  json j = json::parse(resp->body, nullptr, false);
  if (resp->status != 200) {
    r.error = "HTTP " + std::to_string(resp->status) + ": " +
              (j.is_object() && j.contains("error") && j["error"].is_string() ? j["error"].get<std::string>()
                                                                              : resp->body.substr(0, 200));
    return r;
  }
  if (!j.is_object() || !j.contains("lines") || !j["lines"].is_array()) {
    r.error = "malformed /v1/logs answer";
    return r;
  }
  for (const auto& l : j["lines"]) {
    if (!l.is_object()) continue;
    Line x;
    x.ts_ns = l.value("ts_ns", int64_t{0});
    x.node = l.value("node", n.name);
    x.layer = l.value("layer", std::string());
    x.device = l.value("device", -1);
    x.line = l.value("line", std::string());
    r.lines.push_back(std::move(x));
  }
  r.ok = true;
  return r;
}

void Print(const Line& l, const std::string& tenant, bool as_json) {
  if (as_json) {
    json j = {{"ts", FormatRfc3339Utc(l.ts_ns, 6)},
              {"ts_ns", l.ts_ns},
              {"node", l.node},
              {"tenant", tenant},
              {"layer", l.layer},
              {"device", l.device},
              {"line", l.line}};
    std::cout << j.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
    return;
  }
  std::cout << FormatRfc3339Utc(l.ts_ns, 3) << "  " << l.node;
  if (!l.layer.empty()) std::cout << " " << l.layer;
  if (l.device >= 0) std::cout << "/" << l.device;
  std::cout << "  " << l.line << "\n";
}

void Logs(Context& ctx, const LogsArgs& a) {
  if (!store::TenantScope::For(a.tenant).ok()) {
    return Fail(ctx, 2, "logs: --tenant '" + a.tenant + "' is not a tenant id ([A-Z][A-Z0-9_]{0,31})");
  }
  if (a.device > 103) return Fail(ctx, 2, "logs: --device " + std::to_string(a.device) + " is not in 0..103");
  if (a.limit < 1 || a.limit > 10000) return Fail(ctx, 2, "logs: --limit must be in 1..10000");
  if (a.output != "text" && a.output != "json") return Fail(ctx, 2, "logs: -o must be text or json");
  if (a.interval_s < 0.1 || a.interval_s > 3600) return Fail(ctx, 2, "logs: --interval must be in 0.1..3600 s");
  auto cfg = LoadCtlConfig(ctx.config_path);
  if (!cfg.ok()) return Fail(ctx, 2, "logs: " + cfg.status().message());
  if (cfg->nodes.empty()) {
    return Fail(ctx, 2, "logs: no nodes configured (dsmilctl config add-node NAME URL --cert CA.crt)");
  }
  bool as_json = a.output == "json";
  // Per node: the newest timestamp shown and the lines shown with it, so a
  // poll asking from that timestamp again repeats nothing. Follow-up polls
  // ask each node for the OLDEST lines after its cursor, so a burst larger
  // than --limit is paged through rather than skipped.
  struct Cursor {
    int64_t last_ts = -1;
    std::set<std::string> at_last;
  };
  std::map<std::string, Cursor> cursors;
  // Lines shown, by timestamp: nodes that share a data directory (the
  // single-machine cluster) all serve the same files, so a line may come from
  // several nodes; it is shown once. Pruned below the oldest cursor.
  std::map<int64_t, std::set<std::string>> shown;
  const int64_t start_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  int exit_code = 0;
  std::map<std::string, std::string> reported;  // node -> last error printed
  for (bool first = true;; first = false) {
    std::vector<std::future<NodeAnswer>> futures;
    for (const CtlNode& n : cfg->nodes) {
      std::string since = a.since;
      if (!first) {
        const Cursor& c = cursors[n.name];
        since = std::to_string(c.last_ts >= 0 ? c.last_ts : start_ns);
      }
      futures.push_back(
          std::async(std::launch::async, [&, n, since, first] { return Fetch(*cfg, n, a, since, !first); }));
    }
    std::vector<Line> merged;
    bool refused = false;
    bool more = false;  // a node returned a full page: poll again at once
    for (auto& f : futures) {
      NodeAnswer r = f.get();
      if (!r.ok) {
        exit_code = 1;
        refused = refused || r.http_status == 403;
        if (reported[r.node] != r.error) std::cerr << "dsmilctl: logs: " << r.node << ": " << r.error << "\n";
        reported[r.node] = r.error;
        continue;
      }
      reported.erase(r.node);
      more = more || (!first && r.lines.size() >= a.limit);
      Cursor& c = cursors[r.node];
      for (auto& l : r.lines) {  // oldest first
        std::string key = l.node + "\n" + std::to_string(l.device) + "\n" + l.line;
        if (l.ts_ns < c.last_ts || (l.ts_ns == c.last_ts && c.at_last.count(key))) continue;
        if (l.ts_ns > c.last_ts) {
          c.last_ts = l.ts_ns;
          c.at_last.clear();
        }
        c.at_last.insert(key);
        if (!shown[l.ts_ns].insert(key).second) continue;
        merged.push_back(std::move(l));
      }
    }
    std::stable_sort(merged.begin(), merged.end(), [](const Line& x, const Line& y) { return x.ts_ns < y.ts_ns; });
    if (first && merged.size() > a.limit) {
      merged.erase(merged.begin(), merged.end() - static_cast<ptrdiff_t>(a.limit));
    }
    for (const Line& l : merged) Print(l, a.tenant, as_json);
    int64_t oldest_cursor = INT64_MAX;
    for (const auto& [name, c] : cursors) {
      if (c.last_ts >= 0) oldest_cursor = std::min(oldest_cursor, c.last_ts);
    }
    shown.erase(shown.begin(), shown.lower_bound(oldest_cursor));
    std::cout.flush();
    if (!a.follow || refused) break;
    if (!more) std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int64_t>(a.interval_s * 1000)));
  }
  ctx.exit_code = exit_code;
}

const CommandGroup kLogsGroup([](CLI::App& app, Context& ctx) {
  auto a = std::make_shared<LogsArgs>();
  CLI::App* logs = app.add_subcommand("logs", "One tenant's log lines from every node, merged by time");
  logs->add_option("--tenant", a->tenant, "tenant (the operator certificate must cover it)")->required();
  logs->add_option("--device", a->device, "only lines of this device (0..103)");
  logs->add_option("--since", a->since, "10m, 2h, 1d, or an RFC 3339 time (default: the newest --limit lines)");
  logs->add_option("--limit", a->limit, "at most this many lines (per poll with -f)")->capture_default_str();
  logs->add_flag("-f,--follow", a->follow, "keep polling for new lines");
  logs->add_option("--interval", a->interval_s, "seconds between polls with -f")->capture_default_str();
  logs->add_option("-o,--output", a->output, "text or json (one object a line)")->capture_default_str();
  logs->callback([a, &ctx] { Logs(ctx, *a); });
});

}  // namespace
}  // namespace dsmil::ctl
