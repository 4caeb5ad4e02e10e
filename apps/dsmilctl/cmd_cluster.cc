// dsmilctl config add-node | remove-node | set-operator | show, and dsmilctl status:
// the unified multi-node view of the cluster (spec §8.1).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <future>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "commands.h"
#include "ctl_config.h"
#include "devices/catalog.h"
#include "net/http_client.h"
#include "node/status.h"
#include "text_util.h"

namespace dsmil::ctl {
namespace {

using node::NodeStatus;

struct NodeReport {
  CtlNode node;
  bool reachable = false;
  std::string error;  // why it is DOWN
  NodeStatus status;
};

NodeReport FetchNode(const CtlConfig& cfg, const CtlNode& n, std::chrono::milliseconds timeout) {
  NodeReport r;
  r.node = n;
  net::HttpClientRequest req;
  req.url = n.url + "/v1/status";
  req.timeout = timeout;
  req.max_response_bytes = node::kMaxStatusJsonBytes;
  req.ca_file = n.cert;
  req.cert_file = cfg.operator_cert;
  req.key_file = cfg.operator_key;
  auto resp = net::HttpFetch(req);
  if (!resp.ok()) {
    r.error = resp.status().message();
    return r;
  }
  if (resp->status != 200) {
    r.error = "control API answered HTTP " + std::to_string(resp->status) + ": " + resp->body.substr(0, 200);
    return r;
  }
  auto st = node::NodeStatusFromJson(resp->body);
  if (!st.ok()) {
    r.error = st.status().message();
    return r;
  }
  r.reachable = true;
  r.status = std::move(*st);
  return r;
}

struct Style {
  bool color = false;
  std::string Green(const std::string& s) const { return color ? "\033[32m" + s + "\033[0m" : s; }
  std::string Yellow(const std::string& s) const { return color ? "\033[33m" + s + "\033[0m" : s; }
  std::string Red(const std::string& s) const { return color ? "\033[31m" + s + "\033[0m" : s; }
  std::string Dim(const std::string& s) const { return color ? "\033[2m" + s + "\033[0m" : s; }
  std::string Bold(const std::string& s) const { return color ? "\033[1m" + s + "\033[0m" : s; }
};

std::string Badge(const Style& st, std::string_view health) {
  if (health == node::kHealthy) return st.Green("✓ HEALTHY");
  if (health == "DOWN") return st.Red("✗ DOWN");
  if (health == node::kFailed) return st.Red("✗ FAILED");
  if (health == node::kNotImplemented) return st.Dim("○ NOT IMPLEMENTED");
  if (health == node::kStarting) return st.Yellow("… STARTING");
  return st.Yellow("⚠ " + std::string(health));
}

std::string Gb(uint64_t bytes) {
  char buf[32];
  double gb = double(bytes) / double(1ull << 30);
  if (gb < 1.0) {
    std::snprintf(buf, sizeof buf, "%.0f MB", double(bytes) / double(1ull << 20));
  } else {
    std::snprintf(buf, sizeof buf, gb >= 10 ? "%.0f GB" : "%.1f GB", gb);
  }
  return buf;
}

std::string Pad(const std::string& s, size_t width) {
  // Pads by display width (count UTF-8 code points, not bytes).
  size_t cps = 0;
  for (unsigned char c : s) cps += (c & 0xC0) != 0x80;
  return cps >= width ? s + " " : s + std::string(width - cps, ' ');
}

struct LayerSummary {
  std::string layer;
  int devices = 0;
  int implemented = 0;
  int unhealthy = 0;
  uint64_t budget = 0;
  std::optional<double> p99;
  // The device of the layer closest to (or furthest past) its spec §6.1 p99
  // SLO: its p99, its SLO and the ratio of the two.
  int slo_device = 0;
  double slo_p99 = 0, slo_ms = 0, slo_ratio = 0;
  std::string reason;
  // Devices' status details ("COAs: 3 pending"), each with the ids that
  // reported it, in first-seen order.
  std::vector<std::pair<std::string, std::vector<int>>> details;
};

// A layer at this share of its latency SLO is shown DEGRADED.
constexpr double kSloNearRatio = 0.9;

std::string LayerDisplay(const std::string& layer) {
  auto l = devices::ParseLayer(layer);
  return l.ok() ? std::string(devices::LayerDisplayName(*l)) : layer;
}

// "14-17, 19-22" for {14, 15, 16, 17, 19, 20, 21, 22}.
std::string IdRanges(std::vector<int> ids) {
  std::sort(ids.begin(), ids.end());
  std::string out;
  for (size_t i = 0; i < ids.size();) {
    size_t j = i;
    while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) ++j;
    out += (out.empty() ? "" : ", ") + std::to_string(ids[i]) + (j > i ? "-" + std::to_string(ids[j]) : "");
    i = j + 1;
  }
  return out;
}

std::vector<LayerSummary> Summarise(const NodeStatus& s) {
  std::vector<LayerSummary> out;
  for (const auto& d : s.devices) {
    auto it = std::find_if(out.begin(), out.end(), [&](auto& l) { return l.layer == d.layer; });
    if (it == out.end()) {
      LayerSummary l;
      l.layer = d.layer;
      out.push_back(std::move(l));
      it = out.end() - 1;
    }
    it->devices++;
    it->budget += d.memory_budget_bytes;
    if (d.health != node::kNotImplemented) {
      it->implemented++;
      if (d.health != node::kHealthy) {
        it->unhealthy++;
        if (it->reason.empty()) it->reason = "device " + std::to_string(d.id) + ": " + d.reason;
      }
    }
    if (d.p99_latency_ms && (!it->p99 || *d.p99_latency_ms > *it->p99)) it->p99 = d.p99_latency_ms;
    if (auto slo = devices::LatencySloMs(d.id); slo && d.p99_latency_ms && *d.p99_latency_ms / *slo > it->slo_ratio) {
      it->slo_device = d.id;
      it->slo_p99 = *d.p99_latency_ms;
      it->slo_ms = *slo;
      it->slo_ratio = *d.p99_latency_ms / *slo;
    }
    if (!d.detail.empty()) {
      auto same = std::find_if(it->details.begin(), it->details.end(), [&](auto& x) { return x.first == d.detail; });
      if (same == it->details.end()) {
        it->details.push_back({d.detail, {d.id}});
      } else {
        same->second.push_back(d.id);
      }
    }
  }
  return out;
}

// Whole-cluster verdict: 0 healthy, 1 degraded or a node down.
int Verdict(const std::vector<NodeReport>& reports) {
  for (const auto& r : reports) {
    if (!r.reachable || r.status.health != node::kHealthy) return 1;
  }
  return 0;
}

void RenderText(std::ostream& os, const std::vector<NodeReport>& reports, const Style& st) {
  const std::string rule(66, '\0');
  std::string line;
  for (int i = 0; i < 66; ++i) line += "━";
  os << st.Bold("DSMIL Cluster Status (v5.0)") << "\n" << line << "\n\n";
  std::map<std::string, node::TenantStatus> tenants;
  std::vector<std::string> slo_notes;
  for (const auto& r : reports) {
    if (!r.reachable) {
      os << st.Bold(r.node.name) << " - " << r.node.url << "   " << Badge(st, "DOWN") << "\n";
      os << "  └─ " << r.error << "\n\n";
      continue;
    }
    const auto& s = r.status;
    std::string up;
    {
      int64_t secs = int64_t(s.uptime_seconds);
      up = secs < 120    ? std::to_string(secs) + "s"
           : secs < 7200 ? std::to_string(secs / 60) + "m"
                         : std::to_string(secs / 3600) + "h";
    }
    if (s.restarts > 0) up += ", restarted " + std::to_string(s.restarts) + "×";
    os << st.Bold(r.node.name) << " (" << s.role_display << ") - " << s.address << "   " << Badge(st, s.health)
       << st.Dim("   " + s.node + ", up " + up + ", " + Gb(s.rss_bytes) + " RSS of " + Gb(s.memory_total_bytes))
       << "\n";
    if (!s.reason.empty() && s.health != node::kHealthy) os << "  │  " << s.reason << "\n";
    auto layers = Summarise(s);
    size_t n_lines = layers.size() + s.components.size();
    size_t i = 0;
    for (const auto& l : layers) {
      bool last = ++i == n_lines;
      std::string health = l.implemented == 0 ? std::string(node::kNotImplemented)
                           : l.unhealthy      ? std::string(node::kDegraded)
                                              : std::string(node::kHealthy);
      // Spec §8.1: a layer at 90% of its latency SLO or past it shows DEGRADED
      // with the SLO beside the figure (the exit code follows node health only).
      if (l.slo_device && l.slo_ratio >= kSloNearRatio && health == node::kHealthy) {
        health = std::string(node::kDegraded);
        slo_notes.push_back(LayerDisplay(l.layer) + " latency " +
                            (l.slo_ratio > 1.0 ? "over its SLO" : "near its SLO limit") + " (device " +
                            std::to_string(l.slo_device) + ")");
      }
      std::string detail = "budget " + Gb(l.budget);
      if (l.implemented > 0 && l.implemented < l.devices) {
        detail += ", " + std::to_string(l.implemented) + "/" + std::to_string(l.devices) + " implemented";
      }
      if (l.slo_device) {
        detail += ", Latency: " + Thousands(uint64_t(std::llround(l.slo_p99))) + "ms (p99)";
        if (l.slo_ratio >= kSloNearRatio) detail += " [SLO: " + Thousands(uint64_t(l.slo_ms)) + "ms]";
      } else if (l.p99) {
        detail += ", Latency: " + Thousands(uint64_t(std::llround(*l.p99))) + "ms (p99)";
      }
      // A detail several devices share is shown once with their ids.
      for (const auto& [text, ids] : l.details) {
        detail += ", " + text + (ids.size() > 1 ? " (" + IdRanges(ids) + ")" : "");
      }
      if (!l.reason.empty()) detail += ", " + l.reason;
      os << "  " << (last ? "└─ " : "├─ ") << Pad(LayerDisplay(l.layer), 16)
         << Pad("[" + std::to_string(l.devices) + (l.devices == 1 ? " device]" : " devices]"), 13)
         << Pad(Badge(st, health), 19) << st.Dim(detail) << "\n";
    }
    for (const auto& c : s.components) {
      bool last = ++i == n_lines;
      os << "  " << (last ? "└─ " : "├─ ") << Pad(c.name, 29) << Pad(Badge(st, c.health), 19) << st.Dim(c.detail)
         << "\n";
    }
    if (n_lines == 0) os << "  └─ " << st.Dim("(no devices)") << "\n";
    if (!s.peers.empty()) {
      os << "  DBE peers:";
      for (size_t k = 0; k < s.peers.size(); ++k) {
        const auto& p = s.peers[k];
        os << (k ? ", " : " ") << p.name << " " << (p.state == "UP" ? st.Green("UP") : st.Red(p.state));
        std::string detail = p.transport;
        if (p.queued) detail += ", " + std::to_string(p.queued) + " queued";
        if (!p.reason.empty()) detail += ", " + p.reason;
        os << st.Dim(" (" + detail + ")");
      }
      os << "\n";
    }
    os << "\n";
    for (const auto& t : s.tenants) tenants.emplace(t.id, t);
  }
  if (!tenants.empty()) {
    os << "Tenants:\n";
    size_t i = 0;
    for (const auto& [id, t] : tenants) {
      os << "  " << (++i == tenants.size() ? "└─ " : "├─ ") << Pad(id, 7) << Pad("[" + t.roe_level + "]", 16);
      std::string comps;
      for (const auto& c : t.compartments) comps += (comps.empty() ? "" : "+") + c;
      os << st.Dim(comps) << "\n";
    }
    os << "\n";
  }
  int down = 0, degraded = 0;
  for (const auto& r : reports) {
    if (!r.reachable) {
      down++;
    } else if (r.status.health != node::kHealthy) {
      degraded++;
    }
  }
  os << "Overall Cluster Health: ";
  if (reports.empty()) {
    os << st.Yellow("⚠ UNKNOWN") << " (no nodes configured: dsmilctl config add-node NAME URL --cert CA)\n";
  } else if (down) {
    os << st.Red("✗ DEGRADED") << " (" << down << " of " << reports.size() << " nodes down)\n";
  } else if (degraded) {
    os << st.Yellow("⚠ DEGRADED") << " (" << degraded << " of " << reports.size() << " nodes degraded)\n";
  } else if (!slo_notes.empty()) {
    os << st.Yellow("⚠ DEGRADED") << " (";
    for (size_t k = 0; k < slo_notes.size(); ++k) os << (k ? "; " : "") << slo_notes[k];
    os << ")\n";
  } else {
    os << st.Green("✓ HEALTHY") << " (" << reports.size() << (reports.size() == 1 ? " node)\n" : " nodes)\n");
  }
}

std::string RenderJson(const std::vector<NodeReport>& reports) {
  nlohmann::json j;
  j["nodes"] = nlohmann::json::array();
  for (const auto& r : reports) {
    nlohmann::json n = {{"name", r.node.name}, {"url", r.node.url}};
    if (r.reachable) {
      n["health"] = r.status.health;
      n["status"] = nlohmann::json::parse(node::NodeStatusToJson(r.status));
    } else {
      n["health"] = "DOWN";
      n["error"] = r.error;
    }
    j["nodes"].push_back(std::move(n));
  }
  j["healthy"] = Verdict(reports) == 0 && !reports.empty();
  return j.dump(2);
}

std::string Upper(std::string s) {
  for (auto& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

static CommandGroup cluster_commands([](CLI::App& app, Context& ctx) {
  // ---- config
  auto* config = app.add_subcommand("config", "Nodes and operator identity dsmilctl uses");
  config->require_subcommand(1);

  struct AddNode {
    std::string name, url, cert;
  };
  auto add = std::make_shared<AddNode>();
  auto* add_node = config->add_subcommand("add-node", "Register (or update) a node's control API");
  add_node->add_option("name", add->name, "Node name, e.g. NODE-A")->required();
  add_node->add_option("url", add->url, "Control API URL, e.g. https://node-a.dsmil.local:8099")->required();
  add_node->add_option("--cert", add->cert, "Certificate that authenticates the node (cluster CA)")->required();
  add_node->callback([add, &ctx] {
    if (add->url.rfind("https://", 0) != 0) {
      return Fail(ctx, 2, "config add-node: URL must start with https:// (got '" + add->url + "')");
    }
    auto parsed = net::ParseHttpUrl(add->url);
    if (!parsed.ok()) return Fail(ctx, 2, "config add-node: " + parsed.status().message());
    if (access(add->cert.c_str(), R_OK) != 0) return Fail(ctx, 2, "config add-node: cannot read --cert " + add->cert);
    auto cfg = LoadCtlConfig(ctx.config_path);
    if (!cfg.ok()) return Fail(ctx, 2, cfg.status().message());
    std::string name = Upper(add->name);
    auto it = std::find_if(cfg->nodes.begin(), cfg->nodes.end(), [&](auto& n) { return n.name == name; });
    std::string abs_cert = std::filesystem::absolute(add->cert).lexically_normal().string();
    CtlNode n{name, add->url, abs_cert};
    bool updated = it != cfg->nodes.end();
    if (updated) {
      *it = n;
    } else {
      cfg->nodes.push_back(n);
    }
    Status s = SaveCtlConfig(ctx.config_path, *cfg);
    if (!s.ok()) return Fail(ctx, 2, s.message());
    std::cout << (updated ? "updated " : "added ") << name << " " << add->url << " in " << ctx.config_path << "\n";
  });

  auto rm_name = std::make_shared<std::string>();
  auto* rm = config->add_subcommand("remove-node", "Forget a node");
  rm->add_option("name", *rm_name, "Node name")->required();
  rm->callback([rm_name, &ctx] {
    auto cfg = LoadCtlConfig(ctx.config_path);
    if (!cfg.ok()) return Fail(ctx, 2, cfg.status().message());
    std::string name = Upper(*rm_name);
    auto before = cfg->nodes.size();
    std::erase_if(cfg->nodes, [&](auto& n) { return n.name == name; });
    if (cfg->nodes.size() == before) return Fail(ctx, 2, "config remove-node: no node named " + name);
    Status s = SaveCtlConfig(ctx.config_path, *cfg);
    if (!s.ok()) return Fail(ctx, 2, s.message());
    std::cout << "removed " << name << "\n";
  });

  auto op = std::make_shared<std::pair<std::string, std::string>>();
  auto* set_op = config->add_subcommand("set-operator", "Client certificate presented to control APIs");
  set_op->add_option("--cert", op->first, "Operator certificate (PEM)")->required();
  set_op->add_option("--key", op->second, "Operator private key (PEM, mode 0600)")->required();
  set_op->callback([op, &ctx] {
    for (const auto& f : {op->first, op->second}) {
      if (access(f.c_str(), R_OK) != 0) return Fail(ctx, 2, "config set-operator: cannot read " + f);
    }
    auto cfg = LoadCtlConfig(ctx.config_path);
    if (!cfg.ok()) return Fail(ctx, 2, cfg.status().message());
    cfg->operator_cert = std::filesystem::absolute(op->first).lexically_normal().string();
    cfg->operator_key = std::filesystem::absolute(op->second).lexically_normal().string();
    Status s = SaveCtlConfig(ctx.config_path, *cfg);
    if (!s.ok()) return Fail(ctx, 2, s.message());
    std::cout << "operator certificate set in " << ctx.config_path << "\n";
  });

  auto* show = config->add_subcommand("show", "Print the configuration");
  show->callback([&ctx] {
    auto cfg = LoadCtlConfig(ctx.config_path);
    if (!cfg.ok()) return Fail(ctx, 2, cfg.status().message());
    std::cout << "config: " << ctx.config_path
              << "\noperator: " << (cfg->operator_cert.empty() ? "(none)" : cfg->operator_cert) << "\n";
    for (const auto& n : cfg->nodes) std::cout << n.name << "  " << n.url << "  cert " << n.cert << "\n";
  });

  // ---- status
  struct StatusOpts {
    std::string node, output = "text";
    double watch = 5, interval = 5, timeout = 3;
  };
  auto so = std::make_shared<StatusOpts>();
  auto* status = app.add_subcommand("status", "Unified multi-node status (exit 0 healthy, 1 degraded/down)");
  status->add_option("--node", so->node, "Only this node (e.g. NODE-A)");
  status->add_option("-o,--output", so->output, "text or json")->check(CLI::IsMember({"text", "json"}));
  // --watch [SECONDS]: redraw every SECONDS (default 5) until interrupted.
  auto* watch = status->add_option("--watch", so->watch, "Redraw every SECONDS (default 5) until interrupted")
                    ->expected(0, 1)
                    ->default_str("5")
                    ->type_name("[SECONDS]")
                    ->check(CLI::Range(0.2, 3600.0));
  auto* interval = status->add_option("--interval", so->interval, "Seconds between redraws (same as --watch SECONDS)")
                       ->check(CLI::Range(0.2, 3600.0));
  status->add_option("--timeout", so->timeout, "Seconds to wait for each node")->check(CLI::Range(0.1, 120.0));
  status->callback([so, watch, interval, &ctx] {
    const bool watching = watch->count() > 0;
    const double every = interval->count() > 0 ? so->interval : so->watch;
    auto cfg = LoadCtlConfig(ctx.config_path);
    if (!cfg.ok()) return Fail(ctx, 2, cfg.status().message());
    std::vector<CtlNode> nodes = cfg->nodes;
    if (!so->node.empty()) {
      std::string want = Upper(so->node);
      std::erase_if(nodes, [&](auto& n) { return n.name != want; });
      if (nodes.empty()) return Fail(ctx, 2, "status: no node named " + want + " in " + ctx.config_path);
    }
    Style style;
    const char* no_color = std::getenv("NO_COLOR");
    style.color = isatty(STDOUT_FILENO) && !(no_color && *no_color) && so->output == "text";
    auto timeout = std::chrono::milliseconds(int64_t(so->timeout * 1000));
    for (;;) {
      std::vector<std::future<NodeReport>> futures;
      futures.reserve(nodes.size());
      for (const auto& n : nodes) futures.push_back(std::async(std::launch::async, FetchNode, *cfg, n, timeout));
      std::vector<NodeReport> reports;
      reports.reserve(futures.size());
      for (auto& f : futures) reports.push_back(f.get());
      std::ostringstream os;
      if (so->output == "json") {
        os << RenderJson(reports) << "\n";
      } else {
        RenderText(os, reports, style);
      }
      if (watching && style.color) std::cout << "\033[H\033[2J";
      std::cout << os.str() << std::flush;
      ctx.exit_code = nodes.empty() ? 1 : Verdict(reports);
      if (!watching) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(int64_t(every * 1000)));
      if (!style.color) std::cout << "\n";
    }
  });
});

}  // namespace dsmil::ctl
