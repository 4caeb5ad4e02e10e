#include "tenant/operators.h"

#include <filesystem>
#include <sstream>

#include "crypto/mldsa.h"
#include "tenant/roe.h"

namespace dsmil::tenant {
namespace {

constexpr std::string_view kWhat = "operators";

Result<std::vector<OperatorInfo>> Parse(const std::string& path) {
  std::vector<OperatorInfo> out;
  DSMIL_RETURN_IF_ERROR(
      internal::ForEachRecordLine(path, kWhat, [&](std::istringstream& ls, const std::string& where) -> Status {
        OperatorInfo op;
        std::string key_hex;
        if (!(ls >> op.name >> key_hex >> op.registered_s >> op.removed_s)) {
          return Status::DataLoss(where + " is malformed");
        }
        auto key = FromHex(key_hex);
        if (!key.ok() || key->size() != crypto::kMlDsa87PublicKeyBytes) {
          return Status::DataLoss(where + ": bad public key");
        }
        op.public_key = std::move(*key);
        out.push_back(std::move(op));
        return Status::Ok();
      }));
  return out;
}

std::string Render(const std::vector<OperatorInfo>& ops) {
  std::string text = "# name ml-dsa-87-public-key(hex) registered_s removed_s\n";
  for (const OperatorInfo& op : ops) {
    text += op.name + " " + ToHex(op.public_key) + " " + std::to_string(op.registered_s) + " " +
            std::to_string(op.removed_s) + "\n";
  }
  return text;
}

}  // namespace

std::string OperatorFile(const store::StoresConfig& stores) { return stores.path + "/tenant/operators"; }

bool ValidOperatorName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '@' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<std::unique_ptr<OperatorRegistry>> OperatorRegistry::Open(std::string path) {
  if (path.empty()) return Status::InvalidArgument("operators: empty registry path");
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    DSMIL_ASSIGN_OR_RETURN(internal::FileLock lock, internal::FileLock::Take(path, kWhat));
    if (!std::filesystem::exists(path, ec)) DSMIL_RETURN_IF_ERROR(internal::ReplaceFile(path, Render({}), kWhat));
  }
  return std::unique_ptr<OperatorRegistry>(new OperatorRegistry(std::move(path)));
}

OperatorRegistry::~OperatorRegistry() = default;

Result<OperatorInfo> OperatorRegistry::Register(std::string_view name, ByteView public_key, int64_t now_s) {
  if (!ValidOperatorName(name)) {
    return Status::InvalidArgument("operator register: name must match [A-Za-z0-9._@-]{1,64}");
  }
  if (public_key.size() != crypto::kMlDsa87PublicKeyBytes) {
    return Status::InvalidArgument("operator register: public key is " + std::to_string(public_key.size()) +
                                   " bytes, want an ML-DSA-87 key of " +
                                   std::to_string(crypto::kMlDsa87PublicKeyBytes));
  }
  DSMIL_ASSIGN_OR_RETURN(internal::FileLock lock, internal::FileLock::Take(path_, kWhat));
  DSMIL_ASSIGN_OR_RETURN(std::vector<OperatorInfo> ops, Parse(path_));
  for (const auto& op : ops) {
    if (op.removed()) continue;
    if (op.name == name) return Status::AlreadyExists("operator " + std::string(name) + " is already registered");
    if (op.public_key == Bytes(public_key.begin(), public_key.end())) {
      return Status::AlreadyExists("this public key already belongs to operator " + op.name);
    }
  }
  OperatorInfo info;
  info.name = std::string(name);
  info.public_key.assign(public_key.begin(), public_key.end());
  info.registered_s = now_s;
  ops.push_back(info);
  DSMIL_RETURN_IF_ERROR(internal::ReplaceFile(path_, Render(ops), kWhat));
  return info;
}

Status OperatorRegistry::Remove(std::string_view name, int64_t now_s) {
  DSMIL_ASSIGN_OR_RETURN(internal::FileLock lock, internal::FileLock::Take(path_, kWhat));
  DSMIL_ASSIGN_OR_RETURN(std::vector<OperatorInfo> ops, Parse(path_));
  for (auto& op : ops) {
    if (op.name != name || op.removed()) continue;
    op.removed_s = now_s > 0 ? now_s : 1;
    return internal::ReplaceFile(path_, Render(ops), kWhat);
  }
  return Status::NotFound("no registered operator " + std::string(name));
}

Result<std::vector<OperatorInfo>> OperatorRegistry::List() { return Parse(path_); }

Result<OperatorInfo> OperatorRegistry::Find(std::string_view name) {
  DSMIL_ASSIGN_OR_RETURN(std::vector<OperatorInfo> ops, Parse(path_));
  for (auto& op : ops) {
    if (op.name == name && !op.removed()) return std::move(op);
  }
  return Status::NotFound("no registered operator " + std::string(name));
}

}  // namespace dsmil::tenant
