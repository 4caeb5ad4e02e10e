#include "core/log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>

namespace dsmil {
namespace {

// Writes all of `data` to `fd`, retrying on EINTR and partial writes.
bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

void AppendHex4(std::string& out, unsigned v) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\u";
  out.push_back(kHex[(v >> 12) & 0xf]);
  out.push_back(kHex[(v >> 8) & 0xf]);
  out.push_back(kHex[(v >> 4) & 0xf]);
  out.push_back(kHex[v & 0xf]);
}

// Length of the valid UTF-8 sequence starting at s[0], or 0 when invalid
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
size_t Utf8SequenceLength(std::string_view s) {
  const auto b0 = static_cast<unsigned char>(s[0]);
  size_t len;
  uint32_t cp;
  if (b0 < 0x80) return 1;
  if ((b0 & 0xe0) == 0xc0) {
    len = 2;
    cp = b0 & 0x1f;
  } else if ((b0 & 0xf0) == 0xe0) {
    len = 3;
    cp = b0 & 0x0f;
  } else if ((b0 & 0xf8) == 0xf0) {
    len = 4;
    cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (s.size() < len) return 0;
  for (size_t i = 1; i < len; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if ((b & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3f);
  }
  if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return 0;
  if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

std::shared_ptr<LogSink> SharedStderrSink() {
  static auto* sink = new std::shared_ptr<LogSink>(std::make_shared<StderrSink>());
  return *sink;
}

bool IsReservedKey(std::string_view k) {
  return k == "ts" || k == "level" || k == "node" || k == "tenant" || k == "layer" || k == "device" || k == "msg";
}

void AppendKey(std::string& out, std::string_view key) {
  out.push_back(',');
  AppendJsonString(out, key);
  out.push_back(':');
}

}  // namespace

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

Result<LogLevel> ParseLogLevel(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  if (lower == "debug") return LogLevel::kDebug;
  if (lower == "info") return LogLevel::kInfo;
  if (lower == "warn" || lower == "warning") return LogLevel::kWarn;
  if (lower == "error") return LogLevel::kError;
  return Status::InvalidArgument("log level \"" + std::string(name) + "\" unknown (want debug, info, warn or error)");
}

void AppendJsonString(std::string& out, std::string_view s) {
  out.push_back('"');
  while (!s.empty()) {
    const auto c = static_cast<unsigned char>(s[0]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        default:
          if (c < 0x20 || c == 0x7f) {
            AppendHex4(out, c);
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      s.remove_prefix(1);
      continue;
    }
    const size_t len = Utf8SequenceLength(s);
    if (len == 0) {
      out += "\xef\xbf\xbd";  // U+FFFD for each invalid byte
      s.remove_prefix(1);
    } else {
      out.append(s.data(), len);
      s.remove_prefix(len);
    }
  }
  out.push_back('"');
}

void LogValue::AppendJson(std::string& out) const {
  char buf[32];
  switch (kind_) {
    case Kind::kString:
      AppendJsonString(out, s_);
      return;
    case Kind::kInt: {
      auto r = std::to_chars(buf, buf + sizeof(buf), i_);
      out.append(buf, r.ptr);
      return;
    }
    case Kind::kUint: {
      auto r = std::to_chars(buf, buf + sizeof(buf), u_);
      out.append(buf, r.ptr);
      return;
    }
    case Kind::kDouble: {
      if (std::isnan(d_)) {
        out += "\"NaN\"";
      } else if (std::isinf(d_)) {
        out += d_ > 0 ? "\"+Inf\"" : "\"-Inf\"";
      } else {
        auto r = std::to_chars(buf, buf + sizeof(buf), d_);
        out.append(buf, r.ptr);
      }
      return;
    }
    case Kind::kBool:
      out += i_ ? "true" : "false";
      return;
    case Kind::kNull:
      out += "null";
      return;
  }
}

// ---------------------------------------------------------------------------
// Sinks.

void StderrSink::Write(const LogRecord& record) {
  MutexLock lock(mu_);
  WriteAll(STDERR_FILENO, record.line);
}

namespace {

// The node's log repeats tenant-labelled lines: readable by the node's user
// only (0600, whatever the umask; an older regular file with wider modes is
// narrowed; a device such as /dev/stderr is left as it is).
int OpenPrivateLog(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return fd;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) != 0 && ::fchmod(fd, 0600) != 0) {
    const int e = errno;
    ::close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

}  // namespace

Result<std::shared_ptr<FileSink>> FileSink::Open(std::string path) {
  const int fd = OpenPrivateLog(path);
  if (fd < 0) {
    return Status::Unavailable("log file " + path + ": cannot open for appending: " + std::strerror(errno));
  }
  return std::shared_ptr<FileSink>(new FileSink(std::move(path), fd));
}

FileSink::~FileSink() {
  if (fd_ >= 0) ::close(fd_);
}

void FileSink::Write(const LogRecord& record) {
  MutexLock lock(mu_);
  if (!WriteAll(fd_, record.line)) failed_writes_.fetch_add(1, std::memory_order_relaxed);
}

Status FileSink::Reopen() {
  const int fd = OpenPrivateLog(path_);
  if (fd < 0) {
    return Status::Unavailable("log file " + path_ + ": cannot reopen: " + std::strerror(errno));
  }
  MutexLock lock(mu_);
  ::close(fd_);
  fd_ = fd;
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Logger.

Logger::Logger(LogLabels labels, LoggerOptions options) : labels_(std::move(labels)) {
  shared_ = std::make_shared<Shared>();
  shared_->min_level.store(static_cast<int>(options.min_level), std::memory_order_relaxed);
  shared_->sink = options.sink ? std::move(options.sink) : SharedStderrSink();
  shared_->clock = options.clock ? options.clock : &DefaultClock();
}

Logger Logger::With(const LogLabels& more) const {
  LogLabels l = labels_;
  if (!more.node.empty()) l.node = more.node;
  if (!more.tenant.empty()) l.tenant = more.tenant;
  if (!more.layer.empty()) l.layer = more.layer;
  if (more.device.has_value()) l.device = more.device;
  return Logger(std::move(l), shared_);
}

bool Logger::Enabled(LogLevel level) const {
  return static_cast<int>(level) >= shared_->min_level.load(std::memory_order_relaxed);
}

void Logger::SetMinLevel(LogLevel level) const {
  shared_->min_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

LogLevel Logger::min_level() const { return static_cast<LogLevel>(shared_->min_level.load(std::memory_order_relaxed)); }

std::string Logger::Format(LogLevel level, std::string_view msg, std::span<const LogField> fields) const {
  return Format(shared_->clock->NowUnixNanos(), level, msg, fields, nullptr);
}

std::string Logger::Format(int64_t ts_ns, LogLevel level, std::string_view msg, std::span<const LogField> fields,
                           LogRecord* record) const {
  std::string out;
  out.reserve(160 + msg.size());
  out += "{\"ts\":\"";
  out += FormatRfc3339Utc(ts_ns, 3);
  out += "\",\"level\":\"";
  out += LogLevelName(level);
  out.push_back('"');
  if (!labels_.node.empty()) {
    AppendKey(out, "node");
    AppendJsonString(out, labels_.node);
  }
  if (!labels_.tenant.empty()) {
    AppendKey(out, "tenant");
    AppendJsonString(out, labels_.tenant);
  }
  if (!labels_.layer.empty()) {
    AppendKey(out, "layer");
    AppendJsonString(out, labels_.layer);
  }
  if (labels_.device.has_value()) {
    AppendKey(out, "device");
    out.push_back('"');
    out += std::to_string(*labels_.device);
    out.push_back('"');
  }
  AppendKey(out, "msg");
  AppendJsonString(out, msg);
  if (record != nullptr) {
    record->ts_ns = ts_ns;
    record->level = level;
    record->node = labels_.node;
    record->tenant = labels_.tenant;
    record->layer = labels_.layer;
    record->device = labels_.device;
    record->msg = msg;
  }
  bool tenant_set = !labels_.tenant.empty(), layer_set = !labels_.layer.empty();
  for (const LogField& f : fields) {
    // A string field named "tenant" or "layer" when the logger has no such
    // label fills that label (written where the field stands), so a line
    // logged for a tenant is labelled with it and reaches the tenant's log
    // (docs/logs.md). Other collisions with the fixed keys become "_<key>".
    bool is_string = f.value.kind() == LogValue::Kind::kString;
    if (is_string && f.key == "tenant" && !tenant_set) {
      tenant_set = true;
      if (record != nullptr) record->tenant = f.value.string_value();
      AppendKey(out, "tenant");
    } else if (is_string && f.key == "layer" && !layer_set) {
      layer_set = true;
      if (record != nullptr) record->layer = f.value.string_value();
      AppendKey(out, "layer");
    } else if (IsReservedKey(f.key)) {
      AppendKey(out, "_" + std::string(f.key));
    } else {
      AppendKey(out, f.key);
    }
    f.value.AppendJson(out);
  }
  out += "}\n";
  return out;
}

void Logger::Log(LogLevel level, std::string_view msg, LogFields fields) const {
  Log(level, msg, std::span<const LogField>(fields.begin(), fields.size()));
}

void Logger::Log(LogLevel level, std::string_view msg, std::span<const LogField> fields) const {
  if (!Enabled(level)) return;
  LogRecord record;
  const std::string line = Format(shared_->clock->NowUnixNanos(), level, msg, fields, &record);
  record.line = line;
  shared_->sink->Write(record);
}

// ---------------------------------------------------------------------------
// Default logger.

namespace {

// Every logger ever installed is kept (and stays reachable), so references
// handed out by DefaultLogger() stay valid.
struct DefaultLoggerState {
  DefaultLoggerState() {
    kept.push_back(std::make_unique<const Logger>());
    current.store(kept.back().get(), std::memory_order_release);
  }
  Mutex mu;
  std::vector<std::unique_ptr<const Logger>> kept DSMIL_GUARDED_BY(mu);
  std::atomic<const Logger*> current{nullptr};
};

DefaultLoggerState& DefaultState() {
  static auto* state = new DefaultLoggerState();  // never destroyed: usable during exit
  return *state;
}

}  // namespace

const Logger& DefaultLogger() { return *DefaultState().current.load(std::memory_order_acquire); }

void SetDefaultLogger(Logger logger) {
  DefaultLoggerState& state = DefaultState();
  MutexLock lock(state.mu);
  state.kept.push_back(std::make_unique<const Logger>(std::move(logger)));
  state.current.store(state.kept.back().get(), std::memory_order_release);
}

}  // namespace dsmil
