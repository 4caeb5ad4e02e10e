#include "test_pki.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>

namespace dsmil::testing {

Status WriteTestFile(const std::string& path, std::string_view data, mode_t mode) {
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(data.data(), static_cast<std::streamsize>(data.size()));
    f.close();
    if (!f) return Status::Unavailable("cannot write " + path);
  }
  if (::chmod(path.c_str(), mode) != 0) return Status::Unavailable("chmod " + path + ": " + std::strerror(errno));
  return Status::Ok();
}

Result<TestPki> TestPki::Create(std::string dir, std::string_view ca_common_name, int days, std::string ca_name) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::Unavailable("cannot create " + dir + ": " + ec.message());
  DSMIL_ASSIGN_OR_RETURN(crypto::PemCertificate ca, crypto::CreateCa(ca_common_name, days));
  TestPki pki(std::move(dir), std::move(ca_name), std::move(ca));
  DSMIL_RETURN_IF_ERROR(WriteTestFile(pki.ca_file(), pki.ca_.cert_pem, 0644));
  return pki;
}

Result<crypto::PemCertificate> TestPki::Issue(const std::string& name, const crypto::CertificateRequest& request,
                                              const std::vector<std::string>& tenants) const {
  DSMIL_ASSIGN_OR_RETURN(crypto::PemCertificate leaf, crypto::IssueCertificate(ca_, request, tenants));
  DSMIL_RETURN_IF_ERROR(WriteTestFile(crt(name), leaf.cert_pem, 0644));
  DSMIL_RETURN_IF_ERROR(WriteTestFile(key(name), leaf.key_pem, 0600));
  return leaf;
}

Result<crypto::PemCertificate> TestPki::IssueNode(const std::string& name, const std::string& common_name,
                                                  std::vector<std::string> dns_sans, int days) const {
  return Issue(name, {common_name, std::move(dns_sans), {"127.0.0.1"}, crypto::CertUsage::kBoth, days});
}

Result<crypto::PemCertificate> TestPki::IssueOperator(const std::string& name, const std::string& common_name,
                                                      const std::vector<std::string>& tenants, int days) const {
  return Issue(name, {common_name, {}, {}, crypto::CertUsage::kClient, days}, tenants);
}

Result<std::string> TestPki::WriteCaKey() const {
  std::string path = key(ca_name_);
  DSMIL_RETURN_IF_ERROR(WriteTestFile(path, ca_.key_pem, 0600));
  return path;
}

}  // namespace dsmil::testing
