#include "devices/device.h"
#include "devices/soc/soc_device.h"

namespace dsmil::devices {

// L3 14-22, L4 23-32, L8 51-58 (devices/soc/soc_device.h).
void RegisterSocDevices() { soc::RegisterSocDeviceFactories(); }

}  // namespace dsmil::devices
