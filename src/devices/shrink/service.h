// SHRINK's listener (docs/shrink.md §3): GET /risk?tenant_id=T, POST
// /v1/notes (analyst notes), POST /v1/text (operator text forwarded by other
// nodes) and GET /healthz, over HTTPS with a required client certificate.
// Every tenant-scoped request is served only when the client certificate
// covers that tenant (POST /v1/text also to a peer node's certificate).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "devices/shrink/monitor.h"
#include "net/http.h"
#include "net/tls.h"

namespace dsmil {
class Logger;
}  // namespace dsmil
namespace dsmil::net {
class HttpServer;
}  // namespace dsmil::net
namespace dsmil::store {
class AuditSink;
}  // namespace dsmil::store

namespace dsmil::devices::shrink {

// Largest request body accepted (413 above).
inline constexpr size_t kMaxShrinkBodyBytes = 64 << 10;

// A parsed POST body: {"tenant_id": "T", "text": "...", "source": "..."}.
struct TextRequest {
  std::string tenant_id;
  std::string text;
  std::optional<TextSource> source;  // only POST /v1/text carries one
};

// Parses a POST body. `with_source`: "source" is required (POST /v1/text);
// otherwise it must be absent. InvalidArgument names the field; bodies over
// kMaxShrinkBodyBytes, non-objects, unknown keys, non-string values and
// texts that are empty or not valid UTF-8 are refused.
Result<TextRequest> ParseTextRequest(std::string_view body, bool with_source);

struct ServiceOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;                   // 0: ephemeral
  std::optional<net::TlsOptions> tls;  // absent only in unit tests (plain HTTP)
  ShrinkMonitor* monitor = nullptr;    // required; must outlive the service
  // Certificate CNs of the peer nodes, allowed on POST /v1/text for any
  // tenant of the node.
  std::vector<std::string> peer_nodes;
  store::AuditSink* audit = nullptr;  // refusals; null in unit tests
  const Logger* log = nullptr;        // null: no logging
  std::string node;                   // for audit details
};

class ShrinkService {
 public:
  static Result<std::unique_ptr<ShrinkService>> Start(ServiceOptions options);
  ~ShrinkService();
  ShrinkService(const ShrinkService&) = delete;
  ShrinkService& operator=(const ShrinkService&) = delete;

  // Stops the listener (idempotent).
  void Stop();
  uint16_t port() const;

  // One request, as the listener serves it (tests call it directly).
  net::HttpResponse Handle(const net::HttpRequest& req) const;

 private:
  explicit ShrinkService(ServiceOptions options);
  net::HttpResponse Refuse(const net::HttpRequest& req, int status, const std::string& tenant, const char* reason,
                           const std::string& message) const;
  // None when `req` may act for `tenant`, else the refusal.
  std::optional<net::HttpResponse> CheckTenant(const net::HttpRequest& req, const std::string& tenant,
                                               bool peers_allowed) const;

  ServiceOptions options_;
  std::unique_ptr<net::HttpServer> server_;
};

}  // namespace dsmil::devices::shrink
