#include "devices/l9/strategy.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <set>
#include <utility>

#include "core/coding.h"
#include "core/log.h"
#include "crypto/sha3.h"
#include "devices/l9/admission.h"
#include "store/archive.h"
#include "store/audit_sink.h"
#include "store/scope.h"

namespace dsmil::devices::l9 {
namespace {

using json = nlohmann::json;

constexpr const char* kEntry = "dbe:device60";

constexpr uint32_t kStrongFlags = soc::kFlagCampaignSuspected | soc::kFlagMultiVector | soc::kFlagIocMatch |
                                  soc::kFlagAttestationFailed | soc::kFlagPossibleLogTamper;

// The event weight of device 59 (docs/l9.md): severity weight plus 3 per
// strong L8 flag and 1 per other flag.
int EventWeight(const soc::SocEvent& e) {
  int w = 1;
  if (e.l4.present) {
    switch (e.l4.severity) {
      case soc::Severity::kLow:
        w = 1;
        break;
      case soc::Severity::kMedium:
        w = 2;
        break;
      case soc::Severity::kHigh:
        w = 4;
        break;
      case soc::Severity::kCritical:
        w = 8;
        break;
    }
  }
  for (int b = 0; b < soc::kFlagCount; ++b) {
    uint32_t bit = 1u << b;
    if (e.l8.flags & bit) w += (kStrongFlags & bit) ? 3 : 1;
  }
  return w;
}

// Notable: an L8 flag, or L4 severity HIGH or CRITICAL.
bool Notable(const soc::SocEvent& e) {
  return e.l8.flags != 0 || (e.l4.present && e.l4.severity >= soc::Severity::kHigh);
}

// The entities that link notable events into one campaign.
std::vector<std::string> LinkKeys(const soc::SocEvent& e) {
  std::vector<std::string> k;
  const soc::Features& f = e.features;
  if (!f.src_host.empty()) k.push_back("host:" + f.src_host);
  if (!f.src_ip.empty()) k.push_back("ip:" + f.src_ip);
  if (!f.dst_ip.empty()) k.push_back("ip:" + f.dst_ip);
  if (!f.dst_domain.empty()) k.push_back("domain:" + f.dst_domain);
  if (!f.file_hash.empty()) k.push_back("hash:" + f.file_hash);
  if (!f.user.empty()) k.push_back("user:" + f.user);
  return k;
}

struct UnionFind {
  std::vector<size_t> parent;
  explicit UnionFind(size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), size_t(0)); }
  size_t Find(size_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  }
  void Unite(size_t a, size_t b) {
    a = Find(a);
    b = Find(b);
    if (a != b) parent[std::max(a, b)] = std::min(a, b);  // the earlier event is the root
  }
};

// {"name": n, "count": c} sorted by count (descending), then name.
json Ranked(const std::map<std::string, int>& m, size_t max) {
  std::vector<std::pair<std::string, int>> v(m.begin(), m.end());
  std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  json out = json::array();
  for (size_t i = 0; i < v.size() && i < max; ++i) out.push_back({{"name", v[i].first}, {"count", v[i].second}});
  return out;
}

json Capped(const std::set<std::string>& s, size_t max) {
  json out = json::array();
  for (const std::string& v : s) {
    if (out.size() >= max) break;
    out.push_back(v);
  }
  return out;
}

// NOLINTNEXTLINE(bugprone-exception-escape): json's destructor may allocate while it frees nested values.
struct Campaign {
  std::string id;
  std::vector<const soc::SocEvent*> events;  // in (ts_ms, event_id) order
  int64_t weight = 0;
  json doc;
};

}  // namespace

json SummarizeCampaigns(std::vector<soc::SocEvent> events) {
  std::sort(events.begin(), events.end(), [](const soc::SocEvent& a, const soc::SocEvent& b) {
    return std::tie(a.ts_ms, a.event_id) < std::tie(b.ts_ms, b.event_id);
  });
  events.erase(std::unique(events.begin(), events.end(),
                           [](const soc::SocEvent& a, const soc::SocEvent& b) { return a.event_id == b.event_id; }),
               events.end());

  // Overall figures, over every event.
  std::map<std::string, int> categories, severities, flags;
  std::set<std::string> hosts;
  size_t unclassified = 0;
  for (const soc::SocEvent& e : events) {
    if (e.l4.present) {
      ++categories[std::string(soc::CategoryName(e.l4.category))];
      ++severities[std::string(soc::SeverityName(e.l4.severity))];
    } else {
      ++unclassified;
    }
    for (int b = 0; b < soc::kFlagCount; ++b) {
      if (e.l8.flags & (1u << b)) ++flags[std::string(soc::FlagName(1u << b))];
    }
    if (!e.features.src_host.empty()) hosts.insert(e.features.src_host);
  }

  // Notable events linked by shared entities.
  std::vector<size_t> notable;
  for (size_t i = 0; i < events.size(); ++i) {
    if (Notable(events[i])) notable.push_back(i);
  }
  UnionFind uf(notable.size());
  std::map<std::string, size_t> owner;  // entity -> first notable event (index into `notable`)
  for (size_t n = 0; n < notable.size(); ++n) {
    for (const std::string& k : LinkKeys(events[notable[n]])) {
      auto [it, fresh] = owner.emplace(k, n);
      if (!fresh) uf.Unite(it->second, n);
    }
  }
  std::map<size_t, std::vector<const soc::SocEvent*>> groups;  // root -> events, in order
  for (size_t n = 0; n < notable.size(); ++n) groups[uf.Find(n)].push_back(&events[notable[n]]);

  std::vector<Campaign> campaigns;
  size_t isolated = 0, campaign_events = 0;
  for (auto& [root, members] : groups) {
    std::set<std::string> c_hosts, c_domains, c_ips, c_hashes;
    std::map<std::string, int> c_cat, c_sev, c_flags;
    uint32_t any_flags = 0;
    int64_t weight = 0;
    for (const soc::SocEvent* e : members) {
      weight += EventWeight(*e);
      any_flags |= e->l8.flags;
      const soc::Features& f = e->features;
      if (!f.src_host.empty()) c_hosts.insert(f.src_host);
      if (!f.dst_domain.empty()) c_domains.insert(f.dst_domain);
      if (!f.dst_ip.empty()) c_ips.insert(f.dst_ip);
      if (!f.file_hash.empty()) c_hashes.insert(f.file_hash);
      if (e->l4.present) {
        ++c_cat[std::string(soc::CategoryName(e->l4.category))];
        ++c_sev[std::string(soc::SeverityName(e->l4.severity))];
      }
      for (int b = 0; b < soc::kFlagCount; ++b) {
        if (e->l8.flags & (1u << b)) ++c_flags[std::string(soc::FlagName(1u << b))];
      }
    }
    json basis = json::array();
    if (any_flags & soc::kFlagCampaignSuspected) basis.push_back("CAMPAIGN_SUSPECTED");
    if (any_flags & soc::kFlagMultiVector) basis.push_back("MULTI_VECTOR");
    if (c_hosts.size() >= 2) basis.push_back("MULTI_HOST");
    if (c_cat.size() >= 2) basis.push_back("MULTI_CATEGORY");
    if (members.size() < 2 || basis.empty()) {
      isolated += members.size();
      continue;
    }
    Campaign c;
    c.events = members;
    c.weight = weight;
    const std::string first_id = members.front()->event_id;
    auto digest = crypto::Sha3_256(AsBytes(first_id));
    c.id = "camp-" + ToHex(ByteView(digest.data(), 8));
    json top_cat = Ranked(c_cat, 1);
    c.doc = {{"id", c.id},
             {"events", members.size()},
             {"first_seen_ms", members.front()->ts_ms},
             {"last_seen_ms", members.back()->ts_ms},
             {"first_event_id", first_id},
             {"basis", basis},
             {"threat_weight", weight},
             {"hosts", Capped(c_hosts, 50)},
             {"hosts_total", c_hosts.size()},
             {"top_category", top_cat.empty() ? json(nullptr) : top_cat[0]["name"]},
             {"categories", c_cat},
             {"severities", c_sev},
             {"flags", c_flags},
             {"indicators",
              {{"domains", Capped(c_domains, kMaxCampaignIndicators)},
               {"ips", Capped(c_ips, kMaxCampaignIndicators)},
               {"hashes", Capped(c_hashes, kMaxCampaignIndicators)}}}};
    campaign_events += members.size();
    campaigns.push_back(std::move(c));
  }
  std::sort(campaigns.begin(), campaigns.end(), [](const Campaign& a, const Campaign& b) {
    if (a.weight != b.weight) return a.weight > b.weight;
    if (a.events.size() != b.events.size()) return a.events.size() > b.events.size();
    return std::tie(a.events.front()->ts_ms, a.id) < std::tie(b.events.front()->ts_ms, b.id);
  });
  json list = json::array();
  for (size_t i = 0; i < campaigns.size() && i < kMaxCampaignsListed; ++i) {
    json c = std::move(campaigns[i].doc);
    c["rank"] = i + 1;
    list.push_back(std::move(c));
  }

  std::string summary;
  if (events.empty()) {
    summary = "No SOC event of the tenant in the window: there is nothing to summarise and no campaign is reported.";
  } else {
    summary = std::to_string(events.size()) + " events in the window, " + std::to_string(notable.size()) +
              " notable; " + std::to_string(campaigns.size()) + " campaign" + (campaigns.size() == 1 ? "" : "s") +
              " (" + std::to_string(campaign_events) + " events), " + std::to_string(isolated) +
              " notable events outside any campaign.";
  }
  json overall = {{"categories", categories},
                  {"severities", severities},
                  {"flags", flags},
                  {"top_categories", Ranked(categories, 5)},
                  {"top_severities", Ranked(severities, 4)},
                  {"unclassified_events", unclassified},
                  {"hosts", hosts.size()}};
  if (!events.empty()) {
    overall["first_seen_ms"] = events.front().ts_ms;
    overall["last_seen_ms"] = events.back().ts_ms;
  }
  return {{"events", events.size()}, {"notable_events", notable.size()},    {"campaigns_total", campaigns.size()},
          {"campaigns", list},       {"isolated_notable_events", isolated}, {"overall", overall},
          {"summary", summary}};
}

// ---- the device ----

StrategyDevice::StrategyDevice(DeviceContext ctx, StrategyOptions options)
    : L9Device(std::move(ctx), std::move(options)) {
  if (ctx_.metrics) {
    requests_ = &ctx_.metrics->AddCounter("dsmil_strategy_requests_total",
                                          "Campaign summary requests to device 60, by outcome (ANSWERED or the "
                                          "refusal reason)",
                                          {"tenant_id", "outcome"});
  }
}

StrategyDevice::~StrategyDevice() = default;

DeviceHealth StrategyDevice::Health() const {
  return StoresHealth("device 60 summarises the tenant's archive", "strategy request");
}

dbe::Message StrategyDevice::Refuse(const dbe::Message& request, const std::string& tenant, StatusCode code,
                                    const char* reason, const std::string& detail) {
  if (requests_) requests_->Labels({TenantLabel(ctx_, tenant), reason}).Inc();
  if (ctx_.audit) {
    std::string actor = "unknown";
    if (auto user = request.GetString(dbe::TlvType::kUserId); user.ok()) actor = "user:" + std::string(*user);
    json d = {
        {"device", kStrategyDeviceId}, {"msg_type", std::string(dbe::MsgTypeName(request.type()))}, {"why", detail}};
    if (auto rid = request.GetString(dbe::TlvType::kRequestId); rid.ok()) d["request_id"] = std::string(*rid);
    Status s = ctx_.audit->Record(
        store::Refusal{tenant, kEntry, code == StatusCode::kPermissionDenied ? "POLICY_DENIED" : "BAD_REQUEST", reason,
                       actor, d.dump(-1, ' ', false, json::error_handler_t::replace)});
    if (!s.ok() && ctx_.log) {
      ctx_.log->Warn("strategy refusal not audited", {{"tenant", tenant}, {"error", s.message()}});
    }
  }
  if (ctx_.log) ctx_.log->Warn("strategy request refused", {{"tenant", tenant}, {"reason", reason}, {"why", detail}});
  return dbe::MakeErrorReply(request, code, reason, detail.substr(0, 1024));
}

Result<dbe::Message> StrategyDevice::Handle(const dbe::Message& request) {
  std::string tenant(request.tenant_id());
  if (stopped()) return Status::Unavailable("device 60 is stopped");
  if (auto refused = AdmitL9Request(ctx_, kStrategyDeviceId, dbe::MsgType::kL9StrategyReq, request, requests_)) {
    return std::move(*refused);
  }
  if (!ctx_.tenant.empty() && tenant != ctx_.tenant) {
    return Refuse(request, tenant, StatusCode::kPermissionDenied, "TENANT_MISMATCH",
                  "this instance of device 60 serves tenant " + ctx_.tenant);
  }
  if (ctx_.stores.path.empty()) {
    return Refuse(request, tenant, StatusCode::kFailedPrecondition, "NOT_CONFIGURED",
                  "stores.path is not set: device 60 summarises the tenant's archive there");
  }
  auto payload = request.GetBytes(dbe::TlvType::kPayload);
  const std::string want =
      "want {\"window_hours\": N} with N an integer in 1.." + std::to_string(kMaxStrategyWindowHours);
  if (!payload.ok()) return Refuse(request, tenant, StatusCode::kInvalidArgument, "BAD_REQUEST", "no PAYLOAD: " + want);
  json doc = json::parse(AsString(*payload), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Refuse(request, tenant, StatusCode::kInvalidArgument, "BAD_REQUEST",
                  "PAYLOAD is not a JSON object: " + want);
  }
  const json& w = doc.contains("window_hours") ? doc["window_hours"] : json();
  if (!w.is_number_integer() || w.get<int64_t>() < 1 || w.get<int64_t>() > kMaxStrategyWindowHours) {
    return Refuse(request, tenant, StatusCode::kInvalidArgument, "BAD_REQUEST", "window_hours: " + want);
  }
  const int64_t hours = w.get<int64_t>();
  const int64_t now = NowMs();
  const int64_t since = now - hours * 3600000;

  std::vector<soc::SocEvent> events;
  size_t rows_read = 0, skipped = 0;
  {
    auto scope = store::TenantScope::For(tenant);
    if (!scope.ok()) {
      return Refuse(request, tenant, StatusCode::kInvalidArgument, "BAD_REQUEST", scope.status().message());
    }
    auto archive = store::OpenArchive(ctx_.stores, *scope);
    Result<std::vector<store::ArchivedEvent>> rows = archive.ok()
                                                         ? (*archive)->Recent(kMaxStrategyEvents, since)
                                                         : Result<std::vector<store::ArchivedEvent>>(archive.status());
    if (!rows.ok()) {
      return Refuse(request, tenant, StatusCode::kUnavailable, "ARCHIVE_UNAVAILABLE",
                    "the tenant's archive could not be read: " + rows.status().message());
    }
    rows_read = rows->size();
    for (const store::ArchivedEvent& r : *rows) {
      auto e = soc::ParseEvent(r.body, tenant);
      if (e.ok()) {
        events.push_back(std::move(*e));
      } else {
        ++skipped;
      }
    }
  }
  json body = SummarizeCampaigns(std::move(events));
  std::string request_id;
  if (auto rid = request.GetString(dbe::TlvType::kRequestId); rid.ok()) request_id = std::string(*rid);
  body["tenant"] = tenant;
  body["request_id"] = request_id;
  body["window"] = {{"hours", hours},
                    {"since_ms", since},
                    {"until_ms", now},
                    {"event_limit", kMaxStrategyEvents},
                    {"truncated", rows_read >= kMaxStrategyEvents}};
  body["skipped_events"] = skipped;
  if (rows_read == 0) {
    body["summary"] = "No SOC event of tenant " + tenant + " in the last " + std::to_string(hours) +
                      " hours: there is nothing to summarise and no campaign is reported.";
  }
  if (requests_) requests_->Labels({TenantLabel(ctx_, tenant), "ANSWERED"}).Inc();
  if (ctx_.log) {
    ctx_.log->Info("campaign summary answered", {{"tenant", tenant}, {"events", std::to_string(rows_read)}});
  }
  dbe::Message reply(dbe::MsgType::kL9StrategyResp);
  reply.header().src_device = request.header().dst_device;
  reply.header().dst_device = request.header().src_device;
  reply.SetString(dbe::TlvType::kTenantId, tenant);
  if (!request_id.empty()) reply.SetString(dbe::TlvType::kRequestId, request_id);
  reply.SetU8(dbe::TlvType::kContentType, uint8_t(dbe::ContentType::kJson));
  reply.SetString(dbe::TlvType::kPayload, body.dump(-1, ' ', false, json::error_handler_t::replace));
  return reply;
}

Result<std::unique_ptr<Device>> CreateStrategyDevice(const DeviceContext& ctx) {
  return std::unique_ptr<Device>(new StrategyDevice(ctx));
}

}  // namespace dsmil::devices::l9
