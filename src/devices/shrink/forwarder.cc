#include "devices/shrink/forwarder.h"

#include <nlohmann/json.hpp>

#include "core/metrics.h"
#include "net/http_client.h"

namespace dsmil::devices::shrink {

ShrinkForwarder::ShrinkForwarder(ForwarderOptions options) : options_(std::move(options)) {
  if (options_.metrics != nullptr) {
    auto& f = options_.metrics->AddCounter("shrink_texts_forward_dropped_total",
                                           "Operator texts not forwarded to SHRINK", {"reason"});
    dropped_full_ = &f.Labels({"queue_full"});
    dropped_failed_ = &f.Labels({"post_failed"});
  }
  thread_ = std::thread([this] { Run(); });
}

ShrinkForwarder::~ShrinkForwarder() { Stop(); }

void ShrinkForwarder::Stop() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.NotifyAll();
  if (thread_.joinable()) thread_.join();
}

void ShrinkForwarder::Drop(const char* reason) {
  Counter* c = std::string_view(reason) == "queue_full" ? dropped_full_ : dropped_failed_;
  if (c != nullptr) c->Inc();
}

void ShrinkForwarder::Submit(std::string_view tenant, TextSource source, std::string_view text) {
  {
    MutexLock lock(mu_);
    if (stopping_ || queue_.size() >= options_.max_queue) {
      Drop("queue_full");
      return;
    }
    queue_.push_back(Item{std::string(tenant), source, std::string(text.substr(0, kMaxScoredTextBytes))});
  }
  cv_.NotifyOne();
}

void ShrinkForwarder::Run() {
  for (;;) {
    Item item;
    {
      MutexLock lock(mu_);
      while (queue_.empty() && !stopping_) cv_.Wait(mu_);
      if (queue_.empty()) return;  // stopping, nothing left
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    net::HttpClientRequest req;
    req.method = "POST";
    req.url = options_.url + "/v1/text";
    req.headers = {{"Content-Type", "application/json"}};
    req.body =
        nlohmann::json(
            {{"tenant_id", item.tenant}, {"source", std::string(TextSourceName(item.source))}, {"text", item.text}})
            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    req.timeout = std::chrono::milliseconds(3000);
    req.max_response_bytes = 64 << 10;
    req.ca_file = options_.ca_file;
    req.cert_file = options_.cert_file;
    req.key_file = options_.key_file;
    auto resp = net::HttpFetch(req);
    if (!resp.ok() || resp->status != 202) Drop("post_failed");
  }
}

}  // namespace dsmil::devices::shrink
