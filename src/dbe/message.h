// DBE v1 messages: the owning Message, the zero-copy MessageView, and the
// codec (Encode / Decode) that enforces every rule of docs/dbe.md.
//
// Untrusted bytes always get a Status, never a crash: Decode and DecodeView
// read nothing outside the given buffer and refuse every frame that is not
// canonical. Encode runs the same checks, so whatever it produces decodes, and
// Decode followed by Encode reproduces the input bytes exactly.
//
// Thread safety: all free functions are thread-safe. Message and MessageView
// are plain values: concurrent const use is safe, mutation needs external
// synchronisation.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/coding.h"
#include "core/status.h"
#include "dbe/format.h"
#include "dbe/registry.h"

namespace dsmil::dbe {

// The fixed header fields (payload_length is derived from the TLVs).
struct Header {
  MsgType type = MsgType::kHealthPing;
  uint16_t flags = 0;
  uint16_t src_device = kNoDevice;
  uint16_t dst_device = kNoDevice;
  uint64_t sequence = 0;
  uint64_t timestamp_ns = 0;

  friend bool operator==(const Header&, const Header&) = default;
};

// One TLV of a view: the value points into the decoded buffer.
struct TlvView {
  uint16_t type;
  ByteView value;
};

// A decoded frame that borrows the buffer it was decoded from: the buffer
// must outlive the view and stay unchanged. TLVs are in ascending type order.
// Decoding into a view allocates nothing; the view itself is about 1.6 KB
// (room for kMaxTlvCount TLVs), so reuse one per loop rather than copying.
class MessageView {
 public:
  const Header& header() const { return header_; }
  MsgType type() const { return header_.type; }
  size_t tlv_count() const { return count_; }
  const TlvView& tlv(size_t i) const { return tlvs_[i]; }
  // Bytes of the whole frame (header + TLVs).
  size_t frame_size() const { return frame_size_; }

  bool Has(TlvType t) const { return Find(uint16_t(t)).has_value(); }
  // The value of TLV `type`, or nullopt when absent.
  std::optional<ByteView> Find(uint16_t type) const;

  // Typed accessors. NotFound when the TLV is absent; InvalidArgument when the
  // TLV's registered kind does not match the accessor (a caller bug).
  Result<std::string_view> GetString(TlvType t) const;
  Result<ByteView> GetBytes(TlvType t) const;
  Result<uint8_t> GetU8(TlvType t) const;
  Result<uint16_t> GetU16(TlvType t) const;
  Result<uint32_t> GetU32(TlvType t) const;
  Result<uint64_t> GetU64(TlvType t) const;

  // TENANT_ID (always present in a decoded frame).
  std::string_view tenant_id() const;

 private:
  friend Status DecodeView(ByteView frame, MessageView* out);
  Header header_;
  size_t count_ = 0;
  size_t frame_size_ = 0;
  std::array<TlvView, kMaxTlvCount> tlvs_;
};

// An owning message: header plus TLVs kept sorted by type. Setters do not
// validate; Encode does (and names the offending TLV).
class Message {
 public:
  Message() = default;
  explicit Message(MsgType type) { header_.type = type; }
  // Copies a view (the view's buffer may be released afterwards).
  static Message FromView(const MessageView& view);

  Header& header() { return header_; }
  const Header& header() const { return header_; }
  MsgType type() const { return header_.type; }
  void set_type(MsgType t) { header_.type = t; }

  size_t tlv_count() const { return entries_.size(); }
  // The i-th TLV in ascending type order; the view is valid until the next
  // mutation of this message.
  TlvView tlv(size_t i) const;

  bool Has(TlvType t) const { return Find(uint16_t(t)).has_value(); }
  std::optional<ByteView> Find(uint16_t type) const;

  // Typed accessors, as MessageView's.
  Result<std::string_view> GetString(TlvType t) const;
  Result<ByteView> GetBytes(TlvType t) const;
  Result<uint8_t> GetU8(TlvType t) const;
  Result<uint16_t> GetU16(TlvType t) const;
  Result<uint32_t> GetU32(TlvType t) const;
  Result<uint64_t> GetU64(TlvType t) const;
  // TENANT_ID, or "" when not set.
  std::string_view tenant_id() const;

  // Setters: add the TLV or replace its value. Raw codes allow extension
  // (0x8000..0xFFFE) TLVs. Return *this for chaining.
  Message& SetRaw(uint16_t type, ByteView value);
  Message& SetBytes(TlvType t, ByteView value) { return SetRaw(uint16_t(t), value); }
  Message& SetString(TlvType t, std::string_view value) { return SetRaw(uint16_t(t), AsBytes(value)); }
  Message& SetU8(TlvType t, uint8_t v);
  Message& SetU16(TlvType t, uint16_t v);
  Message& SetU32(TlvType t, uint32_t v);
  Message& SetU64(TlvType t, uint64_t v);
  // Removes the TLV; returns whether it was present.
  bool Remove(uint16_t type);
  bool Remove(TlvType t) { return Remove(uint16_t(t)); }

 private:
  struct Entry {
    uint16_t type;
    uint32_t offset;  // into arena_
    uint32_t length;
  };
  ByteView ValueOf(const Entry& e) const { return ByteView(arena_.data() + e.offset, e.length); }
  const Entry* FindEntry(uint16_t type) const;
  // Rewrites arena_ with only the live values.
  void Compact();

  Header header_;
  std::vector<Entry> entries_;  // ascending by type, unique
  Bytes arena_;                 // values; replaced values leave garbage until compacted
};

// ---- Codec ----

// Checks the header prefix of a stream: needs kHeaderSize bytes; validates
// magic, version and payload length; returns the whole frame's size. Lets a
// transport cut frames out of a byte stream before decoding them.
Result<size_t> FrameLength(ByteView prefix);

// Decodes exactly one frame (`frame` must hold nothing else). Every rule of
// docs/dbe.md is checked; the error names the first violation.
Result<MessageView> DecodeView(ByteView frame);
// As DecodeView, into *out (no copy of the view; reuse one view per loop).
// On error *out holds no TLVs.
Status DecodeView(ByteView frame, MessageView* out);
// As DecodeView, into an owning Message.
Result<Message> Decode(ByteView frame);

// Size Encode would produce (without validating).
size_t EncodedSize(const Message& msg);
// Validates `msg` and appends its canonical frame to *out. On error *out is
// left as it was.
Status EncodeTo(const Message& msg, Bytes* out);
// Validates `msg` and returns its canonical frame.
Result<Bytes> Encode(const Message& msg);

// The bytes the two-person signatures (TWO_PERSON_SIG_A / _B) sign: the
// canonical frame with both signature TLVs removed and payload_length
// adjusted. Accepts a message with or without the signatures.
Result<Bytes> SigningBytes(const Message& msg);
Result<Bytes> SigningBytes(const MessageView& view);

// ---- Display ----

// A one-line, human-readable rendering for logs and the CLI, e.g.
//   L9_NC3_QUERY(0x62) 43->61 seq=7 ts=1764245000000000000 flags=0x0000
//   TENANT_ID="ALPHA" REQUEST_ID="r-01" CLASSIFICATION=SECRET PAYLOAD=<29 bytes>
// Strings are quoted (non-printable bytes escaped as \xNN, long values cut),
// integers in decimal, enums and masks by name, bytes by length.
std::string ToDebugString(const MessageView& view);
std::string ToDebugString(const Message& msg);

// ---- Replies ----

// Builds an ERROR (0xFF) reply to `request`: source and destination swapped,
// TENANT_ID and REQUEST_ID kept (when present), ERROR_CODE = `code` (a
// StatusCode number), ERROR_REASON = `reason` (e.g. "INVALID_ROE_TOKEN"),
// ERROR_DETAIL = `detail` when non-empty. The sender fills sequence and
// timestamp. Encode validates the reason's charset.
Message MakeErrorReply(const MessageView& request, StatusCode code, std::string_view reason,
                       std::string_view detail = {});
Message MakeErrorReply(const Message& request, StatusCode code, std::string_view reason, std::string_view detail = {});

}  // namespace dsmil::dbe
