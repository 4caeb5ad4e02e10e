// Device 61, NC3 Integration (spec §3.1, §9.2 drills 5 and 6; docs/l9.md).
//
// An L9_NC3_QUERY is served only after, in this order:
//   a. ROE_TOKEN_ID names a registered ROE token (tenant/roe.h) whose
//      signature verifies under the cluster ROE key, not revoked, not expired,
//      issued to the envelope's tenant for scope "nc3"  -> else INVALID_ROE_TOKEN
//   b. at least two TWO_PERSON_SIG_x TLVs               -> else MISSING_TWO_PERSON_SIGNATURES
//      every signer/signature pair complete and valid: the operator is
//      registered (tenant/operators.h)                   -> else UNKNOWN_SIGNER
//      no operator (name or key) twice                  -> else DUPLICATE_SIGNER
//      every signature verifies over Nc3SigningBytes    -> else BAD_SIGNATURE
//   c. TIMESTAMP within ±120 s and REQUEST_ID not seen  -> else REPLAYED_REQUEST
// Each refusal is an ERROR reply (PERMISSION_DENIED) naming the reason, a row
// in the tenant's audit chain and an increment of
// dsmil_nc3_queries_total{tenant_id, outcome}. An accepted query is audited
// (NC3_QUERY_AUTHORIZED) and answered with L9_NC3_RESP: the authorization
// record and a status summary. This lab system has no NC3 link, so the reply
// never carries operational data.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "core/mutex.h"
#include "devices/device.h"
#include "devices/l9/l9_device.h"
#include "devices/l9/nc3_request.h"

namespace dsmil {
class Counter;
template <typename T>
class Family;
}  // namespace dsmil

namespace dsmil::devices::l9 {

using Nc3Options = L9Options;

class Nc3Device final : public L9Device {
 public:
  explicit Nc3Device(DeviceContext ctx, Nc3Options options = {});
  ~Nc3Device() override;

  DeviceHealth Health() const override;
  Result<dbe::Message> Handle(const dbe::Message& request) override;

 private:
  struct Refused {
    const char* reason;
    std::string detail;
    const char* event_type = "AUTH_FAILED";
  };
  dbe::Message Refuse(const dbe::Message& request, const std::string& tenant, const std::string& actor,
                      const Refused& r);
  void Count(const std::string& tenant, std::string_view outcome);
  // Reads the remembered request ids, drops those older than twice the
  // window and records `key`, unless it is already there (false: a replay).
  bool RememberRequest(const std::string& key, int64_t timestamp_ms, int64_t now_ms);

  Family<Counter>* queries_ = nullptr;
  // Accepted "<tenant>/<request id>" -> TIMESTAMP ms, for twice the window;
  // kept in <stores.path>/l9/nc3_requests so that a restart does not forget them.
  std::map<std::string, int64_t> seen_ DSMIL_GUARDED_BY(mu_);
};

Result<std::unique_ptr<Device>> CreateNc3Device(const DeviceContext& ctx);

}  // namespace dsmil::devices::l9
