// The L9 devices of this folder: COA Engine (59), Global Strategy (60), NC3
// Integration (61) and Coalition Intelligence (62) (docs/l9.md).
#include "devices/device.h"
#include "devices/l9/coa.h"
#include "devices/l9/coalition.h"
#include "devices/l9/nc3.h"
#include "devices/l9/strategy.h"

namespace dsmil::devices {

void RegisterL9Devices() {
  RegisterDeviceFactory(l9::kCoaDeviceId, l9::CreateCoaDevice, {"policies"});
  RegisterDeviceFactory(l9::kStrategyDeviceId, l9::CreateStrategyDevice);
  RegisterDeviceFactory(l9::kNc3DeviceId, l9::CreateNc3Device);
  RegisterDeviceFactory(l9::kCoalitionDeviceId, l9::CreateCoalitionDevice);
}

}  // namespace dsmil::devices
