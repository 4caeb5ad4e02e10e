#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>

#include "dbe/message.h"

namespace dsmil::dbe {
namespace {

// A valid message of any registered type: the mandatory TLVs and a few more.
Message ValidMessage(MsgType type) {
  Message m(type);
  m.header().src_device = 43;
  m.header().dst_device = 47;
  m.header().sequence = 0x0102030405060708ull;
  m.header().timestamp_ns = 1764240000123456789ull;
  m.SetString(TlvType::kTenantId, "ALPHA");
  const MsgSpec* spec = FindMsgSpec(uint8_t(type));
  if (spec->kind != MsgKind::kEvent) m.SetString(TlvType::kRequestId, "req-0001");
  for (TlvType t : spec->required) {
    switch (t) {
      case TlvType::kPayload:
        m.SetString(t, R"({"prompt":"hello"})");
        break;
      case TlvType::kEventId:
        m.SetString(t, "evt-42");
        break;
      case TlvType::kEmbedding: {
        uint8_t v[8] = {0x3F, 0x80, 0, 0, 0xBF, 0x80, 0, 0};  // 1.0, -1.0
        m.SetBytes(t, v);
        break;
      }
      case TlvType::kErrorCode:
        m.SetU16(t, uint16_t(StatusCode::kPermissionDenied));
        break;
      case TlvType::kErrorReason:
        m.SetString(t, "INVALID_ROE_TOKEN");
        break;
      default:
        ADD_FAILURE() << "no sample for " << TlvTypeName(t);
    }
  }
  m.SetU8(TlvType::kClassification, uint8_t(Classification::kSecret));
  m.SetU64(TlvType::kCompartmentMask, kCompartmentSoc | kCompartmentSignals);
  return m;
}

Bytes ChatFrame() { return Encode(ValidMessage(MsgType::kL7ChatReq)).value(); }

// Expects `frame` refused with `code` and a message containing `needle`.
void ExpectRefused(const Bytes& frame, StatusCode code, const std::string& needle) {
  Result<MessageView> r = DecodeView(frame);
  ASSERT_FALSE(r.ok()) << "frame was accepted; wanted: " << needle;
  EXPECT_EQ(r.status().code(), code) << r.status().ToString();
  EXPECT_NE(r.status().message().find(needle), std::string::npos)
      << "message '" << r.status().message() << "' lacks '" << needle << "'";
  EXPECT_FALSE(Decode(frame).ok());
}

// Appends one raw TLV and fixes the header's payload length.
void AppendTlv(Bytes& frame, uint16_t type, ByteView value) {
  AppendU16BE(frame, type);
  AppendU32BE(frame, uint32_t(value.size()));
  frame.insert(frame.end(), value.begin(), value.end());
  PutU32BE(frame.data() + kOffPayloadLength, uint32_t(frame.size() - kHeaderSize));
}

TEST(DbeCodec, HeaderLayout) {
  Bytes f = ChatFrame();
  ASSERT_GE(f.size(), kHeaderSize);
  EXPECT_EQ(f[0], 'D');
  EXPECT_EQ(f[1], 'B');
  EXPECT_EQ(f[2], 'E');
  EXPECT_EQ(f[3], 0x1A);
  EXPECT_EQ(f[kOffVersion], 1);
  EXPECT_EQ(f[kOffMsgType], 0x41);
  EXPECT_EQ(GetU16BE(&f[kOffSrcDevice]), 43);
  EXPECT_EQ(GetU16BE(&f[kOffDstDevice]), 47);
  EXPECT_EQ(GetU64BE(&f[kOffSequence]), 0x0102030405060708ull);
  EXPECT_EQ(GetU32BE(&f[kOffPayloadLength]), f.size() - kHeaderSize);
  // First TLV is TENANT_ID (ascending order), length 5.
  EXPECT_EQ(GetU16BE(&f[kHeaderSize]), 0x0001);
  EXPECT_EQ(GetU32BE(&f[kHeaderSize + 2]), 5u);
  EXPECT_EQ(AsString(ByteView(&f[kHeaderSize + 6], 5)), "ALPHA");
}

TEST(DbeCodec, EveryMessageTypeRoundTrips) {
  for (const MsgSpec& spec : AllMsgSpecs()) {
    SCOPED_TRACE(std::string(spec.name));
    Message m = ValidMessage(spec.type);
    if (spec.kind == MsgKind::kResponse && spec.type != MsgType::kError) {
      m.header().flags = kFlagMore;
    }
    Result<Bytes> enc = Encode(m);
    ASSERT_TRUE(enc.ok()) << enc.status().ToString();
    Result<Message> dec = Decode(*enc);
    ASSERT_TRUE(dec.ok()) << dec.status().ToString();
    EXPECT_EQ(dec->header(), m.header());
    ASSERT_EQ(dec->tlv_count(), m.tlv_count());
    for (size_t i = 0; i < m.tlv_count(); ++i) {
      EXPECT_EQ(dec->tlv(i).type, m.tlv(i).type);
      EXPECT_EQ(AsString(dec->tlv(i).value), AsString(m.tlv(i).value));
    }
    EXPECT_EQ(dec->tenant_id(), "ALPHA");
    Result<Bytes> again = Encode(*dec);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, *enc) << "re-encoding is byte-identical";
    Result<MessageView> view = DecodeView(*enc);
    ASSERT_TRUE(view.ok());
    EXPECT_EQ(view->frame_size(), enc->size());
    EXPECT_EQ(view->type(), spec.type);
  }
}

TEST(DbeCodec, TypedAccessors) {
  Message m = ValidMessage(MsgType::kL9Nc3Query);
  m.SetString(TlvType::kRoeLevel, "SOC_ASSIST");
  m.SetString(TlvType::kRoeTokenId, "roe-7731");
  m.SetU32(TlvType::kMaxTokens, 256);
  Bytes f = Encode(m).value();
  MessageView v = DecodeView(f).value();
  EXPECT_EQ(v.tenant_id(), "ALPHA");
  EXPECT_EQ(v.GetString(TlvType::kRoeLevel).value(), "SOC_ASSIST");
  EXPECT_EQ(v.GetString(TlvType::kRoeTokenId).value(), "roe-7731");
  EXPECT_EQ(v.GetU32(TlvType::kMaxTokens).value(), 256u);
  EXPECT_EQ(v.GetU8(TlvType::kClassification).value(), uint8_t(Classification::kSecret));
  EXPECT_EQ(v.GetU64(TlvType::kCompartmentMask).value(), 0x03u);
  EXPECT_TRUE(v.Has(TlvType::kRoeTokenId));
  EXPECT_FALSE(v.Has(TlvType::kTwoPersonSigA));
  Result<ByteView> missing = v.GetBytes(TlvType::kTwoPersonSigA);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("TWO_PERSON_SIG_A"), std::string::npos);
  // Wrong accessor for the registered kind.
  EXPECT_EQ(v.GetU64(TlvType::kTenantId).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(v.GetString(TlvType::kMaxTokens).status().code(), StatusCode::kInvalidArgument);
  // The owning message answers the same.
  Message owned = Message::FromView(v);
  EXPECT_EQ(owned.GetString(TlvType::kRoeTokenId).value(), "roe-7731");
  EXPECT_EQ(owned.GetU64(TlvType::kCompartmentMask).value(), 0x03u);
}

TEST(DbeCodec, SettersReplaceAndRemove) {
  Message m = ValidMessage(MsgType::kL7ChatReq);
  m.SetString(TlvType::kModel, "llama-7b");
  m.SetString(TlvType::kModel, "llama-1b");       // same length: in place
  m.SetString(TlvType::kTenantId, "BRAVO_TEAM");  // new length: moved
  m.SetRaw(0x9001, AsBytes("ext"));
  EXPECT_EQ(m.GetString(TlvType::kModel).value(), "llama-1b");
  EXPECT_EQ(m.tenant_id(), "BRAVO_TEAM");
  EXPECT_TRUE(m.Remove(TlvType::kModel));
  EXPECT_FALSE(m.Remove(TlvType::kModel));
  for (size_t i = 1; i < m.tlv_count(); ++i) EXPECT_LT(m.tlv(i - 1).type, m.tlv(i).type);
  Bytes f = Encode(m).value();
  Message back = Decode(f).value();
  EXPECT_EQ(back.tenant_id(), "BRAVO_TEAM");
  EXPECT_EQ(AsString(*back.Find(0x9001)), "ext");
  // Setting a value from the message's own storage is safe.
  m.SetBytes(TlvType::kUserId, *m.Find(uint16_t(TlvType::kTenantId)));
  EXPECT_EQ(m.GetString(TlvType::kUserId).value(), "BRAVO_TEAM");
}

TEST(DbeCodec, ReplacingValuesDoesNotGrowWithoutBound) {
  Message m = ValidMessage(MsgType::kL7ChatResp);
  for (int i = 0; i < 2000; ++i) {
    m.SetString(TlvType::kPayload, std::string(size_t(100 + i % 50), char('a' + i % 26)));
    m.SetString(TlvType::kModel, "model-" + std::to_string(i));
  }
  EXPECT_EQ(m.GetString(TlvType::kModel).value(), "model-1999");
  EXPECT_EQ(m.GetString(TlvType::kPayload).value(), std::string(100 + 1999 % 50, char('a' + 1999 % 26)));
  EXPECT_EQ(m.tenant_id(), "ALPHA");
  Result<Bytes> enc = Encode(m);
  ASSERT_TRUE(enc.ok());
  EXPECT_LT(enc->size(), 1024u);
  Message back = Decode(*enc).value();
  EXPECT_EQ(back.GetString(TlvType::kModel).value(), "model-1999");
}

TEST(DbeCodec, EncodeIsDeterministicWhateverTheSetterOrder) {
  Message a(MsgType::kL7ChatReq), b(MsgType::kL7ChatReq);
  a.SetString(TlvType::kTenantId, "ALPHA")
      .SetString(TlvType::kRequestId, "r1")
      .SetString(TlvType::kModel, "m")
      .SetString(TlvType::kPayload, "{}");
  b.SetString(TlvType::kPayload, "{}")
      .SetString(TlvType::kModel, "m")
      .SetString(TlvType::kRequestId, "r1")
      .SetString(TlvType::kTenantId, "ALPHA");
  EXPECT_EQ(Encode(a).value(), Encode(b).value());
  EXPECT_EQ(Encode(a).value(), Encode(a).value());
  Bytes appended = {9, 9};
  ASSERT_TRUE(EncodeTo(a, &appended).ok());
  EXPECT_EQ(appended.size(), 2 + EncodedSize(a));
  EXPECT_EQ(Bytes(appended.begin() + 2, appended.end()), Encode(a).value());
}

// ---- Malformed frames: each refused with a precise error ----

TEST(DbeCodecMalformed, TruncatedHeader) {
  Bytes f = ChatFrame();
  f.resize(10);
  ExpectRefused(f, StatusCode::kInvalidArgument, "truncated header: 10 bytes, need 32");
  ExpectRefused({}, StatusCode::kInvalidArgument, "truncated header: 0 bytes");
}

TEST(DbeCodecMalformed, BadMagic) {
  Bytes f = ChatFrame();
  f[0] = 'X';
  ExpectRefused(f, StatusCode::kInvalidArgument, "bad magic 0x5842451A");
}

TEST(DbeCodecMalformed, BadVersion) {
  Bytes f = ChatFrame();
  f[kOffVersion] = 2;
  ExpectRefused(f, StatusCode::kInvalidArgument, "unsupported version 2");
}

TEST(DbeCodecMalformed, PayloadLengthPastTheEnd) {
  Bytes f = ChatFrame();
  f.pop_back();
  ExpectRefused(f, StatusCode::kInvalidArgument, "runs past the end");
}

TEST(DbeCodecMalformed, TrailingBytes) {
  Bytes f = ChatFrame();
  f.push_back(0);
  f.push_back(0);
  ExpectRefused(f, StatusCode::kInvalidArgument, "2 trailing bytes");
}

TEST(DbeCodecMalformed, TlvOverrunsTheFrame) {
  Bytes f = ChatFrame();
  // First TLV (TENANT_ID) claims 900 bytes.
  PutU32BE(&f[kHeaderSize + 2], 900);
  size_t left = f.size() - kHeaderSize - kTlvHeaderSize;
  ExpectRefused(
      f, StatusCode::kInvalidArgument,
      "TLV 0 (TENANT_ID, type 0x0001) overruns the frame: length 900, " + std::to_string(left) + " bytes left");
}

TEST(DbeCodecMalformed, TruncatedTlvHeader) {
  Bytes f = ChatFrame();
  f.insert(f.end(), {0x00, 0x41, 0x00});
  PutU32BE(&f[kOffPayloadLength], uint32_t(f.size() - kHeaderSize));
  ExpectRefused(f, StatusCode::kInvalidArgument, "header truncated: 3 bytes left, need 6");
}

TEST(DbeCodecMalformed, MissingTenantId) {
  Message m = ValidMessage(MsgType::kL7ChatReq);
  m.Remove(TlvType::kTenantId);
  Result<Bytes> enc = Encode(m);
  ASSERT_FALSE(enc.ok());
  EXPECT_NE(enc.status().message().find("missing TENANT_ID"), std::string::npos);
  // The same frame built by hand is refused by the decoder.
  Bytes f = ChatFrame();
  size_t tlv_len = kTlvHeaderSize + 5;
  f.erase(f.begin() + kHeaderSize, f.begin() + kHeaderSize + long(tlv_len));
  PutU32BE(&f[kOffPayloadLength], uint32_t(f.size() - kHeaderSize));
  ExpectRefused(f, StatusCode::kInvalidArgument, "missing TENANT_ID");
}

TEST(DbeCodecMalformed, MissingRequestIdAndTypeSpecificTlvs) {
  Message m = ValidMessage(MsgType::kL7ChatReq);
  m.Remove(TlvType::kRequestId);
  EXPECT_NE(Encode(m).status().message().find("L7_CHAT_REQ lacks REQUEST_ID"), std::string::npos);
  Message e = ValidMessage(MsgType::kError);
  e.Remove(TlvType::kErrorReason);
  EXPECT_NE(Encode(e).status().message().find("ERROR lacks ERROR_REASON"), std::string::npos);
  // An NC3 query without ROE token decodes: the device answers it with an ERROR.
  Message nc3 = ValidMessage(MsgType::kL9Nc3Query);
  EXPECT_TRUE(Decode(Encode(nc3).value()).ok());
}

TEST(DbeCodecMalformed, OversizeFrame) {
  Bytes f = ChatFrame();
  PutU32BE(&f[kOffPayloadLength], uint32_t(kMaxPayloadLength + 1));
  ExpectRefused(f, StatusCode::kResourceExhausted, "exceeds the frame limit of 1048576 bytes");

  Message m = ValidMessage(MsgType::kL7ChatReq);
  m.SetBytes(TlvType::kPayload, Bytes(kMaxFrameSize, 'x'));
  Result<Bytes> enc = Encode(m);
  EXPECT_EQ(enc.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(enc.status().message().find("PAYLOAD"), std::string::npos);

  // Exactly at the limit is fine.
  Message fit = ValidMessage(MsgType::kL7ChatReq);
  fit.SetBytes(TlvType::kPayload, {});
  size_t room = kMaxFrameSize - EncodedSize(fit);
  fit.SetBytes(TlvType::kPayload, Bytes(room, 'x'));
  Result<Bytes> big = Encode(fit);
  ASSERT_TRUE(big.ok()) << big.status().ToString();
  EXPECT_EQ(big->size(), kMaxFrameSize);
  EXPECT_TRUE(DecodeView(*big).ok());
}

TEST(DbeCodecMalformed, TooManyTlvs) {
  Message m = ValidMessage(MsgType::kL7ChatReq);
  for (uint16_t t = 0x8000; m.tlv_count() < kMaxTlvCount; ++t) m.SetRaw(t, {});
  Result<Bytes> at_limit = Encode(m);
  ASSERT_TRUE(at_limit.ok());
  EXPECT_TRUE(DecodeView(*at_limit).ok());
  m.SetRaw(0xF000, {});
  EXPECT_EQ(Encode(m).status().code(), StatusCode::kResourceExhausted);
  Bytes f = *at_limit;
  AppendTlv(f, 0xF000, {});
  ExpectRefused(f, StatusCode::kResourceExhausted, "more than 64 TLVs");
}

TEST(DbeCodecMalformed, NonCanonicalOrderAndDuplicates) {
  Bytes f = ChatFrame();
  AppendTlv(f, 0x0003, AsBytes("late"));  // USER_ID after PAYLOAD (0x0040)
  ExpectRefused(f, StatusCode::kInvalidArgument, "(USER_ID, type 0x0003) is out of order after type 0x0040");
  Bytes g = ChatFrame();
  AppendTlv(g, 0x0040, AsBytes("again"));
  ExpectRefused(g, StatusCode::kInvalidArgument, "(PAYLOAD, type 0x0040) duplicates TLV");
}

TEST(DbeCodecMalformed, UnknownAndIgnorableTlvs) {
  Bytes f = ChatFrame();
  AppendTlv(f, 0x0777, AsBytes("x"));
  ExpectRefused(f, StatusCode::kInvalidArgument, "unknown type outside the ignorable range");
  Bytes g = ChatFrame();
  AppendTlv(g, 0xFFFF, {});
  ExpectRefused(g, StatusCode::kInvalidArgument, "never valid");
  // An ignorable TLV is kept and re-encoded unchanged.
  Bytes h = ChatFrame();
  AppendTlv(h, 0x8123, AsBytes("future"));
  Result<Message> m = Decode(h);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(AsString(*m->Find(0x8123)), "future");
  EXPECT_EQ(Encode(*m).value(), h);
}

TEST(DbeCodecMalformed, WrongValueTypeOrSize) {
  Message m = ValidMessage(MsgType::kL7ChatReq);
  m.SetU32(TlvType::kCompartmentMask, 1);  // u64 written as 4 bytes
  Status s = Encode(m).status();
  EXPECT_NE(s.message().find("COMPARTMENT_MASK"), std::string::npos);
  EXPECT_NE(s.message().find("length 4, want exactly 8"), std::string::npos);

  Message sig = ValidMessage(MsgType::kL9Nc3Query);
  sig.SetBytes(TlvType::kTwoPersonSigA, Bytes(100, 1));
  EXPECT_NE(Encode(sig).status().message().find("length 100, want exactly 4627"), std::string::npos);
  sig.SetBytes(TlvType::kTwoPersonSigA, Bytes(kMlDsa87SignatureSize, 1));
  EXPECT_TRUE(Encode(sig).ok());

  Bytes f = ChatFrame();
  f[kHeaderSize + kTlvHeaderSize] = 'a';  // tenant "aLPHA"
  ExpectRefused(f, StatusCode::kInvalidArgument, "is not in [A-Z0-9_]");
}

TEST(DbeCodecMalformed, UnknownMessageTypeAndSessionRange) {
  Bytes f = ChatFrame();
  f[kOffMsgType] = 0x07;
  ExpectRefused(f, StatusCode::kInvalidArgument, "unknown message type 0x07");
  f[kOffMsgType] = 0x09;
  ExpectRefused(f, StatusCode::kInvalidArgument, "is a session message, not an envelope type");
}

TEST(DbeCodecMalformed, BadFlags) {
  Bytes f = ChatFrame();
  PutU16BE(&f[kOffFlags], 0x0004);
  ExpectRefused(f, StatusCode::kInvalidArgument, "unknown flag bits 0x0004");
  PutU16BE(&f[kOffFlags], kFlagMore);
  ExpectRefused(f, StatusCode::kInvalidArgument, "MORE is only allowed on responses");
  Message e = ValidMessage(MsgType::kError);
  e.header().flags = kFlagMore;
  EXPECT_FALSE(Encode(e).ok());
}

TEST(DbeCodecMalformed, DeviceOutOfRange) {
  Bytes f = ChatFrame();
  PutU16BE(&f[kOffDstDevice], 104);
  ExpectRefused(f, StatusCode::kInvalidArgument, "destination device 104 out of range");
  PutU16BE(&f[kOffDstDevice], kNoDevice);
  EXPECT_TRUE(DecodeView(f).ok());
}

TEST(DbeCodec, FrameLengthCutsStreams) {
  Bytes f = ChatFrame();
  Bytes stream = f;
  stream.insert(stream.end(), f.begin(), f.end());
  Result<size_t> n = FrameLength(stream);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, f.size());
  EXPECT_TRUE(DecodeView(ByteView(stream).subspan(0, *n)).ok());
  EXPECT_FALSE(FrameLength(ByteView(f).subspan(0, 31)).ok());
}

TEST(DbeCodec, SigningBytesExcludeOnlyTheSignatures) {
  Message m = ValidMessage(MsgType::kL9Nc3Query);
  m.SetString(TlvType::kRoeTokenId, "roe-1");
  m.SetString(TlvType::kTwoPersonSignerA, "officer-a");
  m.SetString(TlvType::kTwoPersonSignerB, "officer-b");
  Bytes unsigned_bytes = SigningBytes(m).value();
  m.SetBytes(TlvType::kTwoPersonSigA, Bytes(kMlDsa87SignatureSize, 0xA5));
  m.SetBytes(TlvType::kTwoPersonSigB, Bytes(kMlDsa87SignatureSize, 0x5A));
  Bytes frame = Encode(m).value();
  EXPECT_EQ(SigningBytes(m).value(), unsigned_bytes);
  MessageView v = DecodeView(frame).value();
  EXPECT_EQ(SigningBytes(v).value(), unsigned_bytes);
  EXPECT_EQ(GetU32BE(&unsigned_bytes[kOffPayloadLength]), unsigned_bytes.size() - kHeaderSize);
  EXPECT_EQ(frame.size(), unsigned_bytes.size() + 2 * (kTlvHeaderSize + kMlDsa87SignatureSize));
  // Any other change alters the signed bytes.
  m.header().sequence += 1;
  EXPECT_NE(SigningBytes(m).value(), unsigned_bytes);
}

TEST(DbeCodec, ErrorReplyKeepsTenantAndRequestId) {
  Message req = ValidMessage(MsgType::kL9Nc3Query);
  req.header().src_device = 43;
  req.header().dst_device = 61;
  Bytes f = Encode(req).value();
  MessageView v = DecodeView(f).value();
  Message reply =
      MakeErrorReply(v, StatusCode::kPermissionDenied, "INVALID_ROE_TOKEN", "L9_NC3_QUERY without ROE_TOKEN_ID");
  EXPECT_EQ(reply.type(), MsgType::kError);
  EXPECT_EQ(reply.header().src_device, 61);
  EXPECT_EQ(reply.header().dst_device, 43);
  EXPECT_EQ(reply.tenant_id(), "ALPHA");
  EXPECT_EQ(reply.GetString(TlvType::kRequestId).value(), "req-0001");
  EXPECT_EQ(reply.GetString(TlvType::kErrorReason).value(), "INVALID_ROE_TOKEN");
  EXPECT_EQ(reply.GetU16(TlvType::kErrorCode).value(), uint16_t(StatusCode::kPermissionDenied));
  Result<Bytes> enc = Encode(reply);
  ASSERT_TRUE(enc.ok()) << enc.status().ToString();
  MessageView back = DecodeView(*enc).value();
  EXPECT_EQ(MsgTypeHex(back.type()), "0xFF");
  EXPECT_EQ(back.GetString(TlvType::kErrorDetail).value(), "L9_NC3_QUERY without ROE_TOKEN_ID");
  // From an owning message too; a lower-case reason is refused at encode.
  Message bad = MakeErrorReply(req, StatusCode::kPermissionDenied, "invalid");
  EXPECT_FALSE(Encode(bad).ok());
}

TEST(DbeCodec, DecodeViewReusesOneView) {
  MessageView view;
  Bytes a = ChatFrame();
  ASSERT_TRUE(DecodeView(a, &view).ok());
  EXPECT_EQ(view.tlv_count(), 5u);
  Bytes bad = a;
  bad[0] = 0;
  EXPECT_FALSE(DecodeView(bad, &view).ok());
  EXPECT_EQ(view.tlv_count(), 0u);
  // Also when the failure is found after the TLVs were walked.
  ASSERT_TRUE(DecodeView(a, &view).ok());
  Message no_payload = ValidMessage(MsgType::kL7ChatReq);
  no_payload.Remove(TlvType::kPayload);
  no_payload.set_type(MsgType::kL9Nc3Query);
  Bytes nc3 = Encode(no_payload).value();
  nc3[kOffMsgType] = 0x41;  // now an L7_CHAT_REQ without PAYLOAD
  Status s = DecodeView(nc3, &view);
  EXPECT_NE(s.message().find("L7_CHAT_REQ lacks PAYLOAD"), std::string::npos) << s.message();
  EXPECT_EQ(view.tlv_count(), 0u);
}

TEST(DbeCodec, DebugString) {
  Message m = ValidMessage(MsgType::kL9Nc3Query);
  m.header().src_device = 43;
  m.header().dst_device = 61;
  m.header().sequence = 7;
  m.header().timestamp_ns = 0;
  m.SetString(TlvType::kUserId, "op\"x");
  m.SetU32(TlvType::kMaxTokens, 64);
  m.SetBytes(TlvType::kPayload, Bytes(29, 'x'));
  std::string s = ToDebugString(m);
  EXPECT_EQ(s,
            "L9_NC3_QUERY(0x62) 43->61 seq=7 ts=0 flags=0x0000 TENANT_ID=\"ALPHA\" "
            "REQUEST_ID=\"req-0001\" USER_ID=\"op\\x22x\" COMPARTMENT_MASK=SOC|SIGNALS "
            "CLASSIFICATION=SECRET MAX_TOKENS=64 PAYLOAD=<29 bytes>");
  Bytes f = Encode(m).value();
  EXPECT_EQ(ToDebugString(DecodeView(f).value()), s);
  Message e = MakeErrorReply(m, StatusCode::kPermissionDenied, "INVALID_ROE_TOKEN");
  EXPECT_NE(ToDebugString(e).find("ERROR(0xFF) 61->43"), std::string::npos);
  EXPECT_NE(ToDebugString(e).find("ERROR_CODE=4(PERMISSION_DENIED)"), std::string::npos);
}

// The committed fuzz seed corpus stays valid: every seed decodes and
// re-encodes byte for byte (so a format change cannot silently empty it).
TEST(DbeCodec, SeedCorpusDecodesAndRoundTrips) {
  std::filesystem::path dir = std::filesystem::path(DSMIL_SOURCE_DIR) / "tests/fuzz/corpus/dbe_frame";
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  size_t seeds = 0;
  std::set<uint8_t> types;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    Bytes frame((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Result<Message> m = Decode(frame);
    ASSERT_TRUE(m.ok()) << entry.path() << ": " << m.status().ToString();
    EXPECT_EQ(Encode(*m).value(), frame) << entry.path();
    types.insert(uint8_t(m->type()));
    ++seeds;
  }
  EXPECT_EQ(types.size(), AllMsgSpecs().size()) << "a seed for every message type";
  EXPECT_GE(seeds, types.size());
}

}  // namespace
}  // namespace dsmil::dbe
