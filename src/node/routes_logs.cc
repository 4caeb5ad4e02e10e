#include "node/control_routes.h"

namespace dsmil::node {

void RegisterLogRoutes() {}

}  // namespace dsmil::node
