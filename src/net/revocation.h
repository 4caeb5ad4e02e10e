// Certificate revocation for every TLS endpoint of src/net: the serial
// numbers listed in a CRL file (PEM, signed by the cluster CA), reloaded when
// the file changes.
//
// A RevocationList is loaded once per TLS context (TlsOptions::crl_file) and
// consulted in the certificate verify callback, so a revoked peer fails the
// TLS handshake; servers also check it again on connections that stay open
// (each HTTP request, each DBE frame), so a connection made before the
// revocation does not outlive it by more than the reload interval.
//
// Reloading: at most once per reload interval (1 s by default) a lookup
// stat()s the file; when its mtime, size or inode changed, the file is parsed
// and its signature checked against the CA again, and the new set of serials
// replaces the old one. A file that cannot be read, holds no CRL or does not
// verify leaves the previous set in force; the reason is logged (once per
// change of the file) and kept in last_error().
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "core/log.h"
#include "core/status.h"

namespace dsmil::net {

class RevocationList {
 public:
  struct Options {
    std::chrono::milliseconds reload_interval{1000};
    // Where reload failures and refused certificates are logged; null: stderr.
    const Logger* logger = nullptr;
  };

  // Reads `crl_file` and checks it against `ca_file`. Errors carry a "crl: "
  // prefix and name the file: NotFound when it does not exist,
  // PermissionDenied when it cannot be read, InvalidArgument when it holds no
  // PEM CRL, Unauthenticated when the CA in ca_file did not sign it.
  static Result<std::shared_ptr<RevocationList>> Load(const std::string& crl_file, const std::string& ca_file);
  static Result<std::shared_ptr<RevocationList>> Load(const std::string& crl_file, const std::string& ca_file,
                                                      const Options& options);

  RevocationList(const RevocationList&) = delete;
  RevocationList& operator=(const RevocationList&) = delete;
  ~RevocationList();

  // Whether the certificate with this serial (as crypto::NormalizeSerialHex
  // writes it: upper-case hex without leading zeros) is revoked. Reloads the
  // file first if it is due (see above).
  bool IsRevoked(std::string_view serial_hex);

  // Checks the file now, whatever the interval; reloads it if it changed.
  // Returns the error of a failed reload (the previous set stays in force).
  Status ReloadIfChanged();

  // Logs that a peer certificate was refused as revoked (one line per serial
  // every 10 s at most).
  void LogRefused(std::string_view where, std::string_view subject_cn, std::string_view serial_hex) const;

  // Number of serials in the set in force, and the CRL number of its file.
  size_t size() const;
  uint64_t crl_number() const;
  // The reason the last reload failed, "" when it succeeded.
  std::string last_error() const;
  const std::string& crl_file() const;

 private:
  struct Impl;
  explicit RevocationList(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Loads and checks a CRL as RevocationList::Load does, without keeping it
// (configuration checks).
Status CheckRevocationList(const std::string& crl_file, const std::string& ca_file);

}  // namespace dsmil::net
