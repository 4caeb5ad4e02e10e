#include "node/control_routes.h"

namespace dsmil::node {

void RegisterSocRoutes() {}

}  // namespace dsmil::node
