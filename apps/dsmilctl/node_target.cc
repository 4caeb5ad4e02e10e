#include "node_target.h"

#include "node/status.h"

namespace dsmil::ctl {

net::HttpClientRequest BaseRequest(const CtlConfig& cfg, const CtlNode& n, std::chrono::milliseconds timeout) {
  net::HttpClientRequest req;
  req.ca_file = n.cert;
  req.cert_file = cfg.operator_cert;
  req.key_file = cfg.operator_key;
  req.timeout = timeout;
  return req;
}

Result<Target> FindTarget(const CtlConfig& cfg, int device, const std::string& name, Fallback fallback) {
  const std::string id = std::to_string(device);
  if (!name.empty()) {
    for (const auto& n : cfg.nodes) {
      if (n.name == name) return Target{n, "--node " + name};
    }
    return Status::InvalidArgument("--node " + name + " is not a configured node");
  }
  std::string errors;
  const CtlNode* first_up = nullptr;
  for (const auto& n : cfg.nodes) {
    auto req = BaseRequest(cfg, n);
    req.url = n.url + "/v1/status";
    req.max_response_bytes = node::kMaxStatusJsonBytes;
    auto resp = net::HttpFetch(req);
    if (!resp.ok() || resp->status != 200) {
      errors += "\n  " + n.name + ": " + (resp.ok() ? "HTTP " + std::to_string(resp->status) : resp.status().message());
      continue;
    }
    auto st = node::NodeStatusFromJson(resp->body);
    if (!st.ok()) {
      errors += "\n  " + n.name + ": " + st.status().message();
      continue;
    }
    if (!first_up) first_up = &n;
    for (const auto& d : st->devices) {
      if (d.id == device) return Target{n, "hosts device " + id};
    }
  }
  if (fallback == Fallback::kFirstAnswering && first_up) {
    return Target{*first_up, "no node lists device " + id + "; its router decides"};
  }
  if (first_up) return Status::Unavailable("no configured node lists device " + id + " (give --node)" + errors);
  return Status::Unavailable("no configured node answered /v1/status" + errors);
}

}  // namespace dsmil::ctl
