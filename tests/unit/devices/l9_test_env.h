// What the tests of the L9 devices (59, 60, 62) share: a temporary data
// directory with embedded stores, the tenants' claim keys and a verifier,
// the node's audit sink and metrics, and readers for replies and audit rows.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/metrics.h"
#include "dbe/message.h"
#include "devices/device.h"
#include "store/archive.h"
#include "store/audit_sink.h"
#include "store/scope.h"
#include "support/clock_util.h"
#include "tenant/claims.h"

namespace dsmil::devices::l9::testing {

// The event id of the n-th seeded event (a UUID v4 shape).
inline std::string Uuid(int n) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "00000000-0000-4000-8000-%012d", n);
  return buf;
}

inline std::string Reason(const dbe::Message& m) {
  auto r = m.GetString(dbe::TlvType::kErrorReason);
  return r.ok() ? std::string(*r) : "";
}

inline std::string Detail(const dbe::Message& m) {
  auto r = m.GetString(dbe::TlvType::kErrorDetail);
  return r.ok() ? std::string(*r) : "";
}

class L9Env {
 public:
  // A fresh <tmp>/<name>.<pid> with the stores under data/ and the claim keys
  // under claims/.
  explicit L9Env(const std::string& name)
      : dir_(std::filesystem::temp_directory_path() / (name + "." + std::to_string(::getpid()))) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    stores_.path = (dir_ / "data").string();
    keyring_ = std::make_unique<tenant::ClaimKeyring>((dir_ / "claims").string());
    verifier_ =
        std::make_unique<tenant::ClaimVerifier>([this](const std::string& t) { return keyring_->PublicKey(t); });
    audit_ = std::make_unique<store::AuditSink>(stores_, &metrics_);
  }
  ~L9Env() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // The context a node gives device `id`, serving every tenant of `tenants`.
  DeviceContext Context(int id, std::vector<TenantInfo> tenants) {
    DeviceContext ctx(id, "", "node-a");
    ctx.stores = stores_;
    ctx.tenants = std::move(tenants);
    ctx.metrics = &metrics_;
    ctx.audit = audit_.get();
    ctx.claims = verifier_.get();
    return ctx;
  }

  // A claim token for `tenant` as the control API issues it for an operator.
  std::string Token(const std::string& tenant, const std::string& user = "operator:op-admin") {
    auto key = keyring_->SigningKey(tenant);
    EXPECT_TRUE(key.ok());
    int64_t now = dsmil::testing::UnixSeconds();  // the verifier reads the real clock
    auto t = tenant::SignClaim({tenant, user, now, now + 600}, ByteView(key->data(), key->size()));
    EXPECT_TRUE(t.ok());
    return std::string(reinterpret_cast<const char*>(t->data()), t->size());
  }

  // Every row of the tenant's audit chain.
  std::vector<store::AuditRow> AuditRows(const std::string& tenant) {
    auto a = store::OpenArchive(stores_, *store::TenantScope::For(tenant));
    EXPECT_TRUE(a.ok());
    auto rows = (*a)->ReadAudit();
    EXPECT_TRUE(rows.ok());
    return *rows;
  }

  const std::filesystem::path& dir() const { return dir_; }
  const store::StoresConfig& stores() const { return stores_; }
  Registry& metrics() { return metrics_; }

 private:
  std::filesystem::path dir_;
  store::StoresConfig stores_;
  Registry metrics_;
  std::unique_ptr<tenant::ClaimKeyring> keyring_;
  std::unique_ptr<tenant::ClaimVerifier> verifier_;
  std::unique_ptr<store::AuditSink> audit_;
};

}  // namespace dsmil::devices::l9::testing
