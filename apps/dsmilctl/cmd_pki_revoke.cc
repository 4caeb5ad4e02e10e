// dsmilctl pki revoke / pki crl: certificate revocation for the internal CA.
//
//   dsmilctl pki revoke --dir DIR (FILE.crt | --serial HEX | --operator NAME | --node NAME)
//                       [--reason keyCompromise] [--crl-days 30]
//       adds the certificate to DIR/crl.pem (created if absent), signed by
//       DIR/ca.key; keeps a copy of a revoked certificate file in
//       DIR/revoked/<SERIAL>.crt so listings can name it.
//   dsmilctl pki crl --dir DIR [--sign] [--crl-days 30]
//   dsmilctl pki crl --file CRL --ca CA.crt
//       lists what the CRL revokes after checking its signature; --sign
//       writes it anew (next CRL number, fresh nextUpdate; an empty CRL when
//       there is none yet).
//
// Exit status: 0 done / valid, 1 a negative answer (CRL does not verify or is
// past its nextUpdate, certificate not issued by this CA), 2 bad input.
// See docs/pki.md ("Revocation").
#include <sys/stat.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "core/coding.h"
#include "crypto/keyfile.h"
#include "crypto/ossl.h"
#include "crypto/x509.h"
#include "file_util.h"

namespace dsmil::ctl {
namespace {

constexpr int kDefaultCrlDays = 30;

// The CA certificate and key of DIR. The caller wipes key_pem.
Result<crypto::PemCertificate> ReadCa(const std::string& dir) {
  auto cert = ReadText(dir + "/ca.crt");
  if (!cert.ok()) return Status::NotFound(cert.status().message() + " (run `dsmilctl pki init`)");
  auto key = crypto::ReadPrivateFile(dir + "/ca.key");
  if (!key.ok()) return key.status();
  crypto::PemCertificate ca{*cert, std::string(AsString(*key))};
  crypto::SecureWipe(key->data(), key->size());
  return ca;
}

// The entries of DIR/crl.pem, checked against the CA; none when the file does
// not exist.
Result<crypto::CrlInfo> ReadExistingCrl(const std::string& crl_file, const std::string& ca_pem) {
  if (!Exists(crl_file)) return crypto::CrlInfo{};
  DSMIL_ASSIGN_OR_RETURN(std::string pem, ReadText(crl_file));
  Status s = crypto::VerifyCrl(ca_pem, pem);
  if (!s.ok()) {
    return Status(s.code(),
                  crl_file + " does not verify against the CA (" + s.message() + "); move it away to start a new list");
  }
  return crypto::ParseCrlPem(pem);
}

// Signs and writes the CRL, then prints a summary.
Status WriteCrl(const std::string& dir, const crypto::PemCertificate& ca, const crypto::CrlInfo& old,
                const std::vector<crypto::RevokedCertificate>& entries, int days) {
  DSMIL_ASSIGN_OR_RETURN(std::string pem, crypto::CreateCrl(ca, entries, days, old.number + 1));
  const std::string crl_file = dir + "/crl.pem";
  DSMIL_RETURN_IF_ERROR(crypto::WritePublicFile(crl_file, AsBytes(pem)));
  std::cout << crl_file << ": " << entries.size() << " revoked certificate" << (entries.size() == 1 ? "" : "s")
            << ", CRL number " << old.number + 1 << ", next update "
            << crypto::FormatUtc(static_cast<int64_t>(time(nullptr)) + int64_t{days} * 86400) << "\n";
  return Status::Ok();
}

// Subject CNs of the certificates found in DIR (DIR/*.crt and
// DIR/revoked/*.crt), by normalized serial.
std::map<std::string, std::string> KnownCertificates(const std::string& dir) {
  std::map<std::string, std::string> out;
  if (dir.empty()) return out;
  for (const std::string& d : {dir, dir + "/revoked"}) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(d, ec)) {
      if (entry.path().extension() != ".crt") continue;
      auto info = crypto::LoadCertificateFile(entry.path().string());
      if (!info.ok() || info->is_ca) continue;
      auto serial = crypto::NormalizeSerialHex(info->serial_hex);
      if (serial.ok()) out.emplace(*serial, info->subject_cn);
    }
  }
  return out;
}

struct RevokeOptions {
  std::string dir, file, serial, op, node;
  std::string reason = "unspecified";
  int crl_days = kDefaultCrlDays;
};

void Revoke(Context& ctx, const RevokeOptions& o) {
  int given = !o.file.empty() + !o.serial.empty() + !o.op.empty() + !o.node.empty();
  if (given != 1) {
    return Fail(ctx, 2, "pki revoke: give exactly one of a certificate FILE, --serial, --operator or --node");
  }
  if (!crypto::ValidRevocationReason(o.reason)) {
    return Fail(ctx, 2,
                "pki revoke: --reason \"" + o.reason +
                    "\" is not one of unspecified, keyCompromise, affiliationChanged, superseded, "
                    "cessationOfOperation, privilegeWithdrawn");
  }
  if (o.crl_days < 1 || o.crl_days > crypto::kMaxCertDays) {
    return Fail(ctx, 2, "pki revoke: --crl-days must be 1.." + std::to_string(crypto::kMaxCertDays));
  }
  auto ca = ReadCa(o.dir);
  if (!ca.ok()) return Fail(ctx, 2, "pki revoke: " + ca.status().message());
  auto wipe = [&ca] { crypto::SecureWipe(ca->key_pem.data(), ca->key_pem.size()); };

  std::string serial, who, cert_pem;
  if (!o.serial.empty()) {
    auto s = crypto::NormalizeSerialHex(o.serial);
    if (!s.ok()) {
      wipe();
      return Fail(ctx, 2, "pki revoke: --serial: " + s.status().message());
    }
    serial = *s;
    auto known = KnownCertificates(o.dir);
    if (auto it = known.find(serial); it != known.end()) who = it->second;
  } else {
    std::string path = !o.file.empty() ? o.file : o.dir + "/" + (!o.op.empty() ? "operator-" + o.op : o.node) + ".crt";
    auto pem = ReadText(path);
    if (!pem.ok()) {
      wipe();
      return Fail(ctx, 2, "pki revoke: " + pem.status().message());
    }
    auto info = crypto::ParseCertificatePem(*pem);
    if (!info.ok()) {
      wipe();
      return Fail(ctx, 2, "pki revoke: " + path + " holds no PEM certificate");
    }
    if (Status s = crypto::VerifyIssuedBy(ca->cert_pem, *pem); !s.ok()) {
      wipe();
      return Fail(ctx, 1, "pki revoke: " + path + ": " + s.message() + "; this CA's CRL cannot revoke it");
    }
    if (info->is_ca) {
      wipe();
      return Fail(ctx, 2, "pki revoke: " + path + " is the CA itself; replace the CA instead (pki init --force)");
    }
    serial = *crypto::NormalizeSerialHex(info->serial_hex);
    who = info->subject_cn;
    cert_pem = *pem;
  }

  const std::string crl_file = o.dir + "/crl.pem";
  auto old = ReadExistingCrl(crl_file, ca->cert_pem);
  if (!old.ok()) {
    wipe();
    return Fail(ctx, 2, "pki revoke: " + old.status().message());
  }
  std::string label = (who.empty() ? "" : "CN=" + who + ", ") + "serial " + serial;
  for (const auto& r : old->revoked) {
    if (r.serial_hex == serial) {
      wipe();
      std::cout << label << " is already revoked (" << r.reason << ", " << crypto::FormatUtc(r.revoked_unix) << "); "
                << crl_file << " unchanged\n";
      ctx.exit_code = 0;
      return;
    }
  }
  std::vector<crypto::RevokedCertificate> entries = old->revoked;
  entries.push_back({serial, static_cast<int64_t>(time(nullptr)), o.reason});
  Status s = WriteCrl(o.dir, *ca, *old, entries, o.crl_days);
  wipe();
  if (!s.ok()) return Fail(ctx, 2, "pki revoke: " + s.message());
  if (!cert_pem.empty()) {
    // Kept so that `pki crl` can still name it after the file is renewed.
    std::error_code ec;
    std::filesystem::create_directories(o.dir + "/revoked", ec);
    Status kept = ec ? Status::Internal(ec.message())
                     : crypto::WritePublicFile(o.dir + "/revoked/" + serial + ".crt", AsBytes(cert_pem));
    if (!kept.ok())
      std::cerr << "dsmilctl: warning: cannot keep a copy in " << o.dir << "/revoked: " << kept.message() << "\n";
  }
  std::cout << "revoked " << label << " (" << o.reason << ")\n"
            << "Copy " << crl_file << " to every node (the file named by tls.crl); nodes re-read it within a second "
            << "of it changing and refuse the certificate from then on.\n";
  ctx.exit_code = 0;
}

struct CrlOptions {
  std::string dir, file, ca;
  bool sign = false;
  int crl_days = kDefaultCrlDays;
};

void ListCrl(Context& ctx, const CrlOptions& o) {
  if (o.dir.empty() && (o.file.empty() || o.ca.empty())) {
    return Fail(ctx, 2, "pki crl: give --dir, or --file and --ca");
  }
  if (o.crl_days < 1 || o.crl_days > crypto::kMaxCertDays) {
    return Fail(ctx, 2, "pki crl: --crl-days must be 1.." + std::to_string(crypto::kMaxCertDays));
  }
  const std::string crl_file = !o.file.empty() ? o.file : o.dir + "/crl.pem";
  const std::string ca_file = !o.ca.empty() ? o.ca : o.dir + "/ca.crt";
  if (o.sign) {
    if (o.dir.empty()) return Fail(ctx, 2, "pki crl --sign: give --dir (it needs ca.key)");
    auto ca = ReadCa(o.dir);
    if (!ca.ok()) return Fail(ctx, 2, "pki crl: " + ca.status().message());
    auto old = ReadExistingCrl(o.dir + "/crl.pem", ca->cert_pem);
    Status s = old.ok() ? WriteCrl(o.dir, *ca, *old, old->revoked, o.crl_days) : old.status();
    crypto::SecureWipe(ca->key_pem.data(), ca->key_pem.size());
    if (!s.ok()) return Fail(ctx, 2, "pki crl: " + s.message());
  }
  auto ca_pem = ReadText(ca_file);
  if (!ca_pem.ok()) return Fail(ctx, 2, "pki crl: " + ca_pem.status().message());
  auto pem = ReadText(crl_file);
  if (!pem.ok()) {
    return Fail(ctx, 2,
                "pki crl: " + pem.status().message() + " (nothing revoked yet? `dsmilctl pki crl --dir DIR --sign` " +
                    "writes an empty list)");
  }
  auto info = crypto::ParseCrlPem(*pem);
  if (!info.ok()) return Fail(ctx, 2, "pki crl: " + crl_file + " holds no PEM CRL");
  Status verified = crypto::VerifyCrl(*ca_pem, *pem);
  int64_t now = time(nullptr);
  bool stale = info->next_update_unix != 0 && info->next_update_unix < now;
  std::cout << "file:         " << crl_file << "\n"
            << "issuer:       CN=" << info->issuer_cn << "\n"
            << "verified:     " << (verified.ok() ? "ok, signed by " + ca_file : "NO: " + verified.message()) << "\n"
            << "CRL number:   " << info->number << "\n"
            << "this update:  " << crypto::FormatUtc(info->this_update_unix) << "\n"
            << "next update:  " << (info->next_update_unix ? crypto::FormatUtc(info->next_update_unix) : "(none)")
            << (stale ? "  (PAST: re-sign with `dsmilctl pki crl --dir DIR --sign`)" : "") << "\n"
            << "revoked:      " << info->revoked.size() << "\n";
  auto known = KnownCertificates(o.dir);
  for (const auto& r : info->revoked) {
    auto it = known.find(r.serial_hex);
    std::cout << "  " << r.serial_hex << "  " << crypto::FormatUtc(r.revoked_unix) << "  " << r.reason << "  "
              << (it != known.end() ? "CN=" + it->second : "(certificate not in the directory)") << "\n";
  }
  ctx.exit_code = verified.ok() && !stale ? 0 : 1;
}

const CommandGroup kPkiRevokeGroup([](CLI::App& app, Context& ctx) {
  auto revoke = std::make_shared<RevokeOptions>();
  auto crl = std::make_shared<CrlOptions>();
  CLI::App* pki = Group(app, "pki", "Internal certificate authority for mTLS between nodes and operators");

  CLI::App* c_revoke = pki->add_subcommand("revoke", "Revoke a node or operator certificate (writes DIR/crl.pem)");
  c_revoke->add_option("file", revoke->file, "certificate file to revoke (PEM)");
  c_revoke->add_option("--dir", revoke->dir, "PKI directory holding ca.crt and ca.key")->required();
  c_revoke->add_option("--serial", revoke->serial, "serial number of the certificate (hex, as `pki show` prints)");
  c_revoke->add_option("--operator", revoke->op, "operator name (DIR/operator-NAME.crt)");
  c_revoke->add_option("--node", revoke->node, "node name (DIR/NAME.crt)");
  c_revoke
      ->add_option("--reason", revoke->reason,
                   "unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation or "
                   "privilegeWithdrawn")
      ->capture_default_str();
  c_revoke->add_option("--crl-days", revoke->crl_days, "days until the CRL's nextUpdate")->capture_default_str();
  c_revoke->callback([revoke, &ctx] { Revoke(ctx, *revoke); });

  CLI::App* c_crl = pki->add_subcommand("crl", "List the revoked certificates (DIR/crl.pem), or re-sign the list");
  c_crl->alias("revoked");
  c_crl->add_option("--dir", crl->dir, "PKI directory (crl.pem, ca.crt; ca.key for --sign)");
  c_crl->add_option("--file", crl->file, "CRL file (default DIR/crl.pem)");
  c_crl->add_option("--ca", crl->ca, "CA certificate that must have signed it (default DIR/ca.crt)");
  c_crl->add_flag("--sign", crl->sign,
                  "write DIR/crl.pem anew first: same entries, next CRL number, fresh nextUpdate (an empty list "
                  "when there is none)");
  c_crl->add_option("--crl-days", crl->crl_days, "with --sign: days until nextUpdate")->capture_default_str();
  c_crl->callback([crl, &ctx] { ListCrl(ctx, *crl); });
});

}  // namespace
}  // namespace dsmil::ctl
