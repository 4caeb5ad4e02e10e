// In-memory Streams and Archive for the SOC unit tests: the semantics of
// store/streams.h (consumer groups, pending entries, Claim by idle time) and
// store/archive.h (idempotent on event_id), without any backend.
#pragma once

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/archive.h"
#include "store/streams.h"

namespace dsmil::soc::testing {

// Every stream of every tenant, shared by the Streams objects made from it.
struct FakeStreamServer {
  struct Pending {
    std::string consumer;
    std::chrono::steady_clock::time_point delivered;
  };
  struct Group {
    size_t next = 0;                         // index of the first never-delivered entry
    std::map<std::string, Pending> pending;  // by id
  };
  struct Stream {
    std::vector<store::StreamEntry> entries;
    std::map<std::string, Group> groups;
    uint64_t seq = 0;
  };
  std::mutex mu;
  std::map<std::string, Stream> streams;  // by full name ("ALPHA_L3_IN")
  int fail_appends = 0;                   // > 0: the next Append calls fail

  std::vector<std::string> Payloads(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu);
    std::vector<std::string> out;
    for (const auto& e : streams[name].entries) out.push_back(e.payload);
    return out;
  }
};

class FakeStreams final : public store::Streams {
 public:
  FakeStreams(std::shared_ptr<FakeStreamServer> server, store::TenantScope scope)
      : server_(std::move(server)), scope_(std::move(scope)) {}
  const store::TenantScope& scope() const override { return scope_; }

  Result<std::vector<std::string>> Append(store::StreamKind s, std::span<const std::string> payloads) override {
    std::lock_guard<std::mutex> lock(server_->mu);
    if (server_->fail_appends > 0) {
      --server_->fail_appends;
      return Status::Unavailable("fake: append refused");
    }
    auto& st = server_->streams[scope_.Stream(s)];
    std::vector<std::string> ids;
    for (const auto& p : payloads) {
      std::string id = "1-" + std::to_string(st.seq++);
      st.entries.push_back({id, p});
      ids.push_back(id);
    }
    return ids;
  }
  Status EnsureGroup(store::StreamKind s, const std::string& group) override {
    std::lock_guard<std::mutex> lock(server_->mu);
    server_->streams[scope_.Stream(s)].groups[group];
    return Status::Ok();
  }
  Result<std::vector<store::StreamEntry>> ReadGroup(store::StreamKind s, const std::string& group,
                                                    const std::string& consumer, size_t count,
                                                    std::chrono::milliseconds) override {
    std::lock_guard<std::mutex> lock(server_->mu);
    auto& st = server_->streams[scope_.Stream(s)];
    auto git = st.groups.find(group);
    if (git == st.groups.end()) return Status::NotFound("fake: no group " + group);
    std::vector<store::StreamEntry> out;
    auto& g = git->second;
    while (g.next < st.entries.size() && out.size() < count) {
      const auto& e = st.entries[g.next++];
      g.pending[e.id] = {consumer, std::chrono::steady_clock::now()};
      out.push_back(e);
    }
    return out;
  }
  Result<size_t> Ack(store::StreamKind s, const std::string& group, std::span<const std::string> ids) override {
    std::lock_guard<std::mutex> lock(server_->mu);
    auto& g = server_->streams[scope_.Stream(s)].groups[group];
    size_t n = 0;
    for (const auto& id : ids) n += g.pending.erase(id);
    return n;
  }
  Result<std::vector<store::StreamEntry>> Claim(store::StreamKind s, const std::string& group,
                                                const std::string& consumer, std::chrono::milliseconds min_idle,
                                                size_t count) override {
    std::lock_guard<std::mutex> lock(server_->mu);
    auto& st = server_->streams[scope_.Stream(s)];
    auto& g = st.groups[group];
    std::vector<store::StreamEntry> out;
    auto now = std::chrono::steady_clock::now();
    for (auto& [id, p] : g.pending) {
      if (out.size() >= count) break;
      if (now - p.delivered < min_idle) continue;
      p = {consumer, now};
      for (const auto& e : st.entries)
        if (e.id == id) out.push_back(e);
    }
    return out;
  }
  Result<std::vector<store::StreamEntry>> Range(store::StreamKind s, const std::string& after_id,
                                                size_t count) override {
    std::lock_guard<std::mutex> lock(server_->mu);
    auto& st = server_->streams[scope_.Stream(s)];
    std::vector<store::StreamEntry> out;
    bool after = after_id == "0";
    for (const auto& e : st.entries) {
      if (after && out.size() < count) out.push_back(e);
      if (e.id == after_id) after = true;
    }
    return out;
  }
  Result<std::vector<store::StreamEntry>> Latest(store::StreamKind s, size_t count) override {
    std::lock_guard<std::mutex> lock(server_->mu);
    auto& st = server_->streams[scope_.Stream(s)];
    std::vector<store::StreamEntry> out;
    for (auto it = st.entries.rbegin(); it != st.entries.rend() && out.size() < count; ++it) out.push_back(*it);
    return out;
  }
  Result<uint64_t> Length(store::StreamKind s) override {
    std::lock_guard<std::mutex> lock(server_->mu);
    return uint64_t(server_->streams[scope_.Stream(s)].entries.size());
  }
  Result<uint64_t> Pending(store::StreamKind s, const std::string& group) override {
    std::lock_guard<std::mutex> lock(server_->mu);
    return uint64_t(server_->streams[scope_.Stream(s)].groups[group].pending.size());
  }
  Result<uint64_t> Trim(store::StreamKind, std::chrono::system_clock::time_point) override { return uint64_t(0); }

 private:
  std::shared_ptr<FakeStreamServer> server_;
  store::TenantScope scope_;
};

struct FakeArchiveData {
  std::mutex mu;
  std::vector<store::ArchivedEvent> rows;
  int ingest_calls = 0;
};

class FakeArchive final : public store::Archive {
 public:
  FakeArchive(std::shared_ptr<FakeArchiveData> data, store::TenantScope scope)
      : data_(std::move(data)), scope_(std::move(scope)) {}
  const store::TenantScope& scope() const override { return scope_; }
  Result<size_t> Ingest(std::span<const store::ArchivedEvent> events) override {
    std::lock_guard<std::mutex> lock(data_->mu);
    ++data_->ingest_calls;
    size_t n = 0;
    for (const auto& e : events) {
      bool dup = std::any_of(data_->rows.begin(), data_->rows.end(),
                             [&](const store::ArchivedEvent& r) { return r.event_id == e.event_id; });
      if (!dup) {
        data_->rows.push_back(e);
        ++n;
      }
    }
    return n;
  }
  Result<uint64_t> Count() override {
    std::lock_guard<std::mutex> lock(data_->mu);
    return uint64_t(data_->rows.size());
  }
  Result<std::optional<store::ArchivedEvent>> Get(const std::string& id) override {
    std::lock_guard<std::mutex> lock(data_->mu);
    for (const auto& r : data_->rows)
      if (r.event_id == id) return std::optional<store::ArchivedEvent>(r);
    return std::optional<store::ArchivedEvent>();
  }
  Result<std::vector<store::ArchivedEvent>> Recent(size_t limit, int64_t since_ms) override {
    std::lock_guard<std::mutex> lock(data_->mu);
    std::vector<store::ArchivedEvent> out;
    for (auto it = data_->rows.rbegin(); it != data_->rows.rend() && out.size() < limit; ++it)
      if (it->ts_ms >= since_ms) out.push_back(*it);
    return out;
  }
  Result<store::AuditRow> AppendAudit(int64_t, const std::string&, const std::string&, const std::string&) override {
    return Status::Unimplemented("fake archive: no audit");
  }
  Result<std::vector<store::AuditRow>> ReadAudit() override { return std::vector<store::AuditRow>(); }

 private:
  std::shared_ptr<FakeArchiveData> data_;
  store::TenantScope scope_;
};

}  // namespace dsmil::soc::testing
