#include "node/node.h"

#include <sys/sysinfo.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/clock.h"
#include "core/dsmil_metrics.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/mutex.h"
#include "devices/authz.h"
#include "devices/catalog.h"
#include "devices/device.h"
#include "devices/shrink/config.h"
#include "devices/shrink/forwarder.h"
#include "devices/shrink/monitor.h"
#include "devices/shrink/service.h"
#include "devices/soc/soc_metrics.h"
#include "net/http_server.h"
#include "net/identity.h"
#include "net/quic.h"
#include "net/tcp_tls.h"
#include "node/control_routes.h"
#include "node/router.h"
#include "store/archive.h"
#include "store/audit_checkpoint.h"
#include "store/audit_sink.h"
#include "store/file_mode.h"
#include "store/isolation_audit.h"
#include "store/scope.h"
#include "store/streams.h"
#include "store/tenant_log.h"
#include "store/vectors.h"
#include "tenant/claims.h"

namespace dsmil::node {
namespace {

uint64_t RssBytes() {
  std::ifstream f("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * uint64_t(sysconf(_SC_PAGESIZE));
}

// Largest body of POST /v1/dbe: one DBE frame.
constexpr size_t kMaxDbeBodyBytes = (1u << 20) + 64;
// How long POST /v1/dbe waits for the reply.
constexpr auto kDbeReplyTimeout = std::chrono::seconds(30);
// Connect + handshake limit of one dial to a peer (a stopping node waits for
// a dial in progress).
constexpr auto kDbeDialTimeout = std::chrono::milliseconds(3000);

Result<HostPort> SplitHostPort(const std::string& s) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos) return Status::InvalidArgument("'" + s + "' is not host:port");
  HostPort hp;
  hp.host = s.substr(0, colon);
  if (hp.host.size() > 2 && hp.host.front() == '[' && hp.host.back() == ']') {
    hp.host = hp.host.substr(1, hp.host.size() - 2);
  }
  hp.port = uint16_t(std::stoi(s.substr(colon + 1)));
  return hp;
}

// Where the tenants' claim keys live: <secrets_dir>/claims, as the L7 router
// finds them (docs/l7.md). "" when the node has no stores.
std::string ClaimsDir(const store::StoresConfig& sc) {
  if (!sc.secrets_dir.empty()) return sc.secrets_dir + "/claims";
  if (!sc.path.empty()) return sc.path + "/secrets/claims";
  return "";
}

// Lifetime of the claim POST /v1/dbe issues for an operator (one request).
constexpr std::chrono::seconds kOperatorClaimLifetime{300};

uint64_t MemTotalBytes() {
  struct sysinfo si {};
  if (sysinfo(&si) != 0) return 0;
  return uint64_t(si.totalram) * si.mem_unit;
}

// Copies every log event labelled with a tenant into that tenant's log
// (store/tenant_log.h): the per-tenant files `dsmilctl logs` reads, and Loki
// when configured. Events without a tenant stay in the node's own log only.
// The labels come with the record (core/log.h); the line is not parsed back.
class TenantLogTee final : public LogSink {
 public:
  explicit TenantLogTee(std::unique_ptr<store::TenantLogSink> sink, std::string node)
      : sink_(std::move(sink)), node_(std::move(node)) {}
  ~TenantLogTee() override {
    MutexLock lock(mu_);
    (void)sink_->Flush();
  }
  void Write(const LogRecord& r) override {
    if (r.tenant.empty()) return;
    store::TenantLogLine t;
    t.ts_ns = r.ts_ns;
    t.tenant = std::string(r.tenant);
    t.node = node_;
    t.layer = std::string(r.layer);
    t.device = r.device.value_or(-1);
    t.line = std::string(r.line);
    while (!t.line.empty() && t.line.back() == '\n') t.line.pop_back();
    MutexLock lock(mu_);
    Note(sink_->Write(t));
    if (++since_flush_ >= 64) {
      Note(sink_->Flush());
      since_flush_ = 0;
    }
  }
  void Flush() {
    MutexLock lock(mu_);
    Note(sink_->Flush());
    since_flush_ = 0;
  }
  // Failed writes since start and the last error (shown by /v1/status and
  // counted in dsmil_tenant_log_write_errors_total): never dropped silently.
  uint64_t write_errors() const { return errors_.load(); }
  std::string last_error() const {
    MutexLock lock(mu_);
    return last_error_;
  }
  void set_error_counter(Counter* c) { error_counter_ = c; }

 private:
  void Note(const Status& st) DSMIL_REQUIRES(mu_) {
    if (st.ok()) return;
    errors_++;
    last_error_ = st.message();
    if (error_counter_ != nullptr) error_counter_->Inc();
  }

  mutable Mutex mu_;
  std::unique_ptr<store::TenantLogSink> sink_ DSMIL_GUARDED_BY(mu_);
  const std::string node_;
  int since_flush_ DSMIL_GUARDED_BY(mu_) = 0;
  std::atomic<uint64_t> errors_{0};
  std::string last_error_ DSMIL_GUARDED_BY(mu_);
  Counter* error_counter_ = nullptr;
};

// Hands the log events marked as operator input (message "operator input",
// labelled with a tenant, the text in the field "text") to SHRINK
// (docs/shrink.md §1). Writes no log line itself.
class OperatorInputSink final : public LogSink {
 public:
  explicit OperatorInputSink(devices::OperatorTextSink to) : to_(std::move(to)) {}
  void Write(const LogRecord& r) override {
    if (r.msg != "operator input" || r.tenant.empty()) return;
    auto j = nlohmann::json::parse(r.line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) return;
    auto text = j.find("text");
    if (text == j.end() || !text->is_string()) return;
    to_(std::string(r.tenant), "operator_log", text->get_ref<const std::string&>());
  }

 private:
  devices::OperatorTextSink to_;
};

}  // namespace

// Members are destroyed in reverse order: what devices use (router, audit
// sink, claim keys, log) is declared before them, the servers that call
// into devices after them.
struct Node::Impl {
  NodeConfig config;
  Logger log;
  Registry registry;
  std::unique_ptr<StandardMetrics> metrics;
  std::unique_ptr<soc::SocMetrics> soc_metrics;  // dsmil_stream_entries_total of ingest
  Family<Counter>* http_requests = nullptr;
  std::shared_ptr<TenantLogTee> tenant_logs;  // null without stores.path
  std::shared_ptr<FileSink> log_file;         // null without logging.file
  std::unique_ptr<store::AuditSink> audit;
  std::unique_ptr<store::AuditCheckpointer> audit_checkpoints;  // null when off
  std::unique_ptr<store::IsolationAuditor> isolation_auditor;   // data node only; null when off
  // Claim keys of the tenants (<secrets_dir>/claims): POST /v1/dbe issues an
  // operator claim with them, devices verify claims (devices/authz.h). Null
  // without stores.
  std::unique_ptr<tenant::ClaimKeyring> claim_keys;
  std::unique_ptr<tenant::ClaimVerifier> claim_verifier;
  std::unique_ptr<tenant::ClaimIssuer> claim_issuer;
  std::unique_ptr<Router> router;
  // SHRINK (docs/shrink.md): the monitor and its listener when it runs here,
  // or the forwarder to the node that runs it. Operator text reaches them
  // only while `shrink_open` (until Stop).
  std::unique_ptr<devices::shrink::ShrinkMonitor> shrink;
  std::unique_ptr<devices::shrink::ShrinkService> shrink_service;
  std::unique_ptr<devices::shrink::ShrinkForwarder> shrink_forward;
  std::string shrink_listen;  // host:port of the listener, or the forward URL
  std::atomic<bool> shrink_open{false};
  std::vector<std::unique_ptr<devices::Device>> devices;
  size_t started_devices = 0;  // devices[0, started_devices) were started
  int64_t started_ns = 0;
  uint64_t restarts = 0;  // DSMIL_RESTARTS: how often a supervisor restarted this node
  std::unique_ptr<net::HttpServer> http;
  std::unique_ptr<net::HttpServer> control;
  std::atomic<bool> stopping{false};
  std::once_flag stop_once;

  explicit Impl(NodeConfig c) : config(std::move(c)) {}

  // Components of the node other than devices.
  std::vector<ComponentStatus> Components() const {
    std::vector<ComponentStatus> out;
    if (config.role == Role::kData) {
      ComponentStatus dir{"Data directory", std::string(kHealthy), config.stores.path};
      std::error_code ec;
      if (config.stores.path.empty()) {
        dir.health = kFailed;
        dir.detail = "stores.path is not configured";
      } else if (!std::filesystem::is_directory(config.stores.path, ec) ||
                 access(config.stores.path.c_str(), W_OK) != 0) {
        dir.health = kFailed;
        dir.detail = config.stores.path + " is not a writable directory";
      }
      out.push_back(dir);
      StoreComponents(out);
    }
    if (shrink) {
      out.push_back({"SHRINK", std::string(shrink_service ? kHealthy : kFailed),
                     ShrinkDetail([](const std::string&) { return false; })});
    } else if (shrink_forward) {
      out.push_back({"SHRINK (forward)", std::string(kHealthy), "operator text to " + shrink_listen});
    }
    if (log_file) {
      // The node's own log file: lines that could not be written are shown
      // here (the logger itself must not fail its caller).
      ComponentStatus file{"Node log", std::string(kHealthy), log_file->path()};
      if (uint64_t failed = log_file->failed_writes(); failed > 0) {
        file.health = kDegraded;
        file.detail = log_file->path() + ": " + std::to_string(failed) + " line(s) could not be written";
      }
      out.push_back(file);
    }
    return out;
  }

  // The SHRINK line of /v1/status: the highest risk among the tenants
  // `covers` accepts, and which tenant it is (docs/shrink.md §4).
  std::string ShrinkDetail(const std::function<bool(const std::string&)>& covers) const {
    std::optional<devices::shrink::TenantRisk> top;
    size_t shown = 0;
    uint64_t texts = 0;
    for (const auto& t : shrink->tenants()) {
      if (!covers(t)) continue;
      auto r = shrink->Risk(t);
      if (!r.ok()) continue;
      shown++;
      texts += r->texts;
      if (!top || r->risk > top->risk) top = *r;
    }
    if (!top) return "listening on " + shrink_listen + " (risk shown for the tenants a certificate covers)";
    char buf[64];
    std::snprintf(buf, sizeof buf, "Risk: %.2f (%s)", top->risk, std::string(top->level).c_str());
    std::string d = buf;
    if (shown > 1 && top->texts > 0) d += ", highest: " + top->tenant_id;
    d += "; " + std::to_string(texts) + (texts == 1 ? " text" : " texts") + ", " + shrink_listen;
    return d;
  }

  // Operator text of a tenant (DeviceContext::operator_text, the operator
  // input log sink): scored here, or forwarded to the node that runs SHRINK.
  void OperatorText(const std::string& tenant, std::string_view source, std::string_view text) {
    if (!shrink_open.load()) return;
    auto src = devices::shrink::ParseTextSource(source);
    if (!src.ok()) return;
    if (shrink) {
      (void)shrink->Ingest(tenant, *src, text);  // an unknown tenant is counted by the monitor
    } else if (shrink_forward && IsNodeTenant(tenant)) {
      shrink_forward->Submit(tenant, *src, text);
    }
  }

  // Store handles /v1/status asks, per tenant: opened on first use with the
  // tenant's own credentials and kept; a handle that fails is dropped and
  // reopened by the next request.
  struct StatusHandles {
    std::unique_ptr<store::Streams> streams;
    std::unique_ptr<store::Archive> archive;
    std::unique_ptr<store::Vectors> vectors;
  };
  mutable Mutex status_mu;
  mutable std::map<std::string, StatusHandles> status_handles DSMIL_GUARDED_BY(status_mu);

  // One line per store, each asked a cheap question for every tenant, so the
  // status shows a store that cannot be reached for any of them.
  void StoreComponents(std::vector<ComponentStatus>& out) const {
    const store::StoresConfig& sc = config.stores;
    bool servers = sc.kind == "servers";
    std::string streams_name =
        servers ? "Streams (Redis " + sc.redis.host + ":" + std::to_string(sc.redis.port) + ")" : "Streams (embedded)";
    std::string archive_name =
        servers ? "Archive (PostgreSQL " + sc.postgres.host + ":" + std::to_string(sc.postgres.port) + ")"
                : "Archive (embedded)";
    std::string vectors_name =
        !sc.qdrant.url.empty() && servers ? "Vectors (Qdrant " + sc.qdrant.url + ")" : "Vectors (embedded)";
    std::string logs_name = !sc.loki.url.empty() ? "Logs (files + Loki " + sc.loki.url + ")" : "Logs (files)";
    if (config.tenants.empty()) {
      for (const auto& n : {streams_name, archive_name, vectors_name}) {
        out.push_back({n, std::string(kDegraded), "no tenants configured"});
      }
      return;
    }
    std::string tenants = std::to_string(config.tenants.size()) + " tenant(s)";
    std::string streams_detail, archive_detail, vectors_detail, streams_err, archive_err, vectors_err;
    auto add = [](std::string& to, const std::string& what) { to += (to.empty() ? "" : ", ") + what; };
    MutexLock lock(status_mu);
    for (const auto& t : config.tenants) {
      auto scope = store::TenantScope::For(t.id);
      if (!scope.ok()) continue;
      StatusHandles& h = status_handles[t.id];
      if (!h.streams) {
        auto st = store::OpenStreams(sc, *scope, store::Access::kReader);
        if (st.ok()) {
          h.streams = std::move(*st);
        } else {
          add(streams_err, t.id + ": " + st.status().message());
        }
      }
      if (h.streams) {
        auto len = h.streams->Length(store::StreamKind::kSocEvents);
        if (len.ok()) {
          add(streams_detail, scope->Stream(store::StreamKind::kSocEvents) + " " + std::to_string(*len));
        } else {
          add(streams_err, t.id + ": " + len.status().message());
          h.streams.reset();
        }
      }
      if (!h.archive) {
        auto a = store::OpenArchive(sc, *scope);
        if (a.ok()) {
          h.archive = std::move(*a);
        } else {
          add(archive_err, t.id + ": " + a.status().message());
        }
      }
      if (h.archive) {
        auto count = h.archive->Count();
        if (count.ok()) {
          add(archive_detail, scope->Schema() + " " + std::to_string(*count));
        } else {
          add(archive_err, t.id + ": " + count.status().message());
          h.archive.reset();
        }
      }
      if (!h.vectors) {
        auto v = store::OpenVectors(sc, *scope);
        if (v.ok()) {
          h.vectors = std::move(*v);
        } else {
          add(vectors_err, t.id + ": " + v.status().message());
        }
      }
      if (h.vectors) {
        auto list = h.vectors->ListCollections();
        if (list.ok()) {
          add(vectors_detail, t.id + " " + std::to_string(list->size()));
        } else {
          add(vectors_err, t.id + ": " + list.status().message());
          h.vectors.reset();
        }
      }
    }
    auto line = [&](const std::string& name, const std::string& err, const std::string& detail) {
      out.push_back({name, err.empty() ? std::string(kHealthy) : std::string(kFailed), err.empty() ? detail : err});
    };
    line(streams_name, streams_err, tenants + "; SOC_EVENTS entries: " + streams_detail);
    line(archive_name, archive_err, tenants + "; archived events: " + archive_detail);
    line(vectors_name, vectors_err, tenants + "; collections: " + vectors_detail);
    // Tenant logs: the directory must be writable, and no write may have failed.
    std::string logs_dir = sc.path + "/logs";
    ComponentStatus logs{logs_name, std::string(kHealthy), logs_dir};
    std::error_code ec;
    if (std::filesystem::exists(logs_dir, ec) && access(logs_dir.c_str(), W_OK) != 0) {
      logs.health = kFailed;
      logs.detail = logs_dir + " is not writable";
    } else if (tenant_logs && tenant_logs->write_errors() > 0) {
      logs.health = kDegraded;
      logs.detail = std::to_string(tenant_logs->write_errors()) +
                    " tenant log write(s) failed; last: " + tenant_logs->last_error();
    }
    out.push_back(logs);
  }

  // Latency of one device over all tenants and message types.
  HistogramSnapshot DeviceLatency(const std::string& device_id) const {
    HistogramSnapshot merged;
    const auto& labels = metrics->request_latency_seconds.label_names();  // tenant_id, device_id, msg_type
    size_t dev_index = 0;
    while (dev_index < labels.size() && labels[dev_index] != "device_id") ++dev_index;
    metrics->request_latency_seconds.ForEach([&](const auto& values, const HistogramSnapshot& snap) {
      if (dev_index < values.size() && values[dev_index] == device_id) (void)merged.Merge(snap);
    });
    return merged;
  }

  NodeStatus Snapshot() const {
    NodeStatus s;
    s.node = config.name;
    s.role = std::string(RoleName(config.role));
    s.role_display = std::string(RoleDisplayName(config.role));
    s.address = config.address;
    s.version = kVersion;
    s.uptime_seconds = double(DefaultClock().MonotonicNanos() - started_ns) / 1e9;
    s.restarts = restarts;
    s.rss_bytes = RssBytes();
    s.memory_total_bytes = MemTotalBytes();
    std::string reason;
    for (const auto& d : devices) {
      DeviceStatus ds;
      ds.id = d->id();
      const devices::DeviceInfo* info = devices::FindDevice(d->id());
      ds.name = info && !info->name.empty() ? std::string(info->name) : "Device " + std::to_string(d->id());
      ds.layer = info ? std::string(devices::LayerName(info->layer)) : "UNASSIGNED";
      ds.memory_budget_bytes = info ? info->memory_bytes() : 0;
      char token[8];
      std::snprintf(token, sizeof token, "0x%04X", unsigned(devices::TokenBase(d->id())));
      ds.token_base = token;
      ds.tenant = d->tenant();
      auto h = d->Health();
      ds.health = std::string(devices::DeviceStateName(h.state));
      ds.reason = h.reason;
      ds.detail = d->StatusDetail();
      ds.memory_used_bytes = d->MemoryUsedBytes();
      HistogramSnapshot lat = DeviceLatency(std::to_string(d->id()));
      ds.requests = lat.count();
      if (lat.count() > 0) ds.p99_latency_ms = lat.Quantile(0.99) * 1000.0;
      if (h.state != devices::DeviceState::kHealthy && h.state != devices::DeviceState::kNotImplemented &&
          reason.empty()) {
        reason = "device " + std::to_string(ds.id) + " " + ds.health + ": " + h.reason;
      }
      s.devices.push_back(std::move(ds));
    }
    s.components = Components();
    for (const auto& c : s.components) {
      if (c.health != kHealthy && c.health != kNotImplemented && reason.empty()) reason = c.name + ": " + c.detail;
    }
    if (stopping.load()) reason = "shutting down";
    s.health = reason.empty() ? std::string(kHealthy) : std::string(kDegraded);
    s.reason = reason;
    for (const auto& t : config.tenants) s.tenants.push_back({t.id, t.roe_level, t.compartments});
    if (router) {
      for (const auto& p : router->Peers()) {
        s.peers.push_back({p.name, p.transport, p.up ? "UP" : "DOWN", p.reason, p.queued});
      }
    }
    return s;
  }

  net::HttpResponse Healthz() const {
    NodeStatus s = Snapshot();
    nlohmann::json j = {{"node", s.node},
                        {"role", s.role},
                        {"version", s.version},
                        {"timestamp", double(DefaultClock().NowUnixNanos()) / 1e9}};
    net::HttpResponse r;
    if (s.health == kHealthy) {
      j["status"] = "healthy";
    } else {
      j["status"] = "unhealthy";
      j["reason"] = s.reason;
      r.status = 503;
    }
    r.body = j.dump() + "\n";
    return r;
  }

  net::HttpResponse HandleHttp(const net::HttpRequest& req) {
    net::HttpResponse r;
    if (req.method != "GET" && req.method != "HEAD") {
      r = net::HttpResponse::JsonError(405, "method " + req.method + " not allowed on " + req.path);
    } else if (req.path == "/healthz") {
      r = Healthz();
    } else if (req.path == "/metrics") {
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      r.body = registry.Expose();
    } else {
      r = net::HttpResponse::JsonError(404, "no such endpoint: " + req.path + " (try /healthz or /metrics)");
    }
    http_requests
        ->Labels(
            {"http", req.path == "/healthz" || req.path == "/metrics" ? req.path : "other", std::to_string(r.status)})
        .Inc();
    return r;
  }

  bool IsNodeTenant(const std::string& tenant) const {
    for (const auto& t : config.tenants) {
      if (t.id == tenant) return true;
    }
    return false;
  }

  // The rule of docs/security.md at POST /v1/dbe: the envelope's tenant must
  // be a tenant of the node, not reserved, and covered by the client
  // certificate; devices that only the L7 router may call are refused. The
  // envelope then carries an operator claim for that tenant (replacing any
  // supplied), which the destination device verifies wherever it runs. A
  // refusal answers 4xx with a DBE ERROR frame, is audited in the target
  // tenant's chain and counted in dsmil_refusals_total.
  std::optional<net::HttpResponse> AuthorizeDbe(const net::HttpRequest& req, dbe::Message& msg) {
    std::string tenant(msg.tenant_id());
    std::string actor = req.client_cert_cn.value_or("(no certificate)");
    int dst = msg.header().dst_device;
    auto refuse = [&](int status, const char* reason, const std::string& why) {
      nlohmann::json d = {{"path", "/v1/dbe"},
                          {"peer", req.peer_address},
                          {"cert_tenants", req.client_cert_tenants},
                          {"dst_device", dst},
                          {"msg_type", std::string(dbe::MsgTypeName(msg.type()))},
                          {"node", config.name},
                          {"message", why}};
      (void)audit->Record(store::Refusal{tenant, "control:/v1/dbe",
                                         status == 403 ? "TENANT_ESCAPE_ATTEMPT" : "INVALID_REQUEST", reason, actor,
                                         d.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)});
      bool labelled = store::TenantScope::For(tenant).ok() && IsNodeTenant(tenant);
      log.With({.tenant = labelled ? tenant : std::string()})
          .Warn("dbe request refused", {{"reason", reason},
                                        {"operator", actor},
                                        {"peer", req.peer_address},
                                        {"dst_device", std::to_string(dst)},
                                        {"message", why}});
      net::HttpResponse r;
      r.status = status;
      r.content_type = "application/octet-stream";
      auto bytes = dbe::Encode(dbe::MakeErrorReply(
          msg, status == 403 ? StatusCode::kPermissionDenied : StatusCode::kInvalidArgument, reason, why));
      if (bytes.ok()) r.body.assign(reinterpret_cast<const char*>(bytes->data()), bytes->size());
      return std::optional<net::HttpResponse>(std::move(r));
    };
    if (tenant.empty()) return refuse(400, "TENANT_MISSING", "TENANT_ID (TLV 0x01) is missing");
    if (store::IsReservedTenantId(tenant)) {
      return refuse(403, "RESERVED_TENANT",
                    "tenant id " + tenant + " is reserved for node-level traffic and cannot be sent by a client");
    }
    if (auto scope = store::TenantScope::For(tenant); !scope.ok()) {
      return refuse(400, "BAD_TENANT", scope.status().message());
    }
    if (!IsNodeTenant(tenant)) {
      return refuse(403, "UNKNOWN_TENANT", "tenant " + tenant + " is not a tenant of node " + config.name);
    }
    if (!net::CertCoversTenant(req, tenant)) {
      std::string covers;
      for (const auto& t : req.client_cert_tenants) covers += (covers.empty() ? "" : ",") + t;
      return refuse(403, "CERT_DOES_NOT_COVER_TENANT",
                    "the client certificate " + actor + " does not cover tenant " + tenant +
                        " (it covers: " + (covers.empty() ? std::string("no tenant") : covers) + ")");
    }
    if (devices::CallerRuleFor(dst) == devices::CallerRule::kRouterClaim) {
      return refuse(403, "CALLER_NOT_ALLOWED", devices::CallerRuleText(dst));
    }
    msg.Remove(dbe::TlvType::kL7ClaimToken);
    if (claim_issuer) {
      auto token = claim_issuer->TokenFor(tenant, std::string(devices::kOperatorUserPrefix) + actor,
                                          DefaultClock().NowUnixNanos() / 1000000000);
      if (token.ok()) {
        msg.SetBytes(dbe::TlvType::kL7ClaimToken, *token);
      } else {
        log.Warn("cannot issue an operator claim", {{"tenant", tenant}, {"error", token.status().message()}});
      }
    }
    return std::nullopt;
  }

  // POST /v1/dbe: one DBE frame in, the reply frame out.
  net::HttpResponse HandleDbe(const net::HttpRequest& req) {
    net::HttpResponse r;
    r.content_type = "application/octet-stream";
    if (req.body.size() > kMaxDbeBodyBytes) {
      return net::HttpResponse::JsonError(413, "DBE frame of " + std::to_string(req.body.size()) +
                                                   " bytes, over the limit of " + std::to_string(kMaxDbeBodyBytes));
    }
    auto msg = dbe::Decode(AsBytes(req.body));
    if (!msg.ok()) return net::HttpResponse::JsonError(400, msg.status().message());
    if (auto refused = AuthorizeDbe(req, *msg)) return std::move(*refused);
    if (!msg->Has(dbe::TlvType::kRequestId)) {
      // An event: routed, no reply to wait for.
      Status s = router ? router->Send(*msg) : Status::Unavailable("node " + config.name + " has no router");
      if (!s.ok()) return net::HttpResponse::JsonError(s.code() == StatusCode::kNotFound ? 404 : 503, s.message());
      r.status = 202;
      return r;
    }
    Result<dbe::Message> reply = Status::Unavailable("node " + config.name + " has no router");
    if (router) reply = router->Call(*msg, kDbeReplyTimeout);
    dbe::Message out = reply.ok() ? std::move(*reply) : ErrorReplyFor(*msg, reply.status());
    auto bytes = dbe::Encode(out);
    if (!bytes.ok()) return net::HttpResponse::JsonError(502, "reply does not encode: " + bytes.status().message());
    r.body.assign(reinterpret_cast<const char*>(bytes->data()), bytes->size());
    log.Info("dbe request", {{"type", std::string(dbe::MsgTypeName(msg->type()))},
                             {"dst_device", std::to_string(msg->header().dst_device)},
                             {"tenant", std::string(msg->tenant_id())},
                             {"reply", std::string(dbe::MsgTypeName(out.type()))},
                             {"operator", req.client_cert_cn.value_or("")}});
    return r;
  }

  devices::DeviceCaller Caller() {
    return [this](const dbe::Message& msg, std::chrono::milliseconds timeout) -> Result<dbe::Message> {
      if (!router) return Status::Unavailable("node " + config.name + " has no router");
      return router->Call(msg, timeout);
    };
  }

  net::HttpResponse HandleControl(const net::HttpRequest& req) {
    net::HttpResponse r;
    bool method_mismatch = false;
    const ControlRoute* route = FindControlRoute(req.method, req.path, &method_mismatch);
    if (route) {
      std::vector<devices::Device*> devs;
      for (auto& d : devices) devs.push_back(d.get());
      ControlContext ctx{config, devs, Caller(), log, *audit, soc_metrics.get(), shrink.get()};
      r = route->handler(ctx, req);
    } else if (method_mismatch) {
      r = net::HttpResponse::JsonError(405, "method " + req.method + " not allowed on " + req.path);
    } else if (req.path == "/v1/dbe") {
      r = req.method == "POST" ? HandleDbe(req)
                               : net::HttpResponse::JsonError(
                                     405, "method " + req.method + " not allowed on /v1/dbe (POST a DBE frame)");
    } else if (req.method != "GET") {
      r = net::HttpResponse::JsonError(405, "method " + req.method + " not allowed on " + req.path);
    } else if (req.path == "/v1/status") {
      // Tenants' ROE levels and compartments only for the tenants the
      // certificate covers.
      NodeStatus st = Snapshot();
      std::erase_if(st.tenants, [&](const TenantStatus& t) { return !net::CertCoversTenant(req, t.id); });
      if (shrink) {
        for (auto& c : st.components) {
          if (c.name == "SHRINK" && c.health == kHealthy) {
            c.detail = ShrinkDetail([&](const std::string& t) { return net::CertCoversTenant(req, t); });
          }
        }
      }
      r.body = NodeStatusToJson(st) + "\n";
    } else if (req.path == "/healthz") {
      r = Healthz();
    } else {
      r = net::HttpResponse::JsonError(404, "no such endpoint: " + req.path + " (try /v1/status)");
    }
    std::string path = req.path == "/v1/status" || req.path == "/healthz" || req.path == "/v1/dbe" ? req.path
                       : route                                                                     ? route->path
                                                                                                   : "other";
    http_requests->Labels({"control", path, std::to_string(r.status)}).Inc();
    log.Info("control request", {{"path", req.path},
                                 {"status", std::to_string(r.status)},
                                 {"operator", req.client_cert_cn.value_or("")},
                                 {"peer", req.peer_address}});
    return r;
  }
};

Node::Node(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Node::~Node() { Stop(); }

Result<std::unique_ptr<Node>> Node::Start(NodeConfig config) {
  // The Node exists from the start: a start that fails half-way returns its
  // error and ~Node stops whatever had started (Stop handles a partial start),
  // so no device thread outlives what it uses.
  std::unique_ptr<Node> node(new Node(std::make_unique<Impl>(std::move(config))));
  Impl& m = *node->impl_;
  const NodeConfig& c = m.config;
  m.started_ns = DefaultClock().MonotonicNanos();

  {
    LoggerOptions lo;
    lo.min_level = ParseLogLevel(c.log_level).ok() ? *ParseLogLevel(c.log_level) : LogLevel::kInfo;
    std::vector<std::shared_ptr<LogSink>> sinks{std::make_shared<StderrSink>()};
    if (!c.log_file.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(std::filesystem::path(c.log_file).parent_path(), ec);
      auto file = FileSink::Open(c.log_file);
      if (!file.ok()) return file.status().WithContext("logging.file");
      m.log_file = *file;
      sinks.push_back(*file);
    }
    if (!c.stores.path.empty()) {
      auto tl = store::OpenTenantLogSink(c.stores, c.name);
      if (!tl.ok()) return tl.status().WithContext("stores (tenant logs)");
      m.tenant_logs = std::make_shared<TenantLogTee>(std::move(*tl), c.name);
      sinks.push_back(m.tenant_logs);
    }
    if (const auto* sc = c.device_sections.declared("shrink")
                             ? c.device_sections.Get<devices::shrink::ShrinkConfig>("shrink", -1)
                             : nullptr;
        sc != nullptr && sc->enabled) {
      Impl* impl = &m;
      sinks.push_back(std::make_shared<OperatorInputSink>(
          [impl](const std::string& tenant, std::string_view source, std::string_view text) {
            impl->OperatorText(tenant, source, text);
          }));
    }
    lo.sink = std::make_shared<TeeSink>(std::move(sinks));
    m.log = Logger(LogLabels{.node = c.name}, lo);
  }
  // Data files are the node user's alone (docs/streams.md, "File modes").
  if (Status modes = store::SecureDataDirs(c.stores, m.log); !modes.ok()) return modes.WithContext("stores");
  m.metrics = std::make_unique<StandardMetrics>(m.registry);
  m.soc_metrics = std::make_unique<soc::SocMetrics>(m.registry);
  m.http_requests = &m.registry.AddCounter("dsmil_http_requests_total", "HTTP requests served by the node",
                                           {"server", "path", "code"});
  if (m.tenant_logs) {
    m.tenant_logs->set_error_counter(
        &m.registry
             .AddCounter("dsmil_tenant_log_write_errors_total", "Tenant log lines that could not be written", {"node"})
             .Labels({c.name}));
  }
  m.audit = std::make_unique<store::AuditSink>(c.stores, &m.registry);
  // Signed checkpoints of every tenant's audit chain head (docs/audit.md);
  // off without stores or with audit.enabled false.
  if (c.audit.enabled && !c.audit.checkpoint_dir.empty() && (c.stores.kind == "servers" || !c.stores.path.empty())) {
    store::AuditCheckpointerOptions ao;
    ao.stores = c.stores;
    for (const auto& t : c.tenants) ao.tenants.push_back(t.id);
    ao.dir = c.audit.checkpoint_dir;
    ao.signing_key = c.audit.signing_key;
    ao.node = c.name;
    ao.interval = std::chrono::seconds(c.audit.interval_s);
    ao.log = &m.log;
    auto ckpt = store::AuditCheckpointer::Create(std::move(ao));
    if (!ckpt.ok()) return ckpt.status().WithContext("audit");
    m.audit_checkpoints = std::move(*ckpt);
    if (Status s = m.audit_checkpoints->Start(); !s.ok()) return s.WithContext("audit");
  }
  // The data node audits tenant isolation with each tenant's own credentials
  // (store/isolation_audit.h) and exposes dsmil_tenant_isolation_ok.
  if (c.role == Role::kData && c.audit.isolation_interval_s > 0 && !c.tenants.empty() &&
      (c.stores.kind == "servers" || !c.stores.path.empty())) {
    std::vector<std::string> tenants;
    for (const auto& t : c.tenants) tenants.push_back(t.id);
    auto auditor = store::IsolationAuditor::Start(c.stores, tenants, std::chrono::seconds(c.audit.isolation_interval_s),
                                                  &m.registry, &m.log);
    if (!auditor.ok()) return auditor.status().WithContext("audit");
    m.isolation_auditor = std::move(*auditor);
  }
  if (std::string claims_dir = ClaimsDir(c.stores); !claims_dir.empty()) {
    m.claim_keys = std::make_unique<tenant::ClaimKeyring>(claims_dir);
    m.claim_verifier = std::make_unique<tenant::ClaimVerifier>(
        [keys = m.claim_keys.get()](const std::string& t) { return keys->PublicKey(t); });
    m.claim_issuer = std::make_unique<tenant::ClaimIssuer>(m.claim_keys.get(), kOperatorClaimLifetime);
  }
  m.metrics->node_up.Labels({c.name, std::string(RoleName(c.role))}).Set(1);
  m.metrics->SetBuildInfo(kVersion);
  m.registry.AddGauge("dsmil_process_resident_memory_bytes", "Resident memory of the node process", {"node"})
      .SetCallback({c.name}, [] { return double(RssBytes()); });
  RegisterProcessMetrics(m.registry);  // process_cpu_seconds_total, process_open_fds, ... (Node Health dashboard)
  // A supervisor (scripts/dsmil-supervise.py, systemd, a container engine) that restarts the
  // node passes how often it did in DSMIL_RESTARTS; shown by /metrics and `dsmilctl status`.
  if (const char* r = std::getenv("DSMIL_RESTARTS"); r != nullptr) {
    char* end = nullptr;
    const uint64_t v = std::strtoull(r, &end, 10);
    if (end != r && *end == '\0') m.restarts = v;
  }
  m.registry.AddGauge("dsmil_node_restarts", "Times a supervisor restarted this node (DSMIL_RESTARTS)", {"node"})
      .Labels({c.name})
      .Set(double(m.restarts));

  // SHRINK (docs/shrink.md): the monitor before the devices that feed it.
  const devices::shrink::ShrinkConfig* shrink_config =
      c.device_sections.declared("shrink") ? c.device_sections.Get<devices::shrink::ShrinkConfig>("shrink", -1)
                                           : nullptr;
  if (shrink_config != nullptr && shrink_config->enabled) {
    if (shrink_config->listen) {
      devices::shrink::MonitorOptions mo;
      for (const auto& t : c.tenants) mo.tenants.push_back(t.id);
      mo.half_life_s = shrink_config->half_life_s;
      mo.metrics = &m.registry;
      m.shrink = std::make_unique<devices::shrink::ShrinkMonitor>(std::move(mo));
    } else {
      devices::shrink::ForwarderOptions fo;
      fo.url = shrink_config->forward;
      fo.ca_file = c.tls_ca;
      fo.cert_file = c.tls_cert;
      fo.key_file = c.tls_key;
      fo.metrics = &m.registry;
      m.shrink_forward = std::make_unique<devices::shrink::ShrinkForwarder>(std::move(fo));
      m.shrink_listen = shrink_config->forward;
    }
    m.shrink_open = true;
  }

  // Devices: created now, started once the router can carry their calls.
  devices::RegisterBuiltinDevices();
  RegisterBuiltinControlRoutes();
  for (const auto& dc : c.devices) {
    devices::DeviceContext ctx;
    ctx.id = dc.id;
    ctx.tenant = dc.tenant;
    ctx.node = c.name;
    ctx.stores = c.stores;
    for (const auto& t : c.tenants) ctx.tenants.push_back({t.id, t.roe_level, t.compartments});
    // Only the sections the device declared (devices/config_section.h).
    ctx.config = c.device_sections.Select(devices::DeclaredSections(dc.id));
    ctx.config_dir = c.base_dir.empty() ? std::string(".") : c.base_dir;
    ctx.call = m.Caller();
    ctx.local = [&m](int id, const std::string& tenant) -> devices::Device* {
      devices::Device* any = nullptr;
      for (auto& d : m.devices) {
        if (d->id() != id) continue;
        if (d->tenant() == tenant) return d.get();
        if (d->tenant().empty()) any = d.get();
      }
      return any;
    };
    ctx.metrics = &m.registry;
    ctx.log = &m.log;
    ctx.audit = m.audit.get();
    ctx.claims = m.claim_verifier.get();
    if (m.shrink || m.shrink_forward) {
      ctx.operator_text = [&m](const std::string& tenant, std::string_view source, std::string_view text) {
        m.OperatorText(tenant, source, text);
      };
    }
    auto dev = devices::CreateDevice(ctx);
    if (!dev.ok()) return dev.status().WithContext("device " + std::to_string(dc.id));
    m.devices.push_back(std::move(*dev));
  }
  // Active devices per layer, and memory per device, computed when scraped.
  {
    auto& active = m.registry.AddGauge("dsmil_active_devices", "Number of active devices", {"node", "layer"});
    std::map<std::string, std::vector<const devices::Device*>> by_layer;
    for (const auto& d : m.devices) {
      const auto* info = devices::FindDevice(d->id());
      by_layer[info ? std::string(devices::LayerName(info->layer)) : "UNASSIGNED"].push_back(d.get());
    }
    for (auto& [layer, devs] : by_layer) {
      active.SetCallback({c.name, layer}, [devs = devs] {
        double n = 0;
        for (const auto* d : devs) n += d->Health().state == devices::DeviceState::kHealthy;
        return n;
      });
    }
    auto& mem = m.metrics->memory_usage_bytes;
    for (const auto& d : m.devices) {
      const devices::Device* dev = d.get();
      mem.SetCallback({std::to_string(d->id())}, [dev] { return double(dev->MemoryUsedBytes()); });
    }
  }

  // DBE router: local devices, and sessions to the peers when `dbe:` is configured.
  {
    RouterOptions ro;
    ro.node = c.name;
    for (auto& d : m.devices) ro.devices.push_back(d.get());
    ro.metrics = &m.registry;
    ro.logger = &m.log;
    const DbeSessionConfig& dc = c.dbe_session;
    if (!dc.keys_dir.empty()) {
      std::optional<std::string> pass;
      if (!dc.passphrase_env.empty()) {
        const char* v = std::getenv(dc.passphrase_env.c_str());
        if (!v) {
          return Status::FailedPrecondition("dbe.passphrase_env: environment variable " + dc.passphrase_env +
                                            " is not set");
        }
        pass = std::string(v);
      }
      auto id = net::LoadNodeIdentity(dc.keys_dir, c.name, pass);
      if (!id.ok()) return id.status().WithContext("dbe: identity of " + c.name + " in " + dc.keys_dir);
      ro.identity = std::move(*id);
      auto pins = net::LoadPinnedPeers(dc.keys_dir + "/peer_keys");
      if (!pins.ok()) return pins.status().WithContext("dbe: pinned peer keys");
      ro.pinned = std::move(*pins);
      ro.session.metrics = &m.registry;
      ro.session.logger = &m.log;
      ro.keepalive_interval = std::chrono::milliseconds(dc.keepalive_ms);
      ro.peer_timeout = std::chrono::milliseconds(dc.peer_timeout_ms);
      net::TlsOptions tls{c.tls_cert, c.tls_key, c.tls_ca, /*require_client_cert=*/true, c.tls_crl};
      net::QuicOptions quic;
      quic.cert_file = c.tls_cert;
      quic.key_file = c.tls_key;
      quic.ca_file = c.tls_ca;
      quic.crl_file = c.tls_crl;
      // The router's keep-alive notices a silent peer within dbe.peer_timeout_ms
      // (docs/dbe-session.md §6b); QUIC's own PINGs and idle timeout stay as a
      // backstop for a router with keep-alives turned off.
      quic.keep_alive = std::chrono::milliseconds(1000);
      quic.idle_timeout = std::chrono::milliseconds(5000);
      if (dc.transport == "quic") {
        auto l = net::ListenQuic(c.dbe.host, c.dbe.port, quic);
        if (!l.ok()) return l.status().WithContext("listen.dbe (quic)");
        ro.listener = std::move(*l);
      } else {
        auto l = net::ListenTcpTls(c.dbe.host, c.dbe.port, tls);
        if (!l.ok()) return l.status().WithContext("listen.dbe (tcp)");
        ro.listener = std::move(*l);
      }
      for (const auto& pc : c.peers) {
        RouterPeer rp{pc.name, dc.transport, pc.devices, nullptr};
        if (!pc.dbe.empty()) {
          auto hp = SplitHostPort(pc.dbe);
          if (!hp.ok()) return hp.status().WithContext("peer " + pc.name + " dbe");
          std::string name = pc.name;
          if (dc.transport == "quic") {
            net::QuicOptions q = quic;
            q.handshake_timeout = kDbeDialTimeout;
            rp.dial = [hp = *hp, q] { return net::DialQuic(hp.host, hp.port, q); };
          } else {
            net::TcpTlsDialOptions o;
            o.expected_peer_cn = name;
            o.timeout = kDbeDialTimeout;
            rp.dial = [hp = *hp, tls, o] { return net::DialTcpTls(hp.host, hp.port, tls, o); };
          }
        }
        ro.peers.push_back(std::move(rp));
      }
    }
    auto router = Router::Start(std::move(ro));
    if (!router.ok()) return router.status().WithContext("dbe router");
    m.router = std::move(*router);
  }
  for (size_t i = 0; i < m.devices.size(); ++i) {
    Status s = m.devices[i]->Start();
    if (s.ok()) m.started_devices = i + 1;
    if (!s.ok()) {
      std::string who = "device " + std::to_string(m.devices[i]->id());
      if (!m.devices[i]->tenant().empty()) who += " (" + m.devices[i]->tenant() + ")";
      return s.WithContext(who + " failed to start");
    }
  }

  // Servers.
  net::HttpServerOptions http;
  http.host = c.http.host;
  http.port = c.http.port;
  http.threads = 1;
  http.handler = [&m](const net::HttpRequest& r) { return m.HandleHttp(r); };
  auto hs = net::HttpServer::Start(std::move(http));
  if (!hs.ok()) return hs.status().WithContext("listen.http");
  m.http = std::move(*hs);

  net::HttpServerOptions control;
  control.host = c.control.host;
  control.port = c.control.port;
  control.threads = 2;
  control.max_body_bytes = kMaxDbeBodyBytes;
  control.tls = net::TlsOptions{c.tls_cert, c.tls_key, c.tls_ca, /*require_client_cert=*/true, c.tls_crl};
  control.handler = [&m](const net::HttpRequest& r) { return m.HandleControl(r); };
  auto cs = net::HttpServer::Start(std::move(control));
  if (!cs.ok()) return cs.status().WithContext("listen.control");
  m.control = std::move(*cs);

  if (m.shrink) {
    devices::shrink::ServiceOptions so;
    so.host = shrink_config->listen_host;
    so.port = shrink_config->listen_port;
    so.tls = net::TlsOptions{c.tls_cert, c.tls_key, c.tls_ca, /*require_client_cert=*/true, c.tls_crl};
    so.monitor = m.shrink.get();
    for (const auto& p : c.peers) so.peer_nodes.push_back(p.name);
    so.audit = m.audit.get();
    so.log = &m.log;
    so.node = c.name;
    auto ss = devices::shrink::ShrinkService::Start(std::move(so));
    if (!ss.ok()) return ss.status();
    m.shrink_service = std::move(*ss);
    m.shrink_listen = shrink_config->listen_host + ":" + std::to_string(m.shrink_service->port());
  }

  size_t implemented = 0;
  for (const auto& d : m.devices) implemented += d->Health().state != devices::DeviceState::kNotImplemented;
  m.log.Info("node started", {{"role", std::string(RoleName(c.role))},
                              {"http", c.http.host + ":" + std::to_string(m.http->port())},
                              {"control", c.control.host + ":" + std::to_string(m.control->port())},
                              {"shrink", m.shrink_listen.empty() ? std::string("off")
                                         : m.shrink_forward      ? "forward to " + m.shrink_listen
                                                                 : m.shrink_listen},
                              {"devices", std::to_string(m.devices.size())},
                              {"implemented", std::to_string(implemented)}});
  return node;
}

void Node::Stop() {
  if (!impl_) return;
  std::call_once(impl_->stop_once, [this] {
    Impl& m = *impl_;
    m.stopping = true;
    m.log.Info("node stopping", {});
    if (m.control) m.control->Stop();
    if (m.http) m.http->Stop();
    if (m.shrink_service) m.shrink_service->Stop();
    for (size_t i = 0; i < m.started_devices; ++i) m.devices[i]->Stop();
    m.shrink_open = false;
    if (m.shrink_forward) m.shrink_forward->Stop();
    if (m.audit_checkpoints) m.audit_checkpoints->Stop();  // checkpoints the final heads
    if (m.router) m.router->Stop();
    m.log.Info("node stopped", {});
    if (m.tenant_logs) m.tenant_logs->Flush();
  });
}

NodeStatus Node::Snapshot() const { return impl_->Snapshot(); }
std::string Node::UnhealthyReason() const { return impl_->Snapshot().reason; }
uint16_t Node::http_port() const { return impl_->http->port(); }
uint16_t Node::control_port() const { return impl_->control->port(); }
uint16_t Node::shrink_port() const { return impl_->shrink_service ? impl_->shrink_service->port() : 0; }

}  // namespace dsmil::node
