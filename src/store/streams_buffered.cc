// A writer's (or ingest's) Streams on Redis with a local buffer
// (stores.buffer_dir): while Redis cannot be reached, Append writes to
// embedded SQLite streams of the same tenant and succeeds; once Redis answers
// again the buffered entries are appended to Redis in their order (at least
// once: an entry whose replay was cut off after Redis took it may arrive
// twice), and only then new ones.
#include <chrono>
#include <mutex>

#include "store/streams.h"
#include "store/streams_internal.h"

namespace dsmil::store::internal {
namespace {

constexpr char kReplayGroup[] = "replay";
constexpr size_t kReplayBatch = 256;
// How often a disconnected writer tries Redis again (on Append / Trim).
constexpr auto kRetryInterval = std::chrono::milliseconds(500);

bool Unreachable(const Status& s) {
  return s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kDeadlineExceeded;
}

class BufferedStreams final : public Streams {
 public:
  BufferedStreams(StoresConfig config, TenantScope scope, Access access, std::unique_ptr<Streams> buffer_writer,
                  std::unique_ptr<Streams> buffer_reader, std::unique_ptr<Streams> primary)
      : config_(std::move(config)),
        scope_(std::move(scope)),
        access_(access),
        buf_w_(std::move(buffer_writer)),
        buf_r_(std::move(buffer_reader)),
        primary_(std::move(primary)) {}

  const TenantScope& scope() const override { return scope_; }

  Result<std::vector<std::string>> Append(StreamKind s, std::span<const std::string> payloads) override {
    // Refused here, not buffered: Redis would refuse the replay and hold
    // every later entry behind it.
    if (!MayAppend(access_, s)) return Refused("append to " + scope_.Stream(s));
    if (Connected() && Drain().ok()) {
      auto r = primary_->Append(s, payloads);
      if (r.ok() || !Unreachable(r.status())) return r;
      Disconnect();
    }
    // Redis is away (or still has buffered entries to take first): keep them here.
    buffered_ = true;
    return buf_w_->Append(s, payloads);
  }

  Status EnsureGroup(StreamKind, const std::string&) override { return Refused("create groups"); }
  Result<std::vector<StreamEntry>> ReadGroup(StreamKind, const std::string&, const std::string&, size_t,
                                             std::chrono::milliseconds) override {
    return Refused("read");
  }
  Result<size_t> Ack(StreamKind, const std::string&, std::span<const std::string>) override {
    return Refused("acknowledge");
  }
  Result<std::vector<StreamEntry>> Claim(StreamKind, const std::string&, const std::string&, std::chrono::milliseconds,
                                         size_t) override {
    return Refused("claim");
  }
  Result<std::vector<StreamEntry>> Range(StreamKind, const std::string&, size_t) override { return Refused("read"); }
  Result<std::vector<StreamEntry>> Latest(StreamKind, size_t) override { return Refused("read"); }
  Result<uint64_t> Length(StreamKind) override { return Refused("read"); }
  Result<uint64_t> Pending(StreamKind, const std::string&) override { return Refused("read"); }

  Result<uint64_t> Trim(StreamKind s, std::chrono::system_clock::time_point now) override {
    auto local = buf_w_->Trim(s, now);
    if (!Connected()) return local;
    auto r = primary_->Trim(s, now);
    if (!r.ok() && Unreachable(r.status())) {
      Disconnect();
      return local;
    }
    return r;
  }

 private:
  Status Refused(const std::string& what) const {
    return Status::PermissionDenied("streams: tenant " + scope_.tenant() + ": the " + std::string(AccessName(access_)) +
                                    " may not " + what);
  }

  bool Connected() {
    if (primary_) return true;
    auto now = std::chrono::steady_clock::now();
    if (now < next_try_) return false;
    next_try_ = now + kRetryInterval;
    auto p = OpenRedisStreams(config_, scope_, access_);
    if (!p.ok()) return false;
    primary_ = std::move(*p);
    return true;
  }

  void Disconnect() {
    primary_.reset();
    next_try_ = std::chrono::steady_clock::now() + kRetryInterval;
  }

  // Moves every buffered entry to Redis, oldest first, stream by stream: of
  // the streams this access may append to (the writer's and ingest's buffers
  // of a tenant are one file; ingest leaves the pipeline's streams to the
  // writer).
  Status Drain() {
    if (!buffered_ && !checked_at_start_) return Status::Ok();
    checked_at_start_ = false;  // a buffer left by an earlier run is drained once
    for (StreamKind s : kAllStreams) {
      if (!MayAppend(access_, s)) continue;
      DSMIL_RETURN_IF_ERROR(buf_r_->EnsureGroup(s, kReplayGroup));
      // First what an earlier replay took but did not finish, then the rest.
      for (bool claim : {true, false}) {
        for (;;) {
          auto batch = claim
                           ? buf_r_->Claim(s, kReplayGroup, "replayer", std::chrono::milliseconds(0), kReplayBatch)
                           : buf_r_->ReadGroup(s, kReplayGroup, "replayer", kReplayBatch, std::chrono::milliseconds(0));
          if (!batch.ok()) return batch.status();
          if (batch->empty()) break;
          std::vector<std::string> payloads, ids;
          for (auto& e : *batch) {
            payloads.push_back(std::move(e.payload));
            ids.push_back(e.id);
          }
          auto r = primary_->Append(s, payloads);
          if (!r.ok()) {
            if (Unreachable(r.status())) Disconnect();
            return r.status();
          }
          DSMIL_RETURN_IF_ERROR(buf_r_->Ack(s, kReplayGroup, ids).status());
        }
      }
    }
    buffered_ = false;
    return Status::Ok();
  }

  StoresConfig config_;
  TenantScope scope_;
  Access access_;
  std::unique_ptr<Streams> buf_w_, buf_r_;
  std::unique_ptr<Streams> primary_;  // null while Redis cannot be reached
  std::chrono::steady_clock::time_point next_try_{};
  bool buffered_ = false;
  bool checked_at_start_ = true;
};

}  // namespace

Result<std::unique_ptr<Streams>> OpenBufferedRedisStreams(const StoresConfig& config, const TenantScope& scope,
                                                          Access access) {
  StoresConfig local = config;
  local.kind = "embedded";
  local.path = config.buffer_dir;
  DSMIL_ASSIGN_OR_RETURN(auto w, OpenSqliteStreams(local, scope, access));
  DSMIL_ASSIGN_OR_RETURN(auto r, OpenSqliteStreams(local, scope, Access::kReader));
  auto primary = OpenRedisStreams(config, scope, access);
  std::unique_ptr<Streams> p;
  if (primary.ok()) {
    p = std::move(*primary);
  } else if (!Unreachable(primary.status())) {
    return primary.status();  // wrong password, refused user: not something to buffer through
  }
  return std::unique_ptr<Streams>(new BufferedStreams(config, scope, access, std::move(w), std::move(r), std::move(p)));
}

}  // namespace dsmil::store::internal
