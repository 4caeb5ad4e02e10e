// Per-tenant log files: <logs_root>/<TENANT>/<node>.log, JSON lines, rotated
// by size, fsynced on Flush; and the reader behind GET /v1/logs.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/mutex.h"
#include "store/file_mode.h"
#include "store/scope.h"
#include "store/tenant_log.h"

namespace dsmil::store {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

bool ValidNodeName(const std::string& node) {
  if (node.empty() || node.size() > 64 || node == "." || node == "..") return false;
  for (char c : node) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
          c == '-')) {
      return false;
    }
  }
  return true;
}

std::string Errno(int e) { return std::strerror(e); }

class FileTenantLog final : public TenantLogSink {
 public:
  FileTenantLog(std::string root, std::string node, FileLogOptions options)
      : root_(std::move(root)), node_(std::move(node)), options_(options) {}
  ~FileTenantLog() override {
    MutexLock lock(mu_);
    for (auto& [tenant, f] : files_) {
      if (f.fd >= 0) {
        ::fsync(f.fd);
        ::close(f.fd);
      }
    }
  }

  Status Write(const TenantLogLine& line) override {
    if (line.tenant.empty()) return Status::InvalidArgument("tenant log: line without a tenant");
    DSMIL_ASSIGN_OR_RETURN(TenantScope scope, TenantScope::For(line.tenant));
    json j = {{"ts_ns", line.ts_ns}, {"tenant", scope.tenant()}, {"node", line.node.empty() ? node_ : line.node},
              {"layer", line.layer}, {"device", line.device},    {"line", line.line}};
    std::string text = j.dump(-1, ' ', false, json::error_handler_t::replace);
    text += '\n';
    MutexLock lock(mu_);
    File& f = files_[scope.tenant()];
    if (f.fd >= 0 && f.size > 0 && f.size + text.size() > options_.max_file_bytes) {
      DSMIL_RETURN_IF_ERROR(Rotate(scope.tenant(), f));
    }
    if (f.fd < 0) DSMIL_RETURN_IF_ERROR(OpenFile(scope.tenant(), f));
    size_t done = 0;
    while (done < text.size()) {
      ssize_t n = ::write(f.fd, text.data() + done, text.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::Unavailable("tenant log: write to " + Path(scope.tenant()) + ": " + Errno(errno));
      }
      done += static_cast<size_t>(n);
    }
    f.size += text.size();
    f.dirty = true;
    return Status::Ok();
  }

  Status Flush() override {
    MutexLock lock(mu_);
    for (auto& [tenant, f] : files_) {
      if (f.fd >= 0 && f.dirty) {
        if (::fsync(f.fd) != 0) return Status::Unavailable("tenant log: fsync " + Path(tenant) + ": " + Errno(errno));
        f.dirty = false;
      }
    }
    return Status::Ok();
  }

 private:
  struct File {
    int fd = -1;
    size_t size = 0;
    bool dirty = false;
  };

  std::string Dir(const std::string& tenant) const { return root_ + "/" + tenant; }
  std::string Path(const std::string& tenant) const { return Dir(tenant) + "/" + node_ + ".log"; }

  // `f` is an entry of files_.
  Status OpenFile(const std::string& tenant, File& f) DSMIL_REQUIRES(mu_) {
    // The tenant's lines: directory 0700, file 0600, whatever the umask.
    Status made = MakePrivateDirs(Dir(tenant));
    if (!made.ok()) return Status::Unavailable("tenant log: " + made.message());
    std::string path = Path(tenant);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, kPrivateFileMode);
    if (fd < 0) return Status::Unavailable("tenant log: cannot open " + path + ": " + Errno(errno));
    struct stat st {};
    bool stated = ::fstat(fd, &st) == 0;
    f.size = stated ? static_cast<size_t>(st.st_size) : 0;
    if (stated && (st.st_mode & 077) != 0) ::fchmod(fd, kPrivateFileMode);  // a file of an earlier version
    f.fd = fd;
    return Status::Ok();
  }

  Status Rotate(const std::string& tenant, File& f) DSMIL_REQUIRES(mu_) {
    ::fsync(f.fd);
    ::close(f.fd);
    f.fd = -1;
    f.dirty = false;
    std::string base = Path(tenant);
    int keep = std::max(options_.keep_files, 0);
    std::error_code ec;
    fs::remove(base + "." + std::to_string(keep), ec);
    for (int i = keep - 1; i >= 1; --i) {
      std::string from = base + "." + std::to_string(i);
      if (fs::exists(from, ec)) fs::rename(from, base + "." + std::to_string(i + 1), ec);
    }
    if (keep > 0) {
      fs::rename(base, base + ".1", ec);
    } else {
      fs::remove(base, ec);
    }
    if (ec) return Status::Unavailable("tenant log: rotating " + base + ": " + ec.message());
    return Status::Ok();
  }

  const std::string root_, node_;
  const FileLogOptions options_;
  Mutex mu_;
  std::map<std::string, File> files_ DSMIL_GUARDED_BY(mu_);
};

// Parses one stored line; false for a line that is not ours (skipped).
bool ParseStored(const std::string& text, TenantLogLine& out) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return false;
  auto ts = j.find("ts_ns");
  auto tenant = j.find("tenant");
  auto line = j.find("line");
  if (ts == j.end() || !ts->is_number_integer() || tenant == j.end() || !tenant->is_string() || line == j.end() ||
      !line->is_string()) {
    return false;
  }
  out.ts_ns = ts->get<int64_t>();
  out.tenant = tenant->get<std::string>();
  out.line = line->get<std::string>();
  auto node = j.find("node");
  out.node = node != j.end() && node->is_string() ? node->get<std::string>() : "";
  auto layer = j.find("layer");
  out.layer = layer != j.end() && layer->is_string() ? layer->get<std::string>() : "";
  auto device = j.find("device");
  out.device = device != j.end() && device->is_number_integer() ? device->get<int>() : -1;
  return true;
}

}  // namespace

Result<std::unique_ptr<TenantLogSink>> OpenFileTenantLog(const std::string& logs_root, const std::string& node,
                                                         FileLogOptions options) {
  if (logs_root.empty()) return Status::InvalidArgument("tenant log: the logs directory is empty");
  if (!ValidNodeName(node)) {
    return Status::InvalidArgument("tenant log: node name \"" + node + "\" must match [A-Za-z0-9._-]{1,64}");
  }
  if (options.max_file_bytes == 0) return Status::InvalidArgument("tenant log: max_file_bytes must be positive");
  Status made = MakePrivateDirs(logs_root);
  if (!made.ok()) return Status::Unavailable("tenant log: " + made.message());
  return std::unique_ptr<TenantLogSink>(new FileTenantLog(logs_root, node, options));
}

Result<std::vector<TenantLogLine>> ReadTenantLogDir(const std::string& logs_root, const LogQuery& q) {
  DSMIL_ASSIGN_OR_RETURN(TenantScope scope, TenantScope::For(q.tenant));
  std::vector<TenantLogLine> out;
  std::string dir = logs_root + "/" + scope.tenant();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && name.find(".log") != std::string::npos) files.push_back(entry.path().string());
  }
  if (ec) return Status::Unavailable("tenant log: cannot list " + dir + ": " + ec.message());
  std::sort(files.begin(), files.end());
  for (const std::string& path : files) {
    std::ifstream in(path);
    if (!in) continue;  // rotated away between listing and opening
    std::string text;
    while (std::getline(in, text)) {
      TenantLogLine l;
      if (!ParseStored(text, l)) continue;
      if (l.tenant != scope.tenant()) continue;  // never hand out another tenant's line
      if (q.device >= 0 && l.device != q.device) continue;
      if (l.ts_ns < q.since_ns) continue;
      out.push_back(std::move(l));
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const TenantLogLine& a, const TenantLogLine& b) { return a.ts_ns < b.ts_ns; });
  if (q.limit > 0 && out.size() > q.limit) out.erase(out.begin(), out.end() - static_cast<ptrdiff_t>(q.limit));
  return out;
}

}  // namespace dsmil::store
