// dsmilctl pki: the internal certificate authority for mTLS (spec §9.1).
//
//   dsmilctl pki init --dir DIR [--nodes node-a,node-b,node-c] [--operators admin]
//                     [--tenants ALPHA,BRAVO|*] [--days 90] [--ca-days 3650] [--ca-name NAME]
//                     [--ip node-d=172.20.0.40 ...] [--force]
//       DIR/ca.crt + ca.key, DIR/<node>.crt + .key (server+client),
//       DIR/operator-<name>.crt + .key (client only); keys 0600.
//   dsmilctl pki issue --dir DIR (--node NAME | --operator NAME) [--days 90]
//                      [--ip ADDR ...] [--tenants ALPHA,BRAVO|*] [--force]
//   dsmilctl pki issue operator NAME --dir DIR --tenants ALPHA,BRAVO|*  (same)
//       Operator certificates name the tenants they cover as URI SANs
//       urn:dsmil:tenant:<T> ("*" = every tenant); the control API serves a
//       tenant's data only to a certificate covering it. Without --tenants
//       an operator certificate covers no tenant.
//       one more (or a renewed) certificate from the existing CA.
//   dsmilctl pki show FILE.crt [--ca CA.crt]
//       subject, issuer, SANs, usage, validity; exit 1 if expired, not yet
//       valid, or (with --ca) not issued by that CA.
//   dsmilctl pki revoke / pki crl: cmd_pki_revoke.cc (DIR/crl.pem, which
//       `pki init` creates empty).
//
// See docs/pki.md for the layout and rotation.
#include <sys/stat.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
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

using crypto::CertUsage;

constexpr const char* kDefaultCaName = "DSMIL Internal CA";
constexpr const char* kDnsSuffix = ".dsmil.local";

// The spec's node addresses (§12, §9.1).
const std::map<std::string, std::string>& SpecAddresses() {
  static const std::map<std::string, std::string> kAddresses = {
      {"node-a", "172.20.0.10"}, {"node-b", "172.20.0.20"}, {"node-c", "172.20.0.30"}};
  return kAddresses;
}

// Node names become DNS labels: lower-case letters, digits, '-'.
bool ValidNodeName(const std::string& name) {
  if (name.empty() || name.size() > 63 || name.front() == '-' || name.back() == '-') return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

bool ValidOperatorName(const std::string& name) {
  if (name.empty() || name.size() > 48 || name.front() == '.' || name.front() == '-') return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
          c == '.')) {
      return false;
    }
  }
  return true;
}

std::string Join(const std::vector<std::string>& items, const char* sep = ", ") {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : sep) + s;
  return out;
}

Status WritePair(const std::string& dir, const std::string& stem, const crypto::PemCertificate& pem) {
  // Key first: a certificate never appears without its key.
  DSMIL_RETURN_IF_ERROR(crypto::WritePrivateFile(dir + "/" + stem + ".key", AsBytes(pem.key_pem)));
  return crypto::WritePublicFile(dir + "/" + stem + ".crt", AsBytes(pem.cert_pem));
}

std::string Expiry(int64_t not_after) { return "expires " + crypto::FormatUtc(not_after); }

struct Leaf {
  std::string stem;  // file name without .crt/.key
  const char* kind;  // "node" / "operator"
  crypto::CertificateRequest request;
  crypto::PemCertificate pem;
  std::vector<std::string> tenants;  // operators: the tenants covered
};

Status IssueLeaf(const crypto::PemCertificate& ca, Leaf& leaf) {
  auto pem = crypto::IssueCertificate(ca, leaf.request, leaf.tenants);
  if (!pem.ok()) return pem.status().WithContext(leaf.stem);
  leaf.pem = std::move(pem).value();
  return Status::Ok();
}

// Writes one leaf and prints a line describing it.
Status WriteLeaf(const std::string& dir, Leaf& leaf) {
  DSMIL_RETURN_IF_ERROR(WritePair(dir, leaf.stem, leaf.pem));
  crypto::SecureWipe(leaf.pem.key_pem.data(), leaf.pem.key_pem.size());
  auto info = crypto::ParseCertificatePem(leaf.pem.cert_pem);
  if (!info.ok()) return info.status();
  std::vector<std::string> sans = info->dns_sans;
  sans.insert(sans.end(), info->ip_sans.begin(), info->ip_sans.end());
  std::cout << "  " << leaf.kind << " " << dir << "/" << leaf.stem << ".crt + " << leaf.stem
            << ".key (0600)  CN=" << info->subject_cn << ", " << crypto::CertUsageName(leaf.request.usage);
  if (!sans.empty()) std::cout << ", SANs " << Join(sans);
  if (!info->tenants.empty()) std::cout << ", tenants " << Join(info->tenants);
  std::cout << ", " << Expiry(info->not_after_unix) << "\n";
  return Status::Ok();
}

crypto::CertificateRequest NodeRequest(const std::string& node, const std::vector<std::string>& extra_ips, int days) {
  crypto::CertificateRequest req;
  req.common_name = node;
  req.dns_sans = {node + kDnsSuffix, "localhost"};
  req.ip_sans = {"127.0.0.1"};
  for (const auto& ip : extra_ips) {
    if (std::find(req.ip_sans.begin(), req.ip_sans.end(), ip) == req.ip_sans.end()) req.ip_sans.push_back(ip);
  }
  req.usage = CertUsage::kBoth;
  req.days = days;
  return req;
}

crypto::CertificateRequest OperatorRequest(const std::string& name, int days) {
  crypto::CertificateRequest req;
  req.common_name = "operator-" + name;
  req.usage = CertUsage::kClient;
  req.days = days;
  return req;
}

// Checks --tenants: "*" alone or tenant ids; duplicates dropped.
Status CheckTenants(std::vector<std::string>& tenants) {
  std::vector<std::string> out;
  for (const std::string& t : tenants) {
    if (!crypto::ValidCertTenant(t)) {
      return Status::InvalidArgument("--tenants: \"" + t + "\" is neither * nor a tenant id ([A-Z][A-Z0-9_]{0,31})");
    }
    if (std::find(out.begin(), out.end(), t) == out.end()) out.push_back(t);
  }
  if (out.size() > 1 && std::find(out.begin(), out.end(), "*") != out.end()) {
    return Status::InvalidArgument("--tenants: * already covers every tenant; give it alone");
  }
  tenants = std::move(out);
  return Status::Ok();
}

struct InitOptions {
  std::string dir;
  std::vector<std::string> nodes = {"node-a", "node-b", "node-c"};
  std::vector<std::string> operators = {"admin"};
  std::vector<std::string> tenants;
  std::vector<std::string> ips;  // "node=addr"
  int days = crypto::kDefaultCertDays;
  int ca_days = crypto::kDefaultCaDays;
  std::string ca_name = kDefaultCaName;
  bool force = false;
};

void Init(Context& ctx, InitOptions o) {
  if (Status s = CheckTenants(o.tenants); !s.ok()) return Fail(ctx, 2, "pki init: " + s.message());
  for (const auto& n : o.nodes) {
    if (!ValidNodeName(n)) {
      return Fail(ctx, 2, "pki init: node name \"" + n + "\" must be lower-case letters, digits and '-' (1-63)");
    }
  }
  for (const auto& n : o.operators) {
    if (!ValidOperatorName(n)) {
      return Fail(ctx, 2, "pki init: operator name \"" + n + "\" must be letters, digits, '-', '_' or '.' (1-48)");
    }
  }
  std::map<std::string, std::vector<std::string>> node_ips;
  for (const auto& n : o.nodes) {
    auto it = SpecAddresses().find(n);
    if (it != SpecAddresses().end()) node_ips[n].push_back(it->second);
  }
  std::map<std::string, bool> overridden;
  for (const auto& spec : o.ips) {
    size_t eq = spec.find('=');
    std::string node = spec.substr(0, eq);
    if (eq == std::string::npos || eq + 1 == spec.size()) {
      return Fail(ctx, 2, "pki init: --ip wants NODE=ADDRESS, got \"" + spec + "\"");
    }
    if (std::find(o.nodes.begin(), o.nodes.end(), node) == o.nodes.end()) {
      return Fail(ctx, 2,
                  "pki init: --ip " + spec + " names a node that is not in --nodes (" + Join(o.nodes, ",") + ")");
    }
    if (!overridden[node]) node_ips[node].clear();  // --ip replaces the spec address
    overridden[node] = true;
    node_ips[node].push_back(spec.substr(eq + 1));
  }
  if (o.days < 1 || o.days > crypto::kMaxCertDays || o.ca_days < 1 || o.ca_days > crypto::kMaxCertDays) {
    return Fail(ctx, 2, "pki init: --days and --ca-days must be 1.." + std::to_string(crypto::kMaxCertDays));
  }
  if (o.days > o.ca_days) {
    return Fail(ctx, 2,
                "pki init: --days " + std::to_string(o.days) + " outlives the CA (--ca-days " +
                    std::to_string(o.ca_days) + ")");
  }

  const std::string ca_crt = o.dir + "/ca.crt", ca_key = o.dir + "/ca.key";
  if (!o.force && (Exists(ca_crt) || Exists(ca_key))) {
    return Fail(ctx, 1,
                "pki init: " + (Exists(ca_crt) ? ca_crt : ca_key) +
                    " already exists; refusing to replace the CA (every certificate it issued would stop "
                    "verifying). Use `dsmilctl pki issue` to add or renew certificates, or --force to start "
                    "over");
  }
  auto ca = crypto::CreateCa(o.ca_name, o.ca_days);
  if (!ca.ok()) return Fail(ctx, 2, "pki init: " + ca.status().message());
  // Everything is issued in memory first, so a bad request writes nothing.
  std::vector<Leaf> leaves;
  for (const auto& n : o.nodes) leaves.push_back({n, "node", NodeRequest(n, node_ips[n], o.days), {}, {}});
  for (const auto& n : o.operators) {
    leaves.push_back({"operator-" + n, "operator", OperatorRequest(n, o.days), {}, o.tenants});
  }
  for (Leaf& leaf : leaves) {
    Status s = IssueLeaf(*ca, leaf);
    if (!s.ok()) return Fail(ctx, 2, "pki init: " + s.message());
  }
  std::error_code ec;
  std::filesystem::create_directories(o.dir, ec);
  if (ec) return Fail(ctx, 2, "pki init: cannot create " + o.dir + ": " + ec.message());
  Status s = WritePair(o.dir, "ca", *ca);
  if (!s.ok()) return Fail(ctx, 2, "pki init: " + s.message());
  auto ca_info = crypto::ParseCertificatePem(ca->cert_pem);
  std::cout << "PKI in " << o.dir << ":\n";
  std::cout << "  CA " << ca_crt << " + ca.key (0600)  CN=" << o.ca_name
            << (ca_info.ok() ? ", " + Expiry(ca_info->not_after_unix) : "") << "\n";
  for (Leaf& leaf : leaves) {
    s = WriteLeaf(o.dir, leaf);
    if (!s.ok()) return Fail(ctx, 2, "pki init: " + s.message());
  }
  // An empty revocation list, so nodes can point tls.crl at it from the start
  // (`dsmilctl pki revoke` adds to it).
  auto crl = crypto::CreateCrl(*ca, {}, 30, 1);
  if (!crl.ok()) return Fail(ctx, 2, "pki init: " + crl.status().message());
  s = crypto::WritePublicFile(o.dir + "/crl.pem", AsBytes(*crl));
  if (!s.ok()) return Fail(ctx, 2, "pki init: " + s.message());
  std::cout << "  CRL " << o.dir << "/crl.pem (empty; `dsmilctl pki revoke` adds to it)\n";
  crypto::SecureWipe(ca->key_pem.data(), ca->key_pem.size());
  std::cout << "Keep " << ca_key << " offline once every certificate is issued.\n";
  ctx.exit_code = 0;
}

struct IssueOptions {
  std::string dir, node, op;
  std::string kind, name;  // positional form: `pki issue operator NAME`
  std::vector<std::string> tenants;
  std::vector<std::string> ips;
  int days = crypto::kDefaultCertDays;
  bool force = false;
};

void Issue(Context& ctx, IssueOptions o) {
  if (!o.kind.empty()) {
    if (o.kind != "operator" && o.kind != "node") {
      return Fail(ctx, 2, "pki issue: \"" + o.kind + "\" is not a certificate kind (operator or node)");
    }
    if (o.name.empty()) return Fail(ctx, 2, "pki issue " + o.kind + ": give the " + o.kind + " name");
    if (!o.node.empty() || !o.op.empty()) {
      return Fail(ctx, 2, "pki issue: give the name either positionally or with --node/--operator");
    }
    (o.kind == "operator" ? o.op : o.node) = o.name;
  }
  if (Status s = CheckTenants(o.tenants); !s.ok()) return Fail(ctx, 2, "pki issue: " + s.message());
  if (!o.node.empty() && !o.tenants.empty()) {
    return Fail(ctx, 2, "pki issue: --tenants applies to operator certificates only");
  }
  if (o.node.empty() == o.op.empty()) return Fail(ctx, 2, "pki issue: give exactly one of --node or --operator");
  if (!o.node.empty() && !ValidNodeName(o.node)) {
    return Fail(ctx, 2, "pki issue: node name \"" + o.node + "\" must be lower-case letters, digits and '-' (1-63)");
  }
  if (!o.op.empty() && !ValidOperatorName(o.op)) {
    return Fail(ctx, 2, "pki issue: operator name \"" + o.op + "\" must be letters, digits, '-', '_' or '.' (1-48)");
  }
  if (!o.op.empty() && !o.ips.empty()) return Fail(ctx, 2, "pki issue: --ip applies to node certificates only");
  auto ca_cert = ReadText(o.dir + "/ca.crt");
  if (!ca_cert.ok()) return Fail(ctx, 2, "pki issue: " + ca_cert.status().message() + " (run `dsmilctl pki init`)");
  auto ca_key = crypto::ReadPrivateFile(o.dir + "/ca.key");
  if (!ca_key.ok()) return Fail(ctx, 2, "pki issue: " + ca_key.status().message());
  crypto::PemCertificate ca{*ca_cert, std::string(AsString(*ca_key))};
  crypto::SecureWipe(ca_key->data(), ca_key->size());
  auto ca_info = crypto::ParseCertificatePem(ca.cert_pem);
  if (!ca_info.ok()) return Fail(ctx, 2, "pki issue: " + o.dir + "/ca.crt holds no certificate");
  if (ca_info->not_after_unix < static_cast<int64_t>(time(nullptr)) + int64_t{o.days} * 86400) {
    std::cerr << "dsmilctl: warning: the CA expires " << crypto::FormatUtc(ca_info->not_after_unix)
              << ", before this certificate would\n";
  }

  std::string stem = o.node.empty() ? "operator-" + o.op : o.node;
  if (!o.force && Exists(o.dir + "/" + stem + ".crt")) {
    return Fail(ctx, 1, "pki issue: " + o.dir + "/" + stem + ".crt already exists; pass --force to replace it");
  }
  Leaf leaf{stem, o.node.empty() ? "operator" : "node", {}, {}, {}};
  if (!o.node.empty()) {
    std::vector<std::string> ips = o.ips;
    if (ips.empty()) {
      // Renewal keeps the addresses of the certificate it replaces.
      auto old = crypto::LoadCertificateFile(o.dir + "/" + stem + ".crt");
      if (old.ok()) ips = old->ip_sans;
    }
    auto it = SpecAddresses().find(o.node);
    if (ips.empty() && it != SpecAddresses().end()) ips.push_back(it->second);
    leaf.request = NodeRequest(o.node, ips, o.days);
  } else {
    std::vector<std::string> tenants = o.tenants;
    if (tenants.empty()) {
      // Renewal keeps the tenants of the certificate it replaces.
      auto old = crypto::LoadCertificateFile(o.dir + "/" + stem + ".crt");
      if (old.ok()) tenants = old->tenants;
    }
    leaf.request = OperatorRequest(o.op, o.days);
    leaf.tenants = std::move(tenants);
  }
  Status s = IssueLeaf(ca, leaf);
  crypto::SecureWipe(ca.key_pem.data(), ca.key_pem.size());
  if (s.ok()) s = WriteLeaf(o.dir, leaf);
  if (!s.ok()) return Fail(ctx, 2, "pki issue: " + s.message());
  ctx.exit_code = 0;
}

void Show(Context& ctx, const std::string& file, const std::string& ca_file) {
  auto pem = ReadText(file);
  if (!pem.ok()) return Fail(ctx, 2, "pki show: " + pem.status().message());
  auto info = crypto::ParseCertificatePem(*pem);
  if (!info.ok()) return Fail(ctx, 2, "pki show: " + file + " holds no PEM certificate");
  int64_t now = time(nullptr);
  bool bad = false;
  std::cout << "file:        " << file << "\n"
            << "subject:     CN=" << info->subject_cn << "\n"
            << "issuer:      CN=" << info->issuer_cn << "\n"
            << "serial:      " << info->serial_hex << "\n"
            << "key:         " << info->key_type << "\n"
            << "kind:        "
            << (info->is_ca                              ? "CA"
                : info->server_auth && info->client_auth ? "server+client"
                : info->server_auth                      ? "server"
                : info->client_auth                      ? "client"
                                                         : "none")
            << "\n";
  if (!info->dns_sans.empty()) std::cout << "DNS SANs:    " << Join(info->dns_sans) << "\n";
  if (!info->ip_sans.empty()) std::cout << "IP SANs:     " << Join(info->ip_sans) << "\n";
  if (!info->uri_sans.empty()) std::cout << "URI SANs:    " << Join(info->uri_sans) << "\n";
  if (!info->is_ca && info->client_auth && !info->server_auth) {
    std::cout << "tenants:     " << (info->tenants.empty() ? "(none)" : Join(info->tenants)) << "\n";
  }
  std::cout << "not before:  " << crypto::FormatUtc(info->not_before_unix);
  if (info->not_before_unix > now) {
    std::cout << "  (NOT YET VALID)";
    bad = true;
  }
  std::cout << "\nnot after:   " << crypto::FormatUtc(info->not_after_unix);
  int64_t left = info->not_after_unix - now;
  if (left < 0) {
    std::cout << "  (EXPIRED " << (-left) / 86400 << " days ago)";
    bad = true;
  } else {
    std::cout << "  (in " << left / 86400 << " days" << (left < 14 * 86400 ? "; renew now" : "") << ")";
  }
  std::cout << "\nsha256:      " << info->sha256_fingerprint << "\n";
  if (!ca_file.empty()) {
    auto ca = ReadText(ca_file);
    if (!ca.ok()) return Fail(ctx, 2, "pki show: " + ca.status().message());
    Status s = crypto::VerifyCertificate(*ca, *pem);
    std::cout << "verified:    " << (s.ok() ? "ok, issued by " + ca_file : "NO: " + s.message()) << "\n";
    if (!s.ok()) bad = true;
  }
  ctx.exit_code = bad ? 1 : 0;
}

const CommandGroup kPkiGroup([](CLI::App& app, Context& ctx) {
  auto init = std::make_shared<InitOptions>();
  auto issue = std::make_shared<IssueOptions>();
  auto show_file = std::make_shared<std::string>();
  auto show_ca = std::make_shared<std::string>();

  CLI::App* pki = Group(app, "pki", "Internal certificate authority for mTLS between nodes and operators");

  CLI::App* c_init = pki->add_subcommand("init", "Create the CA and the node and operator certificates");
  c_init->add_option("--dir", init->dir, "PKI directory (e.g. /etc/dsmil/certs)")->required();
  c_init->add_option("--nodes", init->nodes, "node names, comma-separated")->delimiter(',')->capture_default_str();
  c_init->add_option("--operators", init->operators, "operator names, comma-separated")
      ->delimiter(',')
      ->capture_default_str();
  c_init
      ->add_option("--tenants", init->tenants,
                   "tenants the operator certificates cover, comma-separated, or * for all (default: none)")
      ->delimiter(',');
  c_init->add_option("--ip", init->ips, "extra node address NODE=ADDRESS (replaces the spec's), repeatable");
  c_init->add_option("--days", init->days, "validity of node and operator certificates")->capture_default_str();
  c_init->add_option("--ca-days", init->ca_days, "validity of the CA certificate")->capture_default_str();
  c_init->add_option("--ca-name", init->ca_name, "CA common name")->capture_default_str();
  c_init->add_flag("--force", init->force, "replace an existing CA");
  c_init->callback([init, &ctx] { Init(ctx, *init); });

  CLI::App* c_issue = pki->add_subcommand("issue", "Issue or renew one certificate from the existing CA");
  c_issue->add_option("kind", issue->kind, "operator or node (with NAME; same as --operator/--node NAME)");
  c_issue->add_option("name", issue->name, "operator or node name");
  c_issue->add_option("--dir", issue->dir, "PKI directory holding ca.crt and ca.key")->required();
  c_issue
      ->add_option("--tenants", issue->tenants,
                   "tenants an operator certificate covers, comma-separated, or * for all (default: none)")
      ->delimiter(',');
  c_issue->add_option("--node", issue->node, "node name (server+client certificate)");
  c_issue->add_option("--operator", issue->op, "operator name (client certificate operator-NAME)");
  c_issue->add_option("--ip", issue->ips,
                      "node IP address SAN besides 127.0.0.1, repeatable (default: those of the certificate "
                      "being renewed, else the spec's address)");
  c_issue->add_option("--days", issue->days, "validity")->capture_default_str();
  c_issue->add_flag("--force", issue->force, "replace an existing certificate (renewal)");
  c_issue->callback([issue, &ctx] { Issue(ctx, *issue); });

  CLI::App* c_show = pki->add_subcommand("show", "Show a certificate: subject, SANs, usage, expiry");
  c_show->add_option("file", *show_file, "certificate file (PEM)")->required();
  c_show->add_option("--ca", *show_ca, "also verify that this CA issued it");
  c_show->callback([show_file, show_ca, &ctx] { Show(ctx, *show_file, *show_ca); });
});

}  // namespace
}  // namespace dsmil::ctl
