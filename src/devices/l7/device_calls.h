// The L7 router's requests to other devices (docs/l7.md §4): how they are
// delivered, the request ids they carry, and device 51's prompt check as the
// PromptDetector admission consults.
#pragma once

#include <string>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "dbe/message.h"
#include "devices/device.h"
#include "devices/l7/admission.h"
#include "devices/l7/config.h"

namespace dsmil::devices::l7 {

// Device 43: the source of the router's requests.
inline constexpr int kRouterDeviceId = 43;

// Sends `msg` to its destination device: the one hosted in this process (for
// the envelope's tenant, else the one serving every tenant) directly,
// otherwise through the node's router (ctx.call) waiting up to `timeout_ms`.
// Unavailable when neither can reach it.
Result<dbe::Message> CallDevice(const DeviceContext& ctx, const dbe::Message& msg, int timeout_ms);

// A new request id, "l7-<unix ms hex>-<sequence hex>", unique in the process.
std::string NewRequestId(const Clock& clock);

// Device 51's prompt check: L8_PROMPT_CHECK (0x52) answered by
// L8_PROMPT_VERDICT (0x53), whose PAYLOAD is the verdict JSON. Check sends
// the text (CONTENT_TYPE TEXT); CheckMessages sends the chat messages with
// their roles (CONTENT_TYPE JSON, {"messages":[{"role","content"}]};
// docs/dbe.md "Prompt checks"). An error when the device cannot be reached or
// answers anything else. `ctx` must outlive the detector.
class DevicePromptDetector final : public PromptDetector {
 public:
  DevicePromptDetector(const DeviceContext* ctx, DeviceCallConfig detector) : ctx_(ctx), detector_(detector) {}
  Result<std::string> Check(const std::string& tenant, const std::string& request_id, const std::string& text) override;
  Result<std::string> CheckMessages(const std::string& tenant, const std::string& request_id,
                                    const std::vector<ChatMessage>& messages) override;

 private:
  Result<std::string> Send(const std::string& tenant, const std::string& request_id, dbe::ContentType content_type,
                           const std::string& payload);
  const DeviceContext* ctx_;
  DeviceCallConfig detector_;
};

}  // namespace dsmil::devices::l7
