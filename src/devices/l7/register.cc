// The L7 devices of this folder: the router with its OpenAI-compatible front
// (43) and the RAG engine (50). The LLM workers (44, 47) live in devices/llm.
#include "devices/config_section.h"
#include "devices/device.h"
#include "devices/l7/config.h"
#include "devices/l7/rag.h"
#include "devices/l7/router.h"

namespace dsmil::devices {

void RegisterL7Devices() {
  RegisterConfigSection<l7::L7Config>("l7", l7::ParseL7Section);
  RegisterConfigSection<l7::RagConfig>("rag", l7::ParseRagConfig);
  RegisterDeviceFactory(43, l7::CreateRouterDevice, {"l7", "policies"});
  RegisterDeviceFactory(50, l7::CreateRagDevice, {"rag"});
}

}  // namespace dsmil::devices
