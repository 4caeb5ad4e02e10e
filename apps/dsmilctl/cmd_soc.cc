// dsmilctl soc top: the live SOC event view of one tenant (spec §8.1), from
// GET /v1/soc/top on the SOC node's control API (mTLS; the node refuses a
// tenant the operator certificate does not cover).
//
//   dsmilctl soc top --tenant=ALPHA [--node NODE-A] [--interval 5] [--limit 20]
//                    [--severity HIGH] [--category NETWORK] [--once] [-o table|json]
//
// Live mode (a terminal, without --once): redraws every interval; keys: q quits,
// f cycles the filter (all, each severity, each category). Exit 0, 1 when the
// node refuses (403) or cannot be reached, 2 for bad input.
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "core/strings.h"
#include "ctl_config.h"
#include "net/http_client.h"
#include "text_util.h"

namespace dsmil::ctl {
namespace {

using json = nlohmann::json;

struct TopArgs {
  std::string tenant;
  std::string node;
  int interval_s = 5;
  int limit = 20;
  std::string severity, category;
  bool once = false;
  std::string output = "table";
};

const char* const kFilters[][2] = {
    {"", ""},       {"CRITICAL", ""}, {"HIGH", ""},     {"MEDIUM", ""},  {"LOW", ""},     {"", "NETWORK"},
    {"", "CRYPTO"}, {"", "SOC"},      {"", "IDENTITY"}, {"", "MALWARE"}, {"", "INSIDER"},
};

std::string Pad(std::string s, size_t w) {
  if (s.size() < w) s.append(w - s.size(), ' ');
  return s;
}

std::string HhMmSs(int64_t ts_ms) {
  std::time_t t = std::time_t(ts_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

std::string Rule() {
  std::string r;
  for (int i = 0; i < 64; ++i) r += "\u2501";
  return r;
}

// Renders the view (spec §8.1 layout).
std::string Render(const json& j, const TopArgs& a, bool live) {
  std::ostringstream o;
  o << "DSMIL SOC Top (" << j.value("tenant", a.tenant) << ")    Refresh: " << a.interval_s << "s";
  if (live) o << "    [q] quit  [f] filter";
  o << "\n";
  if (!a.severity.empty() || !a.category.empty())
    o << "Filter: " << (a.severity.empty() ? "" : "severity " + a.severity)
      << (a.category.empty() ? "" : (a.severity.empty() ? "" : ", ") + std::string("category ") + a.category) << "\n";
  o << Rule() << "\n\n";
  o << Pad("EVENT_ID", 30) << Pad("TIME", 11) << Pad("SEV", 10) << Pad("CATEGORY", 11) << "L8_FLAGS\n";
  o << Rule() << "\n";
  const json& events = j.contains("events") ? j["events"] : json::array();
  if (events.empty()) o << "(no enriched events yet)\n";
  for (const auto& e : events) {
    std::string id = e.value("event_id", "");
    if (id.size() > 24) id = id.substr(0, 24) + "...";
    std::string flags;
    for (const auto& f : e.value("flags", json::array())) {
      if (!flags.empty()) flags += ", ";
      flags += f.get<std::string>();
    }
    o << Pad(id, 30) << Pad(HhMmSs(e.value("ts_ms", int64_t(0))), 11) << Pad(e.value("severity", ""), 10)
      << Pad(e.value("category", ""), 11) << flags << "\n";
  }
  if (j.contains("stats")) {
    const json& s = j["stats"];
    o << "\nL8 Enrichment Stats (last " << s.value("window_s", 300) / 60 << " min):\n";
    const json& devs = s.value("devices", json::array());
    for (size_t i = 0; i < devs.size(); ++i) {
      const json& d = devs[i];
      std::string label = "Device " + std::to_string(d.value("device", 0)) + " (" + d.value("name", "") + "):";
      o << "  " << (i + 1 == devs.size() ? "\u2514\u2500 " : "\u251c\u2500 ") << Pad(label, 32);
      if (d.contains("proposals")) {
        o << Thousands(d["proposals"].get<uint64_t>()) << " proposals generated\n";
      } else {
        uint64_t f = d.value("flags", uint64_t(0));
        uint64_t n = d.value("events", uint64_t(0));
        o << Thousands(n) << (n == 1 ? " event, " : " events, ") << Thousands(f) << (f == 1 ? " flag" : " flags")
          << "\n";
      }
    }
  }
  if (j.contains("shrink") && j["shrink"].is_object()) {
    const json& s = j["shrink"];
    char buf[160];
    std::snprintf(buf, sizeof buf, "\nSHRINK Risk: %.2f (%s) - Acute Stress: %.2f, Hyperfocus: %.2f\n",
                  s.value("risk", 0.0), s.value("level", "").c_str(), s.value("acute_stress", 0.0),
                  s.value("hyperfocus", 0.0));
    o << buf;
  }
  return o.str();
}

struct Fetched {
  int exit_code = 0;  // 0 ok; else the command's exit status
  std::string error;
  json body;
  std::string raw;
};

Fetched Fetch(const CtlConfig& cfg, const CtlNode& n, const TopArgs& a) {
  Fetched f;
  net::HttpClientRequest req;
  req.url = n.url + "/v1/soc/top?tenant=" + a.tenant + "&limit=" + std::to_string(a.limit);
  if (!a.severity.empty()) req.url += "&severity=" + a.severity;
  if (!a.category.empty()) req.url += "&category=" + a.category;
  req.timeout = std::chrono::seconds(10);
  req.ca_file = n.cert;
  req.cert_file = cfg.operator_cert;
  req.key_file = cfg.operator_key;
  auto resp = net::HttpFetch(req);
  if (!resp.ok()) {
    f.exit_code = 1;
    f.error = n.name + ": " + resp.status().message();
    return f;
  }
  json body = json::parse(resp->body, nullptr, false);
  if (resp->status != 200) {
    std::string why = body.is_object() && body.contains("error") && body["error"].is_string()
                          ? body["error"].get<std::string>()
                          : resp->body.substr(0, 200);
    f.exit_code = resp->status == 400 ? 2 : 1;
    f.error = n.name + " refused (HTTP " + std::to_string(resp->status) + "): " + why;
    return f;
  }
  if (body.is_discarded() || !body.is_object()) {
    f.exit_code = 1;
    f.error = n.name + ": the answer is not a JSON object";
    return f;
  }
  f.body = std::move(body);
  f.raw = resp->body;
  return f;
}

// Raw terminal mode for the live view; restored on destruction.
class RawTerminal {
 public:
  RawTerminal() {
    if (::tcgetattr(STDIN_FILENO, &saved_) != 0) return;
    termios raw = saved_;
    raw.c_lflag &= ~tcflag_t(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    ok_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
  }
  ~RawTerminal() {
    if (ok_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  bool ok() const { return ok_; }

 private:
  termios saved_{};
  bool ok_ = false;
};

int Run(TopArgs a, Context& ctx) {
  if (a.tenant.empty()) {
    Fail(ctx, 2, "soc top: --tenant is required");
    return 2;
  }
  if (a.output != "table" && a.output != "json") {
    Fail(ctx, 2, "soc top: -o must be table or json");
    return 2;
  }
  if (a.interval_s < 1 || a.interval_s > 3600) {
    Fail(ctx, 2, "soc top: --interval must be 1..3600 seconds");
    return 2;
  }
  auto cfg = LoadCtlConfig(ctx.config_path);
  if (!cfg.ok()) {
    Fail(ctx, 2, cfg.status().message());
    return 2;
  }
  const CtlNode* node = nullptr;
  for (const auto& n : cfg->nodes) {
    if (!a.node.empty() ? EqualsIgnoreCaseAscii(n.name, a.node) : EqualsIgnoreCaseAscii(n.name, "NODE-A")) node = &n;
  }
  if (!node && a.node.empty() && !cfg->nodes.empty()) node = &cfg->nodes.front();
  if (!node) {
    Fail(ctx, 2,
         a.node.empty() ? "no nodes configured (dsmilctl config add-node NAME URL --cert CA)"
                        : "no configured node named " + a.node);
    return 2;
  }
  bool live = !a.once && ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO) && a.output == "table";
  if (!live) {
    Fetched f = Fetch(*cfg, *node, a);
    if (f.exit_code != 0) {
      Fail(ctx, f.exit_code, f.error);
      return f.exit_code;
    }
    if (a.output == "json")
      std::cout << f.body.dump(2) << "\n";
    else
      std::cout << Render(f.body, a, false);
    return 0;
  }
  RawTerminal term;
  size_t filter = 0;
  for (;;) {
    Fetched f = Fetch(*cfg, *node, a);
    if (f.exit_code != 0) {
      std::cout << "\x1b[H\x1b[2J" << std::flush;
      Fail(ctx, f.exit_code, f.error);
      return f.exit_code;
    }
    std::cout << "\x1b[H\x1b[2J" << Render(f.body, a, true) << std::flush;
    // Wait for a key or the next refresh.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(a.interval_s);
    bool refresh = false;
    while (!refresh) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{STDIN_FILENO, POLLIN, 0};
      if (::poll(&p, 1, int(left.count())) <= 0) continue;
      char c = 0;
      if (::read(STDIN_FILENO, &c, 1) != 1) {
        ::usleep(100000);
        continue;
      }
      if (c == 'q' || c == 'Q') {
        std::cout << "\n";
        return 0;
      }
      if (c == 'f' || c == 'F') {
        filter = (filter + 1) % (sizeof kFilters / sizeof kFilters[0]);
        a.severity = kFilters[filter][0];
        a.category = kFilters[filter][1];
        refresh = true;
      }
    }
  }
}

CommandGroup soc_commands([](CLI::App& app, Context& ctx) {
  auto* soc = Group(app, "soc", "SOC pipeline views");
  auto a = std::make_shared<TopArgs>();
  auto* top = soc->add_subcommand("top", "Live view of a tenant's enriched SOC events and L8 statistics");
  top->add_option("--tenant", a->tenant, "Tenant, e.g. ALPHA (the operator certificate must cover it)")->required();
  top->add_option("--node", a->node, "Configured node to ask (default NODE-A, else the first)");
  top->add_option("--interval", a->interval_s, "Refresh interval in seconds (default 5)");
  top->add_option("--limit", a->limit, "Events shown (1..500, default 20)");
  top->add_option("--severity", a->severity, "Only this severity (LOW, MEDIUM, HIGH, CRITICAL)");
  top->add_option("--category", a->category, "Only this category (NETWORK, CRYPTO, SOC, IDENTITY, MALWARE, INSIDER)");
  top->add_flag("--once", a->once, "Print one view and exit");
  top->add_option("-o,--output", a->output, "table (default) or json");
  top->callback([a, &ctx] { ctx.exit_code = Run(*a, ctx); });
});

}  // namespace
}  // namespace dsmil::ctl
