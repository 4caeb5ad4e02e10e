// dsmilctl test-dbe-message: builds one DBE envelope, sends it to the node that
// hosts the destination device (POST /v1/dbe on its control API, mTLS) and
// prints the reply, decoded (spec §9.2, drill 5).
//
// Exit status: 0 a reply that is not ERROR, 1 an ERROR reply, 2 bad input or
// no node could be asked.
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <random>

#include "commands.h"
#include "core/coding.h"
#include "ctl_config.h"
#include "dbe/message.h"
#include "dbe/registry.h"
#include "net/http_client.h"
#include "node/status.h"
#include "node_target.h"

namespace dsmil::ctl {
namespace {

struct DbeArgs {
  std::string type = "0x62";
  std::string tenant;
  int device_dst = -1;
  int device_src = 0;
  bool no_roe_token = false;
  std::string roe_token;
  std::vector<std::string> tlvs;
  std::string node;
  int timeout_s = 30;
};

std::string NewRequestId() {
  std::random_device rd;
  uint64_t a = (uint64_t(rd()) << 32) | rd();
  char buf[40];
  std::snprintf(buf, sizeof buf, "ctl-%016llx", static_cast<unsigned long long>(a));
  return buf;
}

Result<uint64_t> ParseUnsigned(const std::string& s, const std::string& what) {
  size_t used = 0;
  uint64_t v = 0;
  try {
    v = std::stoull(s, &used, 0);
  } catch (...) {
    used = 0;
  }
  if (used == 0 || used != s.size()) return Status::InvalidArgument(what + ": '" + s + "' is not a number");
  return v;
}

// Sets TLV NAME=VALUE with the value written as its kind requires.
Status SetTlv(dbe::Message& m, const std::string& arg) {
  auto eq = arg.find('=');
  if (eq == std::string::npos || eq == 0) return Status::InvalidArgument("--tlv '" + arg + "' is not NAME=VALUE");
  std::string name = arg.substr(0, eq), value = arg.substr(eq + 1);
  DSMIL_ASSIGN_OR_RETURN(dbe::TlvType t, dbe::ParseTlvType(name));
  const dbe::TlvSpec* spec = dbe::FindTlvSpec(uint16_t(t));
  std::string what = "--tlv " + std::string(spec->name);
  switch (spec->kind) {
    case dbe::ValueKind::kU8:
      if (t == dbe::TlvType::kClassification) {
        auto c = dbe::ParseClassification(value);
        if (c.ok()) {
          m.SetU8(t, uint8_t(*c));
          break;
        }
      }
      {
        DSMIL_ASSIGN_OR_RETURN(uint64_t v, ParseUnsigned(value, what));
        if (v > 0xFF) return Status::InvalidArgument(what + ": " + value + " does not fit one byte");
        m.SetU8(t, uint8_t(v));
      }
      break;
    case dbe::ValueKind::kU16: {
      DSMIL_ASSIGN_OR_RETURN(uint64_t v, ParseUnsigned(value, what));
      if (v > 0xFFFF) return Status::InvalidArgument(what + ": " + value + " does not fit two bytes");
      m.SetU16(t, uint16_t(v));
      break;
    }
    case dbe::ValueKind::kU32: {
      DSMIL_ASSIGN_OR_RETURN(uint64_t v, ParseUnsigned(value, what));
      if (v > 0xFFFFFFFFull) return Status::InvalidArgument(what + ": " + value + " does not fit four bytes");
      m.SetU32(t, uint32_t(v));
      break;
    }
    case dbe::ValueKind::kU64Mask: {
      DSMIL_ASSIGN_OR_RETURN(uint64_t v, dbe::ParseCompartmentMask(value));
      m.SetU64(t, v);
      break;
    }
    case dbe::ValueKind::kBytes:
    case dbe::ValueKind::kF32Vector:
      if (value.rfind("hex:", 0) == 0) {
        auto b = FromHex(value.substr(4));
        if (!b.ok()) return Status::InvalidArgument(what + ": " + b.status().message());
        m.SetBytes(t, *b);
      } else {
        m.SetString(t, value);
      }
      break;
    default:
      m.SetString(t, value);
  }
  return Status::Ok();
}

void PrintMessage(std::ostream& os, const dbe::Message& m) {
  os << "  type:   " << dbe::MsgTypeName(m.type()) << " (" << dbe::MsgTypeHex(m.type()) << ")\n";
  os << "  route:  device " << m.header().src_device << " -> device " << m.header().dst_device << "\n";
  for (size_t i = 0; i < m.tlv_count(); ++i) {
    dbe::TlvView t = m.tlv(i);
    const dbe::TlvSpec* spec = dbe::FindTlvSpec(t.type);
    std::string name = spec ? std::string(spec->name) : dbe::TlvTypeHex(t.type);
    std::string value;
    if (!spec || spec->kind == dbe::ValueKind::kBytes || spec->kind == dbe::ValueKind::kF32Vector) {
      value = "<" + std::to_string(t.value.size()) + " bytes>";
    } else if (spec->kind == dbe::ValueKind::kU8) {
      value = t.type == uint16_t(dbe::TlvType::kClassification)
                  ? std::string(dbe::ClassificationName(dbe::Classification(t.value[0])))
                  : std::to_string(t.value[0]);
    } else if (spec->kind == dbe::ValueKind::kU16) {
      uint16_t v = uint16_t((t.value[0] << 8) | t.value[1]);
      value = std::to_string(v);
      if (t.type == uint16_t(dbe::TlvType::kErrorCode))
        value += " (" + std::string(StatusCodeName(StatusCode(v))) + ")";
    } else if (spec->kind == dbe::ValueKind::kU32 || spec->kind == dbe::ValueKind::kU64Mask) {
      uint64_t v = 0;
      for (uint8_t b : t.value) v = (v << 8) | b;
      value = spec->kind == dbe::ValueKind::kU64Mask ? dbe::CompartmentMaskString(v) : std::to_string(v);
    } else {
      value = std::string(reinterpret_cast<const char*>(t.value.data()), t.value.size());
    }
    os << "  " << name << ": " << value << "\n";
  }
}

int Run(const DbeArgs& a, Context& ctx) {
  auto type = dbe::ParseMsgType(a.type);
  if (!type.ok()) {
    Fail(ctx, 2, "--type: " + type.status().message());
    return 2;
  }
  if (a.tenant.empty()) {
    Fail(ctx, 2, "--tenant is required: every envelope carries TENANT_ID");
    return 2;
  }
  if (a.device_dst < 0 || a.device_dst > 103) {
    Fail(ctx, 2, "--device-dst: " + std::to_string(a.device_dst) + " is not a device id 0..103");
    return 2;
  }
  if (a.no_roe_token && !a.roe_token.empty()) {
    Fail(ctx, 2, "give --no-roe-token or --roe-token, not both");
    return 2;
  }
  dbe::Message m(*type);
  m.header().src_device = uint16_t(a.device_src);
  m.header().dst_device = uint16_t(a.device_dst);
  m.SetString(dbe::TlvType::kTenantId, a.tenant);
  std::string request_id = NewRequestId();
  m.SetString(dbe::TlvType::kRequestId, request_id);
  if (!a.no_roe_token) m.SetString(dbe::TlvType::kRoeTokenId, a.roe_token.empty() ? "ROE-DSMILCTL-TEST" : a.roe_token);
  for (const auto& t : a.tlvs) {
    Status s = SetTlv(m, t);
    if (!s.ok()) {
      Fail(ctx, 2, s.message());
      return 2;
    }
  }
  auto frame = dbe::Encode(m);
  if (!frame.ok()) {
    Fail(ctx, 2, "envelope does not encode: " + frame.status().message());
    return 2;
  }

  auto cfg = LoadCtlConfig(ctx.config_path);
  if (!cfg.ok()) {
    Fail(ctx, 2, cfg.status().message());
    return 2;
  }
  if (cfg->nodes.empty()) {
    Fail(ctx, 2, "no nodes configured (dsmilctl config add-node NAME URL --cert CA)");
    return 2;
  }
  Target target;
  if (!a.node.empty()) {
    bool found = false;
    for (const auto& n : cfg->nodes) {
      if (n.name == a.node) {
        target = Target{n, "--node"};
        found = true;
      }
    }
    if (!found) {
      Fail(ctx, 2, "--node " + a.node + " is not a configured node");
      return 2;
    }
  } else {
    auto t = FindTarget(*cfg, a.device_dst);
    if (!t.ok()) {
      Fail(ctx, 2, t.status().message());
      return 2;
    }
    target = *t;
  }

  std::cout << "request (" << frame->size() << " bytes) via " << target.node.name << " (" << target.why << "):\n";
  PrintMessage(std::cout, m);
  auto req = BaseRequest(*cfg, target.node);
  req.method = "POST";
  req.url = target.node.url + "/v1/dbe";
  req.headers = {{"Content-Type", "application/octet-stream"}};
  req.body.assign(reinterpret_cast<const char*>(frame->data()), frame->size());
  req.timeout = std::chrono::seconds(a.timeout_s);
  req.max_response_bytes = (1u << 20) + 4096;
  auto t0 = std::chrono::steady_clock::now();
  auto resp = net::HttpFetch(req);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (!resp.ok()) {
    Fail(ctx, 2, target.node.name + ": " + resp.status().message());
    return 2;
  }
  // A refusal (403 and the like) comes as an ERROR frame: shown like a reply.
  auto reply = dbe::Decode(AsBytes(resp->body));
  if (resp->status != 200 && !(reply.ok() && reply->type() == dbe::MsgType::kError)) {
    Fail(ctx, 2,
         target.node.name + " answered HTTP " + std::to_string(resp->status) + ": " + resp->body.substr(0, 300));
    return 2;
  }
  if (!reply.ok()) {
    Fail(ctx, 2, "reply from " + target.node.name + " is not a DBE frame: " + reply.status().message());
    return 2;
  }
  char took[32];
  std::snprintf(took, sizeof took, "%.1f ms", ms);
  std::cout << "reply (" << resp->body.size() << " bytes, " << took << "):\n";
  PrintMessage(std::cout, *reply);
  auto rid = reply->GetString(dbe::TlvType::kRequestId);
  if (rid.ok() && *rid != request_id) {
    Fail(ctx, 2, "reply carries REQUEST_ID " + std::string(*rid) + ", not " + request_id);
    return 2;
  }
  if (reply->type() == dbe::MsgType::kError) {
    auto reason = reply->GetString(dbe::TlvType::kErrorReason);
    std::cout << "result: ERROR " << (reason.ok() ? std::string(*reason) : "?") << "\n";
    return 1;
  }
  std::cout << "result: " << dbe::MsgTypeName(reply->type()) << "\n";
  return 0;
}

}  // namespace

static CommandGroup dbe_commands([](CLI::App& app, Context& ctx) {
  auto a = std::make_shared<DbeArgs>();
  auto* cmd = app.add_subcommand("test-dbe-message", "Send one DBE envelope to a device and print the reply");
  cmd->add_option("--type", a->type, "Message type: name or code (default 0x62, L9_NC3_QUERY)");
  cmd->add_option("--tenant", a->tenant, "TENANT_ID, e.g. ALPHA")->required();
  cmd->add_option("--device-dst", a->device_dst, "Destination device 0..103")->required();
  cmd->add_option("--device-src", a->device_src, "Source device (default 0)");
  cmd->add_flag("--no-roe-token", a->no_roe_token, "Leave out ROE_TOKEN_ID");
  cmd->add_option("--roe-token", a->roe_token, "ROE_TOKEN_ID (default ROE-DSMILCTL-TEST)");
  cmd->add_option("--tlv", a->tlvs, "Extra TLV NAME=VALUE (repeatable; bytes as hex:..)");
  cmd->add_option("--node", a->node, "Send via this configured node instead of the device's host");
  cmd->add_option("--timeout", a->timeout_s, "Seconds to wait for the reply (default 30)");
  cmd->callback([a, &ctx] { ctx.exit_code = Run(*a, ctx); });
});

}  // namespace dsmil::ctl
