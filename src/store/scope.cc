#include "store/scope.h"

namespace dsmil::store {

std::string_view StreamSuffix(StreamKind k) {
  switch (k) {
    case StreamKind::kL3In:
      return "L3_IN";
    case StreamKind::kL3Out:
      return "L3_OUT";
    case StreamKind::kL4In:
      return "L4_IN";
    case StreamKind::kL4Out:
      return "L4_OUT";
    case StreamKind::kSocEvents:
      return "SOC_EVENTS";
    case StreamKind::kDeadLetter:
      return "DEAD_LETTER";
  }
  return "UNKNOWN";
}

int64_t StreamRetentionSeconds(StreamKind k) {
  constexpr int64_t kDay = 24 * 3600;
  switch (k) {
    case StreamKind::kSocEvents:
    case StreamKind::kDeadLetter:
      return 7 * kDay;
    default:
      return kDay;
  }
}

bool IsReservedTenantId(std::string_view tenant) {
  for (std::string_view r : kReservedTenantIds) {
    if (tenant == r) return true;
  }
  return false;
}

Result<TenantScope> TenantScope::For(std::string_view tenant) {
  bool ok = !tenant.empty() && tenant.size() <= 32 && tenant[0] >= 'A' && tenant[0] <= 'Z';
  for (char c : tenant) ok = ok && ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_');
  if (!ok) {
    return Status::InvalidArgument("tenant id '" + std::string(tenant.substr(0, 64)) +
                                   "' is not valid (expected [A-Z][A-Z0-9_]{0,31})");
  }
  if (IsReservedTenantId(tenant)) {
    return Status::InvalidArgument("tenant id '" + std::string(tenant) +
                                   "' is reserved for the platform (docs/security.md) and names no tenant");
  }
  TenantScope s;
  s.tenant_ = std::string(tenant);
  s.lower_ = s.tenant_;
  for (char& c : s.lower_) c = (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
  return s;
}

std::string TenantScope::Stream(StreamKind k) const { return tenant_ + "_" + std::string(StreamSuffix(k)); }
std::string TenantScope::StreamPattern() const { return tenant_ + "_*"; }
std::string TenantScope::Schema() const { return "dsmil_" + lower_; }
std::string TenantScope::PgRole() const { return lower_ + "_app"; }
std::string TenantScope::RedisUser(Access a) const {
  switch (a) {
    case Access::kWriter:
      return lower_ + "_writer";
    case Access::kReader:
      return lower_ + "_reader";
    case Access::kApp:
      return lower_ + "_app";
    case Access::kIngest:
      return lower_ + "_ingest";
  }
  return lower_;
}

bool MayAppend(Access a, StreamKind k) {
  switch (a) {
    case Access::kWriter:
      return true;
    case Access::kIngest:
      return k == StreamKind::kL3In || k == StreamKind::kDeadLetter;
    case Access::kReader:
    case Access::kApp:
      return false;
  }
  return false;
}

Result<std::string> TenantScope::Collection(std::string_view name) const {
  bool ok = !name.empty() && name.size() <= 48;
  for (char c : name) ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
  if (!ok) {
    return Status::InvalidArgument("collection name '" + std::string(name.substr(0, 64)) +
                                   "' is not valid (expected [a-z0-9_]{1,48}; the tenant prefix is added)");
  }
  return lower_ + "_" + std::string(name);
}

bool TenantScope::OwnsCollection(std::string_view full_name) const {
  return full_name.size() > lower_.size() + 1 && full_name.substr(0, lower_.size()) == lower_ &&
         full_name[lower_.size()] == '_';
}

}  // namespace dsmil::store
