// The LLM worker devices: 47 (primary LLM) and 44 (1B worker), and the
// node config's `llm:` section they read.
#include "devices/device.h"
#include "devices/llm/llm_worker.h"

namespace dsmil::devices {

void RegisterLlmDevices() {
  RegisterConfigSection<llm_worker::LlmConfig>("llm", llm_worker::ParseLlmConfig);
  RegisterDeviceFactory(47, llm_worker::CreateLlmWorker, {"llm"});
  RegisterDeviceFactory(44, llm_worker::CreateLlmWorker, {"llm"});
}

}  // namespace dsmil::devices
