#include "devices/l9/coalition.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <utility>

#include "core/coding.h"
#include "core/log.h"
#include "crypto/sha3.h"
#include "devices/l9/admission.h"
#include "devices/soc/event.h"
#include "store/audit_sink.h"
#include "store/file_mode.h"
#include "store/scope.h"
#include "tenant/roe.h"

namespace dsmil::devices::l9 {
namespace {

using json = nlohmann::json;

constexpr const char* kEntry = "dbe:device62";
constexpr const char* kWhat = "coalition store";

std::string Lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool IsHex(const std::string& s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

// A DNS name: 2..127 labels of [a-z0-9-]{1,63} (no leading/trailing
// hyphen), at most 253 characters, the last label alphabetic.
bool IsDomain(const std::string& d) {
  if (d.empty() || d.size() > 253 || d.front() == '.' || d.back() == '.') return false;
  size_t labels = 0, start = 0;
  std::string last;
  while (start <= d.size()) {
    size_t end = d.find('.', start);
    if (end == std::string::npos) end = d.size();
    std::string label = d.substr(start, end - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '-')) {
        return false;
      }
    }
    ++labels;
    last = label;
    start = end + 1;
  }
  return labels >= 2 &&
         std::all_of(last.begin(), last.end(), [](char c) { return std::isalpha(static_cast<unsigned char>(c)); });
}

std::string Digest(const std::vector<Indicator>& v) {
  std::string text;
  for (const Indicator& i : v) text += i.value + "\n";
  auto d = crypto::Sha3_256(AsBytes(text));
  return ToHex(ByteView(d.data(), d.size()));
}

json ReleaseToJson(const Release& r) {
  json ind = json::array();
  for (const Indicator& i : r.indicators) ind.push_back({{"value", i.value}, {"kind", i.kind}});
  json j = {{"id", r.id},
            {"from", r.from},
            {"to", r.to},
            {"state", r.state},
            {"offered_ms", r.offered_ms},
            {"offered_by", r.offered_by},
            {"digest", r.digest},
            {"indicators", ind}};
  if (r.state == "accepted") {
    j["accepted_ms"] = r.accepted_ms;
    j["accepted_by"] = r.accepted_by;
  }
  return j;
}

Release ReleaseFromJson(const json& j) {
  Release r;
  r.id = j.value("id", "");
  r.from = j.value("from", "");
  r.to = j.value("to", "");
  r.state = j.value("state", "pending");
  r.offered_ms = j.value("offered_ms", int64_t(0));
  r.accepted_ms = j.value("accepted_ms", int64_t(0));
  r.offered_by = j.value("offered_by", "");
  r.accepted_by = j.value("accepted_by", "");
  r.digest = j.value("digest", "");
  if (j.contains("indicators") && j["indicators"].is_array()) {
    for (const json& i : j["indicators"]) r.indicators.push_back({i.value("value", ""), i.value("kind", "")});
  }
  return r;
}

Result<std::vector<Release>> ReadReleases(const std::string& path) {
  DSMIL_ASSIGN_OR_RETURN(std::string text, tenant::internal::ReadWholeFile(path, kWhat));
  std::vector<Release> out;
  if (text.empty()) return out;
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("releases") || !doc["releases"].is_array()) {
    return Status::Internal("coalition store " + path + ": not a release file (want {\"releases\": [...]})");
  }
  for (const json& j : doc["releases"]) out.push_back(ReleaseFromJson(j));
  return out;
}

Status WriteReleases(const std::string& path, std::vector<Release> all) {
  // Beyond the limit the oldest accepted releases go first; pending ones stay.
  while (all.size() > kMaxStoredReleases) {
    auto it = std::find_if(all.begin(), all.end(), [](const Release& r) { return r.state == "accepted"; });
    if (it == all.end()) break;
    all.erase(it);
  }
  json arr = json::array();
  for (const Release& r : all) arr.push_back(ReleaseToJson(r));
  return tenant::internal::ReplaceFile(path, json{{"releases", arr}}.dump(1) + "\n", kWhat);
}

Result<std::vector<ReceivedIndicator>> ReadReceived(const std::string& path) {
  DSMIL_ASSIGN_OR_RETURN(std::string text, tenant::internal::ReadWholeFile(path, kWhat));
  std::vector<ReceivedIndicator> out;
  if (text.empty()) return out;
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("indicators") || !doc["indicators"].is_array()) {
    return Status::Internal("coalition store " + path +
                            ": not a received-indicator file (want {\"indicators\": [...]})");
  }
  for (const json& j : doc["indicators"]) {
    out.push_back({{j.value("value", ""), j.value("kind", "")},
                   j.value("from", ""),
                   j.value("release_id", ""),
                   j.value("received_ms", int64_t(0))});
  }
  return out;
}

json ReceivedToJson(const ReceivedIndicator& r) {
  return {{"value", r.indicator.value},
          {"kind", r.indicator.kind},
          {"from", r.from},
          {"release_id", r.release_id},
          {"received_ms", r.received_ms}};
}

}  // namespace

Result<Indicator> ParseIndicator(const std::string& text) {
  if (text.empty()) return Status::InvalidArgument("empty indicator");
  if (text.size() > kMaxIndicatorLength) {
    return Status::InvalidArgument("indicator of " + std::to_string(text.size()) + " characters; the limit is " +
                                   std::to_string(kMaxIndicatorLength));
  }
  std::string shown = text.substr(0, 80);
  for (char& c : shown) {
    if (!std::isprint(static_cast<unsigned char>(c))) c = '?';
  }
  unsigned char buf[16];
  if (text.find(':') != std::string::npos) {
    if (inet_pton(AF_INET6, text.c_str(), buf) == 1) return Indicator{Lower(text), "ip"};
    return Status::InvalidArgument("\"" + shown + "\" is not a valid IPv6 address");
  }
  if (inet_pton(AF_INET, text.c_str(), buf) == 1) return Indicator{text, "ip"};
  const std::string low = Lower(text);
  if (IsHex(low)) {
    const size_t n = low.size();
    if (n == 32 || n == 40 || n == 64 || n == 128) return Indicator{low, "hash"};
    return Status::InvalidArgument("\"" + shown + "\" is a hex string of " + std::to_string(n) +
                                   " digits, not an MD5, SHA-1, SHA-256 or SHA-512 digest (32, 40, 64 or 128)");
  }
  if (IsDomain(low)) return Indicator{low, "domain"};
  return Status::InvalidArgument("\"" + shown +
                                 "\" is not an IPv4/IPv6 address, a domain name or a hex digest (MD5, SHA-1, "
                                 "SHA-256, SHA-512)");
}

// ---- the store ----

Result<CoalitionStore> CoalitionStore::Open(const store::StoresConfig& stores) {
  if (stores.path.empty()) return Status::InvalidArgument("coalition store: stores.path is not set");
  return CoalitionStore(stores.path + "/l9/coalition");
}

Status CoalitionStore::Offer(const Release& r) {
  DSMIL_RETURN_IF_ERROR(store::MakePrivateDirs(dir_));
  DSMIL_ASSIGN_OR_RETURN(tenant::internal::FileLock lock, tenant::internal::FileLock::Take(ReleasesFile(), kWhat));
  DSMIL_ASSIGN_OR_RETURN(std::vector<Release> all, ReadReleases(ReleasesFile()));
  size_t pending = 0;
  for (const Release& x : all) {
    if (x.id == r.id) return Status::AlreadyExists("release " + r.id + " exists already");
    if (x.from == r.from && x.state == "pending") ++pending;
  }
  if (pending >= kMaxPendingReleases) {
    return Status::ResourceExhausted("tenant " + r.from + " has " + std::to_string(pending) +
                                     " pending releases; the limit is " + std::to_string(kMaxPendingReleases) +
                                     " until some are accepted");
  }
  all.push_back(r);
  return WriteReleases(ReleasesFile(), std::move(all));
}

Result<Release> CoalitionStore::Accept(const std::string& id, const std::string& recipient, const std::string& who,
                                       int64_t now_ms) {
  DSMIL_RETURN_IF_ERROR(store::MakePrivateDirs(dir_ + "/received"));
  DSMIL_ASSIGN_OR_RETURN(tenant::internal::FileLock lock, tenant::internal::FileLock::Take(ReleasesFile(), kWhat));
  DSMIL_ASSIGN_OR_RETURN(std::vector<Release> all, ReadReleases(ReleasesFile()));
  auto it = std::find_if(all.begin(), all.end(), [&](const Release& r) { return r.id == id; });
  const std::string missing = "no release " + id.substr(0, 64) + " is addressed to tenant " + recipient;
  if (it == all.end()) return Status::NotFound(missing);
  if (it->to != recipient) return Status::PermissionDenied(missing);
  if (it->state != "pending") {
    return Status::FailedPrecondition("release " + id + " was accepted by " + it->accepted_by + " already");
  }
  DSMIL_ASSIGN_OR_RETURN(std::vector<ReceivedIndicator> got, ReadReceived(ReceivedFile(recipient)));
  std::set<std::pair<std::string, std::string>> have;
  for (const ReceivedIndicator& g : got) have.emplace(g.indicator.value, g.from);
  for (const Indicator& i : it->indicators) {
    if (have.emplace(i.value, it->from).second) got.push_back({i, it->from, it->id, now_ms});
  }
  if (got.size() > kMaxReceivedIndicators) got.erase(got.begin(), got.end() - kMaxReceivedIndicators);
  json arr = json::array();
  for (const ReceivedIndicator& g : got) arr.push_back(ReceivedToJson(g));
  DSMIL_RETURN_IF_ERROR(
      tenant::internal::ReplaceFile(ReceivedFile(recipient), json{{"indicators", arr}}.dump(1) + "\n", kWhat));
  it->state = "accepted";
  it->accepted_ms = now_ms;
  it->accepted_by = who;
  Release out = *it;
  DSMIL_RETURN_IF_ERROR(WriteReleases(ReleasesFile(), std::move(all)));
  return out;
}

Result<Release> CoalitionStore::Get(const std::string& id) const {
  DSMIL_ASSIGN_OR_RETURN(std::vector<Release> all, ReadReleases(ReleasesFile()));
  for (Release& r : all) {
    if (r.id == id) return std::move(r);
  }
  return Status::NotFound("no release " + id.substr(0, 64));
}

Result<std::vector<Release>> CoalitionStore::OfferedBy(const std::string& tenant) const {
  DSMIL_ASSIGN_OR_RETURN(std::vector<Release> all, ReadReleases(ReleasesFile()));
  std::vector<Release> out;
  for (Release& r : all) {
    if (r.from == tenant) out.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<Release>> CoalitionStore::PendingFor(const std::string& tenant) const {
  DSMIL_ASSIGN_OR_RETURN(std::vector<Release> all, ReadReleases(ReleasesFile()));
  std::vector<Release> out;
  for (Release& r : all) {
    if (r.to == tenant && r.state == "pending") out.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<ReceivedIndicator>> CoalitionStore::Received(const std::string& tenant) const {
  DSMIL_ASSIGN_OR_RETURN(store::TenantScope scope, store::TenantScope::For(tenant));
  (void)scope;
  return ReadReceived(ReceivedFile(tenant));
}

// ---- the device ----

CoalitionDevice::CoalitionDevice(DeviceContext ctx, CoalitionOptions options)
    : L9Device(std::move(ctx), std::move(options)) {
  if (ctx_.metrics) {
    releases_ = &ctx_.metrics->AddCounter("dsmil_coalition_releases_total",
                                          "Coalition indicator releases by step (offer, accept), per tenant taking it",
                                          {"tenant_id", "step"});
    refused_ = &ctx_.metrics->AddCounter("dsmil_coalition_refusals_total", "Requests refused by device 62, by reason",
                                         {"tenant_id", "reason"});
  }
}

CoalitionDevice::~CoalitionDevice() = default;

DeviceHealth CoalitionDevice::Health() const {
  return StoresHealth("device 62 keeps its releases there", "coalition request");
}

bool CoalitionDevice::KnownTenant(const std::string& tenant) const {
  if (!store::TenantScope::For(tenant).ok()) return false;
  if (ctx_.tenants.empty()) return true;
  return std::any_of(ctx_.tenants.begin(), ctx_.tenants.end(), [&](const TenantInfo& t) { return t.id == tenant; });
}

dbe::Message CoalitionDevice::Refuse(const dbe::Message& request, const std::string& tenant, StatusCode code,
                                     const char* reason, const std::string& detail, const char* event_type) {
  if (refused_) refused_->Labels({TenantLabel(ctx_, tenant), reason}).Inc();
  if (ctx_.audit) {
    std::string actor = "unknown";
    if (auto user = request.GetString(dbe::TlvType::kUserId); user.ok()) actor = "user:" + std::string(*user);
    json d = {
        {"device", kCoalitionDeviceId}, {"msg_type", std::string(dbe::MsgTypeName(request.type()))}, {"why", detail}};
    if (auto rid = request.GetString(dbe::TlvType::kRequestId); rid.ok()) d["request_id"] = std::string(*rid);
    std::string type = event_type != nullptr                   ? event_type
                       : code == StatusCode::kPermissionDenied ? "POLICY_DENIED"
                                                               : "BAD_REQUEST";
    Status s = ctx_.audit->Record(
        store::Refusal{tenant, kEntry, type, reason, actor, d.dump(-1, ' ', false, json::error_handler_t::replace)});
    if (!s.ok() && ctx_.log) {
      ctx_.log->Warn("coalition refusal not audited", {{"tenant", tenant}, {"error", s.message()}});
    }
  }
  if (ctx_.log) ctx_.log->Warn("coalition request refused", {{"tenant", tenant}, {"reason", reason}, {"why", detail}});
  return dbe::MakeErrorReply(request, code, reason, detail.substr(0, 1024));
}

Status CoalitionDevice::AuditBoth(const std::string& a, const std::string& b, const std::string& event_type,
                                  const std::string& actor, const json& detail) {
  if (!ctx_.audit) return Status::Ok();
  const std::string text = detail.dump(-1, ' ', false, json::error_handler_t::replace);
  DSMIL_RETURN_IF_ERROR(ctx_.audit->Append(a, event_type, actor, text));
  return ctx_.audit->Append(b, event_type, actor, text);
}

dbe::Message CoalitionDevice::Reply(const dbe::Message& request, const std::string& tenant, const json& body) {
  dbe::Message reply(dbe::MsgType::kL9CoalitionResp);
  reply.header().src_device = request.header().dst_device;
  reply.header().dst_device = request.header().src_device;
  reply.SetString(dbe::TlvType::kTenantId, tenant);
  if (auto rid = request.GetString(dbe::TlvType::kRequestId); rid.ok()) {
    reply.SetString(dbe::TlvType::kRequestId, std::string(*rid));
  }
  reply.SetU8(dbe::TlvType::kContentType, uint8_t(dbe::ContentType::kJson));
  reply.SetString(dbe::TlvType::kPayload, body.dump(-1, ' ', false, json::error_handler_t::replace));
  return reply;
}

Result<dbe::Message> CoalitionDevice::Handle(const dbe::Message& request) {
  std::string tenant(request.tenant_id());
  if (stopped()) return Status::Unavailable("device 62 is stopped");
  if (auto refused = AdmitL9Request(ctx_, kCoalitionDeviceId, dbe::MsgType::kL9CoalitionReq, request, refused_)) {
    return std::move(*refused);
  }
  if (!ctx_.tenant.empty() && tenant != ctx_.tenant) {
    return Refuse(request, tenant, StatusCode::kPermissionDenied, "TENANT_MISMATCH",
                  "this instance of device 62 serves tenant " + ctx_.tenant);
  }
  if (ctx_.stores.path.empty()) {
    return Refuse(request, tenant, StatusCode::kFailedPrecondition, "NOT_CONFIGURED",
                  "stores.path is not set: device 62 keeps its releases there");
  }
  auto store = CoalitionStore::Open(ctx_.stores);
  if (!store.ok()) {
    return Refuse(request, tenant, StatusCode::kFailedPrecondition, "NOT_CONFIGURED", store.status().message());
  }

  auto payload = request.GetBytes(dbe::TlvType::kPayload);
  const char* want =
      "want {\"op\": \"offer\", \"to\": TENANT, \"indicators\": [...]}, "
      "{\"op\": \"accept\", \"release_id\": ID} or {\"op\": \"list\"}";
  if (!payload.ok()) {
    return Refuse(request, tenant, StatusCode::kInvalidArgument, "BAD_REQUEST", std::string("no PAYLOAD: ") + want);
  }
  json doc = json::parse(AsString(*payload), nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("op") || !doc["op"].is_string()) {
    return Refuse(request, tenant, StatusCode::kInvalidArgument, "BAD_REQUEST", std::string("PAYLOAD: ") + want);
  }
  const std::string op = doc["op"].get<std::string>();
  std::string actor = "tenant:" + tenant;
  if (auto user = request.GetString(dbe::TlvType::kUserId); user.ok()) actor = "user:" + std::string(*user);
  const int64_t now = NowMs();

  if (op == "offer") {
    if (!doc.contains("to") || !doc["to"].is_string()) {
      return Refuse(request, tenant, StatusCode::kInvalidArgument, "BAD_REQUEST", "to: want the receiving tenant's id");
    }
    const std::string to = doc["to"].get<std::string>();
    if (to == tenant) {
      return Refuse(request, tenant, StatusCode::kInvalidArgument, "SELF_RELEASE",
                    "to: a tenant cannot release indicators to itself (" + tenant + ")");
    }
    if (!KnownTenant(to)) {
      return Refuse(request, tenant, StatusCode::kInvalidArgument, "UNKNOWN_TENANT",
                    "to: \"" + to.substr(0, 64) + "\" is not a tenant of this cluster");
    }
    if (!doc.contains("indicators") || !doc["indicators"].is_array() || doc["indicators"].empty()) {
      return Refuse(
          request, tenant, StatusCode::kInvalidArgument, "BAD_REQUEST",
          "indicators: want a non-empty array of strings (at most " + std::to_string(kMaxReleaseIndicators) + ")");
    }
    const json& arr = doc["indicators"];
    if (arr.size() > kMaxReleaseIndicators) {
      return Refuse(request, tenant, StatusCode::kInvalidArgument, "TOO_MANY_INDICATORS",
                    "indicators: " + std::to_string(arr.size()) + " given; the limit is " +
                        std::to_string(kMaxReleaseIndicators) + " per release");
    }
    Release r;
    std::set<std::string> seen;
    for (size_t i = 0; i < arr.size(); ++i) {
      if (!arr[i].is_string()) {
        return Refuse(request, tenant, StatusCode::kInvalidArgument, "INVALID_INDICATOR",
                      "indicators[" + std::to_string(i) + "]: want a string");
      }
      auto ind = ParseIndicator(arr[i].get<std::string>());
      if (!ind.ok()) {
        return Refuse(request, tenant, StatusCode::kInvalidArgument, "INVALID_INDICATOR",
                      "indicators[" + std::to_string(i) + "]: " + ind.status().message());
      }
      if (seen.insert(ind->value).second) r.indicators.push_back(std::move(*ind));
    }
    std::sort(r.indicators.begin(), r.indicators.end(), [](const Indicator& a, const Indicator& b) {
      return std::tie(a.kind, a.value) < std::tie(b.kind, b.value);
    });
    r.from = tenant;
    r.to = to;
    r.offered_ms = now;
    r.offered_by = actor;
    r.digest = Digest(r.indicators);
    auto id = crypto::Sha3_256(AsBytes(soc::NewUuid() + "\n" + tenant + "\n" + to + "\n" + r.digest));
    r.id = "rel-" + ToHex(ByteView(id.data(), 8));
    std::map<std::string, int> kinds;
    for (const Indicator& i : r.indicators) ++kinds[i.kind];
    json detail = {{"device", kCoalitionDeviceId},      {"release_id", r.id}, {"from", tenant},    {"to", to},
                   {"indicators", r.indicators.size()}, {"kinds", kinds},     {"digest", r.digest}};
    if (Status s = AuditBoth(tenant, to, "COALITION_RELEASE_OFFERED", actor, detail); !s.ok()) {
      return Refuse(request, tenant, StatusCode::kUnavailable, "AUDIT_UNAVAILABLE",
                    "the offer could not be recorded in both audit chains, so it was not made: " + s.message());
    }
    if (Status s = store->Offer(r); !s.ok()) {
      const bool full = s.code() == StatusCode::kResourceExhausted;
      return Refuse(request, tenant, full ? StatusCode::kResourceExhausted : StatusCode::kUnavailable,
                    full ? "TOO_MANY_PENDING" : "STORE_UNAVAILABLE", s.message());
    }
    if (releases_) releases_->Labels({TenantLabel(ctx_, tenant), "offer"}).Inc();
    json body = {{"op", "offer"},
                 {"release_id", r.id},
                 {"from", tenant},
                 {"to", to},
                 {"state", "pending"},
                 {"indicators", r.indicators.size()},
                 {"kinds", kinds},
                 {"digest", r.digest},
                 {"note", "Nothing is delivered until tenant " + to + " accepts release " + r.id + "."}};
    return Reply(request, tenant, body);
  }

  if (op == "accept") {
    if (!doc.contains("release_id") || !doc["release_id"].is_string()) {
      return Refuse(request, tenant, StatusCode::kInvalidArgument, "BAD_REQUEST", "release_id: want a release id");
    }
    const std::string id = doc["release_id"].get<std::string>();
    auto rel = store->Get(id);
    if (!rel.ok() && rel.status().code() != StatusCode::kNotFound) {
      return Refuse(request, tenant, StatusCode::kUnavailable, "STORE_UNAVAILABLE", rel.status().message());
    }
    const std::string missing = "no release " + id.substr(0, 64) + " is addressed to tenant " + tenant;
    if (!rel.ok()) return Refuse(request, tenant, StatusCode::kNotFound, "UNKNOWN_RELEASE", missing);
    if (rel->from == tenant) {
      return Refuse(
          request, tenant, StatusCode::kPermissionDenied, "SELF_ACCEPT",
          "release " + id + " was offered by tenant " + tenant + " itself: only tenant " + rel->to + " can accept it");
    }
    if (rel->to != tenant) {
      // The same answer as for an unknown id: the caller learns nothing of
      // other tenants' releases. The attempt is a row in the caller's chain
      // and in the offering tenant's.
      if (ctx_.audit) {
        json d = {{"device", kCoalitionDeviceId},
                  {"release_id", id},
                  {"release_from", rel->from},
                  {"release_to", rel->to},
                  {"attempted_by", tenant}};
        (void)ctx_.audit->Append(rel->from, "COALITION_ACCEPT_REFUSED", actor,
                                 d.dump(-1, ' ', false, json::error_handler_t::replace));
      }
      return Refuse(request, tenant, StatusCode::kNotFound, "UNKNOWN_RELEASE", missing, "TENANT_ESCAPE_ATTEMPT");
    }
    if (rel->state != "pending") {
      return Refuse(request, tenant, StatusCode::kFailedPrecondition, "ALREADY_ACCEPTED",
                    "release " + id + " was accepted by " + rel->accepted_by + " already");
    }
    json detail = {{"device", kCoalitionDeviceId},         {"release_id", id},     {"from", rel->from}, {"to", tenant},
                   {"indicators", rel->indicators.size()}, {"digest", rel->digest}};
    if (Status s = AuditBoth(tenant, rel->from, "COALITION_RELEASE_ACCEPTED", actor, detail); !s.ok()) {
      return Refuse(
          request, tenant, StatusCode::kUnavailable, "AUDIT_UNAVAILABLE",
          "the acceptance could not be recorded in both audit chains, so nothing was delivered: " + s.message());
    }
    auto done = store->Accept(id, tenant, actor, now);
    if (!done.ok()) {
      const StatusCode c = done.status().code();
      if (c == StatusCode::kFailedPrecondition) {
        return Refuse(request, tenant, c, "ALREADY_ACCEPTED", done.status().message());
      }
      if (c == StatusCode::kNotFound || c == StatusCode::kPermissionDenied) {
        return Refuse(request, tenant, StatusCode::kNotFound, "UNKNOWN_RELEASE", missing);
      }
      return Refuse(request, tenant, StatusCode::kUnavailable, "STORE_UNAVAILABLE", done.status().message());
    }
    if (releases_) releases_->Labels({TenantLabel(ctx_, tenant), "accept"}).Inc();
    json ind = json::array();
    for (const Indicator& i : done->indicators) ind.push_back({{"value", i.value}, {"kind", i.kind}});
    json body = {{"op", "accept"},      {"release_id", id},       {"from", done->from}, {"to", tenant},
                 {"state", "accepted"}, {"digest", done->digest}, {"indicators", ind}};
    return Reply(request, tenant, body);
  }

  if (op == "list") {
    auto offered = store->OfferedBy(tenant);
    auto incoming = offered.ok() ? store->PendingFor(tenant) : Result<std::vector<Release>>(offered.status());
    auto received = incoming.ok() ? store->Received(tenant) : Result<std::vector<ReceivedIndicator>>(incoming.status());
    if (!received.ok()) {
      return Refuse(request, tenant, StatusCode::kUnavailable, "STORE_UNAVAILABLE", received.status().message());
    }
    json off = json::array(), in = json::array(), got = json::array();
    for (const Release& r : *offered) off.push_back(ReleaseToJson(r));
    for (const Release& r : *incoming) {
      std::map<std::string, int> kinds;
      for (const Indicator& i : r.indicators) ++kinds[i.kind];
      in.push_back({{"id", r.id},
                    {"from", r.from},
                    {"offered_ms", r.offered_ms},
                    {"indicators", r.indicators.size()},
                    {"kinds", kinds},
                    {"digest", r.digest}});
    }
    const size_t first = received->size() > kMaxListedReceived ? received->size() - kMaxListedReceived : 0;
    for (size_t i = first; i < received->size(); ++i) got.push_back(ReceivedToJson((*received)[i]));
    json body = {{"op", "list"},   {"tenant", tenant}, {"offered", off},
                 {"incoming", in}, {"received", got},  {"received_total", received->size()}};
    return Reply(request, tenant, body);
  }

  return Refuse(request, tenant, StatusCode::kInvalidArgument, "BAD_REQUEST",
                "op: \"" + op.substr(0, 32) + "\" is not an operation; " + want);
}

Result<std::unique_ptr<Device>> CreateCoalitionDevice(const DeviceContext& ctx) {
  return std::unique_ptr<Device>(new CoalitionDevice(ctx));
}

}  // namespace dsmil::devices::l9
