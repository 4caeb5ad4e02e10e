#include "devices/shrink/service.h"

#include <nlohmann/json.hpp>

#include "core/log.h"
#include "net/http_server.h"
#include "store/audit_sink.h"
#include "store/scope.h"

namespace dsmil::devices::shrink {

using nlohmann::json;

Result<TextRequest> ParseTextRequest(std::string_view body, bool with_source) {
  if (body.size() > kMaxShrinkBodyBytes) {
    return Status::InvalidArgument("body: " + std::to_string(body.size()) + " bytes, over the limit of " +
                                   std::to_string(kMaxShrinkBodyBytes));
  }
  // nlohmann-json refuses strings that are not valid UTF-8.
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::InvalidArgument("body: not valid JSON (UTF-8)");
  if (!j.is_object()) return Status::InvalidArgument("body: must be a JSON object");
  TextRequest r;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    bool known = k == "tenant_id" || k == "text" || (with_source && k == "source");
    if (!known) {
      return Status::InvalidArgument(k.substr(0, 64) + ": unknown key (tenant_id, text" +
                                     (with_source ? ", source)" : ")"));
    }
    if (!it->is_string()) return Status::InvalidArgument(k + ": must be a string");
  }
  auto tenant = j.find("tenant_id");
  if (tenant == j.end()) return Status::InvalidArgument("tenant_id: missing");
  r.tenant_id = tenant->get<std::string>();
  auto text = j.find("text");
  if (text == j.end()) return Status::InvalidArgument("text: missing");
  r.text = text->get<std::string>();
  if (r.text.empty()) return Status::InvalidArgument("text: empty");
  if (with_source) {
    auto source = j.find("source");
    if (source == j.end()) return Status::InvalidArgument("source: missing");
    auto s = ParseTextSource(source->get<std::string>());
    if (!s.ok()) return s.status();
    r.source = *s;
  }
  return r;
}

ShrinkService::ShrinkService(ServiceOptions options) : options_(std::move(options)) {}

ShrinkService::~ShrinkService() { Stop(); }

Result<std::unique_ptr<ShrinkService>> ShrinkService::Start(ServiceOptions options) {
  if (options.monitor == nullptr) return Status::InvalidArgument("shrink: no monitor");
  std::unique_ptr<ShrinkService> svc(new ShrinkService(std::move(options)));
  net::HttpServerOptions http;
  http.host = svc->options_.host;
  http.port = svc->options_.port;
  http.threads = 2;
  http.max_body_bytes = kMaxShrinkBodyBytes;
  http.tls = svc->options_.tls;
  const ShrinkService* self = svc.get();
  http.handler = [self](const net::HttpRequest& r) { return self->Handle(r); };
  auto server = net::HttpServer::Start(std::move(http));
  if (!server.ok()) return server.status().WithContext("shrink.listen");
  svc->server_ = std::move(*server);
  return svc;
}

void ShrinkService::Stop() {
  if (server_) server_->Stop();
}

uint16_t ShrinkService::port() const { return server_ ? server_->port() : 0; }

net::HttpResponse ShrinkService::Refuse(const net::HttpRequest& req, int status, const std::string& tenant,
                                        const char* reason, const std::string& message) const {
  std::string actor = req.client_cert_cn.value_or("(no certificate)");
  bool valid_tenant = store::TenantScope::For(tenant).ok() && options_.monitor->HasTenant(tenant);
  if (status == 403 && options_.audit != nullptr && valid_tenant) {
    json d = {{"path", req.path},
              {"peer", req.peer_address},
              {"cert_tenants", req.client_cert_tenants},
              {"node", options_.node},
              {"message", message}};
    (void)options_.audit->Record(store::Refusal{tenant, "shrink:" + req.path, "TENANT_ESCAPE_ATTEMPT", reason, actor,
                                                d.dump(-1, ' ', false, json::error_handler_t::replace)});
  }
  if (options_.log != nullptr) {
    options_.log->With({.tenant = valid_tenant ? tenant : std::string()})
        .Warn("shrink request refused",
              {{"reason", reason}, {"operator", actor}, {"peer", req.peer_address}, {"message", message}});
  }
  return net::HttpResponse::JsonError(status, message);
}

std::optional<net::HttpResponse> ShrinkService::CheckTenant(const net::HttpRequest& req, const std::string& tenant,
                                                            bool peers_allowed) const {
  if (tenant.empty()) return Refuse(req, 400, tenant, "TENANT_MISSING", "tenant_id is required");
  if (auto scope = store::TenantScope::For(tenant); !scope.ok()) {
    return Refuse(req, 400, tenant, "BAD_TENANT", "tenant_id: " + scope.status().message());
  }
  bool covered = net::CertCoversTenant(req, tenant);
  if (!covered && peers_allowed && req.client_cert_cn) {
    for (const auto& p : options_.peer_nodes) covered |= *req.client_cert_cn == p;
  }
  if (!covered) {
    std::string covers;
    for (const auto& t : req.client_cert_tenants) covers += (covers.empty() ? "" : ",") + t;
    return Refuse(req, 403, tenant, "CERT_DOES_NOT_COVER_TENANT",
                  "the client certificate " + req.client_cert_cn.value_or("(none)") + " does not cover tenant " +
                      tenant + " (it covers: " + (covers.empty() ? std::string("no tenant") : covers) + ")");
  }
  if (!options_.monitor->HasTenant(tenant)) {
    return Refuse(req, 404, tenant, "UNKNOWN_TENANT", "tenant " + tenant + " is not a tenant of this node");
  }
  return std::nullopt;
}

net::HttpResponse ShrinkService::Handle(const net::HttpRequest& req) const {
  ShrinkMonitor& monitor = *options_.monitor;
  if (req.path == "/healthz") {
    if (req.method != "GET") return net::HttpResponse::JsonError(405, "method " + req.method + " not allowed");
    net::HttpResponse r;
    r.body = R"({"status":"healthy"})"
             "\n";
    return r;
  }
  if (req.path == "/risk") {
    if (req.method != "GET") return net::HttpResponse::JsonError(405, "method " + req.method + " not allowed");
    std::string tenant = req.QueryParam("tenant_id");
    if (auto refusal = CheckTenant(req, tenant, /*peers_allowed=*/false)) return *refusal;
    auto risk = monitor.Risk(tenant);
    if (!risk.ok()) return net::HttpResponse::JsonError(404, risk.status().message());
    net::HttpResponse r;
    r.body = TenantRiskToJson(*risk, monitor.half_life_s()) + "\n";
    return r;
  }
  if (req.path == "/v1/notes" || req.path == "/v1/text") {
    if (req.method != "POST") return net::HttpResponse::JsonError(405, "method " + req.method + " not allowed");
    bool forwarded = req.path == "/v1/text";
    if (req.body.size() > kMaxShrinkBodyBytes) {
      return net::HttpResponse::JsonError(413, "body of " + std::to_string(req.body.size()) +
                                                   " bytes, over the limit of " + std::to_string(kMaxShrinkBodyBytes));
    }
    auto parsed = ParseTextRequest(req.body, forwarded);
    if (!parsed.ok()) return net::HttpResponse::JsonError(400, parsed.status().message());
    if (auto refusal = CheckTenant(req, parsed->tenant_id, forwarded)) return *refusal;
    TextSource source = parsed->source.value_or(TextSource::kAnalystNote);
    if (Status s = monitor.Ingest(parsed->tenant_id, source, parsed->text); !s.ok()) {
      return net::HttpResponse::JsonError(404, s.message());
    }
    auto risk = monitor.Risk(parsed->tenant_id);
    net::HttpResponse r;
    r.status = 202;
    json j = {{"accepted", true}, {"source", std::string(TextSourceName(source))}};
    if (risk.ok()) j["risk"] = json::parse(TenantRiskToJson(*risk, monitor.half_life_s()));
    r.body = j.dump() + "\n";
    return r;
  }
  return net::HttpResponse::JsonError(404, "no such endpoint: " + req.path + " (try /risk?tenant_id=T)");
}

}  // namespace dsmil::devices::shrink
