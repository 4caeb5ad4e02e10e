#include "tenant/roe.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "crypto/keyfile.h"
#include "crypto/mldsa.h"
#include "crypto/ossl.h"

namespace dsmil::tenant {

namespace {

constexpr std::string_view kWhat = "roe tokens";

bool ValidTenant(std::string_view t) {
  if (t.empty() || t.size() > 32 || t[0] < 'A' || t[0] > 'Z') return false;
  for (char c : t) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

bool ValidScope(std::string_view s) {
  if (s.empty() || s.size() > 32) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

bool ValidIssuer(std::string_view s) {
  if (s.empty() || s.size() > 256) return false;
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) return false;
  }
  return true;
}

Result<std::vector<RoeToken>> Parse(const std::string& path) {
  std::vector<RoeToken> out;
  DSMIL_RETURN_IF_ERROR(
      internal::ForEachRecordLine(path, kWhat, [&](std::istringstream& ls, const std::string& where) -> Status {
        RoeToken t;
        std::string sig_hex;
        if (!(ls >> t.id >> t.tenant >> t.scope >> t.issued_at_s >> t.exp_s >> t.revoked_s >> sig_hex)) {
          return Status::DataLoss(where + " is malformed");
        }
        std::getline(ls, t.issuer);
        if (!t.issuer.empty() && t.issuer[0] == ' ') t.issuer.erase(0, 1);
        auto sig = FromHex(sig_hex);
        if (!sig.ok()) return Status::DataLoss(where + ": signature is not hex");
        t.signature = std::move(*sig);
        out.push_back(std::move(t));
        return Status::Ok();
      }));
  return out;
}

std::string Render(const std::vector<RoeToken>& tokens) {
  std::string text = "# id tenant scope issued_at_s exp_s revoked_s signature(hex) issuer\n";
  for (const RoeToken& t : tokens) {
    text += t.id + " " + t.tenant + " " + t.scope + " " + std::to_string(t.issued_at_s) + " " +
            std::to_string(t.exp_s) + " " + std::to_string(t.revoked_s) + " " + ToHex(t.signature) + " " + t.issuer +
            "\n";
  }
  return text;
}

}  // namespace

std::string RoeSigningText(const RoeToken& t) {
  return std::string(kRoeTokenContext) + "\nid=" + t.id + "\ntenant=" + t.tenant + "\nscope=" + t.scope +
         "\nissued_at=" + std::to_string(t.issued_at_s) + "\nexp=" + std::to_string(t.exp_s) + "\nissuer=" + t.issuer +
         "\n";
}

std::string RoeKeyPrefix(const store::StoresConfig& stores) {
  std::string dir = stores.secrets_dir.empty() ? stores.path + "/secrets" : stores.secrets_dir;
  return dir + "/roe/roe-mldsa87";
}

std::string RoeTokenFile(const store::StoresConfig& stores) { return stores.path + "/tenant/roe_tokens"; }

Result<Bytes> EnsureRoeKeyPair(const std::string& prefix) {
  std::error_code ec;
  if (std::filesystem::exists(prefix + ".pub", ec)) {
    return crypto::ReadPublicKey(prefix + ".pub", crypto::KeyAlg::kMlDsa87);
  }
  std::filesystem::path dir = std::filesystem::path(prefix).parent_path();
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::Internal("roe key: create " + dir.string() + ": " + ec.message());
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  DSMIL_ASSIGN_OR_RETURN(crypto::MlDsa87KeyPair kp, crypto::MlDsa87KeyGen());
  DSMIL_RETURN_IF_ERROR(crypto::WriteKeyPair(prefix, crypto::KeyAlg::kMlDsa87, kp.public_key, kp.secret_key));
  return kp.public_key;
}

Status CheckRoeToken(const RoeToken& t, ByteView roe_public_key, std::string_view tenant, std::string_view scope,
                     int64_t now_s) {
  Status sig =
      crypto::MlDsa87Verify(roe_public_key, AsBytes(RoeSigningText(t)), AsBytes(kRoeTokenContext), t.signature);
  if (!sig.ok()) return Status::PermissionDenied("ROE token " + t.id + ": signature does not verify under the ROE key");
  if (t.revoked()) return Status::PermissionDenied("ROE token " + t.id + " was revoked");
  if (t.exp_s - t.issued_at_s > kMaxRoeTokenLifetimeS || t.exp_s <= t.issued_at_s) {
    return Status::PermissionDenied("ROE token " + t.id + ": lifetime outside 1.." +
                                    std::to_string(kMaxRoeTokenLifetimeS) + " s");
  }
  if (now_s < t.issued_at_s) return Status::PermissionDenied("ROE token " + t.id + " is not valid yet");
  if (now_s >= t.exp_s) return Status::PermissionDenied("ROE token " + t.id + " expired");
  if (t.tenant != tenant) {
    return Status::PermissionDenied("ROE token " + t.id + " was issued to tenant " + t.tenant + ", not " +
                                    std::string(tenant));
  }
  if (t.scope != scope) {
    return Status::PermissionDenied("ROE token " + t.id + " is for scope " + t.scope + ", not " + std::string(scope));
  }
  return Status::Ok();
}

Result<std::unique_ptr<RoeTokenStore>> RoeTokenStore::Open(std::string path) {
  if (path.empty()) return Status::InvalidArgument("roe tokens: empty registry path");
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    DSMIL_ASSIGN_OR_RETURN(internal::FileLock lock, internal::FileLock::Take(path, kWhat));
    if (!std::filesystem::exists(path, ec)) DSMIL_RETURN_IF_ERROR(internal::ReplaceFile(path, Render({}), kWhat));
  }
  return std::unique_ptr<RoeTokenStore>(new RoeTokenStore(std::move(path)));
}

RoeTokenStore::~RoeTokenStore() = default;

Result<RoeToken> RoeTokenStore::Issue(std::string_view tenant, std::string_view scope, int64_t ttl_s,
                                      std::string_view issuer, ByteView roe_secret_key, int64_t now_s) {
  if (!ValidTenant(tenant)) return Status::InvalidArgument("roe issue: tenant must match [A-Z][A-Z0-9_]{0,31}");
  if (!ValidScope(scope)) return Status::InvalidArgument("roe issue: scope must match [a-z0-9_-]{1,32}");
  if (ttl_s < 1 || ttl_s > kMaxRoeTokenLifetimeS) {
    return Status::InvalidArgument("roe issue: ttl " + std::to_string(ttl_s) + " s outside 1.." +
                                   std::to_string(kMaxRoeTokenLifetimeS) + " s");
  }
  if (!ValidIssuer(issuer)) return Status::InvalidArgument("roe issue: issuer must be 1..256 printable characters");
  Bytes rnd(8);
  DSMIL_RETURN_IF_ERROR(crypto::RandomBytes(rnd));
  RoeToken t;
  t.id = "roe-" + ToHex(rnd);
  t.tenant = std::string(tenant);
  t.scope = std::string(scope);
  t.issued_at_s = now_s;
  t.exp_s = now_s + ttl_s;
  t.issuer = std::string(issuer);
  DSMIL_ASSIGN_OR_RETURN(t.signature,
                         crypto::MlDsa87Sign(roe_secret_key, AsBytes(RoeSigningText(t)), AsBytes(kRoeTokenContext)));
  DSMIL_ASSIGN_OR_RETURN(internal::FileLock lock, internal::FileLock::Take(path_, kWhat));
  DSMIL_ASSIGN_OR_RETURN(std::vector<RoeToken> tokens, Parse(path_));
  tokens.push_back(t);
  DSMIL_RETURN_IF_ERROR(internal::ReplaceFile(path_, Render(tokens), kWhat));
  return t;
}

Result<std::vector<RoeToken>> RoeTokenStore::List(std::string_view tenant) {
  DSMIL_ASSIGN_OR_RETURN(std::vector<RoeToken> tokens, Parse(path_));
  if (tenant.empty()) return tokens;
  std::vector<RoeToken> out;
  for (auto& t : tokens) {
    if (t.tenant == tenant) out.push_back(std::move(t));
  }
  return out;
}

Result<RoeToken> RoeTokenStore::Find(std::string_view id) {
  DSMIL_ASSIGN_OR_RETURN(std::vector<RoeToken> tokens, Parse(path_));
  for (auto& t : tokens) {
    if (t.id == id) return std::move(t);
  }
  return Status::NotFound("no ROE token " + std::string(id));
}

Status RoeTokenStore::Revoke(std::string_view id, int64_t now_s) {
  DSMIL_ASSIGN_OR_RETURN(internal::FileLock lock, internal::FileLock::Take(path_, kWhat));
  DSMIL_ASSIGN_OR_RETURN(std::vector<RoeToken> tokens, Parse(path_));
  for (auto& t : tokens) {
    if (t.id != id) continue;
    if (t.revoked()) return Status::Ok();
    t.revoked_s = now_s > 0 ? now_s : 1;
    return internal::ReplaceFile(path_, Render(tokens), kWhat);
  }
  return Status::NotFound("no ROE token " + std::string(id));
}

}  // namespace dsmil::tenant
