#include "dbe/registry.h"
#include "core/strings.h"

#include "dbe/registry_data.h"

#include <array>
#include <cstdio>
#include <cstring>
#include <limits>

namespace dsmil::dbe {
namespace {

using namespace internal;  // NOLINT(google-build-using-namespace)

bool IsUpperAlnumUnderscore(uint8_t c) { return kCharClass[c] & kClassUpper; }

std::string Hex2(uint8_t v) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "0x%02X", v);
  return buf;
}

std::string TlvLabel(uint16_t code, size_t index) {
  return "dbe: TLV " + std::to_string(index) + " (" + std::string(TlvTypeName(code)) + ", type " + TlvTypeHex(code) +
         ")";
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) { return EqualsIgnoreCaseAscii(a, b); }

// Parses "0x1F"/"0X1f" (hex) or decimal digits; false on anything else or
// values above `max`.
bool ParseNumber(std::string_view text, uint64_t max, uint64_t* out) {
  if (text.empty()) return false;
  int base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    text.remove_prefix(2);
  }
  if (text.empty() || text.size() > 20) return false;
  uint64_t v = 0;
  for (char c : text) {
    int d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (base == 16 && c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if (base == 16 && c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      return false;
    if (v > (std::numeric_limits<uint64_t>::max() - uint64_t(d)) / uint64_t(base)) return false;
    v = v * uint64_t(base) + uint64_t(d);
  }
  if (v > max) return false;
  *out = v;
  return true;
}

constexpr std::string_view kClassificationNames[] = {"UNCLASSIFIED", "CUI", "CONFIDENTIAL", "SECRET", "TOP_SECRET"};
constexpr std::string_view kCompartmentNames[] = {"SOC",       "SIGNALS",   "CYBER", "INTEL",
                                                  "COALITION", "STRATEGIC", "NC3",   "KINETIC"};

}  // namespace

std::span<const MsgSpec> AllMsgSpecs() { return kMsgSpecs; }
std::span<const TlvSpec> AllTlvSpecs() { return kTlvSpecs; }

const MsgSpec* FindMsgSpec(uint8_t code) {
  uint8_t i = kMsgIndex[code];
  return i == 0xFF ? nullptr : &kMsgSpecs[i];
}

const TlvSpec* FindTlvSpec(uint16_t code) { return TlvSpecOf(code); }

std::string_view MsgTypeName(uint8_t code) {
  const MsgSpec* s = FindMsgSpec(code);
  return s ? s->name : std::string_view("UNKNOWN");
}

std::string MsgTypeHex(uint8_t code) { return Hex2(code); }

Result<MsgType> ParseMsgType(std::string_view text) {
  uint64_t v;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    if (!ParseNumber(text, 0xFF, &v)) {
      return Status::InvalidArgument("dbe: bad message type number '" + std::string(text) + "' (want 0x00..0xFF)");
    }
    if (FindMsgSpec(uint8_t(v)) == nullptr) {
      return Status::NotFound("dbe: message type " + Hex2(uint8_t(v)) + " is not registered");
    }
    return MsgType(uint8_t(v));
  }
  for (const MsgSpec& s : kMsgSpecs) {
    if (EqualsIgnoreCase(s.name, text)) return s.type;
  }
  return Status::NotFound("dbe: unknown message type '" + std::string(text) + "'");
}

std::string_view TlvTypeName(uint16_t code) {
  const TlvSpec* s = FindTlvSpec(code);
  if (s) return s->name;
  if (IsIgnorableTlv(code)) return "EXTENSION";
  return "UNKNOWN";
}

std::string TlvTypeHex(uint16_t code) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "0x%04X", code);
  return buf;
}

Result<TlvType> ParseTlvType(std::string_view text) {
  uint64_t v;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    if (!ParseNumber(text, 0xFFFF, &v)) {
      return Status::InvalidArgument("dbe: bad TLV type number '" + std::string(text) + "' (want 0x0000..0xFFFF)");
    }
    if (FindTlvSpec(uint16_t(v)) == nullptr) {
      return Status::NotFound("dbe: TLV type " + TlvTypeHex(uint16_t(v)) + " is not registered");
    }
    return TlvType(uint16_t(v));
  }
  for (const TlvSpec& s : kTlvSpecs) {
    if (EqualsIgnoreCase(s.name, text)) return s.type;
  }
  return Status::NotFound("dbe: unknown TLV type '" + std::string(text) + "'");
}

bool TlvValueValid(uint16_t code, ByteView value) { return TlvValueValidInline(code, value); }

// Names what is wrong with a value that TlvValueValid refused.
static Status DescribeBadTlvValue(uint16_t code, ByteView value, size_t index) {
  const TlvSpec* spec = FindTlvSpec(code);
  if (spec == nullptr) {
    if (IsIgnorableTlv(code)) return Status::Ok();
    if (code == 0x0000 || code == 0xFFFF) {
      return Status::InvalidArgument(TlvLabel(code, index) + ": type is never valid");
    }
    if (code >= 0x0060 && code <= 0x006F) {
      return Status::InvalidArgument(TlvLabel(code, index) + ": session handshake TLV, not allowed in an envelope");
    }
    return Status::InvalidArgument(TlvLabel(code, index) + ": unknown type outside the ignorable range 0x8000..0xFFFE");
  }
  size_t n = value.size();
  if (n < spec->min_length || n > spec->max_length) {
    std::string want = spec->min_length == spec->max_length
                           ? "exactly " + std::to_string(spec->min_length)
                           : std::to_string(spec->min_length) + ".." + std::to_string(spec->max_length);
    return Status::InvalidArgument(TlvLabel(code, index) + ": length " + std::to_string(n) + ", want " + want);
  }
  switch (spec->kind) {
    case ValueKind::kTenant:
    case ValueKind::kSymbol:
      for (size_t i = 0; i < n; ++i) {
        if (!IsUpperAlnumUnderscore(value[i])) {
          return Status::InvalidArgument(TlvLabel(code, index) + ": byte " + std::to_string(i) + " (" + Hex2(value[i]) +
                                         ") is not in [A-Z0-9_]");
        }
      }
      return Status::Ok();
    case ValueKind::kToken:
      for (size_t i = 0; i < n; ++i) {
        if (value[i] < 0x21 || value[i] > 0x7E) {
          return Status::InvalidArgument(TlvLabel(code, index) + ": byte " + std::to_string(i) + " (" + Hex2(value[i]) +
                                         ") is not printable ASCII without space");
        }
      }
      return Status::Ok();
    case ValueKind::kRoeLevel:
      if (!IsRoeLevel(AsString(value))) {
        std::string shown;
        for (uint8_t c : value) shown += (c >= 0x20 && c < 0x7F) ? char(c) : '?';
        return Status::InvalidArgument(TlvLabel(code, index) + ": '" + shown +
                                       "' is not a ROE level (ANALYSIS_ONLY, SOC_ASSIST, TRAINING)");
      }
      return Status::Ok();
    case ValueKind::kText: {
      size_t bad = FirstBadUtf8(value);
      if (bad != n) {
        return Status::InvalidArgument(TlvLabel(code, index) + ": not UTF-8 at byte " + std::to_string(bad));
      }
      return Status::Ok();
    }
    case ValueKind::kBytes:
    case ValueKind::kU32:
      return Status::Ok();
    case ValueKind::kU8:
      if (value[0] > spec->max_value) {
        return Status::InvalidArgument(TlvLabel(code, index) + ": value " + std::to_string(value[0]) +
                                       " out of range 0.." + std::to_string(spec->max_value));
      }
      if (code == uint16_t(TlvType::kContentType) && value[0] == 0) {
        return Status::InvalidArgument(TlvLabel(code, index) + ": value 0 out of range 1..3");
      }
      return Status::Ok();
    case ValueKind::kU16: {
      uint16_t v = GetU16BE(value.data());
      if (v == 0 || v > spec->max_value) {
        return Status::InvalidArgument(TlvLabel(code, index) + ": value " + std::to_string(v) + " out of range 1.." +
                                       std::to_string(spec->max_value));
      }
      return Status::Ok();
    }
    case ValueKind::kU64Mask: {
      uint64_t v = GetU64BE(value.data());
      if (v & ~spec->max_value) {
        char buf[40];
        std::snprintf(buf, sizeof(buf), "0x%llX", static_cast<unsigned long long>(v));
        return Status::InvalidArgument(TlvLabel(code, index) + ": mask " + buf + " sets reserved bits (allowed: 0xFF)");
      }
      return Status::Ok();
    }
    case ValueKind::kF32Vector:
      if (n % 4 != 0) {
        return Status::InvalidArgument(TlvLabel(code, index) + ": length " + std::to_string(n) +
                                       " is not a multiple of 4");
      }
      return Status::Ok();
  }
  return Status::Internal("dbe: unhandled value kind");
}

Status ValidateTlvValue(uint16_t code, ByteView value, size_t index) {
  if (TlvValueValid(code, value)) return Status::Ok();
  Status s = DescribeBadTlvValue(code, value, index);
  if (s.ok()) {
    return Status::Internal(TlvLabel(code, index) + ": refused but no reason found");
  }
  return s;
}

std::string_view ClassificationName(Classification c) {
  size_t i = size_t(c);
  return i < std::size(kClassificationNames) ? kClassificationNames[i] : "UNKNOWN";
}

Result<Classification> ParseClassification(std::string_view text) {
  for (size_t i = 0; i < std::size(kClassificationNames); ++i) {
    if (EqualsIgnoreCase(kClassificationNames[i], text)) return Classification(i);
  }
  return Status::InvalidArgument("dbe: unknown classification '" + std::string(text) +
                                 "' (UNCLASSIFIED, CUI, CONFIDENTIAL, SECRET, TOP_SECRET)");
}

std::string_view CompartmentName(uint64_t bit) {
  for (size_t i = 0; i < std::size(kCompartmentNames); ++i) {
    if (bit == (uint64_t(1) << i)) return kCompartmentNames[i];
  }
  return "UNKNOWN";
}

std::string CompartmentMaskString(uint64_t mask) {
  std::string out;
  for (size_t i = 0; i < 64; ++i) {
    uint64_t bit = uint64_t(1) << i;
    if (!(mask & bit)) continue;
    if (!out.empty()) out += '|';
    if (i < std::size(kCompartmentNames)) {
      out += kCompartmentNames[i];
    } else {
      char buf[24];
      std::snprintf(buf, sizeof(buf), "0x%llX", static_cast<unsigned long long>(bit));
      out += buf;
    }
  }
  return out;
}

Result<uint64_t> ParseCompartmentMask(std::string_view text) {
  if (text.empty()) return Status::InvalidArgument("dbe: empty compartment mask");
  uint64_t v;
  if (!text.empty() && text[0] >= '0' && text[0] <= '9') {
    if (!ParseNumber(text, kKnownCompartments, &v)) {
      return Status::InvalidArgument("dbe: bad compartment mask '" + std::string(text) + "' (want 0x00..0xFF)");
    }
    return v;
  }
  uint64_t mask = 0;
  while (!text.empty()) {
    size_t cut = text.find_first_of("|,");
    std::string_view name = text.substr(0, cut);
    bool found = false;
    for (size_t i = 0; i < std::size(kCompartmentNames); ++i) {
      if (EqualsIgnoreCase(kCompartmentNames[i], name)) {
        mask |= uint64_t(1) << i;
        found = true;
      }
    }
    if (!found) {
      return Status::InvalidArgument("dbe: unknown compartment '" + std::string(name) + "'");
    }
    if (cut == std::string_view::npos) break;
    text.remove_prefix(cut + 1);
  }
  return mask;
}

bool IsRoeLevel(std::string_view level) { return IsRoeLevelName(level); }

}  // namespace dsmil::dbe
