#include "devices/l7/worker.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <deque>
#include <nlohmann/json.hpp>

#include "net/http_client.h"

namespace dsmil::devices::l7 {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using nlohmann::json;

// The OpenAI body sent to a worker: the client's request with `model`
// replaced, `stream` set as asked, and the DSMIL extension removed.
std::string WorkerBody(const ChatRequest& req, const std::string& model, bool stream, bool include_usage) {
  json j = json::parse(req.raw, nullptr, false);
  if (j.is_discarded() || !j.is_object()) j = json::object();
  j["model"] = model;
  j["stream"] = stream;
  j.erase("dsmil");
  if (stream && include_usage) j["stream_options"] = {{"include_usage", true}};
  // Messages as parsed (RAG may have added context to them).
  json msgs = json::array();
  for (const ChatMessage& m : req.messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
  j["messages"] = std::move(msgs);
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Content and usage from an OpenAI chat.completion or chunk document.
void ReadCompletion(const json& j, ChatResult* r, std::string* delta) {
  auto choices = j.find("choices");
  if (choices != j.end() && choices->is_array() && !choices->empty()) {
    const json& c = (*choices)[0];
    if (auto m = c.find("message"); m != c.end() && m->is_object()) {
      if (auto ct = m->find("content"); ct != m->end() && ct->is_string()) r->content += ct->get<std::string>();
    }
    if (auto d = c.find("delta"); d != c.end() && d->is_object()) {
      if (auto ct = d->find("content"); ct != d->end() && ct->is_string()) {
        if (delta) *delta += ct->get<std::string>();
        r->content += ct->get<std::string>();
      }
    }
    if (auto f = c.find("finish_reason"); f != c.end() && f->is_string()) r->finish_reason = f->get<std::string>();
  }
  // The built-in workers' form (devices/llm/llm_worker.h): chunks {"delta": ...},
  // then the final frame {"text": <whole text>, "finish_reason", "prompt_tokens",
  // "completion_tokens"}; "content" is accepted as well.
  if (auto t = j.find("text"); t != j.end() && t->is_string()) r->content = t->get<std::string>();
  if (auto ct = j.find("content"); ct != j.end() && ct->is_string()) r->content += ct->get<std::string>();
  if (auto d = j.find("delta"); d != j.end() && d->is_string()) {
    if (delta) *delta += d->get<std::string>();
    r->content += d->get<std::string>();
  }
  if (auto f = j.find("finish_reason"); f != j.end() && f->is_string()) r->finish_reason = f->get<std::string>();
  auto usage = j.find("usage");
  const json& u = (usage != j.end() && usage->is_object()) ? *usage : j;
  if (auto p = u.find("prompt_tokens"); p != u.end() && p->is_number_unsigned()) r->prompt_tokens = p->get<uint32_t>();
  if (auto c = u.find("completion_tokens"); c != u.end() && c->is_number_unsigned()) {
    r->completion_tokens = c->get<uint32_t>();
  }
}

std::string UpstreamErrorMessage(int status, const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object()) {
    auto e = j.find("error");
    if (e != j.end() && e->is_object()) {
      auto m = e->find("message");
      if (m != e->end() && m->is_string()) return m->get<std::string>();
    }
    if (e != j.end() && e->is_string()) return e->get<std::string>();
  }
  return "HTTP " + std::to_string(status);
}

class UpstreamWorker final : public Worker {
 public:
  explicit UpstreamWorker(WorkerSpec spec) : Worker(std::move(spec)) {
    auto u = net::ParseHttpUrl(this->spec().base_url);
    if (u.ok()) {
      url_ = *u;
      // "/v1" (no trailing slash).
      base_path_ = url_.target;
      while (!base_path_.empty() && base_path_.back() == '/') base_path_.pop_back();
    }
  }

  Result<ChatResult> Chat(const ChatRequest& req, const WorkerCall& call, const DeltaFn* on_delta) override {
    const std::string& tenant = call.tenant;
    const std::string& request_id = call.request_id;
    const std::string& model = spec().upstream_model.empty() ? spec().model : spec().upstream_model;
    bool stream = on_delta != nullptr && url_.scheme == "http";
    std::string body = WorkerBody(req, model, stream, stream);
    ChatResult r;
    if (!stream) {
      DSMIL_ASSIGN_OR_RETURN(net::HttpResponse resp, Post("/chat/completions", body, request_id));
      if (resp.status != 200) return StatusFor(resp.status, resp.body);
      json j = json::parse(resp.body, nullptr, false);
      if (j.is_discarded() || !j.is_object()) return Status::Unavailable("upstream answered with invalid JSON");
      ReadCompletion(j, &r, nullptr);
      if (on_delta != nullptr && !r.content.empty()) r.cancelled = !(*on_delta)(ChatDelta{r.content});
      return r;
    }
    SseParser sse;
    bool done = false;
    auto on_data = [&](std::string_view data) {
      if (data == "[DONE]") {
        done = true;
        return true;
      }
      json j = json::parse(data, nullptr, false);
      if (j.is_discarded() || !j.is_object()) return true;
      std::string delta;
      ReadCompletion(j, &r, &delta);
      if (!delta.empty() && !(*on_delta)(ChatDelta{delta})) {
        r.cancelled = true;
        return false;
      }
      return true;
    };
    int status = 0;
    std::string error_body;
    Status s = PostStreaming(
        "/chat/completions", body, request_id, [&](int st) { status = st; },
        [&](std::string_view bytes) {
          if (status != 200) {
            error_body.append(bytes);
            return error_body.size() < (1 << 16);
          }
          return sse.Feed(bytes, on_data);
        });
    if (r.cancelled) return r;
    if (!s.ok()) return s;
    if (status != 200) return StatusFor(status, error_body);
    (void)done;
    (void)tenant;
    return r;
  }

  Result<std::vector<std::vector<float>>> Embed(const std::vector<std::string>& inputs,
                                                const std::string& tenant) override {
    const std::string& model = spec().upstream_model.empty() ? spec().model : spec().upstream_model;
    json j = {{"model", model}, {"input", inputs}, {"encoding_format", "float"}};
    DSMIL_ASSIGN_OR_RETURN(net::HttpResponse resp,
                           Post("/embeddings", j.dump(-1, ' ', false, json::error_handler_t::replace), ""));
    if (resp.status != 200) return StatusFor(resp.status, resp.body);
    json r = json::parse(resp.body, nullptr, false);
    auto data = r.is_object() ? r.find("data") : r.end();
    if (r.is_discarded() || !r.is_object() || data == r.end() || !data->is_array() || data->size() != inputs.size()) {
      return Status::Unavailable("upstream embeddings: unexpected answer");
    }
    std::vector<std::vector<float>> out(inputs.size());
    for (const json& d : *data) {
      auto idx = d.find("index");
      auto emb = d.find("embedding");
      if (idx == d.end() || !idx->is_number_unsigned() || idx->get<size_t>() >= out.size() || emb == d.end() ||
          !emb->is_array()) {
        return Status::Unavailable("upstream embeddings: malformed item");
      }
      auto& v = out[idx->get<size_t>()];
      for (const json& x : *emb) v.push_back(x.is_number() ? x.get<float>() : 0.0f);
    }
    return out;
  }

  Status Probe() override {
    net::HttpClientRequest r;
    r.method = "GET";
    r.url = BaseUrl() + "/models";
    r.timeout = std::chrono::milliseconds(3000);
    if (!spec().api_key.empty()) r.headers.emplace_back("Authorization", "Bearer " + spec().api_key);
    auto resp = net::HttpFetch(r);
    if (!resp.ok()) return resp.status();
    if (resp->status >= 500) {
      return Status::Unavailable("upstream " + BaseUrl() + ": HTTP " + std::to_string(resp->status));
    }
    return Status::Ok();
  }

 private:
  std::string BaseUrl() const {
    std::string b = spec().base_url;
    while (!b.empty() && b.back() == '/') b.pop_back();
    return b;
  }

  Status StatusFor(int status, const std::string& body) const {
    std::string msg = "upstream " + BaseUrl() + ": " + UpstreamErrorMessage(status, body);
    if (status == 400 || status == 404 || status == 422) return Status::InvalidArgument(msg);
    if (status == 429) return Status::ResourceExhausted(msg);
    return Status::Unavailable(msg);
  }

  // A pooled keep-alive connection (http only).
  struct Conn {
    asio::io_context ioc;
    tcp::socket socket{ioc};
    beast::flat_buffer buffer;
  };

  Result<std::unique_ptr<Conn>> Connect() {
    {
      MutexLock l(pool_mu_);
      if (!pool_.empty()) {
        auto c = std::move(pool_.back());
        pool_.pop_back();
        return c;
      }
    }
    auto c = std::make_unique<Conn>();
    beast::error_code ec;
    tcp::resolver resolver(c->ioc);
    auto results = resolver.resolve(url_.host, std::to_string(url_.port), ec);
    if (ec) return Status::Unavailable("upstream " + BaseUrl() + ": resolve: " + ec.message());
    asio::connect(c->socket, results, ec);
    if (ec) return Status::Unavailable("upstream " + BaseUrl() + ": connect: " + ec.message());
    c->socket.set_option(tcp::no_delay(true), ec);
    timeval tv{spec().timeout_ms / 1000, (spec().timeout_ms % 1000) * 1000};
    ::setsockopt(c->socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(c->socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return c;
  }

  void Return(std::unique_ptr<Conn> c) {
    MutexLock l(pool_mu_);
    if (pool_.size() < 256) pool_.push_back(std::move(c));
  }

  http::request<http::string_body> MakeRequest(const std::string& path, const std::string& body,
                                               const std::string& request_id) const {
    http::request<http::string_body> req{http::verb::post, base_path_ + path, 11};
    req.set(http::field::host, url_.host + ":" + std::to_string(url_.port));
    req.set(http::field::content_type, "application/json");
    req.set(http::field::user_agent, "dsmil-l7");
    if (!spec().api_key.empty()) req.set(http::field::authorization, "Bearer " + spec().api_key);
    if (!request_id.empty()) req.set("X-Request-Id", request_id);
    req.keep_alive(true);
    req.body() = body;
    req.prepare_payload();
    return req;
  }

  Result<net::HttpResponse> Post(const std::string& path, const std::string& body, const std::string& request_id) {
    if (url_.scheme != "http") {
      net::HttpClientRequest r;
      r.method = "POST";
      r.url = BaseUrl() + path;
      r.body = body;
      r.timeout = std::chrono::milliseconds(spec().timeout_ms);
      r.headers.emplace_back("Content-Type", "application/json");
      if (!spec().api_key.empty()) r.headers.emplace_back("Authorization", "Bearer " + spec().api_key);
      return net::HttpFetch(r);
    }
    // One retry on a fresh connection when a pooled one was closed by the peer.
    for (int attempt = 0; attempt < 2; ++attempt) {
      DSMIL_ASSIGN_OR_RETURN(std::unique_ptr<Conn> c, Connect());
      beast::error_code ec;
      auto req = MakeRequest(path, body, request_id);
      http::write(c->socket, req, ec);
      if (ec) {
        if (attempt == 0) continue;
        return Status::Unavailable("upstream " + BaseUrl() + ": write: " + ec.message());
      }
      http::response_parser<http::string_body> parser;
      parser.body_limit(64u << 20);
      http::read(c->socket, c->buffer, parser, ec);
      if (ec) {
        if (attempt == 0 && (ec == http::error::end_of_stream || ec == asio::error::connection_reset)) continue;
        if (ec == asio::error::would_block || ec == asio::error::try_again || ec == asio::error::timed_out) {
          return Status::DeadlineExceeded("upstream " + BaseUrl() + ": no answer within " +
                                          std::to_string(spec().timeout_ms) + " ms");
        }
        return Status::Unavailable("upstream " + BaseUrl() + ": read: " + ec.message());
      }
      auto res = parser.release();
      net::HttpResponse out;
      out.status = static_cast<int>(res.result_int());
      out.body = std::move(res.body());
      if (res.keep_alive()) Return(std::move(c));
      return out;
    }
    return Status::Unavailable("upstream " + BaseUrl() + ": connection closed");
  }

  // Streams the response body to on_bytes (false: stop and drop the
  // connection, which tells the upstream the client went away).
  Status PostStreaming(const std::string& path, const std::string& body, const std::string& request_id,
                       const std::function<void(int)>& on_status,
                       const std::function<bool(std::string_view)>& on_bytes) {
    // Streaming always uses a fresh connection: closing it is how the
    // upstream learns about a client that went away.
    beast::error_code ec;
    auto c = std::make_unique<Conn>();
    tcp::resolver resolver(c->ioc);
    auto results = resolver.resolve(url_.host, std::to_string(url_.port), ec);
    if (ec) return Status::Unavailable("upstream " + BaseUrl() + ": resolve: " + ec.message());
    asio::connect(c->socket, results, ec);
    if (ec) return Status::Unavailable("upstream " + BaseUrl() + ": connect: " + ec.message());
    c->socket.set_option(tcp::no_delay(true), ec);
    timeval tv{spec().timeout_ms / 1000, (spec().timeout_ms % 1000) * 1000};
    ::setsockopt(c->socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    auto req = MakeRequest(path, body, request_id);
    req.keep_alive(false);
    http::write(c->socket, req, ec);
    if (ec) return Status::Unavailable("upstream " + BaseUrl() + ": write: " + ec.message());
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);
    http::read_header(c->socket, c->buffer, parser, ec);
    if (ec) return Status::Unavailable("upstream " + BaseUrl() + ": read: " + ec.message());
    on_status(static_cast<int>(parser.get().result_int()));
    char buf[8192];
    while (!parser.is_done()) {
      parser.get().body().data = buf;
      parser.get().body().size = sizeof(buf);
      http::read(c->socket, c->buffer, parser, ec);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        if (ec == http::error::end_of_stream) break;
        return Status::Unavailable("upstream " + BaseUrl() + ": read: " + ec.message());
      }
      size_t n = sizeof(buf) - parser.get().body().size;
      if (n > 0 && !on_bytes(std::string_view(buf, n))) {
        c->socket.shutdown(tcp::socket::shutdown_both, ec);
        c->socket.close(ec);
        return Status::Ok();
      }
    }
    return Status::Ok();
  }

  net::ParsedUrl url_;
  std::string base_path_;
  Mutex pool_mu_;
  std::deque<std::unique_ptr<Conn>> pool_ DSMIL_GUARDED_BY(pool_mu_);
};

class DeviceWorker final : public Worker {
 public:
  DeviceWorker(WorkerSpec spec, const DeviceContext* ctx) : Worker(std::move(spec)), ctx_(ctx) {}

  Result<ChatResult> Chat(const ChatRequest& req, const WorkerCall& call, const DeltaFn* on_delta) override {
    const std::string& tenant = call.tenant;
    const std::string& request_id = call.request_id;
    dbe::Message msg(dbe::MsgType::kL7ChatReq);
    msg.header().src_device = 43;
    msg.header().dst_device = static_cast<uint16_t>(spec().device);
    msg.SetString(dbe::TlvType::kTenantId, tenant);
    msg.SetString(dbe::TlvType::kRequestId, request_id);
    msg.SetString(dbe::TlvType::kModel, spec().model);
    if (!call.claim_token.empty()) msg.SetString(dbe::TlvType::kL7ClaimToken, call.claim_token);
    if (req.max_tokens > 0) msg.SetU32(dbe::TlvType::kMaxTokens, req.max_tokens);
    msg.SetU8(dbe::TlvType::kContentType, static_cast<uint8_t>(dbe::ContentType::kJson));
    msg.SetString(dbe::TlvType::kPayload, WorkerBody(req, spec().model, on_delta != nullptr, false));
    ChatResult r;
    Status error;
    auto take = [&](const dbe::Message& frame) {
      if (frame.type() == dbe::MsgType::kError) {
        error = ErrorFrom(frame);
        return false;
      }
      auto payload = frame.GetBytes(dbe::TlvType::kPayload);
      if (payload.ok()) {
        json j = json::parse(AsString(*payload), nullptr, false);
        std::string delta;
        if (!j.is_discarded() && j.is_object()) {
          ReadCompletion(j, &r, &delta);
        } else {
          delta = std::string(AsString(*payload));  // plain text chunk
          r.content += delta;
        }
        if (auto tc = frame.GetU32(dbe::TlvType::kTokenCount); tc.ok()) r.completion_tokens = *tc;
        if (on_delta != nullptr && !delta.empty() && !(*on_delta)(ChatDelta{delta})) {
          r.cancelled = true;
          return false;
        }
      }
      return true;
    };
    Device* local = ctx_->local ? ctx_->local(spec().device, tenant) : nullptr;
    if (local == nullptr && ctx_->local) local = ctx_->local(spec().device, "");
    if (local != nullptr) {
      Status s = local->HandleStreaming(msg, take);
      if (!error.ok()) return error;
      if (r.cancelled) return r;
      if (!s.ok()) return s;
    } else if (ctx_->call) {
      auto reply = ctx_->call(msg, std::chrono::milliseconds(spec().timeout_ms));
      if (!reply.ok()) return reply.status();
      take(*reply);
      if (!error.ok()) return error;
      if (on_delta == nullptr) r.cancelled = false;
    } else {
      return Status::Unavailable("device " + std::to_string(spec().device) + " is not reachable from device 43");
    }
    if (r.prompt_tokens == 0) r.prompt_tokens = EstimateTokens(PromptText(req));
    if (r.completion_tokens == 0 && !r.content.empty()) r.completion_tokens = EstimateTokens(r.content);
    return r;
  }

  Status Probe() override {
    Device* local = ctx_->local ? ctx_->local(spec().device, "") : nullptr;
    if (local != nullptr) {
      DeviceHealth h = local->Health();
      if (h.state == DeviceState::kHealthy || h.state == DeviceState::kDegraded) return Status::Ok();
      return Status::Unavailable("device " + std::to_string(spec().device) + " is " +
                                 std::string(DeviceStateName(h.state)) + (h.reason.empty() ? "" : ": " + h.reason));
    }
    if (!ctx_->call) return Status::Unavailable("device " + std::to_string(spec().device) + " is not reachable");
    dbe::Message ping(dbe::MsgType::kHealthPing);
    ping.header().src_device = 43;
    ping.header().dst_device = static_cast<uint16_t>(spec().device);
    ping.SetString(dbe::TlvType::kTenantId, "SYSTEM");
    ping.SetString(dbe::TlvType::kRequestId, "l7-probe");
    auto reply = ctx_->call(ping, std::chrono::milliseconds(2000));
    if (!reply.ok()) return reply.status();
    if (reply->type() == dbe::MsgType::kError) return ErrorFrom(*reply);
    return Status::Ok();
  }

 private:
  Status ErrorFrom(const dbe::Message& frame) const {
    std::string reason(frame.GetString(dbe::TlvType::kErrorReason).ok() ? *frame.GetString(dbe::TlvType::kErrorReason)
                                                                        : std::string_view("ERROR"));
    std::string detail(frame.GetString(dbe::TlvType::kErrorDetail).ok() ? *frame.GetString(dbe::TlvType::kErrorDetail)
                                                                        : std::string_view());
    std::string msg = "model " + spec().model + ": device " + std::to_string(spec().device) + " refused (" + reason +
                      (detail.empty() ? ")" : "): " + detail);
    // Only a worker that cannot serve is Unavailable (the router then tries
    // another replica and counts a failure); a busy pool or a full tenant
    // quota is ResourceExhausted (429, the replica stays up), a refused
    // request is the caller's problem.
    auto code = frame.GetU16(dbe::TlvType::kErrorCode);
    if (code.ok()) {
      switch (static_cast<StatusCode>(*code)) {
        case StatusCode::kInvalidArgument:
          return Status::InvalidArgument(msg);
        case StatusCode::kResourceExhausted:
          return Status::ResourceExhausted(msg);
        case StatusCode::kPermissionDenied:
          return Status::PermissionDenied(msg);
        case StatusCode::kUnauthenticated:
          return Status::Unauthenticated(msg);
        default:
          break;
      }
    }
    if (reason == "MODEL_BUSY" || reason == "TENANT_BUSY") return Status::ResourceExhausted(msg);
    return Status::Unavailable(msg);
  }

  const DeviceContext* ctx_;
};

}  // namespace

Result<std::vector<std::vector<float>>> Worker::Embed(const std::vector<std::string>&, const std::string&) {
  return Status::Unimplemented("model " + spec_.model + " does not serve embeddings");
}

std::string Worker::last_error() const {
  MutexLock l(mu_);
  return last_error_;
}

void Worker::set_last_error(std::string e) {
  MutexLock l(mu_);
  last_error_ = std::move(e);
}

std::unique_ptr<Worker> MakeUpstreamWorker(WorkerSpec spec) {
  return std::make_unique<UpstreamWorker>(std::move(spec));
}

std::unique_ptr<Worker> MakeDeviceWorker(WorkerSpec spec, const DeviceContext* ctx) {
  return std::make_unique<DeviceWorker>(std::move(spec), ctx);
}

bool SseParser::Feed(std::string_view bytes, const std::function<bool(std::string_view)>& on_data) {
  buf_.append(bytes);
  size_t start = 0;
  for (;;) {
    size_t nl = buf_.find('\n', start);
    if (nl == std::string::npos) break;
    std::string_view line(buf_.data() + start, nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    start = nl + 1;
    if (line.empty()) {
      if (!data_.empty()) {
        std::string d = std::move(data_);
        data_.clear();
        if (!on_data(d)) {
          buf_.erase(0, start);
          return false;
        }
      }
      continue;
    }
    if (line.substr(0, 5) == "data:") {
      std::string_view v = line.substr(5);
      if (!v.empty() && v[0] == ' ') v.remove_prefix(1);
      if (!data_.empty()) data_.push_back('\n');
      data_.append(v);
    }
  }
  buf_.erase(0, start);
  return true;
}

}  // namespace dsmil::devices::l7
