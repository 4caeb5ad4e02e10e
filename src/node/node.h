// The node daemon's core: hosts the configured devices and serves
//   - plain HTTP (listen.http): GET /healthz (200 + JSON when healthy, 503 +
//     reason otherwise) and GET /metrics (Prometheus text format);
//   - the control API over HTTPS with a required client certificate from the
//     cluster CA (listen.control): GET /v1/status, GET /healthz;
//   - SHRINK's listener when the config's `shrink:` section runs it here
//     (docs/shrink.md).
// dsmild (apps/dsmild) is a thin main around this class; tests start nodes
// in-process too. docs/control-api.md documents the endpoints.
#pragma once

#include <memory>

#include "core/status.h"
#include "node/config.h"
#include "node/status.h"

namespace dsmil::node {

// The platform version: /v1/status, dsmil_build_info, `dsmild --version`,
// `dsmilctl --version`.
inline constexpr char kVersion[] = "5.0.0";

class Node {
 public:
  // Creates the devices, starts them, then binds both servers. Errors name
  // what failed (bad TLS files, key readable by others, port in use, a
  // device that failed to start).
  static Result<std::unique_ptr<Node>> Start(NodeConfig config);
  ~Node();

  // Refuses new requests, lets in-flight ones finish, stops devices. Idempotent.
  void Stop();

  NodeStatus Snapshot() const;
  // "" when healthy, else why not.
  std::string UnhealthyReason() const;

  uint16_t http_port() const;
  uint16_t control_port() const;
  // The SHRINK listener's port (docs/shrink.md); 0 when SHRINK does not run here.
  uint16_t shrink_port() const;

 private:
  struct Impl;
  explicit Node(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dsmil::node
