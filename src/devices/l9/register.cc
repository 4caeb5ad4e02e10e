// The L9 devices of this folder: COA Engine (59) and NC3 Integration (61).
// Global Strategy (60) and Coalition Intelligence (62) are not built: they
// stay UnimplementedDevice (docs/l9.md).
#include "devices/device.h"
#include "devices/l9/coa.h"
#include "devices/l9/nc3.h"

namespace dsmil::devices {

void RegisterL9Devices() {
  RegisterDeviceFactory(l9::kCoaDeviceId, l9::CreateCoaDevice);
  RegisterDeviceFactory(l9::kNc3DeviceId, l9::CreateNc3Device);
}

}  // namespace dsmil::devices
