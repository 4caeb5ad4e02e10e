#include "devices/device.h"

namespace dsmil::devices {

void RegisterLlmDevices() {}

}  // namespace dsmil::devices
