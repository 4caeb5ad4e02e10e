// The in-process connection pair: two endpoints sharing two frame queues.
#include "net/connection.h"

#include <atomic>
#include <deque>

#include "core/mutex.h"

namespace dsmil::net {
namespace {

// Frames queued beyond this many bytes make Send fail with ResourceExhausted.
constexpr size_t kPairQueueLimitBytes = 64u << 20;

struct Pipe {
  Mutex mu;
  CondVar cv;
  std::deque<Bytes> frames DSMIL_GUARDED_BY(mu);
  size_t queued_bytes DSMIL_GUARDED_BY(mu) = 0;
  bool closed DSMIL_GUARDED_BY(mu) = false;
};

struct Shared {
  Pipe a_to_b;
  Pipe b_to_a;
};

void ClosePipe(Pipe& p) {
  {
    MutexLock lock(p.mu);
    p.closed = true;
  }
  p.cv.NotifyAll();
}

class PairEnd final : public Connection {
 public:
  PairEnd(std::shared_ptr<Shared> shared, bool is_a) : shared_(std::move(shared)), is_a_(is_a) {}
  ~PairEnd() override { Close(); }

  Status Send(ByteView frame) override {
    if (frame.size() > kMaxConnectionFrame) {
      return Status::ResourceExhausted("pair: frame of " + std::to_string(frame.size()) + " bytes is over the " +
                                       std::to_string(kMaxConnectionFrame) + "-byte limit");
    }
    Pipe& out = is_a_ ? shared_->a_to_b : shared_->b_to_a;
    {
      MutexLock lock(out.mu);
      if (out.closed) return Status::Unavailable("pair: connection closed");
      if (out.queued_bytes + frame.size() > kPairQueueLimitBytes) {
        return Status::ResourceExhausted("pair: send queue full");
      }
      out.frames.emplace_back(frame.begin(), frame.end());
      out.queued_bytes += frame.size();
    }
    out.cv.NotifyOne();
    return Status::Ok();
  }

  Result<Bytes> Receive(std::chrono::milliseconds timeout) override {
    Pipe& in = is_a_ ? shared_->b_to_a : shared_->a_to_b;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    MutexLock lock(in.mu);
    while (in.frames.empty() && !in.closed) {
      if (!in.cv.WaitUntil(in.mu, deadline) && in.frames.empty() && !in.closed) {
        return Status::DeadlineExceeded("pair: no frame within " + std::to_string(timeout.count()) + " ms");
      }
    }
    // After our own Close nothing more is delivered; after the peer's, the
    // frames it sent before closing are.
    if (local_closed_.load() || in.frames.empty()) return Status::Unavailable("pair: connection closed");
    Bytes f = std::move(in.frames.front());
    in.frames.pop_front();
    in.queued_bytes -= f.size();
    return f;
  }

  void Close() override {
    local_closed_.store(true);
    ClosePipe(shared_->a_to_b);
    ClosePipe(shared_->b_to_a);
  }

  std::string PeerName() const override { return ""; }
  std::string Describe() const override { return is_a_ ? "pair (a)" : "pair (b)"; }

 private:
  std::shared_ptr<Shared> shared_;
  bool is_a_;
  std::atomic<bool> local_closed_{false};
};

}  // namespace

std::pair<std::unique_ptr<Connection>, std::unique_ptr<Connection>> MakeConnectionPair() {
  auto shared = std::make_shared<Shared>();
  return {std::make_unique<PairEnd>(shared, true), std::make_unique<PairEnd>(shared, false)};
}

}  // namespace dsmil::net
