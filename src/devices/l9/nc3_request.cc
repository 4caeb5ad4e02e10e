#include "devices/l9/nc3_request.h"

#include <charconv>

#include "crypto/mldsa.h"
#include "tenant/operators.h"

namespace dsmil::devices::l9 {
namespace {

struct Slot {
  char name;
  dbe::TlvType signer;
  dbe::TlvType sig;
};
constexpr Slot kSlots[] = {
    {'A', dbe::TlvType::kTwoPersonSignerA, dbe::TlvType::kTwoPersonSigA},
    {'B', dbe::TlvType::kTwoPersonSignerB, dbe::TlvType::kTwoPersonSigB},
    {'C', dbe::TlvType::kTwoPersonSignerC, dbe::TlvType::kTwoPersonSigC},
};

std::optional<int64_t> ParseDecimal(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < 0) return std::nullopt;
  return v;
}

}  // namespace

Result<Nc3Request> ParseNc3Request(const dbe::Message& msg) {
  if (msg.type() != dbe::MsgType::kL9Nc3Query) {
    return Status::InvalidArgument("nc3: message type " + std::string(dbe::MsgTypeName(msg.type())) +
                                   " is not L9_NC3_QUERY");
  }
  Nc3Request r;
  r.tenant = std::string(msg.tenant_id());
  auto rid = msg.GetString(dbe::TlvType::kRequestId);
  if (!rid.ok()) return Status::InvalidArgument("nc3: the request has no REQUEST_ID");
  r.request_id = std::string(*rid);
  if (auto roe = msg.GetString(dbe::TlvType::kRoeTokenId); roe.ok()) r.roe_token_id = std::string(*roe);
  if (auto ts = msg.GetString(dbe::TlvType::kTimestamp); ts.ok()) r.timestamp_ms = ParseDecimal(*ts);
  for (const Slot& s : kSlots) {
    auto signer = msg.GetString(s.signer);
    auto sig = msg.GetBytes(s.sig);
    if (sig.ok()) ++r.signature_tlvs;
    std::string slot(1, s.name);
    if (signer.ok() && sig.ok()) {
      r.signatures.push_back(Nc3Signature{s.name, std::string(*signer), Bytes(sig->begin(), sig->end())});
    } else if (sig.ok()) {
      r.incomplete.push_back("TWO_PERSON_SIG_" + slot + " without TWO_PERSON_SIGNER_" + slot);
    } else if (signer.ok()) {
      r.incomplete.push_back("TWO_PERSON_SIGNER_" + slot + " without TWO_PERSON_SIG_" + slot);
    }
  }
  if (auto p = msg.GetBytes(dbe::TlvType::kPayload); p.ok()) r.query = std::string(AsString(*p));
  return r;
}

Result<Bytes> Nc3SigningBytes(const dbe::Message& msg) {
  dbe::Message copy = msg;
  for (const Slot& s : kSlots) {
    copy.Remove(s.signer);
    copy.Remove(s.sig);
  }
  copy.Remove(dbe::TlvType::kL7ClaimToken);
  copy.header().src_device = dbe::kNoDevice;
  copy.header().sequence = 0;
  copy.header().timestamp_ns = 0;
  return dbe::SigningBytes(copy);
}

Result<Bytes> SignNc3Request(const dbe::Message& msg, ByteView secret_key) {
  DSMIL_ASSIGN_OR_RETURN(Bytes bytes, Nc3SigningBytes(msg));
  return crypto::MlDsa87Sign(secret_key, bytes, AsBytes(kNc3SignatureContext));
}

dbe::Message MakeNc3Request(std::string_view tenant, std::string_view roe_token_id, std::string_view request_id,
                            int64_t timestamp_ms, std::string_view query) {
  dbe::Message m(dbe::MsgType::kL9Nc3Query);
  m.header().src_device = dbe::kNoDevice;
  m.header().dst_device = kNc3DeviceId;
  m.SetString(dbe::TlvType::kTenantId, tenant).SetString(dbe::TlvType::kRequestId, request_id);
  m.SetString(dbe::TlvType::kTimestamp, std::to_string(timestamp_ms));
  if (!roe_token_id.empty()) m.SetString(dbe::TlvType::kRoeTokenId, roe_token_id);
  m.SetU8(dbe::TlvType::kContentType, uint8_t(dbe::ContentType::kJson));
  std::string body = "{\"query\":\"";
  for (char c : query) {
    if (c == '"' || c == '\\') body += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) body += c;
  }
  body += "\"}";
  m.SetString(dbe::TlvType::kPayload, body);
  return m;
}

Status AttachNc3Signatures(dbe::Message& msg, const std::vector<Nc3Signature>& sigs) {
  size_t next = 0;
  for (const Nc3Signature& s : sigs) {
    if (!tenant::ValidOperatorName(s.signer)) {
      return Status::InvalidArgument("nc3: operator name '" + s.signer + "' is not [A-Za-z0-9._@-]{1,64}");
    }
    if (s.signature.size() != crypto::kMlDsa87SignatureBytes) {
      return Status::InvalidArgument("nc3: signature of " + s.signer + " is " + std::to_string(s.signature.size()) +
                                     " bytes, want " + std::to_string(crypto::kMlDsa87SignatureBytes));
    }
    while (next < std::size(kSlots) && msg.Has(kSlots[next].sig)) ++next;
    if (next == std::size(kSlots)) {
      return Status::InvalidArgument("nc3: at most " + std::to_string(kNc3MaxSignatures) + " signatures fit a request");
    }
    msg.SetString(kSlots[next].signer, s.signer);
    msg.SetBytes(kSlots[next].sig, s.signature);
    ++next;
  }
  return Status::Ok();
}

std::string FormatNc3SignatureFile(const Nc3Signature& sig) {
  return std::string(kNc3SignatureFileMagic) + "\n" + sig.signer + "\n" + ToHex(sig.signature) + "\n";
}

Result<Nc3Signature> ParseNc3SignatureFile(std::string_view text) {
  auto next_line = [&text]() -> std::optional<std::string_view> {
    if (text.empty()) return std::nullopt;
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
  };
  auto magic = next_line();
  if (!magic || *magic != kNc3SignatureFileMagic) {
    return Status::InvalidArgument(std::string("nc3 signature file: first line is not ") + kNc3SignatureFileMagic);
  }
  auto name = next_line();
  if (!name || !tenant::ValidOperatorName(*name)) {
    return Status::InvalidArgument("nc3 signature file: line 2 is not an operator name ([A-Za-z0-9._@-]{1,64})");
  }
  auto hex = next_line();
  if (!hex) return Status::InvalidArgument("nc3 signature file: line 3 (signature hex) is missing");
  auto sig = FromHex(*hex);
  if (!sig.ok() || sig->size() != crypto::kMlDsa87SignatureBytes) {
    return Status::InvalidArgument("nc3 signature file: line 3 is not a " +
                                   std::to_string(crypto::kMlDsa87SignatureBytes) + "-byte signature in hex");
  }
  while (auto rest = next_line()) {
    if (!rest->empty()) return Status::InvalidArgument("nc3 signature file: unexpected text after line 3");
  }
  return Nc3Signature{0, std::string(*name), std::move(*sig)};
}

}  // namespace dsmil::devices::l9
