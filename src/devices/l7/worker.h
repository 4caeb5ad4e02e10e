// L7 workers: where the router (device 43) sends a chat or embeddings
// request once it has passed every check.
//
//   upstream  any OpenAI-compatible server by base URL ("http://h:p/v1"):
//             POST {base}/chat/completions and {base}/embeddings, streaming
//             passed through as deltas; keep-alive connections are pooled
//             (http; https goes through net::HttpFetch without streaming).
//   device    a built-in LLM worker device (47: llm-7b-amx, 44: a 1B
//             profile): an L7_CHAT_REQ (0x41) whose PAYLOAD is the OpenAI
//             request, answered by L7_CHAT_RESP frames (MORE-flagged chunks
//             when streaming; docs/l7.md "Worker devices"). Reached through
//             the host's local device lookup (streaming) or DeviceContext::call.
//
// A replica is configured by a WorkerSpec (config.h). Each replica counts its
// outstanding requests (routing.h picks the healthy replica with the fewest)
// and its health (Probe, consecutive failures).
//
// Thread safety: all methods may be called concurrently.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/mutex.h"
#include "core/status.h"
#include "devices/device.h"
#include "devices/l7/config.h"
#include "devices/l7/openai.h"

namespace dsmil::devices::l7 {

struct ChatDelta {
  std::string content;
};
// Receives streamed text; returns false when the client is gone (the worker
// then abandons the request and frees its slot).
using DeltaFn = std::function<bool(const ChatDelta&)>;

struct ChatResult {
  std::string content;
  std::string finish_reason = "stop";
  uint32_t prompt_tokens = 0;
  uint32_t completion_tokens = 0;
  bool cancelled = false;  // the client went away during streaming
};

// Who a chat request is for: the admitted tenant, the request id and the
// claim token the router verified (ML-DSA-87, tenant/claims.h). A device
// worker passes the token on as L7_CLAIM_TOKEN; the LLM device verifies it
// (devices/authz.h).
struct WorkerCall {
  std::string tenant;
  std::string request_id;
  std::string claim_token;  // raw token bytes
};

class Worker {
 public:
  explicit Worker(WorkerSpec spec) : spec_(std::move(spec)) {}
  virtual ~Worker() = default;

  const WorkerSpec& spec() const { return spec_; }
  // One chat request. `on_delta` null: non-streaming. Errors: Unavailable
  // (worker down / no model), DeadlineExceeded, InvalidArgument (the worker
  // refused the request: its message is passed on).
  virtual Result<ChatResult> Chat(const ChatRequest& req, const WorkerCall& call, const DeltaFn* on_delta) = 0;
  // Embeddings; Unimplemented when the worker has none.
  virtual Result<std::vector<std::vector<float>>> Embed(const std::vector<std::string>& inputs,
                                                        const std::string& tenant);
  // Health check; OK when the worker can serve.
  virtual Status Probe() = 0;

  // Bookkeeping used by the router.
  std::atomic<int> outstanding{0};
  std::atomic<bool> healthy{true};
  std::atomic<int> failures{0};
  std::atomic<uint64_t> served{0};
  std::string last_error() const;
  void set_last_error(std::string e);

 private:
  WorkerSpec spec_;
  mutable Mutex mu_;
  std::string last_error_ DSMIL_GUARDED_BY(mu_);
};

std::unique_ptr<Worker> MakeUpstreamWorker(WorkerSpec spec);
// `ctx` must outlive the worker (the router's DeviceContext).
std::unique_ptr<Worker> MakeDeviceWorker(WorkerSpec spec, const DeviceContext* ctx);

// Parses an SSE stream incrementally: feed bytes, get each event's data.
class SseParser {
 public:
  // Appends bytes; calls `on_data` for each complete "data: ..." event (the
  // data lines joined with '\n'). Returns false if on_data returned false.
  bool Feed(std::string_view bytes, const std::function<bool(std::string_view data)>& on_data);

 private:
  std::string buf_;
  std::string data_;
};

}  // namespace dsmil::devices::l7
