#include "temp_cert.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "crypto/keyfile.h"
#include "crypto/x509.h"
#include "file_util.h"

namespace dsmil::ctl {

TempOperatorCert::TempOperatorCert(std::string dir)
    : dir_(std::move(dir)), cert_file_(dir_ + "/operator.crt"), key_file_(dir_ + "/operator.key") {}

TempOperatorCert::~TempOperatorCert() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

Result<std::unique_ptr<TempOperatorCert>> TempOperatorCert::Issue(const std::string& ca_dir,
                                                                  const std::string& common_name,
                                                                  const std::vector<std::string>& tenants) {
  std::error_code ec;
  if (ca_dir.empty() || !std::filesystem::exists(ca_dir + "/ca.key", ec)) {
    return Status::FailedPrecondition("no CA key in " + (ca_dir.empty() ? std::string("(unknown)") : ca_dir) +
                                      " to issue a temporary operator certificate (--ca-dir)");
  }
  auto ca_key = crypto::ReadPrivateFile(ca_dir + "/ca.key");
  if (!ca_key.ok()) return ca_key.status();
  auto ca_text = ReadText(ca_dir + "/ca.crt");
  if (!ca_text.ok()) return Status::FailedPrecondition(ca_dir + "/ca.crt is unreadable");
  crypto::CertificateRequest req;
  req.common_name = common_name;
  req.usage = crypto::CertUsage::kClient;
  req.days = 1;
  auto cert = crypto::IssueCertificate(crypto::PemCertificate{*ca_text, std::string(AsString(*ca_key))}, req, tenants);
  if (!cert.ok()) return cert.status();
  std::string tmpl = (std::filesystem::temp_directory_path() / "dsmil-probe-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) return Status::Internal("cannot make a temporary directory in /tmp");
  std::unique_ptr<TempOperatorCert> out(new TempOperatorCert(tmpl));
  std::ofstream(out->cert_file_) << cert->cert_pem;
  int fd = ::open(out->key_file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  bool written = fd >= 0 && ::write(fd, cert->key_pem.data(), cert->key_pem.size()) == ssize_t(cert->key_pem.size());
  if (fd >= 0) ::close(fd);
  if (!written) return Status::Internal("cannot write " + out->key_file_);
  return out;
}

}  // namespace dsmil::ctl
