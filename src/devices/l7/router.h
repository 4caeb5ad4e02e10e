// Device 43, the L7 router, with the OpenAI-compatible front it serves on
// :8001 (docs/l7.md).
//
// Start() reads its configuration (config.h: the node config's `l7:`
// section), opens the tenant API-key file, the claim keys and the shared
// rate-limit counters, probes the configured workers and binds l7.listen.
// Each HTTP chat request (http_front.h) becomes an L7_CHAT_REQ (0x41)
// carrying TENANT_ID, REQUEST_ID, USER_ID, L7_CLAIM_TOKEN (ML-DSA-87, one per
// API key reused until it nears expiry), COMPARTMENT_MASK, CLASSIFICATION,
// ROE_LEVEL, MODEL, MAX_TOKENS and the request as PAYLOAD; the router then,
// in order (pipeline.h):
//   1. verifies the claim token (cached by hash) and that it names the tenant
//      of the envelope;
//   2. applies the tenant policy (ROE level, compartments; KINETIC is never
//      allowed through L7);
//   3. asks device 51 whether the prompt is an injection (L8_PROMPT_CHECK),
//      failing closed (503) when device 51 does not answer;
//   4. retrieves context from device 50 (RAG) when asked, from the caller's
//      tenant only;
//   5. picks the healthy replica of the model with the fewest outstanding
//      requests and forwards the request (routing.h; streaming passed
//      through);
//   6. asks device 52 for L8 enrichment (0x50 -> 0x51) when configured.
// Steps 1-3 are decided by admission.h. Every refusal is answered with the
// OpenAI error JSON, counted, logged and appended to the tenant's audit log
// (recorder.h).
//
// Handle() serves 0x41 from other devices (same checks, non-streaming) and
// HEALTH_PING. Once started, the router reports the address it bound (an
// l7.listen with port 0 gets a free port from the kernel) in its start-up log
// line, in StatusDetail ("listening on 127.0.0.1:8001", shown by `dsmilctl
// status`) and through RouterDevice. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"
#include "devices/device.h"

namespace dsmil::devices::l7 {

// Device 43 as its callers may see it beyond the Device interface: the
// device CreateRouterDevice returns is one (dynamic_cast to reach it).
class RouterDevice : public Device {
 public:
  // The port the OpenAI-compatible front is bound to; 0 before Start, after
  // a failed Start, and when the node config has no l7 section.
  virtual uint16_t port() const = 0;
  // The bound address as "host:port" ("[::1]:8001" for IPv6); "" while
  // port() is 0.
  virtual std::string listen_address() const = 0;
};

// The factory registered for device 43.
Result<std::unique_ptr<Device>> CreateRouterDevice(const DeviceContext& ctx);

}  // namespace dsmil::devices::l7
