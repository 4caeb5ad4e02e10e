// The devices built into the platform. Registration is explicit: static
// registration objects in a static library are dropped by the linker.
#include <mutex>

#include "devices/device.h"
#include "devices/shrink/config.h"

namespace dsmil::devices {

void RegisterSocDevices();  // devices/soc/register.cc: L3, L4, L8
void RegisterL7Devices();   // devices/l7/register.cc: L7 router, RAG
void RegisterLlmDevices();  // devices/llm/register.cc: LLM workers 44, 47
void RegisterL9Devices();   // devices/l9/register.cc: NC3 Integration 61
void RegisterL5Devices();   // devices/l5/forecast_device.cc: L5 forecasts 33-35
void RegisterL6Devices();   // devices/l6/risk_device.cc: L6 risk assessment 37

void RegisterBuiltinDevices() {
  static std::once_flag once;
  std::call_once(once, [] {
    RegisterSocDevices();
    RegisterL7Devices();
    RegisterLlmDevices();
    RegisterL9Devices();
    RegisterL5Devices();
    RegisterL6Devices();
    shrink::RegisterShrinkSection();  // SHRINK: the node hosts it (docs/shrink.md)
  });
}

}  // namespace dsmil::devices
