#include "dbe/message.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "dbe/registry_data.h"

namespace dsmil::dbe {
namespace {

std::string HexU16(uint16_t v) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "0x%04X", v);
  return buf;
}

std::string HexU32(uint32_t v) {
  char buf[12];
  std::snprintf(buf, sizeof(buf), "0x%08X", v);
  return buf;
}

std::string TlvLabel(uint16_t type, size_t index) {
  return "dbe: TLV " + std::to_string(index) + " (" + std::string(TlvTypeName(type)) + ", type " + TlvTypeHex(type) +
         ")";
}

inline bool DeviceOk(uint16_t id) { return id <= kMaxDeviceId || id == kNoDevice; }

Status DeviceError(const char* which, uint16_t id) {
  return Status::InvalidArgument(std::string("dbe: ") + which + " device " + std::to_string(id) +
                                 " out of range (0..103, or 0xFFFF for none)");
}

// Header rules shared by Encode and Decode (magic, version and length are
// checked by the callers). Returns the message type's spec.
Result<const MsgSpec*> CheckHeaderSlow(uint8_t msg_type, uint16_t flags, uint16_t src, uint16_t dst) {
  const MsgSpec* spec = FindMsgSpec(msg_type);
  if (spec == nullptr) {
    if (msg_type >= kSessionMsgTypeFirst && msg_type <= kSessionMsgTypeLast) {
      return Status::InvalidArgument("dbe: message type " + MsgTypeHex(msg_type) +
                                     " is a session message, not an envelope type");
    }
    return Status::InvalidArgument("dbe: unknown message type " + MsgTypeHex(msg_type));
  }
  if (flags & ~kKnownFlags) {
    return Status::InvalidArgument("dbe: unknown flag bits " + HexU16(uint16_t(flags & ~kKnownFlags)) + " in flags " +
                                   HexU16(flags));
  }
  if ((flags & kFlagMore) && (spec->kind != MsgKind::kResponse || spec->type == MsgType::kError)) {
    return Status::InvalidArgument("dbe: flag MORE is only allowed on responses, not on " + std::string(spec->name));
  }
  if (!DeviceOk(src)) return DeviceError("source", src);
  if (!DeviceOk(dst)) return DeviceError("destination", dst);
  return spec;
}

// The header check's fast path: the spec when every rule holds, else nullptr
// (then CheckHeaderSlow names the problem).
inline const MsgSpec* HeaderSpecIfValid(uint8_t msg_type, uint16_t flags, uint16_t src, uint16_t dst) {
  uint8_t i = internal::kMsgIndex[msg_type];
  if (i == 0xFF || (flags & ~kKnownFlags) || !DeviceOk(src) || !DeviceOk(dst)) return nullptr;
  const MsgSpec* spec = &internal::kMsgSpecs[i];
  if ((flags & kFlagMore) && (spec->kind != MsgKind::kResponse || spec->type == MsgType::kError)) {
    return nullptr;
  }
  return spec;
}

// Which registered TLV codes (all < 0x100) a frame carries.
struct Presence {
  uint64_t bits[4] = {0, 0, 0, 0};
  constexpr void Add(uint16_t code) {
    if (code < 0x100) bits[code >> 6] |= uint64_t(1) << (code & 63);
  }
  constexpr bool operator()(TlvType t) const {
    uint16_t code = uint16_t(t);
    return code < 0x100 && (bits[code >> 6] >> (code & 63)) & 1;
  }
  bool Covers(const Presence& need) const {
    return ((bits[0] & need.bits[0]) == need.bits[0]) & ((bits[1] & need.bits[1]) == need.bits[1]) &
           ((bits[2] & need.bits[2]) == need.bits[2]) & ((bits[3] & need.bits[3]) == need.bits[3]);
  }
};

// The TLVs each message type must carry, as presence masks indexed like
// kMsgSpecs.
constexpr auto kRequired = [] {
  std::array<Presence, std::size(internal::kMsgSpecs)> masks{};
  for (size_t i = 0; i < masks.size(); ++i) {
    const MsgSpec& spec = internal::kMsgSpecs[i];
    masks[i].Add(uint16_t(TlvType::kTenantId));
    if (spec.kind != MsgKind::kEvent && spec.type != MsgType::kError) {
      masks[i].Add(uint16_t(TlvType::kRequestId));
    }
    for (TlvType t : spec.required) masks[i].Add(uint16_t(t));
  }
  return masks;
}();

inline const Presence& RequiredOf(const MsgSpec* spec) { return kRequired[size_t(spec - internal::kMsgSpecs)]; }

// Mandatory TLVs. `has` answers whether a TLV type is present.
Status CheckMandatory(const MsgSpec& spec, const Presence& has) {
  if (!has(TlvType::kTenantId)) {
    return Status::InvalidArgument("dbe: missing TENANT_ID (TLV 0x0001), mandatory in every frame");
  }
  if (spec.kind != MsgKind::kEvent && spec.type != MsgType::kError && !has(TlvType::kRequestId)) {
    return Status::InvalidArgument("dbe: " + std::string(spec.name) +
                                   " lacks REQUEST_ID (TLV 0x0002), mandatory in requests and responses");
  }
  for (TlvType t : spec.required) {
    if (!has(t)) {
      return Status::InvalidArgument("dbe: " + std::string(spec.name) + " lacks " + std::string(TlvTypeName(t)) +
                                     " (TLV " + TlvTypeHex(uint16_t(t)) + "), mandatory in this message type");
    }
  }
  return Status::Ok();
}

// Typed access shared by Message and MessageView.
enum class Want { kString, kBytes, kU8, kU16, kU32, kU64 };

Status CheckKind(TlvType t, Want want, ByteView v) {
  const TlvSpec* spec = FindTlvSpec(uint16_t(t));
  ValueKind kind = spec ? spec->kind : ValueKind::kBytes;
  bool ok = false;
  size_t size = 0;
  switch (want) {
    case Want::kBytes:
      ok = true;
      break;
    case Want::kString:
      ok = kind != ValueKind::kU8 && kind != ValueKind::kU16 && kind != ValueKind::kU32 &&
           kind != ValueKind::kU64Mask && kind != ValueKind::kF32Vector;
      break;
    case Want::kU8:
      ok = kind == ValueKind::kU8;
      size = 1;
      break;
    case Want::kU16:
      ok = kind == ValueKind::kU16;
      size = 2;
      break;
    case Want::kU32:
      ok = kind == ValueKind::kU32;
      size = 4;
      break;
    case Want::kU64:
      ok = kind == ValueKind::kU64Mask;
      size = 8;
      break;
  }
  if (!ok) {
    return Status::InvalidArgument("dbe: TLV " + std::string(TlvTypeName(t)) + " is not read with this accessor");
  }
  if (size != 0 && v.size() != size) {
    return Status::InvalidArgument("dbe: TLV " + std::string(TlvTypeName(t)) + " has length " +
                                   std::to_string(v.size()) + ", want " + std::to_string(size));
  }
  return Status::Ok();
}

Status NotFoundTlv(TlvType t) {
  return Status::NotFound("dbe: no " + std::string(TlvTypeName(t)) + " TLV (" + TlvTypeHex(uint16_t(t)) + ")");
}

// The typed getters for any class with Find(uint16_t).
template <typename M>
Result<ByteView> Get(const M& m, TlvType t, Want want) {
  std::optional<ByteView> v = m.Find(uint16_t(t));
  if (!v) return NotFoundTlv(t);
  DSMIL_RETURN_IF_ERROR(CheckKind(t, want, *v));
  return *v;
}

template <typename M>
Result<std::string_view> GetStringOf(const M& m, TlvType t) {
  DSMIL_ASSIGN_OR_RETURN(ByteView v, Get(m, t, Want::kString));
  return AsString(v);
}
template <typename M>
Result<uint8_t> GetU8Of(const M& m, TlvType t) {
  DSMIL_ASSIGN_OR_RETURN(ByteView v, Get(m, t, Want::kU8));
  return v[0];
}
template <typename M>
Result<uint16_t> GetU16Of(const M& m, TlvType t) {
  DSMIL_ASSIGN_OR_RETURN(ByteView v, Get(m, t, Want::kU16));
  return GetU16BE(v.data());
}
template <typename M>
Result<uint32_t> GetU32Of(const M& m, TlvType t) {
  DSMIL_ASSIGN_OR_RETURN(ByteView v, Get(m, t, Want::kU32));
  return GetU32BE(v.data());
}
template <typename M>
Result<uint64_t> GetU64Of(const M& m, TlvType t) {
  DSMIL_ASSIGN_OR_RETURN(ByteView v, Get(m, t, Want::kU64));
  return GetU64BE(v.data());
}

// memcpy for the short values that dominate frames (ids, names): fixed-size
// copies the compiler inlines, instead of a library call per TLV.
inline void CopyBytes(uint8_t* dst, const uint8_t* src, size_t n) {
  if (n >= 32) {
    std::memcpy(dst, src, n);
  } else if (n >= 16) {
    std::memcpy(dst, src, 16);
    std::memcpy(dst + n - 16, src + n - 16, 16);
  } else if (n >= 8) {
    std::memcpy(dst, src, 8);
    std::memcpy(dst + n - 8, src + n - 8, 8);
  } else if (n >= 4) {
    std::memcpy(dst, src, 4);
    std::memcpy(dst + n - 4, src + n - 4, 4);
  } else {
    for (size_t i = 0; i < n; ++i) dst[i] = src[i];
  }
}

void WriteHeader(const Header& h, size_t payload_length, uint8_t* p) {
  PutU32BE(p + kOffMagic, kMagic);
  p[kOffVersion] = kVersion;
  p[kOffMsgType] = uint8_t(h.type);
  PutU16BE(p + kOffFlags, h.flags);
  PutU16BE(p + kOffSrcDevice, h.src_device);
  PutU16BE(p + kOffDstDevice, h.dst_device);
  PutU64BE(p + kOffSequence, h.sequence);
  PutU64BE(p + kOffTimestamp, h.timestamp_ns);
  PutU32BE(p + kOffPayloadLength, uint32_t(payload_length));
}

}  // namespace

// ---------------- MessageView ----------------

std::optional<ByteView> MessageView::Find(uint16_t type) const {
  for (size_t i = 0; i < count_; ++i) {
    if (tlvs_[i].type == type) return tlvs_[i].value;
    if (tlvs_[i].type > type) break;
  }
  return std::nullopt;
}

Result<std::string_view> MessageView::GetString(TlvType t) const { return GetStringOf(*this, t); }
Result<ByteView> MessageView::GetBytes(TlvType t) const { return Get(*this, t, Want::kBytes); }
Result<uint8_t> MessageView::GetU8(TlvType t) const { return GetU8Of(*this, t); }
Result<uint16_t> MessageView::GetU16(TlvType t) const { return GetU16Of(*this, t); }
Result<uint32_t> MessageView::GetU32(TlvType t) const { return GetU32Of(*this, t); }
Result<uint64_t> MessageView::GetU64(TlvType t) const { return GetU64Of(*this, t); }

std::string_view MessageView::tenant_id() const {
  std::optional<ByteView> v = Find(uint16_t(TlvType::kTenantId));
  return v ? AsString(*v) : std::string_view();
}

// ---------------- Message ----------------

Message Message::FromView(const MessageView& view) {
  Message m;
  m.header_ = view.header();
  size_t total = 0;
  for (size_t i = 0; i < view.tlv_count(); ++i) total += view.tlv(i).value.size();
  m.arena_.resize(total);
  m.entries_.reserve(view.tlv_count());
  size_t off = 0;
  for (size_t i = 0; i < view.tlv_count(); ++i) {
    const TlvView& t = view.tlv(i);
    CopyBytes(m.arena_.data() + off, t.value.data(), t.value.size());
    m.entries_.push_back(Entry{t.type, uint32_t(off), uint32_t(t.value.size())});
    off += t.value.size();
  }
  return m;
}

TlvView Message::tlv(size_t i) const { return TlvView{entries_[i].type, ValueOf(entries_[i])}; }

const Message::Entry* Message::FindEntry(uint16_t type) const {
  auto it =
      std::lower_bound(entries_.begin(), entries_.end(), type, [](const Entry& e, uint16_t t) { return e.type < t; });
  if (it == entries_.end() || it->type != type) return nullptr;
  return &*it;
}

std::optional<ByteView> Message::Find(uint16_t type) const {
  const Entry* e = FindEntry(type);
  if (e == nullptr) return std::nullopt;
  return ValueOf(*e);
}

Result<std::string_view> Message::GetString(TlvType t) const { return GetStringOf(*this, t); }
Result<ByteView> Message::GetBytes(TlvType t) const { return Get(*this, t, Want::kBytes); }
Result<uint8_t> Message::GetU8(TlvType t) const { return GetU8Of(*this, t); }
Result<uint16_t> Message::GetU16(TlvType t) const { return GetU16Of(*this, t); }
Result<uint32_t> Message::GetU32(TlvType t) const { return GetU32Of(*this, t); }
Result<uint64_t> Message::GetU64(TlvType t) const { return GetU64Of(*this, t); }

std::string_view Message::tenant_id() const {
  std::optional<ByteView> v = Find(uint16_t(TlvType::kTenantId));
  return v ? AsString(*v) : std::string_view();
}

Message& Message::SetRaw(uint16_t type, ByteView value) {
  auto it =
      std::lower_bound(entries_.begin(), entries_.end(), type, [](const Entry& e, uint16_t t) { return e.type < t; });
  bool exists = it != entries_.end() && it->type == type;
  if (exists && it->length == value.size()) {
    if (!value.empty()) std::memmove(arena_.data() + it->offset, value.data(), value.size());
    return *this;
  }
  // `value` may point into arena_: copy it before the arena can move.
  Bytes copy(value.begin(), value.end());
  size_t index = size_t(it - entries_.begin());
  if (exists) {
    entries_[index].length = 0;  // the old value becomes garbage
  } else {
    entries_.insert(it, Entry{type, 0, 0});
  }
  // Replaced values leave garbage behind; compact when it dominates.
  size_t live = 0;
  for (const Entry& e : entries_) live += e.length;
  if (arena_.size() > 4096 && arena_.size() > 2 * live) Compact();
  entries_[index] = Entry{type, uint32_t(arena_.size()), uint32_t(copy.size())};
  arena_.insert(arena_.end(), copy.begin(), copy.end());
  return *this;
}

void Message::Compact() {
  Bytes fresh;
  size_t live = 0;
  for (const Entry& e : entries_) live += e.length;
  fresh.reserve(live);
  for (Entry& e : entries_) {
    ByteView v = ValueOf(e);
    e.offset = uint32_t(fresh.size());
    fresh.insert(fresh.end(), v.begin(), v.end());
  }
  arena_.swap(fresh);
}

Message& Message::SetU8(TlvType t, uint8_t v) { return SetRaw(uint16_t(t), ByteView(&v, 1)); }
Message& Message::SetU16(TlvType t, uint16_t v) {
  uint8_t b[2];
  PutU16BE(b, v);
  return SetRaw(uint16_t(t), b);
}
Message& Message::SetU32(TlvType t, uint32_t v) {
  uint8_t b[4];
  PutU32BE(b, v);
  return SetRaw(uint16_t(t), b);
}
Message& Message::SetU64(TlvType t, uint64_t v) {
  uint8_t b[8];
  PutU64BE(b, v);
  return SetRaw(uint16_t(t), b);
}

bool Message::Remove(uint16_t type) {
  auto it =
      std::lower_bound(entries_.begin(), entries_.end(), type, [](const Entry& e, uint16_t t) { return e.type < t; });
  if (it == entries_.end() || it->type != type) return false;
  entries_.erase(it);
  return true;
}

// ---------------- Codec ----------------

Result<size_t> FrameLength(ByteView prefix) {
  if (prefix.size() < kHeaderSize) {
    return Status::InvalidArgument("dbe: truncated header: " + std::to_string(prefix.size()) + " bytes, need " +
                                   std::to_string(kHeaderSize));
  }
  const uint8_t* p = prefix.data();
  uint32_t magic = GetU32BE(p + kOffMagic);
  if (magic != kMagic) {
    return Status::InvalidArgument("dbe: bad magic " + HexU32(magic) + " (want " + HexU32(kMagic) + ")");
  }
  if (p[kOffVersion] != kVersion) {
    return Status::InvalidArgument("dbe: unsupported version " + std::to_string(p[kOffVersion]) +
                                   " (this decoder speaks version 1)");
  }
  uint32_t payload_length = GetU32BE(p + kOffPayloadLength);
  if (payload_length > kMaxPayloadLength) {
    return Status::ResourceExhausted("dbe: payload length " + std::to_string(payload_length) +
                                     " exceeds the frame limit of " + std::to_string(kMaxFrameSize) + " bytes");
  }
  return kHeaderSize + size_t(payload_length);
}

Status DecodeView(ByteView frame, MessageView* out) {
  out->count_ = 0;
  DSMIL_ASSIGN_OR_RETURN(size_t total, FrameLength(frame));
  const uint8_t* p = frame.data();
  size_t payload_length = total - kHeaderSize;
  size_t after_header = frame.size() - kHeaderSize;
  if (payload_length > after_header) {
    return Status::InvalidArgument("dbe: payload length " + std::to_string(payload_length) +
                                   " runs past the end of the frame: " + std::to_string(after_header) +
                                   " bytes after the header");
  }
  if (payload_length < after_header) {
    return Status::InvalidArgument("dbe: " + std::to_string(after_header - payload_length) +
                                   " trailing bytes after the frame (payload length " + std::to_string(payload_length) +
                                   ")");
  }

  MessageView& view = *out;
  Header& h = view.header_;
  uint8_t msg_type = p[kOffMsgType];
  h.flags = GetU16BE(p + kOffFlags);
  h.src_device = GetU16BE(p + kOffSrcDevice);
  h.dst_device = GetU16BE(p + kOffDstDevice);
  h.sequence = GetU64BE(p + kOffSequence);
  h.timestamp_ns = GetU64BE(p + kOffTimestamp);
  const MsgSpec* spec = HeaderSpecIfValid(msg_type, h.flags, h.src_device, h.dst_device);
  if (spec == nullptr) return CheckHeaderSlow(msg_type, h.flags, h.src_device, h.dst_device).status();
  h.type = spec->type;

  size_t pos = kHeaderSize;
  size_t end = total;
  size_t n = 0;
  uint32_t prev_type = 0;  // 0x0000 is never valid, so any first type ascends
  Presence present;
  while (pos < end) {
    size_t left = end - pos;
    if (n == kMaxTlvCount) {
      return Status::ResourceExhausted("dbe: more than " + std::to_string(kMaxTlvCount) + " TLVs (" +
                                       std::to_string(left) + " bytes left after TLV " + std::to_string(n - 1) + ")");
    }
    if (left < kTlvHeaderSize) {
      return Status::InvalidArgument("dbe: TLV " + std::to_string(n) + " header truncated: " + std::to_string(left) +
                                     " bytes left, need " + std::to_string(kTlvHeaderSize));
    }
    uint16_t type = GetU16BE(p + pos);
    uint32_t length = GetU32BE(p + pos + 2);
    left -= kTlvHeaderSize;
    if (length > left) {
      return Status::InvalidArgument(TlvLabel(type, n) + " overruns the frame: length " + std::to_string(length) +
                                     ", " + std::to_string(left) + " bytes left");
    }
    if (type == prev_type && n > 0) {
      return Status::InvalidArgument(TlvLabel(type, n) + " duplicates TLV " + std::to_string(n - 1));
    }
    if (type < prev_type) {
      return Status::InvalidArgument(TlvLabel(type, n) + " is out of order after type " +
                                     TlvTypeHex(uint16_t(prev_type)) + " (TLVs must ascend by type)");
    }
    ByteView value(p + pos + kTlvHeaderSize, length);
    if (!internal::TlvValueValidInline(type, value)) return ValidateTlvValue(type, value, n);
    present.Add(type);
    view.tlvs_[n] = TlvView{type, value};
    ++n;
    prev_type = type;
    pos += kTlvHeaderSize + length;
  }
  if (!present.Covers(RequiredOf(spec))) {
    Status missing = CheckMandatory(*spec, present);
    return missing.ok() ? Status::Internal("dbe: mandatory TLV check disagrees with its mask") : missing;
  }
  view.count_ = n;
  view.frame_size_ = total;
  return Status::Ok();
}

Result<MessageView> DecodeView(ByteView frame) {
  MessageView view;
  DSMIL_RETURN_IF_ERROR(DecodeView(frame, &view));
  return view;
}

Result<Message> Decode(ByteView frame) {
  MessageView view;
  DSMIL_RETURN_IF_ERROR(DecodeView(frame, &view));
  return Message::FromView(view);
}

size_t EncodedSize(const Message& msg) {
  size_t size = kHeaderSize;
  for (size_t i = 0; i < msg.tlv_count(); ++i) size += kTlvHeaderSize + msg.tlv(i).value.size();
  return size;
}

Status EncodeTo(const Message& msg, Bytes* out) {
  const Header& h = msg.header();
  const MsgSpec* spec = HeaderSpecIfValid(uint8_t(h.type), h.flags, h.src_device, h.dst_device);
  if (spec == nullptr) {
    return CheckHeaderSlow(uint8_t(h.type), h.flags, h.src_device, h.dst_device).status();
  }
  size_t count = msg.tlv_count();
  if (count > kMaxTlvCount) {
    return Status::ResourceExhausted("dbe: " + std::to_string(count) + " TLVs exceed the limit of " +
                                     std::to_string(kMaxTlvCount));
  }
  size_t size = kHeaderSize;
  Presence present;
  for (size_t i = 0; i < count; ++i) {
    TlvView t = msg.tlv(i);
    if (!internal::TlvValueValidInline(t.type, t.value)) return ValidateTlvValue(t.type, t.value, i);
    present.Add(t.type);
    size += kTlvHeaderSize + t.value.size();
    if (size > kMaxFrameSize) {
      return Status::ResourceExhausted("dbe: frame exceeds the limit of " + std::to_string(kMaxFrameSize) +
                                       " bytes at TLV " + std::to_string(i) + " (" + std::string(TlvTypeName(t.type)) +
                                       ")");
    }
  }
  if (!present.Covers(RequiredOf(spec))) {
    Status missing = CheckMandatory(*spec, present);
    return missing.ok() ? Status::Internal("dbe: mandatory TLV check disagrees with its mask") : missing;
  }

  size_t start = out->size();
  out->resize(start + size);
  uint8_t* p = out->data() + start;
  WriteHeader(h, size - kHeaderSize, p);
  p += kHeaderSize;
  for (size_t i = 0; i < count; ++i) {
    TlvView t = msg.tlv(i);
    PutU16BE(p, t.type);
    PutU32BE(p + 2, uint32_t(t.value.size()));
    CopyBytes(p + kTlvHeaderSize, t.value.data(), t.value.size());
    p += kTlvHeaderSize + t.value.size();
  }
  return Status::Ok();
}

Result<Bytes> Encode(const Message& msg) {
  Bytes out;
  out.reserve(EncodedSize(msg));
  DSMIL_RETURN_IF_ERROR(EncodeTo(msg, &out));
  return out;
}

Result<Bytes> SigningBytes(const Message& msg) {
  Message copy = msg;
  copy.Remove(TlvType::kTwoPersonSigA);
  copy.Remove(TlvType::kTwoPersonSigB);
  return Encode(copy);
}

Result<Bytes> SigningBytes(const MessageView& view) { return SigningBytes(Message::FromView(view)); }

// ---------------- Display ----------------

namespace {

std::string DeviceString(uint16_t id) { return id == kNoDevice ? "-" : std::to_string(id); }

void AppendQuoted(std::string& out, ByteView v) {
  constexpr size_t kMaxShown = 64;
  out += '"';
  size_t shown = std::min(v.size(), kMaxShown);
  for (size_t i = 0; i < shown; ++i) {
    uint8_t c = v[i];
    if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
      out += char(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02X", c);
      out += buf;
    }
  }
  out += '"';
  if (v.size() > shown) out += "...(" + std::to_string(v.size()) + " bytes)";
}

void AppendValue(std::string& out, uint16_t type, ByteView v) {
  const TlvSpec* spec = FindTlvSpec(type);
  if (spec == nullptr) {
    out += "<" + std::to_string(v.size()) + " bytes>";
    return;
  }
  switch (spec->kind) {
    case ValueKind::kTenant:
    case ValueKind::kToken:
    case ValueKind::kSymbol:
    case ValueKind::kRoeLevel:
    case ValueKind::kText:
      AppendQuoted(out, v);
      return;
    case ValueKind::kU8:
      if (v.size() != 1) break;
      if (type == uint16_t(TlvType::kClassification)) {
        out += ClassificationName(Classification(v[0]));
      } else if (type == uint16_t(TlvType::kContentType)) {
        out += v[0] == 1 ? "JSON" : v[0] == 2 ? "TEXT" : v[0] == 3 ? "BINARY" : "UNKNOWN";
      } else {
        out += std::to_string(v[0]);
      }
      return;
    case ValueKind::kU16:
      if (v.size() != 2) break;
      out += std::to_string(GetU16BE(v.data()));
      if (type == uint16_t(TlvType::kErrorCode)) {
        out += "(" + std::string(StatusCodeName(StatusCode(GetU16BE(v.data())))) + ")";
      }
      return;
    case ValueKind::kU32:
      if (v.size() != 4) break;
      out += std::to_string(GetU32BE(v.data()));
      return;
    case ValueKind::kU64Mask: {
      if (v.size() != 8) break;
      uint64_t mask = GetU64BE(v.data());
      std::string names = CompartmentMaskString(mask);
      out += names.empty() ? "0" : names;
      return;
    }
    case ValueKind::kBytes:
    case ValueKind::kF32Vector:
      break;
  }
  out += "<" + std::to_string(v.size()) + " bytes>";
}

template <typename M>
std::string DebugStringOf(const M& m) {
  const Header& h = m.header();
  char head[160];
  std::snprintf(head, sizeof(head), "%s(%s) %s->%s seq=%llu ts=%llu flags=0x%04X",
                std::string(MsgTypeName(h.type)).c_str(), MsgTypeHex(h.type).c_str(),
                DeviceString(h.src_device).c_str(), DeviceString(h.dst_device).c_str(),
                static_cast<unsigned long long>(h.sequence), static_cast<unsigned long long>(h.timestamp_ns), h.flags);
  std::string out = head;
  for (size_t i = 0; i < m.tlv_count(); ++i) {
    TlvView t = m.tlv(i);
    out += ' ';
    const TlvSpec* spec = FindTlvSpec(t.type);
    out += spec ? std::string(spec->name) : TlvTypeHex(t.type);
    out += '=';
    AppendValue(out, t.type, t.value);
  }
  return out;
}

}  // namespace

std::string ToDebugString(const MessageView& view) { return DebugStringOf(view); }
std::string ToDebugString(const Message& msg) { return DebugStringOf(msg); }

// ---------------- Replies ----------------

namespace {

template <typename M>
Message ErrorReplyOf(const M& request, StatusCode code, std::string_view reason, std::string_view detail) {
  Message reply(MsgType::kError);
  Header& h = reply.header();
  h.src_device = request.header().dst_device;
  h.dst_device = request.header().src_device;
  if (auto tenant = request.Find(uint16_t(TlvType::kTenantId))) {
    reply.SetBytes(TlvType::kTenantId, *tenant);
  }
  if (auto id = request.Find(uint16_t(TlvType::kRequestId))) {
    reply.SetBytes(TlvType::kRequestId, *id);
  }
  reply.SetU16(TlvType::kErrorCode, uint16_t(code));
  reply.SetString(TlvType::kErrorReason, reason);
  if (!detail.empty()) reply.SetString(TlvType::kErrorDetail, detail);
  return reply;
}

}  // namespace

Message MakeErrorReply(const MessageView& request, StatusCode code, std::string_view reason, std::string_view detail) {
  return ErrorReplyOf(request, code, reason, detail);
}

Message MakeErrorReply(const Message& request, StatusCode code, std::string_view reason, std::string_view detail) {
  return ErrorReplyOf(request, code, reason, detail);
}

}  // namespace dsmil::dbe
