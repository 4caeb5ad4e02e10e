#include "node/control_routes.h"

namespace dsmil::node {

void RegisterTenantRoutes() {}

}  // namespace dsmil::node
