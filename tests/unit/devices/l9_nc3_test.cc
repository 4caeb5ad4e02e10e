// Device 61 (NC3 Integration): red-team drills 5 and 6 of spec §9.2 and every
// refusal of docs/l9.md, each with its reason, its audit row and its count.
#include "devices/l9/nc3.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "core/clock.h"
#include "core/metrics.h"
#include "crypto/keyfile.h"
#include "crypto/mldsa.h"
#include "devices/l9/nc3_request.h"
#include "store/archive.h"
#include "store/audit_sink.h"
#include "store/scope.h"
#include "support/clock_util.h"
#include "tenant/operators.h"
#include "tenant/roe.h"

namespace dsmil::devices::l9 {
namespace {

constexpr int64_t kNowMs = 1764245000000;  // the device's clock in these tests
constexpr int64_t kNowS = kNowMs / 1000;

struct Operator {
  std::string name;
  crypto::MlDsa87KeyPair keys;
};

class Nc3Test : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dsmil-l9-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    stores_.path = dir_;
    auto pub = tenant::EnsureRoeKeyPair(tenant::RoeKeyPrefix(stores_));
    ASSERT_TRUE(pub.ok()) << pub.status().ToString();
    auto key = crypto::ReadPrivateKey(tenant::RoeKeyPrefix(stores_) + ".key", crypto::KeyAlg::kMlDsa87);
    ASSERT_TRUE(key.ok()) << key.status().ToString();
    roe_secret_.assign(key->key.begin(), key->key.end());
    auto roe = tenant::RoeTokenStore::Open(tenant::RoeTokenFile(stores_));
    ASSERT_TRUE(roe.ok());
    roe_ = std::move(*roe);
    auto ops = tenant::OperatorRegistry::Open(tenant::OperatorFile(stores_));
    ASSERT_TRUE(ops.ok());
    ops_ = std::move(*ops);
    for (const char* name : {"alice", "bob", "carol", "mallory"}) {
      auto kp = crypto::MlDsa87KeyGen();
      ASSERT_TRUE(kp.ok());
      op_[name] = Operator{name, std::move(*kp)};
      if (std::string(name) != "mallory") {
        ASSERT_TRUE(ops_->Register(name, op_[name].keys.public_key, kNowS).ok());
      }
    }
    audit_ = std::make_unique<store::AuditSink>(stores_, &metrics_);
    DeviceContext ctx{61, "", "node-a"};
    ctx.stores = stores_;
    ctx.tenants = {{"ALPHA", "SOC_ASSIST", {}}, {"BRAVO", "ANALYSIS_ONLY", {}}};
    ctx.audit = audit_.get();
    ctx.metrics = &metrics_;
    ctx_ = ctx;
    Nc3Options o;
    o.now_ms = dsmil::testing::NowMsOf(clock_);
    dev_ = std::make_unique<Nc3Device>(ctx, o);
    ASSERT_TRUE(dev_->Start().ok());
  }
  void TearDown() override {
    dev_.reset();
    audit_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string Token(const std::string& tenant = "ALPHA", const std::string& scope = "nc3", int64_t issued_s = kNowS,
                    int64_t ttl_s = 900) {
    auto t = roe_->Issue(tenant, scope, ttl_s, "CN=roe-officer", roe_secret_, issued_s);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? t->id : "";
  }

  dbe::Message Request(const std::string& token, const std::string& rid = "nc3-0001", int64_t ts_ms = kNowMs,
                       const std::string& tenant = "ALPHA") {
    return MakeNc3Request(tenant, token, rid, ts_ms, "status");
  }

  Nc3Signature Sign(const dbe::Message& m, const std::string& key_of, const std::string& name = "") {
    auto sig = SignNc3Request(m, op_[key_of].keys.secret_key);
    EXPECT_TRUE(sig.ok());
    return Nc3Signature{0, name.empty() ? key_of : name, sig.ok() ? *sig : Bytes()};
  }

  dbe::Message Signed(dbe::Message m, std::initializer_list<const char*> signers) {
    std::vector<Nc3Signature> sigs;
    for (const char* s : signers) sigs.push_back(Sign(m, s));
    EXPECT_TRUE(AttachNc3Signatures(m, sigs).ok());
    return m;
  }

  dbe::Message Send(const dbe::Message& m) {
    // Through the wire form, as a node delivers it.
    auto frame = dbe::Encode(m);
    EXPECT_TRUE(frame.ok()) << frame.status().ToString();
    auto decoded = dbe::Decode(*frame);
    EXPECT_TRUE(decoded.ok());
    auto reply = dev_->Handle(*decoded);
    EXPECT_TRUE(reply.ok()) << reply.status().ToString();
    return reply.ok() ? std::move(*reply) : dbe::Message();
  }

  std::vector<store::AuditRow> Audit(const std::string& tenant) {
    auto scope = store::TenantScope::For(tenant);
    auto archive = store::OpenArchive(stores_, *scope);
    EXPECT_TRUE(archive.ok()) << archive.status().ToString();
    if (!archive.ok()) return {};
    auto rows = (*archive)->ReadAudit();
    return rows.ok() ? *rows : std::vector<store::AuditRow>{};
  }

  double Count(const std::string& tenant, const std::string& outcome) {
    std::string text = metrics_.Expose();
    std::string series = "dsmil_nc3_queries_total{tenant_id=\"" + tenant + "\",outcome=\"" + outcome + "\"} ";
    size_t at = text.find(series);
    return at == std::string::npos ? 0 : std::stod(text.substr(at + series.size()));
  }

  // The reply is an ERROR naming `reason`, the tenant's chain gained one row
  // for it and the metric counted it.
  void ExpectRefused(const dbe::Message& reply, const std::string& reason, const std::string& tenant = "ALPHA",
                     const std::string& event_type = "AUTH_FAILED") {
    ASSERT_EQ(reply.type(), dbe::MsgType::kError) << dbe::ToDebugString(reply);
    EXPECT_EQ(reply.GetU16(dbe::TlvType::kErrorCode).value(), uint16_t(StatusCode::kPermissionDenied));
    EXPECT_EQ(reply.GetString(dbe::TlvType::kErrorReason).value(), reason) << dbe::ToDebugString(reply);
    EXPECT_EQ(reply.tenant_id(), tenant);
    auto rows = Audit(tenant);
    ASSERT_FALSE(rows.empty()) << "no audit row for " << reason;
    const store::AuditRow& last = rows.back();
    EXPECT_EQ(last.event_type, event_type);
    EXPECT_TRUE(last.detail.find("\"reason\":\"" + reason + "\"") != std::string::npos ||
                last.detail.find("\"reason\": \"" + reason + "\"") != std::string::npos)
        << last.detail;
    EXPECT_NE(last.detail.find("dbe:device61"), std::string::npos) << last.detail;
    EXPECT_GE(Count(tenant, reason), 1.0);
  }

  std::string dir_;
  store::StoresConfig stores_;
  Bytes roe_secret_;
  std::unique_ptr<tenant::RoeTokenStore> roe_;
  std::unique_ptr<tenant::OperatorRegistry> ops_;
  std::map<std::string, Operator> op_;
  Registry metrics_;
  std::unique_ptr<store::AuditSink> audit_;
  DeviceContext ctx_;
  FakeClock clock_{dsmil::testing::MillisToNanos(kNowMs)};  // read by the device through now_ms
  std::unique_ptr<Nc3Device> dev_;
};

TEST_F(Nc3Test, Drill5NoRoeTokenIsInvalidRoeToken) {
  ExpectRefused(Send(Signed(Request(""), {"alice", "bob"})), "INVALID_ROE_TOKEN");
}

TEST_F(Nc3Test, Drill5HoldsForTheRegisteredDeviceWithoutStores) {
  RegisterBuiltinDevices();
  EXPECT_TRUE(IsImplemented(61));
  for (int id : {59, 60, 62}) EXPECT_TRUE(IsImplemented(id)) << id;
  auto dev = CreateDevice({61, "", "node-a"});
  ASSERT_TRUE(dev.ok());
  dbe::Message q(dbe::MsgType::kL9Nc3Query);
  q.header().src_device = 43;
  q.header().dst_device = 61;
  q.SetString(dbe::TlvType::kTenantId, "ALPHA").SetString(dbe::TlvType::kRequestId, "drill-5");
  auto reply = (*dev)->Handle(q);
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->type(), dbe::MsgType::kError);
  EXPECT_EQ(reply->GetString(dbe::TlvType::kErrorReason).value(), "INVALID_ROE_TOKEN");
  EXPECT_EQ(reply->header().src_device, 61);
  EXPECT_EQ(reply->header().dst_device, 43);
  // A token id with no registry behind it is no better.
  q.SetString(dbe::TlvType::kRoeTokenId, "ROE-DSMILCTL-TEST");
  reply = (*dev)->Handle(q);
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->GetString(dbe::TlvType::kErrorReason).value(), "INVALID_ROE_TOKEN");
}

TEST_F(Nc3Test, UnknownForgedExpiredRevokedOtherTenantAndWrongScopeTokensAreRefused) {
  ExpectRefused(Send(Signed(Request("roe-0000000000000000"), {"alice", "bob"})), "INVALID_ROE_TOKEN");

  auto forged = roe_->Issue("ALPHA", "nc3", 900, "CN=forger", op_["mallory"].keys.secret_key, kNowS);
  ASSERT_TRUE(forged.ok());
  ExpectRefused(Send(Signed(Request(forged->id), {"alice", "bob"})), "INVALID_ROE_TOKEN");

  std::string expired = Token("ALPHA", "nc3", kNowS - 3600, 900);
  ExpectRefused(Send(Signed(Request(expired), {"alice", "bob"})), "INVALID_ROE_TOKEN");

  std::string revoked = Token();
  ASSERT_TRUE(roe_->Revoke(revoked, kNowS).ok());
  ExpectRefused(Send(Signed(Request(revoked), {"alice", "bob"})), "INVALID_ROE_TOKEN");

  std::string bravo = Token("BRAVO");
  ExpectRefused(Send(Signed(Request(bravo), {"alice", "bob"})), "INVALID_ROE_TOKEN", "ALPHA", "TENANT_ESCAPE_ATTEMPT");

  std::string coa = Token("ALPHA", "coa");
  ExpectRefused(Send(Signed(Request(coa), {"alice", "bob"})), "INVALID_ROE_TOKEN");
  EXPECT_EQ(Count("ALPHA", "INVALID_ROE_TOKEN"), 6.0);
  EXPECT_EQ(Count("ALPHA", "ACCEPTED"), 0.0);
}

TEST_F(Nc3Test, Drill6OneSignatureIsMissingTwoPersonSignatures) {
  std::string token = Token();
  ExpectRefused(Send(Signed(Request(token), {"alice"})), "MISSING_TWO_PERSON_SIGNATURES");
  ExpectRefused(Send(Request(token, "nc3-0002")), "MISSING_TWO_PERSON_SIGNATURES");
  // TWO_PERSON_SIG_A alone, no signer and no TWO_PERSON_SIG_B, as the drill crafts it.
  dbe::Message m = Request(token, "nc3-0003");
  m.SetBytes(dbe::TlvType::kTwoPersonSigA, Sign(m, "alice").signature);
  ExpectRefused(Send(m), "MISSING_TWO_PERSON_SIGNATURES");
}

TEST_F(Nc3Test, SameOperatorTwiceIsDuplicateSigner) {
  ExpectRefused(Send(Signed(Request(Token()), {"alice", "alice"})), "DUPLICATE_SIGNER");
}

TEST_F(Nc3Test, UnregisteredKeyIsUnknownSigner) {
  ExpectRefused(Send(Signed(Request(Token()), {"alice", "mallory"})), "UNKNOWN_SIGNER");
}

TEST_F(Nc3Test, SignatureUnderAnotherOperatorsNameIsBadSignature) {
  dbe::Message m = Request(Token());
  ASSERT_TRUE(AttachNc3Signatures(m, {Sign(m, "alice"), Sign(m, "mallory", "bob")}).ok());
  ExpectRefused(Send(m), "BAD_SIGNATURE");
}

TEST_F(Nc3Test, SignatureOverAnotherRequestIsBadSignature) {
  std::string token = Token();
  dbe::Message m = Request(token, "nc3-0001");
  dbe::Message other = Request(token, "nc3-0999");
  ASSERT_TRUE(AttachNc3Signatures(m, {Sign(m, "alice"), Sign(other, "bob")}).ok());
  ExpectRefused(Send(m), "BAD_SIGNATURE");
}

TEST_F(Nc3Test, BitFlippedSignatureIsBadSignature) {
  dbe::Message m = Request(Token());
  Nc3Signature b = Sign(m, "bob");
  b.signature[100] ^= 0x01;
  ASSERT_TRUE(AttachNc3Signatures(m, {Sign(m, "alice"), b}).ok());
  ExpectRefused(Send(m), "BAD_SIGNATURE");
}

TEST_F(Nc3Test, ChangedPayloadAfterSigningIsBadSignature) {
  dbe::Message m = Signed(Request(Token()), {"alice", "bob"});
  m.SetString(dbe::TlvType::kPayload, "{\"query\":\"launch\"}");
  ExpectRefused(Send(m), "BAD_SIGNATURE");
}

TEST_F(Nc3Test, ThreeSignaturesWithOneBadAreRefused) {
  dbe::Message m = Request(Token());
  Nc3Signature c = Sign(m, "carol");
  c.signature[7] ^= 0x80;
  ASSERT_TRUE(AttachNc3Signatures(m, {Sign(m, "alice"), Sign(m, "bob"), c}).ok());
  ExpectRefused(Send(m), "BAD_SIGNATURE");
  EXPECT_EQ(Count("ALPHA", "ACCEPTED"), 0.0);
}

TEST_F(Nc3Test, ReplayedRequestIdIsRefused) {
  std::string token = Token();
  dbe::Message m = Signed(Request(token), {"alice", "bob"});
  EXPECT_EQ(Send(m).type(), dbe::MsgType::kL9Nc3Resp);
  ExpectRefused(Send(m), "REPLAYED_REQUEST");
  // Freshly signed, but the same REQUEST_ID.
  clock_.Advance(std::chrono::milliseconds(5000));
  ExpectRefused(Send(Signed(Request(token, "nc3-0001", dsmil::testing::UnixMillis(clock_)), {"bob", "carol"})),
                "REPLAYED_REQUEST");
}

TEST_F(Nc3Test, ReplayIsRefusedAfterARestartToo) {
  dbe::Message m = Signed(Request(Token()), {"alice", "bob"});
  EXPECT_EQ(Send(m).type(), dbe::MsgType::kL9Nc3Resp);
  dev_->Stop();
  Nc3Options o;
  o.now_ms = dsmil::testing::NowMsOf(clock_);
  dev_ = std::make_unique<Nc3Device>(ctx_, o);
  ASSERT_TRUE(dev_->Start().ok());
  clock_.Advance(std::chrono::milliseconds(10000));
  ExpectRefused(Send(m), "REPLAYED_REQUEST");
}

TEST_F(Nc3Test, StaleOrFutureTimestampIsReplayedRequest) {
  std::string token = Token();
  ExpectRefused(Send(Signed(Request(token, "nc3-0001", kNowMs - 121000), {"alice", "bob"})), "REPLAYED_REQUEST");
  ExpectRefused(Send(Signed(Request(token, "nc3-0002", kNowMs + 121000), {"alice", "bob"})), "REPLAYED_REQUEST");
  dbe::Message no_ts = Request(token, "nc3-0003");
  no_ts.Remove(dbe::TlvType::kTimestamp);
  ExpectRefused(Send(Signed(no_ts, {"alice", "bob"})), "REPLAYED_REQUEST");
  // Within the window: accepted.
  EXPECT_EQ(Send(Signed(Request(token, "nc3-0004", kNowMs - 119000), {"alice", "bob"})).type(),
            dbe::MsgType::kL9Nc3Resp);
}

TEST_F(Nc3Test, ValidTwoPersonRequestIsAnsweredWithTheAuthorizationRecord) {
  std::string token = Token();
  dbe::Message m = Signed(Request(token), {"alice", "bob"});
  // In transit the node replaces the claim and the transport fields change:
  // the signatures still hold.
  m.SetBytes(dbe::TlvType::kL7ClaimToken, AsBytes("operator-claim-issued-by-the-node"));
  m.header().src_device = 43;
  m.header().sequence = 77;
  m.header().timestamp_ns = uint64_t(kNowMs) * 1000000;
  dbe::Message reply = Send(m);
  ASSERT_EQ(reply.type(), dbe::MsgType::kL9Nc3Resp) << dbe::ToDebugString(reply);
  EXPECT_EQ(reply.tenant_id(), "ALPHA");
  EXPECT_EQ(reply.GetString(dbe::TlvType::kRequestId).value(), "nc3-0001");
  std::string body(AsString(reply.GetBytes(dbe::TlvType::kPayload).value()));
  EXPECT_NE(body.find("\"roe_token_id\":\"" + token + "\""), std::string::npos) << body;
  EXPECT_NE(body.find("\"signers\":[\"alice\",\"bob\"]"), std::string::npos) << body;
  EXPECT_NE(body.find("\"nc3_link\":\"NOT_CONNECTED\""), std::string::npos) << body;
  EXPECT_NE(body.find("\"operational_data\":false"), std::string::npos) << body;
  auto rows = Audit("ALPHA");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].event_type, "NC3_QUERY_AUTHORIZED");
  EXPECT_NE(rows[0].detail.find(token), std::string::npos);
  EXPECT_EQ(Count("ALPHA", "ACCEPTED"), 1.0);

  // Three valid signatures are accepted too.
  EXPECT_EQ(Send(Signed(Request(token, "nc3-0002"), {"carol", "alice", "bob"})).type(), dbe::MsgType::kL9Nc3Resp);
}

TEST_F(Nc3Test, OperatorRemovedFromTheRegistryNoLongerSigns) {
  ASSERT_TRUE(ops_->Remove("bob", kNowS).ok());
  ExpectRefused(Send(Signed(Request(Token()), {"alice", "bob"})), "UNKNOWN_SIGNER");
}

TEST(Nc3Request, SignatureFileRoundTripAndRefusals) {
  Nc3Signature s{0, "alice", Bytes(crypto::kMlDsa87SignatureBytes, 0x5A)};
  auto back = ParseNc3SignatureFile(FormatNc3SignatureFile(s));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->signer, "alice");
  EXPECT_EQ(back->signature, s.signature);
  EXPECT_FALSE(ParseNc3SignatureFile("").ok());
  EXPECT_FALSE(ParseNc3SignatureFile("DSMIL-NC3-SIG-v1\nbad name\n00\n").ok());
  EXPECT_FALSE(ParseNc3SignatureFile("DSMIL-NC3-SIG-v1\nalice\n0011\n").ok());
  dbe::Message m = MakeNc3Request("ALPHA", "roe-1", "r-1", kNowMs, "status");
  EXPECT_FALSE(AttachNc3Signatures(m, {s, s, s, s}).ok());
}

}  // namespace
}  // namespace dsmil::devices::l9
