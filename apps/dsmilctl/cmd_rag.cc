// dsmilctl rag ingest --tenant ALPHA FILE...: adds documents to the tenant's
// knowledge base (alpha_knowledge_base) through the node's L7 API, which
// hands them to device 50 (chunking, embeddings, vector store).
//
//   dsmilctl rag ingest --tenant ALPHA [--url http://127.0.0.1:8001] [--api-key KEY] FILE...
//
// The API key (or $DSMIL_API_KEY) must belong to the tenant: the router
// refuses a key of another tenant (403) and audits the attempt.
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "net/http_client.h"

namespace dsmil::ctl {
namespace {

struct RagArgs {
  std::string tenant, url = "http://127.0.0.1:8001", api_key;
  std::vector<std::string> files;
};

void Ingest(Context& ctx, const RagArgs& a) {
  std::string key = a.api_key;
  if (key.empty() && std::getenv("DSMIL_API_KEY") != nullptr) key = std::getenv("DSMIL_API_KEY");
  if (key.empty()) return Fail(ctx, 2, "rag ingest: give --api-key or DSMIL_API_KEY (a key of the tenant)");
  nlohmann::json docs = nlohmann::json::array();
  for (const auto& f : a.files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) return Fail(ctx, 2, "rag ingest: cannot read " + f);
    std::stringstream ss;
    ss << in.rdbuf();
    docs.push_back({{"source", f}, {"text", ss.str()}});
  }
  net::HttpClientRequest r;
  r.method = "POST";
  r.url = a.url + "/v1/dsmil/rag/ingest";
  r.timeout = std::chrono::milliseconds(120000);
  r.headers = {{"Authorization", "Bearer " + key}, {"Content-Type", "application/json"}, {"X-DSMIL-Tenant", a.tenant}};
  r.body = nlohmann::json({{"documents", docs}}).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  auto resp = net::HttpFetch(r);
  if (!resp.ok()) return Fail(ctx, 2, resp.status().message());
  auto j = nlohmann::json::parse(resp->body, nullptr, false);
  if (resp->status != 200) {
    std::string msg = resp->body;
    if (j.is_object() && j.contains("error") && j["error"].is_object()) msg = j["error"].value("message", msg);
    return Fail(ctx, resp->status == 401 || resp->status == 403 ? 1 : 2,
                "rag ingest: HTTP " + std::to_string(resp->status) + ": " + msg);
  }
  std::cout << "ingested " << a.files.size() << " file(s) as " << (j.is_object() ? j.value("chunks", 0) : 0)
            << " chunk(s) into " << (j.is_object() ? j.value("collection", std::string("?")) : "?") << "\n";
  ctx.exit_code = 0;
}

const CommandGroup kRag([](CLI::App& app, Context& ctx) {
  CLI::App* rag = Group(app, "rag", "the tenants' knowledge bases (device 50)");
  auto args = std::make_shared<RagArgs>();
  CLI::App* ingest = rag->add_subcommand("ingest", "add files to a tenant's knowledge base");
  ingest->add_option("--tenant", args->tenant, "tenant id, e.g. ALPHA")->required();
  ingest->add_option("--url", args->url, "the node's L7 API");
  ingest->add_option("--api-key", args->api_key, "an API key of the tenant (default $DSMIL_API_KEY)");
  ingest->add_option("files", args->files, "text files")->required();
  ingest->callback([args, &ctx] { Ingest(ctx, *args); });
});

}  // namespace
}  // namespace dsmil::ctl
