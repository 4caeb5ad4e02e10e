#include <gtest/gtest.h>

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include "devices/l8/sigma.h"
#include "devices/soc/event.h"

namespace dsmil::soc {
namespace {

namespace fs = std::filesystem;

const SigmaFieldMap& Fields() {
  static const SigmaFieldMap* map = [] {
    auto m = SigmaFieldMap::Load(DSMIL_SOURCE_DIR "/deploy/sigma/fieldmap.yaml");
    if (!m.ok()) {
      ADD_FAILURE() << m.status().ToString();
      return new SigmaFieldMap();
    }
    return new SigmaFieldMap(std::move(*m));
  }();
  return *map;
}

SocEvent Event() {
  SocEvent e;
  e.event_id = "f47ac10b-58cc-4372-a567-0e02b2c3d479";
  e.tenant = "ALPHA";
  e.ts_ms = 1764245000000;
  e.source = "fw-edge-01";
  return e;
}

// A rule with one detection block (indented two spaces under detection:).
std::string Rule(const std::string& detection, const std::string& extra = "") {
  return "title: test rule\nid: test-1\nlevel: high\ntags: [attack.t1110, attack.credential_access, cve.2021-44228]\n"
         "logsource:\n  product: dsmil\n" +
         extra + "detection:\n" + detection;
}

SigmaRule Compile(const std::string& text) {
  auto r = ParseSigmaRule(text, "test.yml", Fields());
  EXPECT_TRUE(r.ok()) << r.status().ToString() << "\n" << text;
  if (!r.ok()) return SigmaRule();
  return std::move(*r);
}

SigmaError Refused(const std::string& text) {
  SigmaError err;
  auto r = ParseSigmaRule(text, "bad.yml", Fields(), &err);
  EXPECT_FALSE(r.ok()) << text;
  if (!r.ok()) {
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message(), err.ToString());
  }
  EXPECT_EQ(err.file, "bad.yml");
  return err;
}

TEST(SigmaFieldMap, ShippedMapCoversEveryEventField) {
  const std::set<std::string> schema = {
      "event_id",
      "tenant",
      "source",
      "ts_ms",
      "ingest_ts_ms",
      "features.src_ip",
      "features.dst_ip",
      "features.src_host",
      "features.dst_domain",
      "features.user",
      "features.process",
      "features.protocol",
      "features.tls_version",
      "features.kex",
      "features.file_hash",
      "features.enclave_attestation",
      "features.signature",
      "features.dst_port",
      "features.bytes_in",
      "features.bytes_out",
      "features.conn_count",
      "features.failed_logins",
      "features.distinct_ports",
      "features.login_hour",
      "features.biometric_score",
      "features.anomaly_score",
      "l3.score",
      "l3.decision",
      "l3.device",
      "l4.category",
      "l4.severity",
      "l4.confidence",
      "l4.device",
      "l8_enrichment.flags",
      "l8_enrichment.ioc_matches",
  };
  std::set<std::string> mapped;
  for (const auto& [name, path] : Fields().entries()) mapped.insert(path);
  for (const auto& f : schema) EXPECT_TRUE(mapped.count(f)) << f << " has no Sigma name";
  EXPECT_EQ(Fields().Resolve("SourceHostname"), "features.src_host");
  EXPECT_EQ(Fields().Resolve("DestinationPort"), "features.dst_port");
  EXPECT_EQ(Fields().Resolve("features.custom_tag"), "features.custom_tag");
  EXPECT_EQ(Fields().Resolve("NoSuchField"), "");
}

TEST(SigmaFieldMap, RefusesUnknownPathsWithLine) {
  auto m = SigmaFieldMap::Parse("User: features.user\nHost: features.hostname_of_nothing x\n", "map.yaml");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().message().rfind("map.yaml:2: Host: unknown event field", 0), 0u) << m.status().message();
  EXPECT_FALSE(SigmaFieldMap::Parse("A: l9.score\n", "m").ok());
  EXPECT_FALSE(SigmaFieldMap::Parse("[a, b]\n", "m").ok());
}

TEST(Sigma, MetadataAndAttackTags) {
  SigmaRule r = Compile(Rule("  sel:\n    User: root\n  condition: sel\n"));
  EXPECT_EQ(r.id, "test-1");
  EXPECT_EQ(r.title, "test rule");
  EXPECT_EQ(r.level, SigmaLevel::kHigh);
  EXPECT_EQ(SigmaLevelName(r.level), "high");
  EXPECT_EQ(r.logsource_product, "dsmil");
  EXPECT_EQ(r.AttackTags(), (std::vector<std::string>{"attack.t1110", "attack.credential_access"}));
  EXPECT_EQ(r.tags.size(), 3u);
}

TEST(Sigma, ExactMatchIsCaseInsensitive) {
  SigmaRule r = Compile(Rule("  sel:\n    User: Admin\n  condition: sel\n"));
  SocEvent e = Event();
  e.features.user = "ADMIN";
  EXPECT_TRUE(r.Matches(e));
  e.features.user = "admin2";
  EXPECT_FALSE(r.Matches(e));
  e.features.user.clear();
  EXPECT_FALSE(r.Matches(e));
}

TEST(Sigma, CasedModifier) {
  SigmaRule r = Compile(Rule("  sel:\n    User|cased: Admin\n  condition: sel\n"));
  SocEvent e = Event();
  e.features.user = "Admin";
  EXPECT_TRUE(r.Matches(e));
  e.features.user = "admin";
  EXPECT_FALSE(r.Matches(e));
}

TEST(Sigma, ContainsStartswithEndswith) {
  SocEvent e = Event();
  e.features.dst_domain = "Cdn-Update.Example.COM";
  EXPECT_TRUE(Compile(Rule("  s:\n    DestinationHostname|contains: update\n  condition: s\n")).Matches(e));
  EXPECT_FALSE(Compile(Rule("  s:\n    DestinationHostname|contains: upgrade\n  condition: s\n")).Matches(e));
  EXPECT_TRUE(Compile(Rule("  s:\n    DestinationHostname|startswith: cdn-\n  condition: s\n")).Matches(e));
  EXPECT_FALSE(Compile(Rule("  s:\n    DestinationHostname|startswith: update\n  condition: s\n")).Matches(e));
  EXPECT_TRUE(Compile(Rule("  s:\n    DestinationHostname|endswith: .example.com\n  condition: s\n")).Matches(e));
  EXPECT_FALSE(Compile(Rule("  s:\n    DestinationHostname|endswith: .example\n  condition: s\n")).Matches(e));
  // Modifiers keep wildcards inside the value.
  EXPECT_TRUE(Compile(Rule("  s:\n    DestinationHostname|contains: 'update.*.com'\n  condition: s\n")).Matches(e));
}

TEST(Sigma, WildcardsAndEscapes) {
  SocEvent e = Event();
  e.features.process = "C:\\Windows\\cmd.exe";
  EXPECT_TRUE(Compile(Rule("  s:\n    Image: '*\\cmd.exe'\n  condition: s\n")).Matches(e));
  EXPECT_TRUE(Compile(Rule("  s:\n    Image: 'c:\\windows\\c??.exe'\n  condition: s\n")).Matches(e));
  EXPECT_FALSE(Compile(Rule("  s:\n    Image: 'c:\\windows\\c?.exe'\n  condition: s\n")).Matches(e));
  e.features.process = "a*b";
  EXPECT_TRUE(Compile(Rule("  s:\n    Image: 'a\\*b'\n  condition: s\n")).Matches(e));
  e.features.process = "axxb";
  EXPECT_FALSE(Compile(Rule("  s:\n    Image: 'a\\*b'\n  condition: s\n")).Matches(e));
  EXPECT_TRUE(Compile(Rule("  s:\n    Image: 'a*b'\n  condition: s\n")).Matches(e));
  // '*' alone: any present value.
  SigmaRule any = Compile(Rule("  s:\n    User: '*'\n  condition: s\n"));
  EXPECT_FALSE(any.Matches(e));
  e.features.user = "x";
  EXPECT_TRUE(any.Matches(e));
}

TEST(Sigma, ListIsOrAndAllIsAnd) {
  SocEvent e = Event();
  e.features.dst_domain = "cdn-update.example";
  SigmaRule any =
      Compile(Rule("  s:\n    DestinationHostname|contains:\n      - evil\n      - update\n  condition: s\n"));
  EXPECT_TRUE(any.Matches(e));
  SigmaRule all =
      Compile(Rule("  s:\n    DestinationHostname|contains|all:\n      - cdn\n      - update\n  condition: s\n"));
  EXPECT_TRUE(all.Matches(e));
  SigmaRule all_fail =
      Compile(Rule("  s:\n    DestinationHostname|contains|all:\n      - cdn\n      - evil\n  condition: s\n"));
  EXPECT_FALSE(all_fail.Matches(e));
  // Fields of one map: AND.
  SigmaRule and_fields = Compile(Rule("  s:\n    DestinationHostname|contains: cdn\n    User: bob\n  condition: s\n"));
  EXPECT_FALSE(and_fields.Matches(e));
  e.features.user = "bob";
  EXPECT_TRUE(and_fields.Matches(e));
  // List of maps: OR.
  SigmaRule maps = Compile(Rule("  s:\n    - User: alice\n    - DestinationPort: 4444\n  condition: s\n"));
  EXPECT_FALSE(maps.Matches(e));
  e.features.dst_port = 4444;
  EXPECT_TRUE(maps.Matches(e));
}

TEST(Sigma, RegexIsCaseSensitiveUnlessAsked) {
  SocEvent e = Event();
  e.features.dst_domain = "AbCdEf0123456789abcdef0123.example";
  EXPECT_FALSE(Compile(Rule("  s:\n    QueryName|re: '^[a-z0-9]{24,}\\.'\n  condition: s\n")).Matches(e));
  EXPECT_TRUE(Compile(Rule("  s:\n    QueryName|re: '(?i)^[a-z0-9]{24,}\\.'\n  condition: s\n")).Matches(e));
  EXPECT_TRUE(Compile(Rule("  s:\n    QueryName|re|i: '^[a-z0-9]{24,}\\.'\n  condition: s\n")).Matches(e));
  EXPECT_TRUE(Compile(Rule("  s:\n    QueryName|re: 'Ef01'\n  condition: s\n")).Matches(e));  // search, not full
  EXPECT_FALSE(Compile(Rule("  s:\n    QueryName|re: '^Ef01'\n  condition: s\n")).Matches(e));
}

TEST(Sigma, CidrV4AndV6) {
  SocEvent e = Event();
  e.features.src_ip = "10.1.2.3";
  SigmaRule v4 =
      Compile(Rule("  s:\n    SourceIp|cidr:\n      - 10.0.0.0/8\n      - 192.168.0.0/16\n  condition: s\n"));
  EXPECT_TRUE(v4.Matches(e));
  e.features.src_ip = "11.1.2.3";
  EXPECT_FALSE(v4.Matches(e));
  e.features.src_ip = "192.168.255.1";
  EXPECT_TRUE(v4.Matches(e));
  SigmaRule narrow = Compile(Rule("  s:\n    SourceIp|cidr: 192.168.1.128/25\n  condition: s\n"));
  EXPECT_FALSE(narrow.Matches(e));
  e.features.src_ip = "192.168.1.200";
  EXPECT_TRUE(narrow.Matches(e));
  e.features.src_ip = "not an ip";
  EXPECT_FALSE(narrow.Matches(e));
  SigmaRule v6 = Compile(Rule("  s:\n    SourceIp|cidr: 'fd00::/8'\n  condition: s\n"));
  e.features.src_ip = "fd12:3456::1";
  EXPECT_TRUE(v6.Matches(e));
  e.features.src_ip = "fe80::1";
  EXPECT_FALSE(v6.Matches(e));
  e.features.src_ip = "10.1.2.3";
  EXPECT_FALSE(v6.Matches(e));
}

TEST(Sigma, NumbersEqualityAndComparisons) {
  SocEvent e = Event();
  e.features.dst_port = 4444;
  EXPECT_TRUE(Compile(Rule("  s:\n    DestinationPort: 4444\n  condition: s\n")).Matches(e));
  EXPECT_TRUE(Compile(Rule("  s:\n    DestinationPort: '4444'\n  condition: s\n")).Matches(e));
  EXPECT_FALSE(Compile(Rule("  s:\n    DestinationPort: 443\n  condition: s\n")).Matches(e));
  EXPECT_TRUE(Compile(Rule("  s:\n    DestinationPort|startswith: '44'\n  condition: s\n")).Matches(e));
  EXPECT_TRUE(Compile(Rule("  s:\n    DestinationPort|gt: 1024\n  condition: s\n")).Matches(e));
  EXPECT_FALSE(Compile(Rule("  s:\n    DestinationPort|lt: 1024\n  condition: s\n")).Matches(e));
  EXPECT_TRUE(Compile(Rule("  s:\n    DestinationPort|gte: 4444\n  condition: s\n")).Matches(e));
  EXPECT_TRUE(Compile(Rule("  s:\n    DestinationPort|lte: 4444\n  condition: s\n")).Matches(e));
  e.features.anomaly_score = 0.92;
  EXPECT_TRUE(Compile(Rule("  s:\n    AnomalyScore|gte: 0.9\n  condition: s\n")).Matches(e));
  EXPECT_TRUE(Compile(Rule("  s:\n    AnomalyScore: 0.92\n  condition: s\n")).Matches(e));
  EXPECT_FALSE(Compile(Rule("  s:\n    BytesOut|gt: 0\n  condition: s\n")).Matches(e));  // absent
}

TEST(Sigma, NullEmptyAndExists) {
  SocEvent e = Event();
  SigmaRule null_user = Compile(Rule("  s:\n    User: null\n  condition: s\n"));
  SigmaRule empty_user = Compile(Rule("  s:\n    User: ''\n  condition: s\n"));
  SigmaRule exists = Compile(Rule("  s:\n    User|exists: true\n  condition: s\n"));
  SigmaRule missing_port = Compile(Rule("  s:\n    DestinationPort|exists: false\n  condition: s\n"));
  EXPECT_TRUE(null_user.Matches(e));
  EXPECT_TRUE(empty_user.Matches(e));
  EXPECT_FALSE(exists.Matches(e));
  EXPECT_TRUE(missing_port.Matches(e));
  e.features.user = "bob";
  e.features.dst_port = 22;
  EXPECT_FALSE(null_user.Matches(e));
  EXPECT_FALSE(empty_user.Matches(e));
  EXPECT_TRUE(exists.Matches(e));
  EXPECT_FALSE(missing_port.Matches(e));
}

TEST(Sigma, ConditionForms) {
  const std::string sels =
      "  sel_user:\n    User: bob\n  sel_port:\n    DestinationPort: 22\n  filter:\n    SourceIp|cidr: 10.0.0.0/8\n";
  SocEvent e = Event();
  e.features.user = "bob";
  e.features.dst_port = 22;
  e.features.src_ip = "10.0.0.1";
  auto m = [&](const std::string& cond) { return Compile(Rule(sels + "  condition: " + cond + "\n")).Matches(e); };
  EXPECT_TRUE(m("sel_user and sel_port"));
  EXPECT_FALSE(m("sel_user and not sel_port"));
  EXPECT_TRUE(m("sel_user or not sel_port"));
  EXPECT_FALSE(m("sel_user and sel_port and not filter"));
  EXPECT_TRUE(m("not (sel_user and filter) or sel_port"));
  EXPECT_FALSE(m("not (sel_user or sel_port)"));
  EXPECT_TRUE(m("1 of sel_*"));
  EXPECT_TRUE(m("all of sel_*"));
  EXPECT_TRUE(m("all of them"));
  EXPECT_TRUE(m("1 of them"));
  EXPECT_FALSE(m("all of sel_* and not filter"));
  EXPECT_TRUE(m("NOT filter OR sel_user"));  // keywords in any case
  e.features.dst_port = 80;
  EXPECT_TRUE(m("1 of sel_*"));
  EXPECT_FALSE(m("all of sel_*"));
  EXPECT_FALSE(m("all of them"));
  EXPECT_TRUE(m("1 of them"));
  // and binds tighter than or.
  EXPECT_TRUE(m("sel_port and filter or sel_user"));
  EXPECT_FALSE(m("sel_port and (filter or sel_user)"));
  e.features.user = "alice";
  e.features.src_ip = "8.8.8.8";
  EXPECT_FALSE(m("1 of sel_*"));
  EXPECT_FALSE(m("1 of them"));
  EXPECT_TRUE(m("not 1 of them"));
  // 'them' leaves out selections whose name starts with '_'.
  SigmaRule underscore =
      Compile(Rule("  sel:\n    User: alice\n  _aux:\n    User: nobody\n  condition: all of them\n"));
  EXPECT_TRUE(underscore.Matches(e));
  // A list of conditions is their OR.
  SigmaRule listed = Compile(Rule(sels + "  condition:\n    - sel_user\n    - not filter\n"));
  EXPECT_TRUE(listed.Matches(e));
}

TEST(Sigma, KeywordSelections) {
  SigmaRule r = Compile(Rule("  keywords:\n    - '*mimikatz*'\n    - evil.example\n  condition: keywords\n"));
  SocEvent e = Event();
  EXPECT_FALSE(r.Matches(e));
  e.features.process = "C:\\tools\\Mimikatz.exe";
  EXPECT_TRUE(r.Matches(e));
  e.features.process.clear();
  e.features.extra.emplace_back("note", "\"EVIL.example\"");
  EXPECT_TRUE(r.Matches(e));
}

TEST(Sigma, PipelineFieldsAndExtras) {
  SocEvent e = Event();
  e.l8.present = true;
  e.l8.flags = kFlagIocMatch | kFlagSuspiciousEgress;
  e.l8.ioc_matches = {"cdn-update.example"};
  e.l4.present = true;
  e.l4.category = Category::kNetwork;
  e.l4.severity = Severity::kCritical;
  e.features.extra.emplace_back("vlan", "42");
  e.features.extra.emplace_back("zone", "\"dmz\"");
  EXPECT_TRUE(Compile(Rule("  s:\n    L8Flags: SUSPICIOUS_EGRESS\n  condition: s\n")).Matches(e));
  EXPECT_FALSE(Compile(Rule("  s:\n    L8Flags: PORT_SCAN\n  condition: s\n")).Matches(e));
  EXPECT_TRUE(Compile(Rule("  s:\n    L8Flags|all: [IOC_MATCH, SUSPICIOUS_EGRESS]\n  condition: s\n")).Matches(e));
  EXPECT_TRUE(Compile(Rule("  s:\n    IocMatches|endswith: .example\n  condition: s\n")).Matches(e));
  EXPECT_TRUE(Compile(Rule("  s:\n    Severity: critical\n    Category: NETWORK\n  condition: s\n")).Matches(e));
  EXPECT_TRUE(Compile(Rule("  s:\n    features.vlan|gte: 40\n    features.zone: DMZ\n  condition: s\n")).Matches(e));
  EXPECT_FALSE(Compile(Rule("  s:\n    features.nothing: x\n  condition: s\n")).Matches(e));
}

TEST(Sigma, LogsourceCategoryIsTheL4Category) {
  SigmaRule r = Compile(
      "title: t\nlogsource:\n  category: identity\n  product: dsmil\ndetection:\n  s:\n    User: bob\n  condition: "
      "s\n");
  EXPECT_EQ(r.id, "test");  // from the file name when absent
  EXPECT_EQ(r.logsource_category, "identity");
  SocEvent e = Event();
  e.features.user = "bob";
  EXPECT_FALSE(r.Matches(e));  // not classified yet
  e.l4.present = true;
  e.l4.category = Category::kNetwork;
  EXPECT_FALSE(r.Matches(e));
  e.l4.category = Category::kIdentity;
  EXPECT_TRUE(r.Matches(e));
}

TEST(Sigma, MalformedRulesNameFileLineAndReason) {
  SigmaError e = Refused("title: x\nlogsource: {product: dsmil}\ndetection:\n  s: [a, b\n");
  EXPECT_GT(e.line, 0);
  EXPECT_NE(e.reason.find("not valid YAML"), std::string::npos) << e.ToString();

  e = Refused(Rule("  sel:\n    User|containz: root\n  condition: sel\n"));
  EXPECT_EQ(e.line, 9);
  EXPECT_NE(e.reason.find("unknown modifier 'containz'"), std::string::npos) << e.ToString();
  EXPECT_EQ(e.ToString().rfind("bad.yml:9: detection.sel.User|containz: unknown modifier 'containz'", 0), 0u)
      << e.ToString();

  e = Refused(Rule("  sel:\n    User|base64: root\n  condition: sel\n"));
  EXPECT_NE(e.reason.find("unsupported modifier 'base64'"), std::string::npos) << e.ToString();

  e = Refused(Rule("  sel:\n    User: root\n  condition: sel and other\n"));
  EXPECT_EQ(e.line, 10);
  EXPECT_NE(e.reason.find("undefined selection 'other'"), std::string::npos) << e.ToString();

  e = Refused(Rule("  sel:\n    User: root\n  condition: (sel and (sel or sel)\n"));
  EXPECT_EQ(e.line, 10);
  EXPECT_NE(e.reason.find("unbalanced parentheses: '(' at column 1 is not closed"), std::string::npos) << e.ToString();
  e = Refused(Rule("  sel:\n    User: root\n  condition: sel)\n"));
  EXPECT_NE(e.reason.find("unbalanced parentheses: ')' at column 4 has no '('"), std::string::npos) << e.ToString();

  e = Refused(Rule("  sel:\n    User|re: '" + std::string(300, 'a') + "'\n  condition: sel\n"));
  EXPECT_EQ(e.line, 9);
  EXPECT_NE(e.reason.find("regular expression of 300 bytes, at most 256"), std::string::npos) << e.ToString();

  e = Refused(Rule("  sel:\n    User|re: '(a+)+b'\n  condition: sel\n"));
  EXPECT_NE(e.reason.find("repeated group"), std::string::npos) << e.ToString();
  for (const char* re : {"(a{50}){50}", "(a?){30}a{30}", "(x|xx)*y", "a{5}{5}", "a*b*c*d*", "a{101}"}) {
    e = Refused(Rule(std::string("  sel:\n    User|re: '") + re + "'\n  condition: sel\n"));
    EXPECT_NE(e.reason.find("regular expression refused"), std::string::npos) << re << ": " << e.ToString();
  }
  for (const char* re : {"^(?:admin|root)[0-9]{1,4}$", "(abc){3}", "^.*\\.exe$", "(a|b)?c+"}) {
    EXPECT_TRUE(
        ParseSigmaRule(Rule(std::string("  sel:\n    User|re: '") + re + "'\n  condition: sel\n"), "ok.yml", Fields())
            .ok())
        << re;
  }
  e = Refused(Rule("  sel:\n    User|re: '(a)\\1'\n  condition: sel\n"));
  EXPECT_NE(e.reason.find("back-references"), std::string::npos) << e.ToString();
  e = Refused(Rule("  sel:\n    User|re: '[a-'\n  condition: sel\n"));
  EXPECT_NE(e.reason.find("invalid regular expression"), std::string::npos) << e.ToString();

  e = Refused(Rule("  sel:\n    Nope: root\n  condition: sel\n"));
  EXPECT_NE(e.reason.find("unknown field 'Nope'"), std::string::npos) << e.ToString();
  e = Refused(Rule("  sel:\n    SourceIp|cidr: 10.0.0.0/33\n  condition: sel\n"));
  EXPECT_NE(e.reason.find("prefix length"), std::string::npos) << e.ToString();
  e = Refused(Rule("  sel:\n    DestinationPort|gt: many\n  condition: sel\n"));
  EXPECT_NE(e.reason.find("takes a number"), std::string::npos) << e.ToString();
  e = Refused(Rule("  sel:\n    User: root\n  condition: sel | count() > 5\n"));
  EXPECT_NE(e.reason.find("aggregations"), std::string::npos) << e.ToString();
  e = Refused(Rule("  sel:\n    User: root\n"));
  EXPECT_NE(e.reason.find("detection.condition: is required"), std::string::npos) << e.ToString();
  e = Refused("logsource: {product: dsmil}\ndetection:\n  s: {User: x}\n  condition: s\n");
  EXPECT_NE(e.reason.find("title: is required"), std::string::npos) << e.ToString();
  e = Refused("title: t\nlogsource: {product: windows}\ndetection:\n  s: {User: x}\n  condition: s\n");
  EXPECT_EQ(e.line, 2);
  EXPECT_NE(e.reason.find("not a DSMIL event source"), std::string::npos) << e.ToString();
  e = Refused("title: t\nlevel: severe\nlogsource: {}\ndetection:\n  s: {User: x}\n  condition: s\n");
  EXPECT_NE(e.reason.find("unknown level 'severe'"), std::string::npos) << e.ToString();
  e = Refused(Rule("  s: {User: x}\n  condition: " + std::string(40, '(') + "s" + std::string(40, ')') + "\n"));
  EXPECT_NE(e.reason.find("nested deeper than"), std::string::npos) << e.ToString();
  e = Refused(Rule("  s: {User: x}\n  condition: s\n") + "---\ntitle: second\n");
  EXPECT_NE(e.reason.find("one rule per file"), std::string::npos) << e.ToString();
  e = Refused("");
  EXPECT_NE(e.reason.find("empty file"), std::string::npos) << e.ToString();
}

TEST(Sigma, SizeLimits) {
  std::string many;
  for (size_t i = 0; i <= kSigmaMaxSelections; ++i) many += "  s" + std::to_string(i) + ":\n    User: x\n";
  SigmaError e = Refused(Rule(many + "  condition: 1 of them\n"));
  EXPECT_NE(e.reason.find("more than 32 selections"), std::string::npos) << e.ToString();
  std::string values = "  s:\n    User:\n";
  for (size_t i = 0; i <= kSigmaMaxValues; ++i) values += "      - v" + std::to_string(i) + "\n";
  e = Refused(Rule(values + "  condition: s\n"));
  EXPECT_NE(e.reason.find("65 values, at most 64"), std::string::npos) << e.ToString();
  e = Refused(std::string(kSigmaMaxRuleFileBytes + 1, '#'));
  EXPECT_NE(e.reason.find("larger than"), std::string::npos) << e.ToString();
}

// ---- the store ----

class SigmaStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sigma_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "alpha");
    fs::create_directories(dir_ / "bravo");
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Write(const std::string& rel, const std::string& text) {
    std::ofstream(dir_ / rel, std::ios::binary | std::ios::trunc) << text;
  }
  static std::string UserRule(const std::string& id, const std::string& user) {
    return "title: user " + user + "\nid: " + id +
           "\ntags: [attack.t1078]\nlogsource: {product: dsmil}\ndetection:\n  s:\n    User: " + user +
           "\n  condition: s\n";
  }

  fs::path dir_;
};

TEST_F(SigmaStoreTest, TenantsNeverSeeEachOthersRules) {
  Write("alpha/a.yml", UserRule("alpha-only", "mallory"));
  Write("bravo/b.yml", UserRule("bravo-only", "trent"));
  SigmaRuleStore store(dir_.string(), Fields());
  SocEvent e = Event();
  e.features.user = "mallory";
  auto m = store.Match("ALPHA", e);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].id, "alpha-only");
  EXPECT_EQ(m[0].attack_tags, std::vector<std::string>{"attack.t1078"});
  e.tenant = "BRAVO";
  EXPECT_TRUE(store.Match("BRAVO", e).empty());  // ALPHA's rule never fires for BRAVO
  e.features.user = "trent";
  ASSERT_EQ(store.Match("BRAVO", e).size(), 1u);
  EXPECT_TRUE(store.Match("ALPHA", e).empty());  // the event names BRAVO
  e.tenant = "ALPHA";
  EXPECT_TRUE(store.Match("ALPHA", e).empty());
  // Invalid or reserved ids and path tricks get no rules at all.
  EXPECT_EQ(store.Rules("../alpha")->size(), 0u);
  EXPECT_EQ(store.Rules("alpha")->size(), 0u);
  EXPECT_EQ(store.Rules("SYSTEM")->size(), 0u);
  EXPECT_EQ(store.Rules("CHARLIE")->size(), 0u);
  EXPECT_EQ(store.DirFor("ALPHA"), (dir_ / "alpha").string());
}

TEST_F(SigmaStoreTest, OneBadFileDoesNotStopTheOthers) {
  Write("alpha/1.yml", UserRule("one", "a"));
  Write("alpha/2.yaml", UserRule("two", "b"));
  Write("alpha/3.yml",
        "title: broken\nlogsource: {product: dsmil}\ndetection:\n  s:\n    User|nope: x\n  condition: s\n");
  Write("alpha/4.yml", UserRule("one", "dup"));
  Write("alpha/notes.txt", "not a rule");
  Write("alpha/.hidden.yml", "::: not yaml");
  SigmaRuleStore store(dir_.string(), Fields());
  auto set = store.Rules("ALPHA");
  EXPECT_EQ(set->size(), 2u);
  auto errors = store.Errors("ALPHA");
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].file, (dir_ / "alpha/3.yml").string());
  EXPECT_EQ(errors[0].line, 5);
  EXPECT_NE(errors[0].reason.find("unknown modifier 'nope'"), std::string::npos);
  EXPECT_EQ(errors[1].file, (dir_ / "alpha/4.yml").string());
  EXPECT_NE(errors[1].reason.find("duplicate rule id 'one'"), std::string::npos) << errors[1].ToString();
  // The same through the stateless loader.
  SigmaRuleSet direct = LoadSigmaDirectory((dir_ / "alpha").string(), Fields());
  EXPECT_EQ(direct.size(), 2u);
  EXPECT_EQ(direct.errors().size(), 2u);
}

TEST_F(SigmaStoreTest, HotReload) {
  Write("alpha/r.yml", UserRule("r", "alice"));
  SigmaRuleStore store(dir_.string(), Fields(), std::chrono::milliseconds(0));
  SocEvent e = Event();
  e.features.user = "alice";
  EXPECT_EQ(store.Match("ALPHA", e).size(), 1u);
  auto before = store.Rules("ALPHA");
  EXPECT_EQ(store.Rules("ALPHA"), before);  // nothing changed: the same set

  Write("alpha/r.yml", UserRule("r", "bob-the-admin"));  // another size, so a change even within one mtime tick
  EXPECT_TRUE(store.Match("ALPHA", e).empty());
  e.features.user = "bob-the-admin";
  EXPECT_EQ(store.Match("ALPHA", e).size(), 1u);

  // A broken edit keeps the last good version in force and is reported.
  Write("alpha/r.yml", "title: r\nlogsource: {product: dsmil}\ndetection:\n  condition: nothing\n");
  EXPECT_EQ(store.Match("ALPHA", e).size(), 1u);
  ASSERT_EQ(store.Errors("ALPHA").size(), 1u);
  EXPECT_NE(store.Errors("ALPHA")[0].reason.find("undefined selection 'nothing'"), std::string::npos);

  // A new file is picked up, a removed one dropped.
  Write("alpha/s.yml", UserRule("s", "carol"));
  e.features.user = "carol";
  EXPECT_EQ(store.Match("ALPHA", e).size(), 1u);
  fs::remove(dir_ / "alpha/s.yml");
  fs::remove(dir_ / "alpha/r.yml");
  EXPECT_TRUE(store.Match("ALPHA", e).empty());
  EXPECT_TRUE(store.Errors("ALPHA").empty());
}

TEST_F(SigmaStoreTest, ChecksAtMostOncePerPollInterval) {
  Write("alpha/r.yml", UserRule("r", "alice"));
  SigmaRuleStore store(dir_.string(), Fields(), std::chrono::hours(1));
  EXPECT_EQ(store.Rules("ALPHA")->size(), 1u);
  Write("alpha/s.yml", UserRule("s", "bob"));
  EXPECT_EQ(store.Rules("ALPHA")->size(), 1u);  // not re-read within the interval
}

TEST_F(SigmaStoreTest, MatchJson) {
  Write("alpha/r.yml", UserRule("r", "alice"));
  SigmaRuleStore store(dir_.string(), Fields());
  auto m = store.MatchJson("ALPHA", R"({"event_id":"f47ac10b-58cc-4372-a567-0e02b2c3d479","ts_ms":1764245000000,
      "source":"s","features":{"user":"Alice"}})");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->size(), 1u);
  EXPECT_FALSE(store.MatchJson("ALPHA", "{").ok());
}

// ---- the shipped rules ----

TEST(SigmaStarterRules, LoadCleanAndFire) {
  SigmaRuleStore store(DSMIL_SOURCE_DIR "/deploy/sigma/rules", Fields());
  for (const std::string tenant : {"ALPHA", "BRAVO"}) {
    auto set = store.Rules(tenant);
    EXPECT_GE(set->size(), 7u) << tenant;
    for (const auto& err : set->errors()) ADD_FAILURE() << err.ToString();
    for (const auto& r : set->rules()) {
      EXPECT_FALSE(r->AttackTags().empty()) << r->file;
      EXPECT_FALSE(r->title.empty()) << r->file;
    }
  }
  auto fired = [&](const SocEvent& e) {
    std::set<std::string> titles;
    for (const auto& m : store.Match(e.tenant, e)) titles.insert(m.title);
    return titles;
  };
  auto has = [](const std::set<std::string>& s, const std::string& needle) {
    for (const auto& t : s) {
      if (t.find(needle) != std::string::npos) return true;
    }
    return false;
  };

  SocEvent quiet = Event();
  quiet.features.user = "alice";
  quiet.features.login_hour = 10;
  quiet.features.dst_port = 443;
  quiet.features.bytes_out = 50'000'000;
  quiet.features.tls_version = "1.3";
  quiet.features.dst_domain = "www.example.com";
  EXPECT_TRUE(fired(quiet).empty()) << *fired(quiet).begin();

  SocEvent brute = Event();
  brute.features.failed_logins = 25;
  EXPECT_TRUE(has(fired(brute), "Brute force"));
  brute.features.failed_logins = 3;
  EXPECT_FALSE(has(fired(brute), "Brute force"));

  SocEvent exfil = Event();
  exfil.features.bytes_out = 52'000'000;
  exfil.features.dst_port = 4444;
  EXPECT_TRUE(has(fired(exfil), "Exfiltration"));
  exfil.features.dst_port = 443;
  EXPECT_FALSE(has(fired(exfil), "Exfiltration"));

  SocEvent scan = Event();
  scan.features.distinct_ports = 1000;
  EXPECT_TRUE(has(fired(scan), "Port scan"));

  SocEvent tls = Event();
  tls.features.tls_version = "TLSv1.1";
  EXPECT_TRUE(has(fired(tls), "Deprecated TLS"));

  SocEvent ioc = Event();
  ioc.features.dst_domain = "cdn-update.example";
  EXPECT_TRUE(has(fired(ioc), "destination domain"));
  ioc.features.dst_domain = "payload.top";
  EXPECT_TRUE(has(fired(ioc), "destination domain"));
  ioc.features.dst_domain = "cdn-update.microsoft.com";
  EXPECT_FALSE(has(fired(ioc), "destination domain"));

  SocEvent admin = Event();
  admin.features.user = "Administrator";
  admin.features.login_hour = 3;
  EXPECT_TRUE(has(fired(admin), "outside working hours"));
  admin.features.login_hour = 14;
  EXPECT_FALSE(has(fired(admin), "outside working hours"));

  SocEvent enclave = Event();
  enclave.tenant = "BRAVO";
  enclave.features.enclave_attestation = "failed";
  auto m = store.Match("BRAVO", enclave);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].level, SigmaLevel::kCritical);
}

}  // namespace
}  // namespace dsmil::soc
