// Which configured node a device command talks to (dsmilctl dbe, nc3, ...).
#pragma once

#include <chrono>
#include <string>

#include "core/status.h"
#include "ctl_config.h"
#include "net/http_client.h"

namespace dsmil::ctl {

// A request to node `n` with the operator's certificate (ctl config) and the
// node's CA; the caller sets url, method and body.
net::HttpClientRequest BaseRequest(const CtlConfig& cfg, const CtlNode& n,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(10));

struct Target {
  CtlNode node;
  std::string why;  // how it was chosen, for the operator
};

enum class Fallback {
  kFirstAnswering,  // no node lists the device: the first that answers (its router decides)
  kNone,            // no node lists the device: Unavailable
};

// The node named `name` when given (InvalidArgument when it is not
// configured), else the first configured node whose /v1/status lists
// `device`, else per `fallback`. Unavailable lists each node's error.
Result<Target> FindTarget(const CtlConfig& cfg, int device, const std::string& name = "",
                          Fallback fallback = Fallback::kFirstAnswering);

}  // namespace dsmil::ctl
