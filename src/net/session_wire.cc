#include "net/session_wire.h"

#include <algorithm>
#include <string>

#include "dbe/format.h"

namespace dsmil::net::session_wire {
namespace {

std::string Hex2(unsigned v) {
  static const char* kDigits = "0123456789abcdef";
  std::string s = "0x";
  s += kDigits[(v >> 4) & 0xF];
  s += kDigits[v & 0xF];
  return s;
}

}  // namespace

const Bytes* HandshakeMessage::Find(uint16_t code) const {
  for (const auto& [c, v] : tlvs) {
    if (c == code) return &v;
  }
  return nullptr;
}

void HandshakeMessage::Set(uint16_t code, ByteView value) {
  auto it = std::lower_bound(tlvs.begin(), tlvs.end(), code, [](const auto& e, uint16_t c) { return e.first < c; });
  if (it != tlvs.end() && it->first == code) {
    it->second.assign(value.begin(), value.end());
  } else {
    tlvs.insert(it, {code, Bytes(value.begin(), value.end())});
  }
}

Bytes EncodeHandshake(const HandshakeMessage& msg, bool include_auth) {
  size_t payload = 0;
  for (const auto& [c, v] : msg.tlvs) {
    if (!include_auth && (c == kTlvConfirm || c == kTlvSignature)) continue;
    payload += dbe::kTlvHeaderSize + v.size();
  }
  Bytes out;
  out.reserve(dbe::kHeaderSize + payload);
  AppendU32BE(out, dbe::kMagic);
  out.push_back(dbe::kVersion);
  out.push_back(msg.type);
  AppendU16BE(out, 0);
  AppendU16BE(out, dbe::kNoDevice);
  AppendU16BE(out, dbe::kNoDevice);
  AppendU64BE(out, 0);
  AppendU64BE(out, msg.timestamp_ns);
  AppendU32BE(out, uint32_t(payload));
  for (const auto& [c, v] : msg.tlvs) {
    if (!include_auth && (c == kTlvConfirm || c == kTlvSignature)) continue;
    AppendU16BE(out, c);
    AppendU32BE(out, uint32_t(v.size()));
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

Result<HandshakeMessage> DecodeHandshake(ByteView frame) {
  if (frame.size() < dbe::kHeaderSize) {
    return Status::DataLoss("handshake message of " + std::to_string(frame.size()) +
                            " bytes is shorter than the 32-byte header");
  }
  if (frame.size() > kMaxHandshakeBytes) {
    return Status::DataLoss("handshake message of " + std::to_string(frame.size()) + " bytes is over the " +
                            std::to_string(kMaxHandshakeBytes) + "-byte limit");
  }
  const uint8_t* p = frame.data();
  if (GetU32BE(p + dbe::kOffMagic) != dbe::kMagic) return Status::DataLoss("handshake message: bad magic");
  if (p[dbe::kOffVersion] != dbe::kVersion) {
    return Status::DataLoss("handshake message: frame version " + std::to_string(p[dbe::kOffVersion]) + ", want 1");
  }
  HandshakeMessage msg;
  msg.type = p[dbe::kOffMsgType];
  if (msg.type != kHello && msg.type != kAccept && msg.type != kFinish && msg.type != kAlert) {
    return Status::DataLoss("handshake message: type " + Hex2(msg.type) + " is not a handshake message");
  }
  if (GetU16BE(p + dbe::kOffFlags) != 0) return Status::DataLoss("handshake message: flags must be 0");
  if (GetU16BE(p + dbe::kOffSrcDevice) != dbe::kNoDevice || GetU16BE(p + dbe::kOffDstDevice) != dbe::kNoDevice) {
    return Status::DataLoss("handshake message: devices must be 0xFFFF");
  }
  if (GetU64BE(p + dbe::kOffSequence) != 0) return Status::DataLoss("handshake message: sequence must be 0");
  msg.timestamp_ns = GetU64BE(p + dbe::kOffTimestamp);
  uint32_t payload = GetU32BE(p + dbe::kOffPayloadLength);
  if (payload != frame.size() - dbe::kHeaderSize) {
    return Status::DataLoss("handshake message: payload_length " + std::to_string(payload) + ", but " +
                            std::to_string(frame.size() - dbe::kHeaderSize) + " bytes follow the header");
  }
  size_t off = dbe::kHeaderSize;
  int last = -1;
  while (off < frame.size()) {
    size_t index = msg.tlvs.size();
    if (index >= kMaxHandshakeTlvs) return Status::DataLoss("handshake message: more than 16 TLVs");
    if (frame.size() - off < dbe::kTlvHeaderSize) {
      return Status::DataLoss("handshake message: TLV " + std::to_string(index) + " header truncated");
    }
    uint16_t code = GetU16BE(p + off);
    uint32_t len = GetU32BE(p + off + 2);
    off += dbe::kTlvHeaderSize;
    if (code < 0x60 || code > 0x6F) {
      return Status::DataLoss("handshake message: TLV " + std::to_string(index) + " type " + Hex2(code) +
                              " outside the session range 0x60..0x6f");
    }
    if (int(code) <= last) {
      return Status::DataLoss("handshake message: TLV " + std::to_string(index) + " type " + Hex2(code) +
                              " out of order or duplicated");
    }
    if (len > frame.size() - off) {
      return Status::DataLoss("handshake message: TLV " + std::to_string(index) + " type " + Hex2(code) +
                              " overruns the frame: length " + std::to_string(len) + ", " +
                              std::to_string(frame.size() - off) + " bytes left");
    }
    msg.tlvs.emplace_back(code, Bytes(p + off, p + off + len));
    off += len;
    last = code;
  }
  return msg;
}

}  // namespace dsmil::net::session_wire
