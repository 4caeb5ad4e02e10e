// Structured logging: one JSON object per line, labelled {node, tenant, layer,
// device} (spec §4.3) so Loki/Promtail can index and isolate them per tenant:
//
//   {"ts":"2026-11-27T12:00:00.123Z","level":"warn","node":"node-a","tenant":"ALPHA",
//    "layer":"L7","device":"43","msg":"refused","reason":"tenant mismatch"}
//
// Usage:
//   Logger logger({.node = "node-a"});
//   logger.Info("listening", {{"addr", "127.0.0.1:8099"}, {"port", 8099}});
//   Logger l = logger.With({.tenant = "ALPHA", .layer = "L7", .device = 43});
//   l.Warn("refused", {{"reason", "tenant mismatch"}});
//
// Keys come in a fixed order: ts, level, node, tenant, layer, device, msg, then
// the extra fields in the order given. Empty labels are omitted. An extra field
// whose key collides with one of those fixed keys is written as "_<key>" so the
// object never has duplicate keys. Strings are escaped as JSON requires; bytes
// that are not valid UTF-8 become U+FFFD, so every line parses as JSON whatever
// the input. Numbers that are not finite are written as strings ("NaN", "+Inf").
//
// Thread safety: Logger is an immutable value (labels + shared sink + shared
// minimum level); any method may be called from any thread. Each event is
// written with one call to the sink, and the sinks here serialise writes, so
// lines never interleave.
#pragma once

#include <atomic>
#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/mutex.h"
#include "core/status.h"

namespace dsmil {

enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// "debug", "info", "warn", "error".
std::string_view LogLevelName(LogLevel level);
// Accepts those names (any case) and "warning". InvalidArgument otherwise.
Result<LogLevel> ParseLogLevel(std::string_view name);

// One log event as data: the labels and level travel beside the formatted
// line, so a sink routes by label (the node copies tenant-labelled events into
// that tenant's log) without parsing the line back. The views are valid only
// during the Write() call.
struct LogRecord {
  int64_t ts_ns = 0;  // wall-clock time of the event (Clock::NowUnixNanos)
  LogLevel level = LogLevel::kInfo;
  // The effective labels: the logger's, where an empty tenant/layer label is
  // filled by a string field of that name (as written in the line).
  std::string_view node, tenant, layer;
  std::optional<int> device;
  std::string_view msg;
  std::string_view line;  // the JSON line, trailing '\n' included
};

// Where events go. Write() must be safe to call from several threads at once;
// it must not throw. A sink that can fail counts its failures where the node
// shows them (FileSink::failed_writes, the tenant log's error counter).
class LogSink {
 public:
  virtual ~LogSink() = default;
  virtual void Write(const LogRecord& record) = 0;
};

// Writes each line to file descriptor 2 with a single write(2).
class StderrSink final : public LogSink {
 public:
  void Write(const LogRecord& record) override;

 private:
  Mutex mu_;  // one write(2) at a time, so lines never interleave
};

// Appends lines to a file (O_APPEND, created 0640 if missing). Failed writes
// are counted, not reported (logging must not fail the caller).
class FileSink final : public LogSink {
 public:
  // Opens `path` for appending. Returns Unavailable naming the path and errno
  // text when it cannot be opened.
  static Result<std::shared_ptr<FileSink>> Open(std::string path);
  ~FileSink() override;

  void Write(const LogRecord& record) override;
  // Closes and reopens the same path (after log rotation). On failure the old
  // descriptor is kept and the error returned.
  Status Reopen();
  // Number of lines that could not be written completely.
  uint64_t failed_writes() const { return failed_writes_.load(std::memory_order_relaxed); }
  const std::string& path() const { return path_; }

 private:
  FileSink(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}

  const std::string path_;
  Mutex mu_;
  int fd_ DSMIL_GUARDED_BY(mu_);
  std::atomic<uint64_t> failed_writes_{0};
};

// Sends every line to each of several sinks (e.g. stderr and a file).
class TeeSink final : public LogSink {
 public:
  explicit TeeSink(std::vector<std::shared_ptr<LogSink>> sinks) : sinks_(std::move(sinks)) {}
  void Write(const LogRecord& record) override {
    for (auto& s : sinks_) s->Write(record);
  }

 private:
  const std::vector<std::shared_ptr<LogSink>> sinks_;
};

// The labels of spec §4.3. Empty strings / no device mean "not applicable"
// and are left out of the line.
struct LogLabels {
  std::string node = {};           // "node-a"
  std::string tenant = {};         // "ALPHA"
  std::string layer = {};          // "L7"
  std::optional<int> device = {};  // 43, written as the string "43"
};

// The value of an extra field. Strings are not copied: a LogValue must not
// outlive the string it was made from (fine for the usual call
// `logger.Info("msg", {{"k", value}})`).
class LogValue {
 public:
  enum class Kind { kString, kInt, kUint, kDouble, kBool, kNull };

  LogValue() : kind_(Kind::kNull) {}
  LogValue(std::nullptr_t) : kind_(Kind::kNull) {}                   // NOLINT
  LogValue(const char* s) : kind_(Kind::kString), s_(s ? s : "") {}  // NOLINT
  LogValue(char* s) : LogValue(static_cast<const char*>(s)) {}       // NOLINT
  // Other pointers would silently become `true`: log what they point to.
  template <typename T>
  LogValue(T*) = delete;
  LogValue(std::string_view s) : kind_(Kind::kString), s_(s) {}    // NOLINT
  LogValue(const std::string& s) : kind_(Kind::kString), s_(s) {}  // NOLINT
  LogValue(bool b) : kind_(Kind::kBool), i_(b ? 1 : 0) {}          // NOLINT
  template <std::signed_integral T>
  // NOLINTNEXTLINE(google-explicit-constructor)
  requires(!std::same_as<T, bool> && !std::same_as<T, char>) LogValue(T v)
      : kind_(Kind::kInt), i_(static_cast<int64_t>(v)) {}  // NOLINT
  template <std::unsigned_integral T>
  // NOLINTNEXTLINE(google-explicit-constructor)
  requires(!std::same_as<T, bool> && !std::same_as<T, char>) LogValue(T v)
      : kind_(Kind::kUint), u_(static_cast<uint64_t>(v)) {}  // NOLINT
  template <std::floating_point T>
  LogValue(T v) : kind_(Kind::kDouble), d_(static_cast<double>(v)) {}  // NOLINT

  Kind kind() const { return kind_; }
  // The string, for kind() == kString ("" otherwise).
  std::string_view string_value() const { return kind_ == Kind::kString ? s_ : std::string_view(); }
  // Appends the JSON form (quoted and escaped string, number, true/false, null).
  void AppendJson(std::string& out) const;

 private:
  Kind kind_;
  std::string_view s_;
  int64_t i_ = 0;
  uint64_t u_ = 0;
  double d_ = 0;
};

struct LogField {
  std::string_view key;
  LogValue value;
};

using LogFields = std::initializer_list<LogField>;

struct LoggerOptions {
  LogLevel min_level = LogLevel::kInfo;
  std::shared_ptr<LogSink> sink;  // null: a shared StderrSink
  const Clock* clock = nullptr;   // null: DefaultClock(); must outlive the Logger
};

class Logger {
 public:
  explicit Logger(LogLabels labels = {}, LoggerOptions options = {});

  // A logger with the same sink and minimum level (shared: changing the level
  // on one changes it for all loggers derived from the same root) whose labels
  // are these labels, overridden by the non-empty fields of `more`.
  Logger With(const LogLabels& more) const;

  void Debug(std::string_view msg, LogFields fields = {}) const { Log(LogLevel::kDebug, msg, fields); }
  void Info(std::string_view msg, LogFields fields = {}) const { Log(LogLevel::kInfo, msg, fields); }
  void Warn(std::string_view msg, LogFields fields = {}) const { Log(LogLevel::kWarn, msg, fields); }
  void Error(std::string_view msg, LogFields fields = {}) const { Log(LogLevel::kError, msg, fields); }

  // Writes one line if `level` >= the minimum level.
  void Log(LogLevel level, std::string_view msg, LogFields fields = {}) const;
  void Log(LogLevel level, std::string_view msg, std::span<const LogField> fields) const;

  bool Enabled(LogLevel level) const;
  void SetMinLevel(LogLevel level) const;
  LogLevel min_level() const;
  const LogLabels& labels() const { return labels_; }

  // The line Log() would write (with its trailing '\n'), regardless of level.
  std::string Format(LogLevel level, std::string_view msg, std::span<const LogField> fields) const;
  // The same line written at `ts_ns`; fills `record` (labels, level, msg,
  // time; its `line` is left to the caller) when not null.
  std::string Format(int64_t ts_ns, LogLevel level, std::string_view msg, std::span<const LogField> fields,
                     LogRecord* record) const;

 private:
  struct Shared {
    std::atomic<int> min_level;
    std::shared_ptr<LogSink> sink;
    const Clock* clock;
  };
  Logger(LogLabels labels, std::shared_ptr<Shared> shared) : labels_(std::move(labels)), shared_(std::move(shared)) {}

  LogLabels labels_;
  std::shared_ptr<Shared> shared_;
};

// The process-wide logger (initially: no labels, level info, stderr). The
// returned reference stays valid for the whole run: SetDefaultLogger keeps
// every logger it was given alive, so call it rarely (at startup, on reload).
const Logger& DefaultLogger();
void SetDefaultLogger(Logger logger);

// Appends `s` as a JSON string literal (quotes included) to `out`.
void AppendJsonString(std::string& out, std::string_view s);

}  // namespace dsmil
