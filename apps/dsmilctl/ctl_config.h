// dsmilctl's own configuration: the nodes it talks to and the operator
// identity it presents to their control APIs.
//
//   operator: {cert: .../operator-admin.crt, key: .../operator-admin.key}
//   nodes:
//     - {name: NODE-A, url: "https://127.0.0.1:8099", cert: .../ca.crt}
//
// `cert` of a node is the certificate that authenticates it: the cluster CA
// or the node's own certificate (pinned). Written by `dsmilctl config ...`.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace dsmil::ctl {

struct CtlNode {
  std::string name;  // NODE-A
  std::string url;   // https://host:port
  std::string cert;  // trust anchor for this node's TLS certificate
};

struct CtlConfig {
  std::string operator_cert;
  std::string operator_key;
  std::vector<CtlNode> nodes;
};

// A missing file is an empty config (no nodes); a malformed one is an error.
Result<CtlConfig> LoadCtlConfig(const std::string& path);
// Writes atomically (temp file + rename), creating parent directories.
Status SaveCtlConfig(const std::string& path, const CtlConfig& config);

}  // namespace dsmil::ctl
