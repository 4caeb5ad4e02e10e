// The OpenAI-compatible HTTP front of the L7 router (docs/l7.md §2): the
// listener on l7.listen and the translation of its requests into calls on
// admission (admission.h), the chat pipeline (pipeline.h) and the worker pool
// (routing.h), and of their answers back into HTTP: status codes, OpenAI
// error JSON, Retry-After on 429/503, SSE streaming.
//
//   GET  /healthz               200 when the router is healthy, else 503
//   GET  /metrics               404: per-tenant counters stay off this port
//   GET  /v1/models             the configured models and the hashed embedding
//   POST /v1/chat/completions   API key -> X-DSMIL-Tenant -> 413 -> body (400)
//                               -> rate limit -> claim token -> L7_CHAT_REQ
//                               through the pipeline -> a worker
//   POST /v1/embeddings         API key, rate limit, then the hashed embedding
//                               or a worker that serves embeddings
//   POST /v1/dsmil/rag/ingest   API key, then device 50 with the tenant's claim
//
// Thread-safe: the server's threads call Serve concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "core/clock.h"
#include "core/dsmil_metrics.h"
#include "core/status.h"
#include "devices/device.h"
#include "devices/l7/admission.h"
#include "devices/l7/config.h"
#include "devices/l7/pipeline.h"
#include "devices/l7/recorder.h"
#include "devices/l7/routing.h"
#include "net/http.h"

namespace dsmil::net {
class HttpServer;
}  // namespace dsmil::net
namespace dsmil::tenant {
class ClaimIssuer;
}  // namespace dsmil::tenant

namespace dsmil::devices::l7 {

// What the front calls; not owned, each must outlive the front.
struct HttpFrontDeps {
  const L7Config* config = nullptr;
  const DeviceContext* ctx = nullptr;  // logger; reaching device 50 for ingest
  const Admission* admission = nullptr;
  ChatPipeline* pipeline = nullptr;
  WorkerPool* workers = nullptr;
  Recorder* recorder = nullptr;
  StandardMetrics* metrics = nullptr;
  tenant::ClaimIssuer* issuer = nullptr;  // signs the claim token of each API key
  const Clock* clock = nullptr;
  std::function<DeviceHealth()> health;  // answered on /healthz
};

class HttpFront {
 public:
  explicit HttpFront(HttpFrontDeps deps);
  ~HttpFront();  // stops the listener
  HttpFront(const HttpFront&) = delete;
  HttpFront& operator=(const HttpFront&) = delete;

  // Binds config.host:config.port and starts config.threads threads.
  Status Start();
  // Stops the listener, letting requests in flight finish. Idempotent.
  void Stop();
  // The bound port (0 before Start).
  uint16_t port() const;

  // Answers one request (what the listener's threads run).
  net::HttpResponse Serve(const net::HttpRequest& req);

 private:
  net::HttpResponse ServeModels();
  net::HttpResponse ServeEmbeddings(const net::HttpRequest& req, const tenant::ApiKeyInfo& key);
  net::HttpResponse ServeIngest(const net::HttpRequest& req, const tenant::ApiKeyInfo& key);
  net::HttpResponse ServeChat(const net::HttpRequest& req, const tenant::ApiKeyInfo& key);
  net::HttpResponse WorkerError(const std::string& tenant, const Status& s);

  HttpFrontDeps d_;
  std::unique_ptr<net::HttpServer> server_;
};

}  // namespace dsmil::devices::l7
