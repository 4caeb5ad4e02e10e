// dsmilctl coa list|accept|reject: the courses of action of device 59
// (devices/l9/coa.h; docs/l9.md "Device 59: courses of action"). Runs on the
// node that hosts device 59 and works on its stores: the tenant's COA file
// <DIR>/l9/coa/<TENANT>.json and the tenant's audit chain.
//
//   dsmilctl coa list --tenant ALPHA [--state pending|accepted|rejected] [-o json] [--data-dir DIR]
//   dsmilctl coa accept coa-... --tenant ALPHA [--by NAME] [--data-dir DIR]
//   dsmilctl coa reject coa-... --tenant ALPHA [--by NAME] [--data-dir DIR]
//
// Accepting or rejecting records the decision (state, who, when) and one
// audit row (COA_ACCEPTED / COA_REJECTED). It executes nothing: carrying out
// an accepted COA is left to the operators.
//
// DIR is the node's stores.path: --data-dir, else $DSMIL_DATA_DIR.
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "commands.h"
#include "devices/l9/coa.h"
#include "store/audit_sink.h"

namespace dsmil::ctl {
namespace {

struct CoaArgs {
  std::string tenant, id, state, by, data_dir, output = "table";
};

Result<store::StoresConfig> Stores(const CoaArgs& a) {
  store::StoresConfig s;
  s.path = a.data_dir;
  if (s.path.empty()) {
    const char* env = std::getenv("DSMIL_DATA_DIR");
    if (env != nullptr) s.path = env;
  }
  if (s.path.empty()) return Status::InvalidArgument("coa: give --data-dir (the node's stores.path) or DSMIL_DATA_DIR");
  return s;
}

int64_t NowMs() { return int64_t(std::time(nullptr)) * 1000; }

std::string Time(int64_t ms) {
  if (ms == 0) return "-";
  std::time_t t = std::time_t(ms / 1000);
  char buf[32];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string Actions(const nlohmann::json& coa) {
  std::string s;
  if (!coa.contains("actions") || !coa["actions"].is_array()) return s;
  for (const auto& a : coa["actions"]) {
    if (!s.empty()) s += ", ";
    s += a.value("action", "") + (a.value("target", "").empty() ? "" : " " + a.value("target", ""));
  }
  return s.empty() ? "(none)" : s;
}

void List(Context& ctx, const CoaArgs& a) {
  auto stores = Stores(a);
  if (!stores.ok()) return Fail(ctx, 2, stores.status().message());
  if (!a.state.empty() && a.state != "pending" && a.state != "accepted" && a.state != "rejected") {
    return Fail(ctx, 2, "--state: want pending, accepted or rejected");
  }
  auto store = devices::l9::CoaStore::Open(*stores, a.tenant);
  if (!store.ok()) return Fail(ctx, 2, store.status().message());
  auto coas = store->List(a.state);
  if (!coas.ok()) return Fail(ctx, 2, coas.status().message());
  if (a.output == "json") {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& c : *coas) {
      out.push_back({{"id", c.id},
                     {"tenant", c.tenant},
                     {"created_ms", c.created_ms},
                     {"request_id", c.request_id},
                     {"state", c.state},
                     {"decided_by", c.decided_by},
                     {"decided_ms", c.decided_ms},
                     {"coa", c.coa}});
    }
    std::cout << out.dump(2) << "\n";
    ctx.exit_code = 0;
    return;
  }
  std::printf("%-21s  %-11s  %-8s  %-11s  %-20s  %-16s  %s\n", "ID", "KIND", "STATE", "RISK", "CREATED", "DECIDED BY",
              "ACTIONS");
  for (const auto& c : *coas) {
    std::string risk = c.coa.contains("risk")
                           ? c.coa["risk"].value("level", "") + " " + std::to_string(c.coa["risk"].value("score", 0))
                           : "";
    std::printf("%-21s  %-11s  %-8s  %-11s  %-20s  %-16s  %s\n", c.id.c_str(), c.coa.value("kind", "").c_str(),
                c.state.c_str(), risk.c_str(), Time(c.created_ms).c_str(),
                c.decided_by.empty() ? "-" : c.decided_by.c_str(), Actions(c.coa).c_str());
  }
  ctx.exit_code = 0;
}

void Decide(Context& ctx, const CoaArgs& a, bool accept) {
  auto stores = Stores(a);
  if (!stores.ok()) return Fail(ctx, 2, stores.status().message());
  auto store = devices::l9::CoaStore::Open(*stores, a.tenant);
  if (!store.ok()) return Fail(ctx, 2, store.status().message());
  std::string who = a.by;
  if (who.empty()) {
    const char* user = std::getenv("USER");
    who = std::string("local:") + (user != nullptr && *user != '\0' ? user : "unknown");
  }
  auto decided = store->Decide(a.id, accept, who, NowMs());
  if (!decided.ok()) {
    bool negative =
        decided.status().code() == StatusCode::kNotFound || decided.status().code() == StatusCode::kFailedPrecondition;
    return Fail(ctx, negative ? 1 : 2, decided.status().message());
  }
  store::AuditSink audit(*stores, nullptr);
  nlohmann::json detail = {{"coa_id", decided->id},
                           {"kind", decided->coa.value("kind", "")},
                           {"state", decided->state},
                           {"actions", decided->coa.value("actions", nlohmann::json::array())},
                           {"request_id", decided->request_id},
                           {"executed", false}};
  Status s = audit.Append(a.tenant, accept ? "COA_ACCEPTED" : "COA_REJECTED", who, detail.dump());
  if (!s.ok()) {
    return Fail(ctx, 2, "COA " + a.id + " is " + decided->state + " but the audit row was not written: " + s.message());
  }
  std::cout << "COA " << decided->id << " " << decided->state << " by " << who
            << (accept ? " (recorded; nothing is executed)" : "") << "\n";
  ctx.exit_code = 0;
}

const CommandGroup kCoa([](CLI::App& app, Context& ctx) {
  CLI::App* coa = app.add_subcommand("coa", "Courses of action of device 59 (list, accept, reject)");
  coa->require_subcommand(1);
  auto args = std::make_shared<CoaArgs>();
  auto common = [&](CLI::App* c) {
    c->add_option("--tenant", args->tenant, "the tenant")->required();
    c->add_option("--data-dir", args->data_dir, "the node's data directory (stores.path)");
  };
  CLI::App* list = coa->add_subcommand("list", "List the tenant's COAs, oldest first");
  common(list);
  list->add_option("--state", args->state, "only pending, accepted or rejected");
  list->add_option("-o,--output", args->output, "table or json")->check(CLI::IsMember({"table", "json"}));
  list->callback([&ctx, args] { List(ctx, *args); });
  for (bool accept : {true, false}) {
    CLI::App* c = coa->add_subcommand(
        accept ? "accept" : "reject",
        accept ? "Accept a pending COA (records the decision; executes nothing)" : "Reject a pending COA");
    c->add_option("id", args->id, "COA id (coa-...)")->required();
    common(c);
    c->add_option("--by", args->by, "who decides (default local:$USER)");
    c->callback([&ctx, args, accept] { Decide(ctx, *args, accept); });
  }
});

}  // namespace
}  // namespace dsmil::ctl
