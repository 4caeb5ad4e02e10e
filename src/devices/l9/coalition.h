// Device 62, Coalition Intelligence (spec §3.1; docs/l9.md "Device 62:
// coalition intelligence").
//
// Shares an indicator set from one tenant with another only through an
// explicit, two-sided, audited release. An L9_COALITION_REQ carries, in
// PAYLOAD (JSON), one operation of the envelope's tenant (the caller):
//   {"op": "offer", "to": "BRAVO", "indicators": ["203.0.113.7", ...]}
//       the caller releases its indicators to tenant BRAVO: stored as a
//       pending release, nothing delivered yet;
//   {"op": "accept", "release_id": "rel-..."}
//       only the release's recipient (TENANT_ID == its "to") accepts it: the
//       indicators join the recipient's received set;
//   {"op": "list"}
//       the caller's own offers, the pending offers addressed to it (sender
//       and counts only) and its received set.
// Each offer and acceptance is a row in both tenants' audit chains, written
// before the step takes effect. A tenant never reads another tenant's data
// except indicators released to it through both steps. Served only with a
// claim token for the envelope's tenant (devices/authz.h, kTenantClaim).
//
// Files: <stores.path>/l9/coalition/releases.json and
// <stores.path>/l9/coalition/received/<TENANT>.json (0600, directories 0700;
// writers flock "<stores.path>/l9/coalition/releases.json.lock" and replace
// files atomically).
//
// Thread safety: the device and CoalitionStore may be used from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/metrics.h"
#include "devices/device.h"
#include "devices/l9/l9_device.h"

namespace dsmil::devices::l9 {

inline constexpr int kCoalitionDeviceId = 62;
// Limits (docs/l9.md).
inline constexpr size_t kMaxReleaseIndicators = 1000;    // per offer
inline constexpr size_t kMaxIndicatorLength = 253;       // characters
inline constexpr size_t kMaxPendingReleases = 100;       // pending offers per offering tenant
inline constexpr size_t kMaxStoredReleases = 2000;       // oldest accepted ones dropped beyond
inline constexpr size_t kMaxReceivedIndicators = 50000;  // per tenant; oldest dropped beyond
inline constexpr size_t kMaxListedReceived = 1000;       // newest shown by op "list"

struct Indicator {
  std::string value;  // normalised: domains and hashes lowercase
  std::string kind;   // "ip", "domain", "hash"
};

// Validates one indicator (docs/l9.md: IPv4/IPv6 address, domain name, or an
// MD5/SHA-1/SHA-256/SHA-512 hex digest). InvalidArgument naming the problem.
Result<Indicator> ParseIndicator(const std::string& text);

struct Release {
  std::string id;  // "rel-<16 hex>"
  std::string from, to;
  std::string state = "pending";  // pending, accepted
  int64_t offered_ms = 0, accepted_ms = 0;
  std::string offered_by, accepted_by;
  std::vector<Indicator> indicators;
  std::string digest;  // hex SHA3-256 over the indicators, one per line
};

struct ReceivedIndicator {
  Indicator indicator;
  std::string from, release_id;
  int64_t received_ms = 0;
};

class CoalitionStore {
 public:
  // InvalidArgument for an empty stores.path.
  static Result<CoalitionStore> Open(const store::StoresConfig& stores);

  // Stores a pending release; ResourceExhausted when `r.from` has
  // kMaxPendingReleases pending already.
  Status Offer(const Release& r);
  // Delivers release `id` to `recipient`: NotFound when there is no release
  // `id` addressed to `recipient` (PermissionDenied, with the same message,
  // when it exists but is addressed to another tenant),
  // FailedPrecondition when it was accepted before.
  Result<Release> Accept(const std::string& id, const std::string& recipient, const std::string& who, int64_t now_ms);
  // The release `id` whoever it concerns (NotFound when absent).
  Result<Release> Get(const std::string& id) const;
  // Releases offered by `tenant` / pending releases addressed to `tenant`.
  Result<std::vector<Release>> OfferedBy(const std::string& tenant) const;
  Result<std::vector<Release>> PendingFor(const std::string& tenant) const;
  // `tenant`'s received set, oldest first.
  Result<std::vector<ReceivedIndicator>> Received(const std::string& tenant) const;

 private:
  explicit CoalitionStore(std::string dir) : dir_(std::move(dir)) {}
  std::string ReleasesFile() const { return dir_ + "/releases.json"; }
  std::string ReceivedFile(const std::string& tenant) const { return dir_ + "/received/" + tenant + ".json"; }
  std::string dir_;
};

using CoalitionOptions = L9Options;

class CoalitionDevice final : public L9Device {
 public:
  explicit CoalitionDevice(DeviceContext ctx, CoalitionOptions options = {});
  ~CoalitionDevice() override;

  DeviceHealth Health() const override;
  Result<dbe::Message> Handle(const dbe::Message& request) override;

 private:
  dbe::Message Refuse(const dbe::Message& request, const std::string& tenant, StatusCode code, const char* reason,
                      const std::string& detail, const char* event_type = nullptr);
  dbe::Message Reply(const dbe::Message& request, const std::string& tenant, const nlohmann::json& body);
  Status AuditBoth(const std::string& a, const std::string& b, const std::string& event_type, const std::string& actor,
                   const nlohmann::json& detail);
  bool KnownTenant(const std::string& tenant) const;

  Family<Counter>* releases_ = nullptr;
  Family<Counter>* refused_ = nullptr;
};

Result<std::unique_ptr<Device>> CreateCoalitionDevice(const DeviceContext& ctx);

}  // namespace dsmil::devices::l9
