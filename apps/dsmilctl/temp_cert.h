// A short-lived operator certificate issued by the cluster CA for a probe
// (dsmilctl tenant list --probe, dsmilctl redteam run): it covers exactly the
// tenants asked for (none, or one), lives one day, and its files are removed
// when the object goes away.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace dsmil::ctl {

class TempOperatorCert {
 public:
  // Issues CN `common_name` covering `tenants` with the CA in `ca_dir`
  // (ca.crt, ca.key) into a fresh private temporary directory.
  // FailedPrecondition when ca_dir has no CA key; other errors name the file.
  static Result<std::unique_ptr<TempOperatorCert>> Issue(const std::string& ca_dir, const std::string& common_name,
                                                         const std::vector<std::string>& tenants);
  ~TempOperatorCert();
  TempOperatorCert(const TempOperatorCert&) = delete;
  TempOperatorCert& operator=(const TempOperatorCert&) = delete;

  const std::string& cert_file() const { return cert_file_; }
  const std::string& key_file() const { return key_file_; }

 private:
  explicit TempOperatorCert(std::string dir);
  std::string dir_, cert_file_, key_file_;
};

}  // namespace dsmil::ctl
