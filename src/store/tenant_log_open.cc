// OpenTenantLogSink and ReadTenantLogs: the per-tenant log files always, and
// Loki beside them when stores.loki.url is set.
#include <memory>
#include <string>

#include "store/tenant_log.h"

namespace dsmil::store {
namespace {

// Writes every line to each sink; the first error is returned, but every
// sink still gets the line.
class TeeTenantLog final : public TenantLogSink {
 public:
  TeeTenantLog(std::unique_ptr<TenantLogSink> files, std::unique_ptr<TenantLogSink> loki)
      : files_(std::move(files)), loki_(std::move(loki)) {}

  Status Write(const TenantLogLine& line) override {
    Status a = files_->Write(line);
    Status b = loki_->Write(line);
    return a.ok() ? b : a;
  }
  Status Flush() override {
    Status a = files_->Flush();
    Status b = loki_->Flush();
    return a.ok() ? b : a;
  }

 private:
  std::unique_ptr<TenantLogSink> files_, loki_;
};

Result<std::string> LogsRoot(const StoresConfig& config) {
  if (config.path.empty()) return Status::InvalidArgument("stores.path: empty; the tenant logs live under it");
  return config.path + "/logs";
}

}  // namespace

Result<std::unique_ptr<TenantLogSink>> OpenTenantLogSink(const StoresConfig& config, const std::string& node) {
  DSMIL_ASSIGN_OR_RETURN(std::string root, LogsRoot(config));
  DSMIL_ASSIGN_OR_RETURN(auto files, OpenFileTenantLog(root, node));
  if (config.loki.url.empty()) return files;
  LokiOptions o;
  o.url = config.loki.url;
  o.spool_dir = config.loki.spool_dir.empty() ? config.path + "/loki-spool" : config.loki.spool_dir;
  DSMIL_ASSIGN_OR_RETURN(auto loki, OpenLokiTenantLog(node, o));
  return std::unique_ptr<TenantLogSink>(new TeeTenantLog(std::move(files), std::move(loki)));
}

Result<std::vector<TenantLogLine>> ReadTenantLogs(const StoresConfig& config, const LogQuery& q) {
  DSMIL_ASSIGN_OR_RETURN(std::string root, LogsRoot(config));
  return ReadTenantLogDir(root, q);
}

}  // namespace dsmil::store
