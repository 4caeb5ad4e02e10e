// The operator registry: the people whose ML-DSA-87 public keys may sign
// two-person requests (device 61, docs/l9.md). Name -> public key.
//
// Storage: one text file (default <stores.path>/tenant/operators, mode 0600),
// one operator per line:
//   <name> <public key hex (2592 bytes)> <registered_s> <removed_s|0>
// Writers take an exclusive flock on "<file>.lock", re-read the file and
// replace it atomically (tenant/roe.h, internal::ReplaceFile). A public key may
// belong to one operator only, so one person cannot sign twice under two names.
//
// Thread safety: all methods may be called concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/coding.h"
#include "core/status.h"
#include "store/config.h"

namespace dsmil::tenant {

struct OperatorInfo {
  std::string name;  // [A-Za-z0-9._@-]{1,64}
  Bytes public_key;  // ML-DSA-87, 2592 bytes
  int64_t registered_s = 0;
  int64_t removed_s = 0;  // 0 while registered

  bool removed() const { return removed_s != 0; }
};

// <stores.path>/tenant/operators.
std::string OperatorFile(const store::StoresConfig& stores);
// True if `name` is a valid operator name ([A-Za-z0-9._@-]{1,64}).
bool ValidOperatorName(std::string_view name);

class OperatorRegistry {
 public:
  static Result<std::unique_ptr<OperatorRegistry>> Open(std::string path);
  ~OperatorRegistry();
  OperatorRegistry(const OperatorRegistry&) = delete;
  OperatorRegistry& operator=(const OperatorRegistry&) = delete;

  const std::string& path() const { return path_; }

  // Registers `name` with `public_key`. InvalidArgument for a bad name or key
  // size; AlreadyExists when the name is registered (and not removed) or the
  // key already belongs to another operator.
  Result<OperatorInfo> Register(std::string_view name, ByteView public_key, int64_t now_s);
  // Removes `name` (its signatures stop verifying). NotFound when absent.
  Status Remove(std::string_view name, int64_t now_s);
  // Every operator, removed ones included, in registration order.
  Result<std::vector<OperatorInfo>> List();
  // The registered (not removed) operator `name`; NotFound otherwise.
  Result<OperatorInfo> Find(std::string_view name);

 private:
  explicit OperatorRegistry(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace dsmil::tenant
