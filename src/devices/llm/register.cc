// The LLM worker devices: 47 (primary LLM) and 44 (1B worker).
#include "devices/device.h"
#include "devices/llm/llm_worker.h"

namespace dsmil::devices {

void RegisterLlmDevices() {
  RegisterDeviceFactory(47, llm_worker::CreateLlmWorker);
  RegisterDeviceFactory(44, llm_worker::CreateLlmWorker);
}

}  // namespace dsmil::devices
