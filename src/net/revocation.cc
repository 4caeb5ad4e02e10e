#include "net/revocation.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "core/mutex.h"
#include "crypto/x509.h"

namespace dsmil::net {
namespace {

using Clock = std::chrono::steady_clock;

// A CRL file larger than this is refused (a cluster CRL holds a handful of
// entries; 16 MiB is room for about 300 000).
constexpr off_t kMaxCrlBytes = 16 << 20;

constexpr std::chrono::seconds kRefusalLogInterval{10};

// What identifies one version of the file.
struct FileStamp {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  int64_t mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

Result<FileStamp> Stat(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    std::string msg = "crl: cannot read " + path + ": " + std::strerror(err);
    return err == ENOENT ? Status::NotFound(msg) : Status::PermissionDenied(msg);
  }
  return FileStamp{st.st_dev, st.st_ino, st.st_size,
                   int64_t{st.st_mtim.tv_sec} * 1000000000 + int64_t{st.st_mtim.tv_nsec}};
}

Result<std::string> ReadSmallFile(const std::string& path, const std::string& what) {
  if (::access(path.c_str(), R_OK) != 0) {
    int err = errno;
    std::string msg = "crl: cannot read " + what + " " + path + ": " + std::strerror(err);
    return err == ENOENT ? Status::NotFound(msg) : Status::PermissionDenied(msg);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::PermissionDenied("crl: cannot open " + what + " " + path);
  std::ostringstream data;
  data << in.rdbuf();
  std::string out = data.str();
  if (static_cast<off_t>(out.size()) > kMaxCrlBytes) {
    return Status::InvalidArgument("crl: " + path + " is larger than " + std::to_string(kMaxCrlBytes) + " bytes");
  }
  return out;
}

struct Parsed {
  std::shared_ptr<const std::unordered_set<std::string>> serials;
  uint64_t number = 0;
};

// Reads, verifies and parses the CRL (the CA file is read again each time,
// so a CA bundle replaced along with the CRL is honoured).
Result<Parsed> ReadCrl(const std::string& crl_file, const std::string& ca_file) {
  if (crl_file.empty()) return Status::InvalidArgument("crl: file is not set");
  DSMIL_ASSIGN_OR_RETURN(std::string crl_pem, ReadSmallFile(crl_file, "CRL"));
  DSMIL_ASSIGN_OR_RETURN(std::string ca_pem, ReadSmallFile(ca_file, "CA"));
  auto info = crypto::ParseCrlPem(crl_pem);
  if (!info.ok()) return Status::InvalidArgument("crl: " + crl_file + " holds no PEM CRL (X509 CRL)");
  Status verified = crypto::VerifyCrl(ca_pem, crl_pem);
  if (!verified.ok()) {
    return Status(verified.code(),
                  "crl: " + crl_file + " does not verify against " + ca_file + ": " + verified.message());
  }
  auto serials = std::make_shared<std::unordered_set<std::string>>();
  for (const auto& r : info->revoked) {
    auto hex = crypto::NormalizeSerialHex(r.serial_hex);
    if (hex.ok()) serials->insert(*hex);
  }
  return Parsed{std::move(serials), info->number};
}

}  // namespace

struct RevocationList::Impl {
  std::string crl_file, ca_file;
  Options options;
  std::unique_ptr<Logger> own_logger;  // when options.logger is null

  std::atomic<int64_t> next_check_ns{0};        // steady clock; the next lookup that may stat the file
  Mutex reload_mu;                              // one reload at a time
  FileStamp stamp DSMIL_GUARDED_BY(reload_mu);  // the version in force, or the last refused one
  mutable Mutex mu;
  Parsed current DSMIL_GUARDED_BY(mu);
  std::string last_error DSMIL_GUARDED_BY(mu);
  // When each refused serial was last logged (a peer retrying in a loop gets
  // one line per kRefusalLogInterval). Holds revoked serials only.
  std::unordered_map<std::string, Clock::time_point> refusal_logged DSMIL_GUARDED_BY(mu);

  const Logger& log() const { return options.logger ? *options.logger : *own_logger; }

  static int64_t Now() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
  }

  Status Check() {
    MutexLock reload(reload_mu);
    next_check_ns.store(Now() + std::chrono::nanoseconds(options.reload_interval).count());
    auto st = Stat(crl_file);
    if (st.ok() && *st == stamp) return Status::Ok();
    Status s = st.status();
    if (st.ok()) {
      stamp = *st;
      auto parsed = ReadCrl(crl_file, ca_file);
      if (parsed.ok()) {
        size_t n = parsed->serials->size();
        uint64_t number = parsed->number;
        {
          MutexLock lock(mu);
          current = std::move(*parsed);
          last_error.clear();
        }
        log().Info(
            "crl reloaded",
            {{"file", crl_file}, {"revoked", static_cast<int64_t>(n)}, {"crl_number", static_cast<int64_t>(number)}});
        return Status::Ok();
      }
      s = parsed.status();
    } else {
      stamp = FileStamp{};  // a file that comes back is read again
    }
    bool first = false;
    {
      MutexLock lock(mu);
      first = last_error != s.message();
      last_error = s.message();
    }
    if (first) {
      log().Warn("crl reload failed; the previous revocation list stays in force",
                 {{"file", crl_file}, {"error", s.message()}});
    }
    return s;
  }
};

RevocationList::RevocationList(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RevocationList::~RevocationList() = default;

Result<std::shared_ptr<RevocationList>> RevocationList::Load(const std::string& crl_file, const std::string& ca_file) {
  return Load(crl_file, ca_file, Options{});
}

Result<std::shared_ptr<RevocationList>> RevocationList::Load(const std::string& crl_file, const std::string& ca_file,
                                                             const Options& options) {
  auto impl = std::make_unique<Impl>();
  impl->crl_file = crl_file;
  impl->ca_file = ca_file;
  impl->options = options;
  if (!options.logger) impl->own_logger = std::make_unique<Logger>();
  DSMIL_ASSIGN_OR_RETURN(FileStamp stamp, Stat(crl_file));
  DSMIL_ASSIGN_OR_RETURN(Parsed parsed, ReadCrl(crl_file, ca_file));
  {
    // Not shared yet; the locks are held all the same, as for every use.
    MutexLock reload(impl->reload_mu);
    MutexLock lock(impl->mu);
    impl->stamp = stamp;
    impl->current = std::move(parsed);
  }
  impl->next_check_ns.store(Impl::Now() + std::chrono::nanoseconds(options.reload_interval).count());
  return std::shared_ptr<RevocationList>(new RevocationList(std::move(impl)));
}

bool RevocationList::IsRevoked(std::string_view serial_hex) {
  int64_t now = Impl::Now();
  int64_t due = impl_->next_check_ns.load(std::memory_order_relaxed);
  // One caller per interval checks the file; the others use the set in force.
  if (now >= due && impl_->next_check_ns.compare_exchange_strong(
                        due, now + std::chrono::nanoseconds(impl_->options.reload_interval).count())) {
    (void)impl_->Check();
  }
  std::shared_ptr<const std::unordered_set<std::string>> serials;
  {
    MutexLock lock(impl_->mu);
    serials = impl_->current.serials;
  }
  return serials && serials->count(std::string(serial_hex)) != 0;
}

Status RevocationList::ReloadIfChanged() { return impl_->Check(); }

void RevocationList::LogRefused(std::string_view where, std::string_view subject_cn,
                                std::string_view serial_hex) const {
  {
    auto now = Clock::now();
    MutexLock lock(impl_->mu);
    auto [it, inserted] = impl_->refusal_logged.try_emplace(std::string(serial_hex), now);
    if (!inserted) {
      if (now - it->second < kRefusalLogInterval) return;
      it->second = now;
    }
  }
  impl_->log().Warn("revoked certificate refused",
                    {{"where", where}, {"cn", subject_cn}, {"serial", serial_hex}, {"crl", impl_->crl_file}});
}

size_t RevocationList::size() const {
  MutexLock lock(impl_->mu);
  return impl_->current.serials ? impl_->current.serials->size() : 0;
}

uint64_t RevocationList::crl_number() const {
  MutexLock lock(impl_->mu);
  return impl_->current.number;
}

std::string RevocationList::last_error() const {
  MutexLock lock(impl_->mu);
  return impl_->last_error;
}

const std::string& RevocationList::crl_file() const { return impl_->crl_file; }

Status CheckRevocationList(const std::string& crl_file, const std::string& ca_file) {
  return ReadCrl(crl_file, ca_file).status();
}

}  // namespace dsmil::net
