// The L7 devices of this folder: the router with its OpenAI-compatible front
// (43) and the RAG engine (50). The LLM workers (44, 47) live in devices/llm.
#include "devices/device.h"
#include "devices/l7/rag.h"
#include "devices/l7/router.h"

namespace dsmil::devices {

void RegisterL7Devices() {
  RegisterDeviceFactory(43, l7::CreateRouterDevice);
  RegisterDeviceFactory(50, l7::CreateRagDevice);
}

}  // namespace dsmil::devices
