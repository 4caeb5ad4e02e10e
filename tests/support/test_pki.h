// A throw-away PKI for tests: one CA and the leaf certificates a test asks
// for, written into one directory the way nodes and dsmilctl read them: the
// CA as <dir>/<ca_name>.crt, each leaf as <dir>/<name>.crt (0644) with its
// key <dir>/<name>.key (0600: a key readable by others is refused).
//
//   auto pki = testing::TestPki::Create(dir_);
//   ASSERT_TRUE(pki.ok()) << pki.status().ToString();
//   ASSERT_TRUE(pki->IssueNode("node", "node-a").ok());
//   ASSERT_TRUE(pki->IssueOperator("alpha", "op-alpha", {"ALPHA"}).ok());
//
// Thread safety: one thread at a time per object.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "crypto/x509.h"

namespace dsmil::testing {

class TestPki {
 public:
  // Creates a CA named `ca_common_name`, valid for `days`, and writes
  // <dir>/<ca_name>.crt; `dir` is created when missing.
  static Result<TestPki> Create(std::string dir, std::string_view ca_common_name = "DSMIL Test CA",
                                int days = crypto::kDefaultCaDays, std::string ca_name = "ca");

  // Issues a leaf for `request`, an operator certificate covering `tenants`
  // when any are given, and writes <name>.crt and <name>.key.
  Result<crypto::PemCertificate> Issue(const std::string& name, const crypto::CertificateRequest& request,
                                       const std::vector<std::string>& tenants = {}) const;
  // A node's certificate: CN `common_name`, the IP SAN 127.0.0.1 and
  // `dns_sans`, serverAuth + clientAuth.
  Result<crypto::PemCertificate> IssueNode(const std::string& name, const std::string& common_name,
                                           std::vector<std::string> dns_sans = {},
                                           int days = crypto::kDefaultCertDays) const;
  // An operator's certificate (clientAuth only) covering `tenants`.
  Result<crypto::PemCertificate> IssueOperator(const std::string& name, const std::string& common_name,
                                               const std::vector<std::string>& tenants,
                                               int days = crypto::kDefaultCertDays) const;
  // Writes the CA's key as <dir>/<ca_name>.key (0600), for tools that issue
  // or revoke with it; returns its path.
  Result<std::string> WriteCaKey() const;

  const std::string& dir() const { return dir_; }
  const crypto::PemCertificate& ca() const { return ca_; }
  std::string ca_file() const { return crt(ca_name_); }
  std::string crt(const std::string& name) const { return dir_ + "/" + name + ".crt"; }
  std::string key(const std::string& name) const { return dir_ + "/" + name + ".key"; }

 private:
  TestPki(std::string dir, std::string ca_name, crypto::PemCertificate ca)
      : dir_(std::move(dir)), ca_name_(std::move(ca_name)), ca_(std::move(ca)) {}

  std::string dir_;
  std::string ca_name_;
  crypto::PemCertificate ca_;
};

// Writes `data` to `path` (replacing it) and gives it `mode`; Unavailable
// naming the path when either fails.
Status WriteTestFile(const std::string& path, std::string_view data, mode_t mode);

}  // namespace dsmil::testing
