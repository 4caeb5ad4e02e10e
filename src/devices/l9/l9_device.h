// The L9 devices (59 COA, 60 strategy, 61 NC3, 62 coalition) derive from the
// base every store-backed device shares (devices/store_device.h).
#pragma once

#include "devices/store_device.h"

namespace dsmil::devices::l9 {

using L9Options = StoreDeviceOptions;
using L9Device = StoreDevice;

}  // namespace dsmil::devices::l9
