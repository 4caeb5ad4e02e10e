// Small text helpers shared by dsmilctl's commands.
#pragma once

#include "core/strings.h"

namespace dsmil::ctl {

// "1,850" for 1850 (core/strings.h).
using dsmil::Thousands;

}  // namespace dsmil::ctl
