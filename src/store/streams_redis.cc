// Streams on Redis 7 through hiredis 0.14 (synchronous redisContext).
//
// Each object holds one connection, authenticated as the tenant's own ACL user
// (alpha_writer / alpha_reader), so the server refuses anything outside the
// tenant's keys even if this code had a bug. Batches are pipelined with
// redisAppendCommandArgv. A dropped connection is re-established once per
// call and the call repeated (a repeated XADD may store an entry twice, which
// at-least-once delivery allows; every other command is idempotent or
// re-reads state).
#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "store/streams.h"
#include "store/streams_internal.h"

namespace dsmil::store::internal {
namespace {

constexpr int kCommandTimeoutMs = 10000;

struct ContextDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextDeleter>;
struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

timeval Millis(int ms) {
  timeval tv{};
  tv.tv_sec = ms / 1000;
  tv.tv_usec = (ms % 1000) * 1000;
  return tv;
}

std::string ReplyText(const redisReply* r) { return std::string(r->str, r->len); }

using Argv = std::vector<std::string>;

class RedisStreams final : public Streams {
 public:
  RedisStreams(const StoresConfig& config, TenantScope scope, std::string user, std::string password)
      : config_(config.redis), scope_(std::move(scope)), user_(std::move(user)), password_(std::move(password)) {}

  Status Connect() {
    ctx_.reset();
    timeval tv = Millis(config_.connect_timeout_ms > 0 ? config_.connect_timeout_ms : 2000);
    ContextPtr c(redisConnectWithTimeout(config_.host.c_str(), config_.port, tv));
    if (!c) return Status::Unavailable(Where() + ": cannot allocate a connection");
    if (c->err) return Status::Unavailable(Where() + ": cannot connect: " + c->errstr);
    tv = Millis(kCommandTimeoutMs);
    redisSetTimeout(c.get(), tv);
    const char* argv[] = {"AUTH", user_.c_str(), password_.c_str()};
    size_t lens[] = {4, user_.size(), password_.size()};
    ReplyPtr r(static_cast<redisReply*>(redisCommandArgv(c.get(), 3, argv, lens)));
    if (!r) return Status::Unavailable(Where() + ": AUTH: connection lost: " + c->errstr);
    if (r->type == REDIS_REPLY_ERROR) {
      std::string e = ReplyText(r.get());
      return Status::Unauthenticated(Where() + ": AUTH refused: " + e);
    }
    ctx_ = std::move(c);
    return Status::Ok();
  }

  const TenantScope& scope() const override { return scope_; }

  Result<std::vector<std::string>> Append(StreamKind s, std::span<const std::string> payloads) override {
    std::vector<std::string> ids;
    if (payloads.empty()) return ids;
    for (size_t i = 0; i < payloads.size(); ++i) {
      if (payloads[i].size() > kMaxStreamPayloadBytes) {
        return Status::InvalidArgument("streams: payload " + std::to_string(i) + " is " +
                                       std::to_string(payloads[i].size()) + " bytes, over the limit of " +
                                       std::to_string(kMaxStreamPayloadBytes));
      }
    }
    std::string stream = scope_.Stream(s);
    std::vector<Argv> cmds;
    cmds.reserve(payloads.size());
    for (const std::string& p : payloads) cmds.push_back({"XADD", stream, "*", "data", p});
    DSMIL_ASSIGN_OR_RETURN(std::vector<ReplyPtr> replies, Pipeline(cmds, "XADD " + stream));
    ids.reserve(replies.size());
    for (auto& r : replies) {
      if (r->type == REDIS_REPLY_ERROR) return ErrorOf(r.get(), "XADD " + stream);
      if (r->type != REDIS_REPLY_STRING) return Unexpected("XADD " + stream, r.get());
      ids.push_back(ReplyText(r.get()));
    }
    return ids;
  }

  Status EnsureGroup(StreamKind s, const std::string& group) override {
    DSMIL_RETURN_IF_ERROR(CheckName("group", group));
    std::string stream = scope_.Stream(s);
    std::string what = "XGROUP CREATE " + stream + " " + group;
    DSMIL_ASSIGN_OR_RETURN(ReplyPtr r, Run({"XGROUP", "CREATE", stream, group, "0", "MKSTREAM"}, what));
    if (r->type == REDIS_REPLY_ERROR) {
      if (ReplyText(r.get()).rfind("BUSYGROUP", 0) == 0) return Status::Ok();
      return ErrorOf(r.get(), what);
    }
    return Status::Ok();
  }

  Result<std::vector<StreamEntry>> ReadGroup(StreamKind s, const std::string& group, const std::string& consumer,
                                             size_t count, std::chrono::milliseconds block) override {
    DSMIL_RETURN_IF_ERROR(CheckName("group", group));
    DSMIL_RETURN_IF_ERROR(CheckName("consumer", consumer));
    std::vector<StreamEntry> out;
    if (count == 0) return out;
    std::string stream = scope_.Stream(s);
    Argv argv = {"XREADGROUP", "GROUP", group, consumer, "COUNT", std::to_string(count)};
    int timeout_ms = kCommandTimeoutMs;
    if (block.count() > 0) {
      argv.push_back("BLOCK");
      argv.push_back(std::to_string(block.count()));
      timeout_ms = int(std::min<int64_t>(block.count(), 24LL * 3600 * 1000)) + kCommandTimeoutMs;
    }
    argv.insert(argv.end(), {"STREAMS", stream, ">"});
    std::string what = "XREADGROUP " + stream + " " + group;
    DSMIL_ASSIGN_OR_RETURN(ReplyPtr r, Run(argv, what, timeout_ms));
    if (r->type == REDIS_REPLY_ERROR) return ErrorOf(r.get(), what);
    if (r->type == REDIS_REPLY_NIL) return out;
    // [[stream, [[id, [field, value, ...]], ...]]]
    if (r->type != REDIS_REPLY_ARRAY) return Unexpected(what, r.get());
    for (size_t i = 0; i < r->elements; ++i) {
      const redisReply* st = r->element[i];
      if (st->type != REDIS_REPLY_ARRAY || st->elements != 2) return Unexpected(what, st);
      DSMIL_RETURN_IF_ERROR(ParseEntries(st->element[1], what, out));
    }
    return out;
  }

  Result<size_t> Ack(StreamKind s, const std::string& group, std::span<const std::string> ids) override {
    DSMIL_RETURN_IF_ERROR(CheckName("group", group));
    if (ids.empty()) return size_t{0};
    std::string stream = scope_.Stream(s);
    Argv argv = {"XACK", stream, group};
    for (const std::string& id : ids) {
      DSMIL_RETURN_IF_ERROR(ParseStreamId(id).status());
      argv.push_back(id);
    }
    std::string what = "XACK " + stream + " " + group;
    DSMIL_ASSIGN_OR_RETURN(ReplyPtr r, Run(argv, what));
    if (r->type == REDIS_REPLY_ERROR) return ErrorOf(r.get(), what);
    if (r->type != REDIS_REPLY_INTEGER) return Unexpected(what, r.get());
    return size_t(r->integer);
  }

  Result<std::vector<StreamEntry>> Claim(StreamKind s, const std::string& group, const std::string& consumer,
                                         std::chrono::milliseconds min_idle, size_t count) override {
    DSMIL_RETURN_IF_ERROR(CheckName("group", group));
    DSMIL_RETURN_IF_ERROR(CheckName("consumer", consumer));
    std::vector<StreamEntry> out;
    std::string stream = scope_.Stream(s);
    std::string what = "XAUTOCLAIM " + stream + " " + group;
    std::string cursor = "0-0";
    // XAUTOCLAIM scans a bounded part of the pending list per call: follow the
    // cursor until enough entries are claimed or the list is done.
    while (out.size() < count) {
      Argv argv = {"XAUTOCLAIM",
                   stream,
                   group,
                   consumer,
                   std::to_string(std::max<int64_t>(min_idle.count(), 0)),
                   cursor,
                   "COUNT",
                   std::to_string(count - out.size())};
      DSMIL_ASSIGN_OR_RETURN(ReplyPtr r, Run(argv, what));
      if (r->type == REDIS_REPLY_ERROR) return ErrorOf(r.get(), what);
      // [next-cursor, [entries], [deleted ids]]
      if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 || r->element[0]->type != REDIS_REPLY_STRING) {
        return Unexpected(what, r.get());
      }
      DSMIL_RETURN_IF_ERROR(ParseEntries(r->element[1], what, out));
      cursor = ReplyText(r->element[0]);
      if (cursor == "0-0") break;
    }
    return out;
  }

  Result<std::vector<StreamEntry>> Range(StreamKind s, const std::string& after_id, size_t count) override {
    std::vector<StreamEntry> out;
    if (count == 0) return out;
    std::string start = "-";
    if (after_id != "0") {
      DSMIL_ASSIGN_OR_RETURN(StreamId id, ParseStreamId(after_id));
      start = "(" + FormatStreamId(id);
    }
    std::string stream = scope_.Stream(s);
    std::string what = "XRANGE " + stream;
    DSMIL_ASSIGN_OR_RETURN(ReplyPtr r, Run({"XRANGE", stream, start, "+", "COUNT", std::to_string(count)}, what));
    if (r->type == REDIS_REPLY_ERROR) return ErrorOf(r.get(), what);
    DSMIL_RETURN_IF_ERROR(ParseEntries(r.get(), what, out));
    return out;
  }

  Result<std::vector<StreamEntry>> Latest(StreamKind s, size_t count) override {
    std::vector<StreamEntry> out;
    if (count == 0) return out;
    std::string stream = scope_.Stream(s);
    std::string what = "XREVRANGE " + stream;
    DSMIL_ASSIGN_OR_RETURN(ReplyPtr r, Run({"XREVRANGE", stream, "+", "-", "COUNT", std::to_string(count)}, what));
    if (r->type == REDIS_REPLY_ERROR) return ErrorOf(r.get(), what);
    DSMIL_RETURN_IF_ERROR(ParseEntries(r.get(), what, out));
    return out;
  }

  Result<uint64_t> Length(StreamKind s) override {
    std::string stream = scope_.Stream(s);
    std::string what = "XLEN " + stream;
    DSMIL_ASSIGN_OR_RETURN(ReplyPtr r, Run({"XLEN", stream}, what));
    if (r->type == REDIS_REPLY_ERROR) return ErrorOf(r.get(), what);
    if (r->type != REDIS_REPLY_INTEGER) return Unexpected(what, r.get());
    return uint64_t(r->integer);
  }

  Result<uint64_t> Pending(StreamKind s, const std::string& group) override {
    DSMIL_RETURN_IF_ERROR(CheckName("group", group));
    std::string stream = scope_.Stream(s);
    std::string what = "XPENDING " + stream + " " + group;
    DSMIL_ASSIGN_OR_RETURN(ReplyPtr r, Run({"XPENDING", stream, group}, what));
    if (r->type == REDIS_REPLY_ERROR) return ErrorOf(r.get(), what);
    // [count, smallest id, greatest id, [[consumer, count], ...]]
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->element[0]->type != REDIS_REPLY_INTEGER) {
      return Unexpected(what, r.get());
    }
    return uint64_t(r->element[0]->integer);
  }

  Result<uint64_t> Trim(StreamKind s, std::chrono::system_clock::time_point now) override {
    std::string stream = scope_.Stream(s);
    std::string cut = FormatStreamId(TrimCut(s, now));
    std::string what = "XTRIM " + stream + " MINID " + cut;
    DSMIL_ASSIGN_OR_RETURN(ReplyPtr r, Run({"XTRIM", stream, "MINID", cut}, what));
    if (r->type == REDIS_REPLY_ERROR) return ErrorOf(r.get(), what);
    if (r->type != REDIS_REPLY_INTEGER) return Unexpected(what, r.get());
    return uint64_t(r->integer);
  }

 private:
  std::string Where() const { return "redis " + config_.host + ":" + std::to_string(config_.port) + " user " + user_; }

  Status ErrorOf(const redisReply* r, const std::string& what) const {
    std::string e = ReplyText(r);
    std::string msg = Where() + ": " + what + ": " + e;
    auto starts = [&](const char* p) { return e.rfind(p, 0) == 0; };
    if (starts("NOPERM")) return Status::PermissionDenied(msg);
    if (starts("NOGROUP")) return Status::NotFound(msg);
    if (starts("NOAUTH") || starts("WRONGPASS")) return Status::Unauthenticated(msg);
    if (starts("LOADING") || starts("BUSY") || starts("MASTERDOWN") || starts("READONLY") || starts("OOM")) {
      return Status::Unavailable(msg);
    }
    if (e.find("Invalid stream ID") != std::string::npos || starts("WRONGTYPE")) {
      return Status::InvalidArgument(msg);
    }
    return Status::Internal(msg);
  }

  Status Unexpected(const std::string& what, const redisReply* r) const {
    return Status::Internal(Where() + ": " + what + ": unexpected reply of type " + std::to_string(r->type));
  }

  // Appends the entries of an XRANGE-shaped reply ([[id, [field, value...]]...])
  // to `out`; entries whose fields are nil (deleted) are skipped.
  Status ParseEntries(const redisReply* list, const std::string& what, std::vector<StreamEntry>& out) const {
    if (list->type == REDIS_REPLY_NIL) return Status::Ok();
    if (list->type != REDIS_REPLY_ARRAY) return Unexpected(what, list);
    for (size_t i = 0; i < list->elements; ++i) {
      const redisReply* e = list->element[i];
      if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING) {
        return Unexpected(what, e);
      }
      const redisReply* fields = e->element[1];
      if (fields->type == REDIS_REPLY_NIL) continue;
      if (fields->type != REDIS_REPLY_ARRAY) return Unexpected(what, fields);
      StreamEntry entry;
      entry.id = ReplyText(e->element[0]);
      for (size_t f = 0; f + 1 < fields->elements; f += 2) {
        const redisReply* k = fields->element[f];
        const redisReply* v = fields->element[f + 1];
        if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING && k->len == 4 &&
            std::string_view(k->str, 4) == "data") {
          entry.payload = ReplyText(v);
          break;
        }
      }
      out.push_back(std::move(entry));
    }
    return Status::Ok();
  }

  Status EnsureConnected() {
    if (ctx_) return Status::Ok();
    return Connect();
  }

  // Whether the context failed at the connection level (I/O, EOF, timeout).
  bool Dropped() const { return ctx_ && (ctx_->err == REDIS_ERR_IO || ctx_->err == REDIS_ERR_EOF); }

  // Sends the commands in one pipeline and reads every reply (error replies
  // included). Reconnects once if the connection is lost.
  Result<std::vector<ReplyPtr>> Pipeline(const std::vector<Argv>& cmds, const std::string& what,
                                         int timeout_ms = kCommandTimeoutMs) {
    std::string last_error;
    for (int attempt = 0; attempt < 2; ++attempt) {
      DSMIL_RETURN_IF_ERROR(EnsureConnected().WithContext(what));
      if (timeout_ms != kCommandTimeoutMs) redisSetTimeout(ctx_.get(), Millis(timeout_ms));
      std::vector<const char*> argv;
      std::vector<size_t> lens;
      bool ok = true;
      for (const Argv& cmd : cmds) {
        argv.clear();
        lens.clear();
        for (const std::string& a : cmd) {
          argv.push_back(a.data());
          lens.push_back(a.size());
        }
        if (redisAppendCommandArgv(ctx_.get(), int(argv.size()), argv.data(), lens.data()) != REDIS_OK) {
          ok = false;
          break;
        }
      }
      std::vector<ReplyPtr> replies;
      replies.reserve(cmds.size());
      while (ok && replies.size() < cmds.size()) {
        void* raw = nullptr;
        if (redisGetReply(ctx_.get(), &raw) != REDIS_OK || raw == nullptr) {
          ok = false;
          break;
        }
        replies.emplace_back(static_cast<redisReply*>(raw));
      }
      if (ok) {
        if (timeout_ms != kCommandTimeoutMs) redisSetTimeout(ctx_.get(), Millis(kCommandTimeoutMs));
        return replies;
      }
      last_error = ctx_->errstr;
      bool dropped = Dropped();
      ctx_.reset();
      if (!dropped) break;
    }
    return Status::Unavailable(Where() + ": " + what + ": connection lost: " + last_error);
  }

  Result<ReplyPtr> Run(const Argv& argv, const std::string& what, int timeout_ms = kCommandTimeoutMs) {
    DSMIL_ASSIGN_OR_RETURN(std::vector<ReplyPtr> replies, Pipeline({argv}, what, timeout_ms));
    return std::move(replies[0]);
  }

  RedisConfig config_;
  TenantScope scope_;
  std::string user_, password_;
  ContextPtr ctx_;
};

}  // namespace

Result<std::unique_ptr<Streams>> OpenRedisStreamsAs(const StoresConfig& config, const TenantScope& scope, Access access,
                                                    const std::string& user, const std::string& password) {
  (void)access;  // the server's ACL for `user` decides what the connection may do
  auto s = std::make_unique<RedisStreams>(config, scope, user, password);
  DSMIL_RETURN_IF_ERROR(s->Connect());
  return std::unique_ptr<Streams>(std::move(s));
}

Result<std::unique_ptr<Streams>> OpenRedisStreams(const StoresConfig& config, const TenantScope& scope, Access access) {
  std::string user = scope.RedisUser(access);
  auto password = ReadSecret(config, "redis/" + user + ".pass");
  if (!password.ok()) {
    return password.status().WithContext("redis " + config.redis.host + ":" + std::to_string(config.redis.port) +
                                         " user " + user);
  }
  return OpenRedisStreamsAs(config, scope, access, user, *password);
}

}  // namespace dsmil::store::internal
