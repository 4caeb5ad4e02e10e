// Sends the operator text of a node that does not run SHRINK to the one that
// does (docs/shrink.md §5): POST <forward>/v1/text with the node's own
// certificate, from one background thread with a bounded queue. Submit never
// blocks; a full queue or a failed post drops the text and counts it in
// shrink_texts_forward_dropped_total{reason}.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "core/mutex.h"
#include "devices/shrink/monitor.h"

namespace dsmil {
class Registry;
class Counter;
}  // namespace dsmil

namespace dsmil::devices::shrink {

struct ForwarderOptions {
  std::string url;  // "https://host:port" of SHRINK
  std::string ca_file, cert_file, key_file;
  size_t max_queue = 1024;
  Registry* metrics = nullptr;  // null: not counted
};

class ShrinkForwarder {
 public:
  explicit ShrinkForwarder(ForwarderOptions options);
  ~ShrinkForwarder();  // Stop()
  ShrinkForwarder(const ShrinkForwarder&) = delete;
  ShrinkForwarder& operator=(const ShrinkForwarder&) = delete;

  void Submit(std::string_view tenant, TextSource source, std::string_view text);
  // Sends what is queued (up to a few seconds), then stops the thread.
  void Stop();

 private:
  struct Item {
    std::string tenant;
    TextSource source = TextSource::kL7Chat;
    std::string text;
  };
  void Run();
  void Drop(const char* reason);

  ForwarderOptions options_;
  Mutex mu_;
  CondVar cv_;
  std::deque<Item> queue_ DSMIL_GUARDED_BY(mu_);
  bool stopping_ DSMIL_GUARDED_BY(mu_) = false;
  Counter* dropped_full_ = nullptr;
  Counter* dropped_failed_ = nullptr;
  std::thread thread_;
};

}  // namespace dsmil::devices::shrink
