#include "devices/l7/router.h"

#include <atomic>
#include <chrono>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/coding.h"
#include "core/dsmil_metrics.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/mutex.h"
#include "dbe/registry.h"
#include "devices/authz.h"
#include "devices/l7/admission.h"
#include "devices/l7/config.h"
#include "devices/l7/device_calls.h"
#include "devices/l7/http_front.h"
#include "devices/l7/openai.h"
#include "devices/l7/pipeline.h"
#include "devices/l7/recorder.h"
#include "devices/l7/routing.h"
#include "devices/l7/worker.h"
#include "tenant/claims.h"
#include "tenant/keys.h"
#include "tenant/policy.h"
#include "tenant/ratelimit.h"

namespace dsmil::devices::l7 {
namespace {

// The DBE status code of a refusal's HTTP status.
StatusCode CodeForHttp(int status) {
  switch (status) {
    case 400:
      return StatusCode::kInvalidArgument;
    case 401:
      return StatusCode::kUnauthenticated;
    case 403:
      return StatusCode::kPermissionDenied;
    case 404:
      return StatusCode::kNotFound;
    case 413:
      return StatusCode::kOutOfRange;
    case 429:
      return StatusCode::kResourceExhausted;
    case 504:
      return StatusCode::kDeadlineExceeded;
    default:
      return StatusCode::kUnavailable;
  }
}

// Device 43: wires the units of this folder together. Start builds, from
// the configuration (config.h), the tenant state admission consults
// (admission.h), the worker pool (routing.h), the chat pipeline (pipeline.h)
// and the HTTP front (http_front.h); Handle serves 0x41 from other devices
// through the same pipeline.
class Router final : public RouterDevice {
 public:
  explicit Router(DeviceContext ctx) : ctx_(std::move(ctx)), clock_(DefaultClock()) {
    if (ctx_.metrics == nullptr) {
      own_registry_ = std::make_unique<Registry>();
      registry_ = own_registry_.get();
    } else {
      registry_ = ctx_.metrics;
    }
    metrics_ = std::make_unique<StandardMetrics>(*registry_);
    recorder_ = std::make_unique<Recorder>(ctx_, *registry_, *metrics_, clock_);
    routing_metrics_ = RoutingMetrics::Register(*registry_);
  }

  ~Router() override { Stop(); }

  int id() const override { return kRouterDeviceId; }
  const std::string& tenant() const override { return ctx_.tenant; }

  Status Start() override {
    DSMIL_ASSIGN_OR_RETURN(config_, L7ConfigFrom(ctx_));
    if (!config_.enabled) {
      // No `l7:` section: the API is off on this node, and the status says so.
      unconfigured_ = true;
      return Status::Ok();
    }
    DSMIL_ASSIGN_OR_RETURN(keys_, tenant::ApiKeyStore::Open(config_.keys_file));
    keyring_ = std::make_unique<tenant::ClaimKeyring>(config_.claims_dir);
    issuer_ = std::make_unique<tenant::ClaimIssuer>(keyring_.get(), std::chrono::seconds(config_.claim_lifetime_s));
    verifier_ =
        std::make_unique<tenant::ClaimVerifier>([this](const std::string& t) { return keyring_->PublicKey(t); });
    DSMIL_ASSIGN_OR_RETURN(
        limiter_, tenant::RateLimiter::Open(config_.ratelimit_file, config_.limits, config_.default_limits, clock_));
    limits_ = SharedRateLimits(limiter_.get());
    if (!config_.policies_dir.empty()) {
      policies_ = std::make_unique<tenant::PolicyStore>(config_.policies_dir, std::chrono::seconds(1), ctx_.log);
    }
    detector_ = std::make_unique<DevicePromptDetector>(&ctx_, config_.detector);

    std::vector<std::unique_ptr<Worker>> workers;
    for (const WorkerSpec& s : config_.workers) {
      workers.push_back(s.kind == "upstream" ? MakeUpstreamWorker(s) : MakeDeviceWorker(s, &ctx_));
    }
    workers_ = std::make_unique<WorkerPool>(std::move(workers), routing_metrics_);
    workers_->ProbeAll();

    AdmissionState state;
    state.keys = keys_.get();
    state.limiter = limits_.get();
    state.claims = verifier_.get();
    state.detector = detector_.get();
    state.detector_device = config_.detector.device;
    state.policies = policies_.get();
    state.tenants = ctx_.tenants;
    admission_ = std::make_unique<Admission>(std::move(state));
    pipeline_ = std::make_unique<ChatPipeline>(config_, ctx_, *admission_, *recorder_, clock_);

    HttpFrontDeps deps;
    deps.config = &config_;
    deps.ctx = &ctx_;
    deps.admission = admission_.get();
    deps.pipeline = pipeline_.get();
    deps.workers = workers_.get();
    deps.recorder = recorder_.get();
    deps.metrics = metrics_.get();
    deps.issuer = issuer_.get();
    deps.clock = &clock_;
    deps.health = [this] { return Health(); };
    front_ = std::make_unique<HttpFront>(std::move(deps));
    DSMIL_RETURN_IF_ERROR(front_->Start());
    workers_->StartProbing(std::chrono::milliseconds(config_.health_interval_ms));
    {
      uint16_t bound = front_->port();
      std::string host = config_.host.find(':') == std::string::npos ? config_.host : "[" + config_.host + "]";
      MutexLock lock(listen_mu_);
      listen_address_ = host + ":" + std::to_string(bound);
      port_ = bound;
    }
    started_ = true;
    if (ctx_.log) {
      ctx_.log->Info("l7 router listening",
                     {{"listen", listen_address()}, {"workers", static_cast<int64_t>(workers_->size())}});
    }
    return Status::Ok();
  }

  void Stop() override {
    if (stopping_.exchange(true)) return;
    if (front_) front_->Stop();
    if (workers_) workers_->StopProbing();
    started_ = false;
  }

  uint16_t port() const override {
    MutexLock lock(listen_mu_);
    return port_;
  }

  std::string listen_address() const override {
    MutexLock lock(listen_mu_);
    return listen_address_;
  }

  // The bound address for `dsmilctl status`; "" until Start has bound it.
  std::string StatusDetail() const override {
    std::string address = listen_address();
    return address.empty() ? "" : "listening on " + address;
  }

  DeviceHealth Health() const override {
    if (unconfigured_) {
      return {DeviceState::kNotImplemented,
              "not configured: the node config has no l7 section, so the OpenAI-compatible API is off (docs/l7.md)"};
    }
    if (!started_) return {stopping_ ? DeviceState::kStopped : DeviceState::kStarting, ""};
    if (workers_->empty()) return {DeviceState::kDegraded, "no worker configured (l7.workers)"};
    if (workers_->AnyHealthy()) return {DeviceState::kHealthy, ""};
    return {DeviceState::kDegraded, "no healthy worker"};
  }

  Result<dbe::Message> Handle(const dbe::Message& request) override {
    if (request.type() == dbe::MsgType::kHealthPing) {
      dbe::Message pong(dbe::MsgType::kHealthPong);
      pong.header().src_device = kRouterDeviceId;
      pong.header().dst_device = request.header().src_device;
      pong.SetString(dbe::TlvType::kTenantId, request.tenant_id());
      if (auto r = request.GetString(dbe::TlvType::kRequestId); r.ok()) pong.SetString(dbe::TlvType::kRequestId, *r);
      return pong;
    }
    if (request.type() != dbe::MsgType::kL7ChatReq) {
      return dbe::MakeErrorReply(request, StatusCode::kInvalidArgument, "UNSUPPORTED_MESSAGE",
                                 "device 43 answers L7_CHAT_REQ (0x41)");
    }
    if (unconfigured_) {
      return dbe::MakeErrorReply(request, StatusCode::kFailedPrecondition, "DEVICE_NOT_CONFIGURED",
                                 "device 43 is not configured on this node (no l7 section)");
    }
    if (pipeline_ == nullptr || workers_ == nullptr) {  // Start has not run, or failed
      return dbe::MakeErrorReply(request, StatusCode::kUnavailable, "DEVICE_NOT_STARTED", "device 43 is not started");
    }
    auto payload = request.GetBytes(dbe::TlvType::kPayload);
    ChatRequest chat;
    if (auto e = ParseChatRequest(payload.ok() ? AsString(*payload) : std::string_view(), &chat)) {
      return dbe::MakeErrorReply(request, StatusCode::kInvalidArgument, "BAD_REQUEST", e->message.substr(0, 1000));
    }
    chat.stream = false;
    Admitted adm;
    if (auto refusal = pipeline_->Admit(request, chat, &adm)) {
      return dbe::MakeErrorReply(request, CodeForHttp(refusal->error.status), refusal->reason,
                                 refusal->error.message.substr(0, 1000));
    }
    // The workers serve only the router's claims (devices/authz.h): an
    // operator's claim from the control API admitted the request here, and
    // the router signs the worker's claim naming that operator.
    // Its requests count against the tenant's limits as the API's do.
    std::string claim = adm.claim_token;
    tenant::Lease lease;
    if (auto peek = tenant::PeekClaim(AsBytes(claim));
        peek.ok() && peek->user_id.rfind(kOperatorUserPrefix, 0) == 0 && issuer_ != nullptr) {
      if (limits_ != nullptr) {
        uint32_t reserve = chat.max_tokens > 0 ? chat.max_tokens : config_.default_max_tokens;
        auto held = limits_->Acquire(adm.tenant, reserve);
        if (!held.ok()) {
          return dbe::MakeErrorReply(request, StatusCode::kResourceExhausted, "RATE_LIMITED",
                                     held.status().message().substr(0, 1000));
        }
        lease = std::move(*held);
        lease.Settle(0);  // a refused or failed request uses none of its reservation
      }
      auto token =
          issuer_->TokenFor(adm.tenant, ("l7:" + peek->user_id).substr(0, 128), clock_.NowUnixNanos() / 1000000000);
      if (!token.ok()) {
        return dbe::MakeErrorReply(request, StatusCode::kUnavailable, "CLAIM_UNAVAILABLE",
                                   token.status().message().substr(0, 1000));
      }
      claim.assign(reinterpret_cast<const char*>(token->data()), token->size());
    }
    auto result = workers_->Chat(chat, WorkerCall{adm.tenant, adm.request_id, claim}, nullptr);
    if (result.ok() && lease.active()) lease.Settle(result->completion_tokens);
    if (!result.ok()) {
      return dbe::MakeErrorReply(request, result.status().code(), "WORKER_FAILED",
                                 result.status().message().substr(0, 1000));
    }
    dbe::Message reply(dbe::MsgType::kL7ChatResp);
    reply.header().src_device = kRouterDeviceId;
    reply.header().dst_device = request.header().src_device;
    reply.SetString(dbe::TlvType::kTenantId, adm.tenant);
    reply.SetString(dbe::TlvType::kRequestId, adm.request_id);
    reply.SetString(dbe::TlvType::kModel, chat.model);
    reply.SetU32(dbe::TlvType::kTokenCount, result->completion_tokens);
    reply.SetU8(dbe::TlvType::kContentType, static_cast<uint8_t>(dbe::ContentType::kJson));
    reply.SetString(
        dbe::TlvType::kPayload,
        ChatCompletionJson("chatcmpl-" + adm.request_id, clock_.NowUnixNanos() / 1000000000, chat.model,
                           result->content, result->finish_reason, result->prompt_tokens, result->completion_tokens));
    return reply;
  }

 private:
  // Declared in the order they are built; destroyed in reverse, so each unit
  // goes before what it uses.
  DeviceContext ctx_;
  const Clock& clock_;
  std::unique_ptr<Registry> own_registry_;
  Registry* registry_;
  std::unique_ptr<StandardMetrics> metrics_;
  std::unique_ptr<Recorder> recorder_;
  RoutingMetrics routing_metrics_;
  L7Config config_;
  std::unique_ptr<tenant::ApiKeyStore> keys_;
  std::unique_ptr<tenant::ClaimKeyring> keyring_;
  std::unique_ptr<tenant::ClaimIssuer> issuer_;
  std::unique_ptr<tenant::ClaimVerifier> verifier_;
  std::unique_ptr<tenant::RateLimiter> limiter_;
  std::unique_ptr<RequestLimiter> limits_;
  std::unique_ptr<tenant::PolicyStore> policies_;
  std::unique_ptr<PromptDetector> detector_;
  std::unique_ptr<WorkerPool> workers_;
  std::unique_ptr<Admission> admission_;
  std::unique_ptr<ChatPipeline> pipeline_;
  std::unique_ptr<HttpFront> front_;
  mutable Mutex listen_mu_;
  std::string listen_address_ DSMIL_GUARDED_BY(listen_mu_);  // "" until bound
  uint16_t port_ DSMIL_GUARDED_BY(listen_mu_) = 0;
  std::atomic<bool> started_{false};
  bool unconfigured_ = false;  // no l7 section: Start did nothing
  std::atomic<bool> stopping_{false};
};

}  // namespace

Result<std::unique_ptr<Device>> CreateRouterDevice(const DeviceContext& ctx) {
  return std::unique_ptr<Device>(new Router(ctx));
}

}  // namespace dsmil::devices::l7
