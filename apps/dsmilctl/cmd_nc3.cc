// dsmilctl nc3 request|sign|query: a two-person NC3 query to device 61
// (docs/l9.md). The request is written to a file, each operator signs it
// offline with their own key, and the signatures travel with it:
//
//   dsmilctl nc3 request --tenant ALPHA --roe-token roe-... -o req.dbe [--query status]
//   dsmilctl nc3 sign req.dbe --key alice.key --name alice -o alice.sig
//   dsmilctl nc3 sign req.dbe --key bob.key --name bob -o bob.sig
//   dsmilctl nc3 query req.dbe --sig alice.sig --sig bob.sig [--node NODE-A]
//
// The request's TIMESTAMP must be within 120 s of device 61's clock when the
// query arrives. Exit status of query: 0 an L9_NC3_RESP, 1 an ERROR reply,
// 2 bad input or no node could be asked.
#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "core/coding.h"
#include "crypto/keyfile.h"
#include "ctl_config.h"
#include "dbe/message.h"
#include "dbe/registry.h"
#include "devices/l9/nc3_request.h"
#include "net/http_client.h"
#include "node/status.h"
#include "node_target.h"

namespace dsmil::ctl {
namespace {

struct Nc3Args {
  std::string tenant, roe_token, query = "status", request_id, out, in, key, name, node;
  std::vector<std::string> sigs;
  int timeout_s = 30;
};

Result<std::string> ReadFile(const std::string& path, size_t limit) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::NotFound("cannot read " + path);
  std::ostringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  if (s.size() > limit) return Status::InvalidArgument(path + " is over " + std::to_string(limit) + " bytes");
  return s;
}

Status WriteFile(const std::string& path, std::string_view data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return Status::Internal("cannot write " + path);
  f.write(data.data(), std::streamsize(data.size()));
  f.close();
  if (!f) return Status::Internal("cannot write " + path);
  return Status::Ok();
}

Result<dbe::Message> ReadRequest(const std::string& path) {
  DSMIL_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path, size_t(dbe::kMaxFrameSize)));
  auto m = dbe::Decode(AsBytes(bytes));
  if (!m.ok()) return Status::InvalidArgument(path + ": not a DBE frame: " + m.status().message());
  if (m->type() != dbe::MsgType::kL9Nc3Query) return Status::InvalidArgument(path + ": not an L9_NC3_QUERY");
  return m;
}

std::string NewRequestId() {
  std::random_device rd;
  uint64_t a = (uint64_t(rd()) << 32) | rd();
  char buf[40];
  std::snprintf(buf, sizeof buf, "nc3-%016llx", static_cast<unsigned long long>(a));
  return buf;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void Request(Context& ctx, const Nc3Args& a) {
  std::string rid = a.request_id.empty() ? NewRequestId() : a.request_id;
  dbe::Message m = devices::l9::MakeNc3Request(a.tenant, a.roe_token, rid, NowMs(), a.query);
  auto frame = dbe::Encode(m);
  if (!frame.ok()) return Fail(ctx, 2, "request does not encode: " + frame.status().message());
  Status s = WriteFile(a.out, AsString(*frame));
  if (!s.ok()) return Fail(ctx, 2, s.message());
  std::cout << dbe::ToDebugString(m) << "\n";
  std::cerr << "NC3 request " << rid << " written to " << a.out
            << "; two operators sign it (dsmilctl nc3 sign), then send it within 120 s (dsmilctl nc3 query)\n";
  ctx.exit_code = 0;
}

void Sign(Context& ctx, const Nc3Args& a) {
  auto m = ReadRequest(a.in);
  if (!m.ok()) return Fail(ctx, 2, m.status().message());
  auto key = crypto::ReadPrivateKey(a.key, crypto::KeyAlg::kMlDsa87);
  if (!key.ok()) return Fail(ctx, 2, key.status().message());
  auto sig = devices::l9::SignNc3Request(*m, key->key);
  if (!sig.ok()) return Fail(ctx, 2, sig.status().message());
  devices::l9::Nc3Signature s{0, a.name, std::move(*sig)};
  std::vector<devices::l9::Nc3Signature> check{s};
  dbe::Message probe = *m;
  if (Status v = devices::l9::AttachNc3Signatures(probe, check); !v.ok()) return Fail(ctx, 2, v.message());
  Status w = WriteFile(a.out, devices::l9::FormatNc3SignatureFile(s));
  if (!w.ok()) return Fail(ctx, 2, w.message());
  std::cout << "signed as " << a.name << ":\n" << dbe::ToDebugString(*m) << "\n";
  std::cerr << "signature written to " << a.out << "\n";
  ctx.exit_code = 0;
}

void Query(Context& ctx, const Nc3Args& a) {
  auto m = ReadRequest(a.in);
  if (!m.ok()) return Fail(ctx, 2, m.status().message());
  std::vector<devices::l9::Nc3Signature> sigs;
  for (const auto& path : a.sigs) {
    auto text = ReadFile(path, 64 * 1024);
    if (!text.ok()) return Fail(ctx, 2, text.status().message());
    auto s = devices::l9::ParseNc3SignatureFile(*text);
    if (!s.ok()) return Fail(ctx, 2, path + ": " + s.status().message());
    sigs.push_back(std::move(*s));
  }
  if (Status s = devices::l9::AttachNc3Signatures(*m, sigs); !s.ok()) return Fail(ctx, 2, s.message());
  auto frame = dbe::Encode(*m);
  if (!frame.ok()) return Fail(ctx, 2, "request does not encode: " + frame.status().message());
  auto cfg = LoadCtlConfig(ctx.config_path);
  if (!cfg.ok()) return Fail(ctx, 2, cfg.status().message());
  if (cfg->nodes.empty()) return Fail(ctx, 2, "no nodes configured (dsmilctl config add-node NAME URL --cert CA)");
  auto target = FindTarget(*cfg, devices::l9::kNc3DeviceId, a.node, Fallback::kNone);
  if (!target.ok()) return Fail(ctx, 2, target.status().message());
  const CtlNode* node = &target->node;
  auto req = BaseRequest(*cfg, *node);
  req.method = "POST";
  req.url = node->url + "/v1/dbe";
  req.headers = {{"Content-Type", "application/octet-stream"}};
  req.body.assign(reinterpret_cast<const char*>(frame->data()), frame->size());
  req.timeout = std::chrono::seconds(a.timeout_s);
  req.max_response_bytes = (1u << 20) + 4096;
  auto resp = net::HttpFetch(req);
  if (!resp.ok()) return Fail(ctx, 2, node->name + ": " + resp.status().message());
  auto reply = dbe::Decode(AsBytes(resp->body));
  if (!reply.ok()) {
    return Fail(ctx, 2,
                node->name + " answered HTTP " + std::to_string(resp->status) + ": " + resp->body.substr(0, 300));
  }
  std::cout << dbe::ToDebugString(*reply) << "\n";
  if (reply->type() == dbe::MsgType::kError) {
    auto reason = reply->GetString(dbe::TlvType::kErrorReason);
    auto detail = reply->GetString(dbe::TlvType::kErrorDetail);
    std::cout << "result: ERROR " << (reason.ok() ? std::string(*reason) : "?");
    if (detail.ok()) std::cout << " (" << *detail << ")";
    std::cout << "\n";
    ctx.exit_code = 1;
    return;
  }
  if (auto body = reply->GetBytes(dbe::TlvType::kPayload); body.ok()) std::cout << AsString(*body) << "\n";
  std::cout << "result: " << dbe::MsgTypeName(reply->type()) << "\n";
  ctx.exit_code = reply->type() == dbe::MsgType::kL9Nc3Resp ? 0 : 1;
}

const CommandGroup kNc3([](CLI::App& app, Context& ctx) {
  CLI::App* nc3 = app.add_subcommand("nc3", "Two-person NC3 queries to device 61");
  nc3->require_subcommand(1);
  auto args = std::make_shared<Nc3Args>();
  CLI::App* request = nc3->add_subcommand("request", "write an unsigned NC3 request file");
  request->add_option("--tenant", args->tenant, "tenant id, e.g. ALPHA")->required();
  request->add_option("--roe-token", args->roe_token, "ROE token id (dsmilctl roe issue)")->required();
  request->add_option("--query", args->query, "what is asked (default status)");
  request->add_option("--request-id", args->request_id, "REQUEST_ID (default a random nc3-...)");
  request->add_option("-o,--out", args->out, "request file to write")->required();
  request->callback([args, &ctx] { Request(ctx, *args); });
  CLI::App* sign = nc3->add_subcommand("sign", "sign a request file with an operator key (offline)");
  sign->add_option("request", args->in, "request file")->required();
  sign->add_option("--key", args->key, "the operator's ML-DSA-87 PREFIX.key")->required();
  sign->add_option("--name", args->name, "the operator's registered name")->required();
  sign->add_option("-o,--out", args->out, "signature file to write")->required();
  sign->callback([args, &ctx] { Sign(ctx, *args); });
  CLI::App* query = nc3->add_subcommand("query", "send a signed request through POST /v1/dbe");
  query->add_option("request", args->in, "request file")->required();
  query->add_option("--sig", args->sigs, "signature file (two or three)");
  query->add_option("--node", args->node, "send via this configured node");
  query->add_option("--timeout", args->timeout_s, "seconds to wait for the reply (default 30)");
  query->callback([args, &ctx] { Query(ctx, *args); });
});

}  // namespace
}  // namespace dsmil::ctl
