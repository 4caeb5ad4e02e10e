// Loki push sink: batches per tenant, one request per tenant (X-Scope-OrgID),
// a disk spool while Loki fails, replayed in order; permanent refusals kept in
// a rejected file.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "core/log.h"
#include "core/mutex.h"
#include "net/http_client.h"
#include "store/file_mode.h"
#include "store/scope.h"
#include "store/tenant_log.h"

namespace dsmil::store {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr char kRejectedDir[] = "rejected";

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json StoredJson(const TenantLogLine& l) {
  return {{"ts_ns", l.ts_ns}, {"tenant", l.tenant}, {"node", l.node},
          {"layer", l.layer}, {"device", l.device}, {"line", l.line}};
}

bool FromStored(const std::string& text, TenantLogLine& out) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return false;
  try {
    out.ts_ns = j.at("ts_ns").get<int64_t>();
    out.tenant = j.at("tenant").get<std::string>();
    out.node = j.value("node", std::string());
    out.layer = j.value("layer", std::string());
    out.device = j.value("device", -1);
    out.line = j.at("line").get<std::string>();
  } catch (const json::exception&) {
    return false;
  }
  return true;
}

// Writes `data` to `path` through a temporary file, fsynced, then renamed.
Status WriteFileAtomic(const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, kPrivateFileMode);
  if (fd < 0) return Status::Unavailable("loki spool: cannot create " + tmp + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return Status::Unavailable("loki spool: write " + tmp + ": " + std::strerror(e));
    }
    done += static_cast<size_t>(n);
  }
  bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) return Status::Unavailable("loki spool: fsync " + tmp + ": " + std::strerror(errno));
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return Status::Unavailable("loki spool: rename " + tmp + ": " + ec.message());
  return Status::Ok();
}

enum class PushOutcome { kOk, kRetry, kRejected };

class LokiSink final : public LokiTenantLog {
 public:
  LokiSink(std::string node, LokiOptions o) : node_(std::move(node)), o_(std::move(o)) {}

  Status Init() {
    auto url = net::ParseHttpUrl(o_.url);
    if (!url.ok()) return Status::InvalidArgument("stores.loki.url: " + url.status().message());
    while (!o_.url.empty() && o_.url.back() == '/') o_.url.pop_back();
    push_url_ = o_.url + "/loki/api/v1/push";
    if (o_.spool_dir.empty()) return Status::InvalidArgument("stores.loki.spool_dir: empty");
    Status made = MakePrivateDirs(o_.spool_dir);
    if (!made.ok()) return Status::Unavailable("loki spool: " + made.message());
    std::error_code ec;
    // Pick up what an earlier run left in the spool (before the sender thread
    // starts; io_mu_ is taken all the same, as for every use of the spool state).
    {
      MutexLock io(io_mu_);
      for (const auto& entry : fs::directory_iterator(o_.spool_dir, ec)) {
        std::string tenant = entry.path().filename().string();
        if (!entry.is_directory() || !TenantScope::For(tenant).ok()) continue;
        for (const auto& f : fs::directory_iterator(entry.path(), ec)) {
          std::string name = f.path().filename().string();
          if (name.size() > 6 && name.ends_with(".jsonl")) {
            spooled_tenants_.insert(tenant);
            next_seq_ = std::max<uint64_t>(next_seq_, std::strtoull(name.c_str(), nullptr, 10) + 1);
          }
        }
      }
    }
    thread_ = std::thread([this] { Run(); });
    return Status::Ok();
  }

  ~LokiSink() override {
    {
      MutexLock lock(mu_);
      stop_ = true;
    }
    cv_.NotifyAll();
    if (thread_.joinable()) thread_.join();
    (void)Process(true);
  }

  Status Write(const TenantLogLine& line) override {
    if (line.tenant.empty()) return Status::InvalidArgument("loki: line without a tenant");
    DSMIL_ASSIGN_OR_RETURN(TenantScope scope, TenantScope::For(line.tenant));
    TenantLogLine l = line;
    l.tenant = scope.tenant();
    if (l.ts_ns == 0) l.ts_ns = NowNs();
    if (l.node.empty()) l.node = node_;
    bool wake = false;
    {
      MutexLock lock(mu_);
      Pending& p = pending_[l.tenant];
      if (p.lines.empty()) p.first = SteadyClock::now();
      p.bytes += l.line.size() + 64;
      p.lines.push_back(std::move(l));
      wake = p.lines.size() >= o_.batch_lines || p.bytes >= o_.batch_bytes;
    }
    if (wake) cv_.NotifyAll();
    return Status::Ok();
  }

  Status Flush() override { return Process(true); }

  LokiSinkStats stats() const override {
    MutexLock lock(stats_mu_);
    return stats_;
  }

  Result<uint64_t> SpooledLines() const override {
    uint64_t n = 0;
    std::error_code ec;
    for (const auto& entry : fs::recursive_directory_iterator(o_.spool_dir, ec)) {
      std::string name = entry.path().filename().string();
      if (!entry.is_regular_file() || !name.ends_with(".jsonl")) continue;
      if (entry.path().parent_path().filename() == kRejectedDir) continue;
      std::ifstream in(entry.path());
      std::string text;
      while (std::getline(in, text)) n += !text.empty();
    }
    if (ec) return Status::Unavailable("loki spool: cannot list " + o_.spool_dir + ": " + ec.message());
    return n;
  }

 private:
  struct Pending {
    std::vector<TenantLogLine> lines;
    size_t bytes = 0;
    SteadyClock::time_point first;
  };

  void Run() {
    mu_.Lock();
    while (!stop_) {
      cv_.WaitFor(mu_, std::min(o_.batch_interval, o_.retry_interval) / 2 + std::chrono::milliseconds(1));
      if (stop_) break;
      mu_.Unlock();
      (void)Process(false);
      mu_.Lock();
    }
    mu_.Unlock();
  }

  // Sends (or spools) the batches that are due; all of them when `force`.
  Status Process(bool force) {
    MutexLock io(io_mu_);
    std::map<std::string, std::vector<TenantLogLine>> batches;
    {
      MutexLock lock(mu_);
      auto now = SteadyClock::now();
      for (auto it = pending_.begin(); it != pending_.end();) {
        Pending& p = it->second;
        bool due = force || p.lines.size() >= o_.batch_lines || p.bytes >= o_.batch_bytes ||
                   now - p.first >= o_.batch_interval;
        if (due && !p.lines.empty()) {
          batches[it->first] = std::move(p.lines);
          it = pending_.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (const std::string& t : spooled_tenants_) batches[t];  // replay even without new lines
    Status first_error;
    for (auto& [tenant, lines] : batches) {
      Status s = Deliver(tenant, std::move(lines));
      if (!s.ok() && first_error.ok()) first_error = s;
    }
    return first_error;
  }

  // Replays the tenant's spool, then sends `lines`; what cannot be sent now
  // goes to the spool behind what is already there.
  Status Deliver(const std::string& tenant, std::vector<TenantLogLine> lines) DSMIL_REQUIRES(io_mu_) {
    bool reachable = SteadyClock::now() >= retry_after_;
    if (reachable && spooled_tenants_.count(tenant)) reachable = ReplaySpool(tenant);
    if (lines.empty()) return Status::Ok();
    if (reachable && !spooled_tenants_.count(tenant)) {
      switch (Push(tenant, lines, false)) {
        case PushOutcome::kOk:
        case PushOutcome::kRejected:
          return Status::Ok();
        case PushOutcome::kRetry:
          break;
      }
    }
    return Spool(tenant, lines);
  }

  // Pushes the spooled batches of `tenant` oldest first. False as soon as one
  // fails for a reason worth retrying.
  bool ReplaySpool(const std::string& tenant) DSMIL_REQUIRES(io_mu_) {
    std::string dir = o_.spool_dir + "/" + tenant;
    std::vector<std::string> files;
    std::error_code ec;
    for (const auto& f : fs::directory_iterator(dir, ec)) {
      std::string name = f.path().filename().string();
      if (name.ends_with(".jsonl")) files.push_back(f.path().string());
    }
    std::sort(files.begin(), files.end());  // zero-padded sequence numbers
    for (const std::string& file : files) {
      std::vector<TenantLogLine> lines;
      std::ifstream in(file);
      std::string text;
      while (std::getline(in, text)) {
        TenantLogLine l;
        if (FromStored(text, l) && l.tenant == tenant) lines.push_back(std::move(l));
      }
      in.close();
      if (!lines.empty()) {
        PushOutcome r = Push(tenant, lines, true);
        if (r == PushOutcome::kRetry) return false;
      }
      fs::remove(file, ec);
    }
    spooled_tenants_.erase(tenant);
    return true;
  }

  Status Spool(const std::string& tenant, const std::vector<TenantLogLine>& lines) DSMIL_REQUIRES(io_mu_) {
    std::string dir = o_.spool_dir + "/" + tenant;
    Status made = MakePrivateDirs(dir);
    if (!made.ok()) return Status::Unavailable("loki spool: " + made.message());
    std::string data;
    for (const auto& l : lines) data += Dump(StoredJson(l)) + "\n";
    char name[32];
    std::snprintf(name, sizeof(name), "%020llu.jsonl", static_cast<unsigned long long>(next_seq_++));
    DSMIL_RETURN_IF_ERROR(WriteFileAtomic(dir + "/" + name, data));
    spooled_tenants_.insert(tenant);
    MutexLock lock(stats_mu_);
    stats_.spooled_lines += lines.size();
    return Status::Ok();
  }

  // One push of lines that all belong to `tenant`.
  PushOutcome Push(const std::string& tenant, const std::vector<TenantLogLine>& lines, bool replay)
      DSMIL_REQUIRES(io_mu_) {
    // Streams keyed by their label set, in order of first appearance.
    std::vector<std::pair<std::string, json>> streams;
    std::map<std::string, size_t> index;
    for (const auto& l : lines) {
      json labels = {{"node", l.node.empty() ? node_ : l.node}, {"tenant", tenant}};
      if (!l.layer.empty()) labels["layer"] = l.layer;
      if (l.device >= 0) labels["device"] = std::to_string(l.device);
      std::string key = Dump(labels);
      auto [it, added] = index.emplace(key, streams.size());
      if (added) streams.push_back({key, json{{"stream", labels}, {"values", json::array()}}});
      streams[it->second].second["values"].push_back(json::array({std::to_string(l.ts_ns), l.line}));
    }
    json body = {{"streams", json::array()}};
    for (auto& [key, s] : streams) body["streams"].push_back(std::move(s));

    net::HttpClientRequest req;
    req.method = "POST";
    req.url = push_url_;
    req.headers = {{"Content-Type", "application/json"}, {"X-Scope-OrgID", tenant}};
    req.body = Dump(body);
    req.timeout = o_.timeout;
    auto resp = net::HttpFetch(req);
    if (resp.ok() && resp->status >= 200 && resp->status < 300) {
      MutexLock lock(stats_mu_);
      stats_.pushes++;
      stats_.pushed_lines += lines.size();
      if (replay) stats_.replayed_lines += lines.size();
      return PushOutcome::kOk;
    }
    if (resp.ok() && resp->status >= 400 && resp->status < 500 && resp->status != 429 && resp->status != 408) {
      Reject(tenant, lines, resp->status, resp->body);
      return PushOutcome::kRejected;
    }
    std::string why = resp.ok() ? "HTTP " + std::to_string(resp->status) : resp.status().message();
    if (SteadyClock::now() >= retry_after_) {
      DefaultLogger().Warn("loki push failed; spooling",
                           {{"tenant", tenant}, {"lines", static_cast<int64_t>(lines.size())}, {"reason", why}});
    }
    retry_after_ = SteadyClock::now() + o_.retry_interval;
    return PushOutcome::kRetry;
  }

  void Reject(const std::string& tenant, const std::vector<TenantLogLine>& lines, int status, const std::string& body) {
    std::string dir = o_.spool_dir + "/" + kRejectedDir;
    (void)MakePrivateDirs(dir);  // a failure shows as the open below failing
    std::string path = dir + "/" + tenant + ".jsonl";
    std::string reason = "HTTP " + std::to_string(status) + ": " + body.substr(0, 512);
    std::string data;
    for (const auto& l : lines) {
      json j = StoredJson(l);
      j["rejected"] = reason;
      data += Dump(j) + "\n";
    }
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, kPrivateFileMode);
    bool written = fd >= 0 && ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
    if (fd >= 0) {
      ::fsync(fd);
      ::close(fd);
    }
    DefaultLogger().Error("loki refused a push; lines kept in the rejected file",
                          {{"tenant", tenant},
                           {"lines", static_cast<int64_t>(lines.size())},
                           {"status", status},
                           {"reason", body.substr(0, 512)},
                           {"file", written ? path : "(could not be written)"}});
    MutexLock lock(stats_mu_);
    stats_.rejected_lines += lines.size();
  }

  const std::string node_;
  LokiOptions o_;
  std::string push_url_;

  Mutex mu_;
  CondVar cv_;
  std::map<std::string, Pending> pending_ DSMIL_GUARDED_BY(mu_);
  bool stop_ DSMIL_GUARDED_BY(mu_) = false;

  Mutex io_mu_;  // one sender at a time
  std::set<std::string> spooled_tenants_ DSMIL_GUARDED_BY(io_mu_);
  uint64_t next_seq_ DSMIL_GUARDED_BY(io_mu_) = 1;
  SteadyClock::time_point retry_after_ DSMIL_GUARDED_BY(io_mu_){};

  mutable Mutex stats_mu_;
  LokiSinkStats stats_ DSMIL_GUARDED_BY(stats_mu_);

  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<LokiTenantLog>> OpenLokiTenantLog(const std::string& node, LokiOptions options) {
  if (node.empty()) return Status::InvalidArgument("loki: node name is empty");
  if (options.batch_lines == 0 || options.batch_bytes == 0) {
    return Status::InvalidArgument("loki: batch_lines and batch_bytes must be positive");
  }
  auto sink = std::make_unique<LokiSink>(node, std::move(options));
  DSMIL_RETURN_IF_ERROR(sink->Init());
  return std::unique_ptr<LokiTenantLog>(std::move(sink));
}

}  // namespace dsmil::store
