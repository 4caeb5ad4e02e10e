// The L9 devices of this folder: NC3 Integration (61). The COA engine (59),
// Global Strategy (60) and Coalition Intelligence (62) are not built: they
// stay UnimplementedDevice (docs/l9.md).
#include "devices/device.h"
#include "devices/l9/nc3.h"

namespace dsmil::devices {

void RegisterL9Devices() { RegisterDeviceFactory(l9::kNc3DeviceId, l9::CreateNc3Device); }

}  // namespace dsmil::devices
