// Signed checkpoints of the tenants' audit chains (docs/audit.md).
//
// The audit chain (store/audit.h) shows edited, inserted and reordered rows,
// but not that its newest rows were deleted or that the whole log was put
// back to an older copy: whoever can rewrite the log can also re-MAC it, since
// the log key sits beside it. A checkpoint records a tenant's chain head
// (tenant, seq, head hash, row count, time, signing node, a counter) signed
// with ML-DSA-87 (FIPS 204, context string kAuditCheckpointContext) by a key
// of its own, and is appended to a file per tenant in a directory outside the
// stores (never under stores.path or secrets_dir). A verifier needs only the
// public key.
//
// Checkpoint file <dir>/<TENANT>.ckpt: one checkpoint per line,
//   dsmil-audit-checkpoint v1 tenant=ALPHA counter=12 seq=57 rows=57
//   head=<64 hex> ts_ms=1796659200000 node=node-a sig=<9254 hex>
// (one line; fields in this order, separated by one space). The signature
// covers the bytes of the line before " sig=". Lines are only appended.
//
// Signing key: PREFIX.key (0600) and PREFIX.pub, crypto/keyfile.h format;
// default prefix <dir>/checkpoint-mldsa87, created on first use.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/coding.h"
#include "core/log.h"
#include "core/mutex.h"
#include "core/status.h"
#include "crypto/ossl.h"
#include "store/archive.h"
#include "store/audit.h"
#include "store/config.h"

namespace dsmil::store {

// FIPS 204 context string of every checkpoint signature.
inline constexpr char kAuditCheckpointContext[] = "DSMIL-AUDIT-CHECKPOINT-v1";
// First token of every checkpoint line.
inline constexpr char kAuditCheckpointMagic[] = "dsmil-audit-checkpoint";
// Default key prefix inside the checkpoint directory.
inline constexpr char kAuditCheckpointKeyName[] = "checkpoint-mldsa87";

// <dir>/<TENANT>.ckpt
std::string AuditCheckpointFile(const std::string& dir, const std::string& tenant);
// <dir>/checkpoint-mldsa87
std::string DefaultAuditCheckpointKeyPrefix(const std::string& dir);

// The signed part of a checkpoint line (everything before " sig=").
std::string AuditCheckpointPayload(const AuditCheckpoint& c);
// The whole line, newline included, signed with `secret_key` (FIPS 204
// skEncode bytes).
Result<std::string> SignAuditCheckpoint(const AuditCheckpoint& c, ByteView secret_key);
// Parses one line (without its newline) and verifies its signature under
// `public_key`. Unauthenticated when the signature does not verify,
// InvalidArgument naming the field when the line is malformed.
Result<AuditCheckpoint> ParseAuditCheckpoint(std::string_view line, ByteView public_key);

// A tenant's checkpoint file as read and verified.
struct AuditCheckpointLog {
  std::string file;
  bool exists = false;
  size_t lines = 0;  // complete lines
  size_t valid = 0;  // lines whose signature verified
  // The valid checkpoint with the highest counter: the one a verifier trusts.
  std::optional<AuditCheckpoint> latest;
  int64_t max_counter = 0;  // highest counter of any valid line
  // Rejected lines, counters out of order, checkpoints that went backwards:
  // "checkpoint file F line 3: signature does not verify (...); rejected".
  std::vector<std::string> problems;
  // Not failures: an incomplete last line (a write cut short by a crash).
  std::vector<std::string> notes;
};
// Checks the lines of a checkpoint file's text for `tenant`.
AuditCheckpointLog ParseAuditCheckpointLog(std::string_view text, const std::string& tenant, ByteView public_key,
                                           const std::string& file_name);
// Reads <dir>/<TENANT>.ckpt. A missing file is an empty log (exists false);
// an unreadable one is an error.
Result<AuditCheckpointLog> ReadAuditCheckpointLog(const std::string& dir, const std::string& tenant,
                                                  ByteView public_key);

// The chain verified against the log's latest valid checkpoint
// (VerifyAuditAgainstCheckpoint); the log's own problems are problems of the
// verdict and its notes are notes.
AuditVerdict VerifyAuditWithCheckpoints(std::span<const AuditRow> rows, const std::string& log_key,
                                        const AuditCheckpointLog& log);

// The signing key at PREFIX.key / PREFIX.pub, created (0600 / 0644, parent
// directories 0700) when neither file exists. A .pub without its .key, or a
// pair whose halves do not match, is FailedPrecondition.
struct AuditCheckpointKey {
  Bytes public_key;
  crypto::SecretBytes secret_key;
};
Result<AuditCheckpointKey> LoadOrCreateAuditCheckpointKey(const std::string& prefix);
// PREFIX.pub or any raw ML-DSA-87 public key file.
Result<Bytes> ReadAuditCheckpointPublicKey(const std::string& path);

// True when `path` is `dir` or lies under it (after resolving symbolic links
// and "..", for the parts that exist).
bool PathIsInside(const std::string& path, const std::string& dir);

struct AuditCheckpointerOptions {
  StoresConfig stores;               // where the tenants' archives are
  std::vector<std::string> tenants;  // checkpointed by the background thread
  std::string dir;                   // checkpoint directory; outside stores.path and secrets_dir
  std::string signing_key;           // key prefix; "" = DefaultAuditCheckpointKeyPrefix(dir)
  std::string node;                  // signer name written into each checkpoint
  std::chrono::milliseconds interval{std::chrono::seconds(60)};
  const Clock* clock = nullptr;  // null: DefaultClock()
  const Logger* log = nullptr;   // null: DefaultLogger()
};

// Checkpoints the tenants' chain heads: on demand (Checkpoint), every
// `interval` on a background thread (Start), and once more on Stop. A head
// that did not change since the tenant's last checkpoint is not written
// again. A head that does not extend the last checkpoint (fewer rows than it
// saw, or another row at its seq) is never signed: Checkpoint returns
// DataLoss naming the checkpoint, and the thread logs it as an error, so a
// truncation is not laundered by a fresh checkpoint.
//
// Thread-safe.
class AuditCheckpointer {
 public:
  // Checks the options (dir outside stores.path and secrets_dir, node name,
  // tenant ids), creates the directory (0700) and loads or creates the key.
  static Result<std::unique_ptr<AuditCheckpointer>> Create(AuditCheckpointerOptions options);
  ~AuditCheckpointer();
  AuditCheckpointer(const AuditCheckpointer&) = delete;
  AuditCheckpointer& operator=(const AuditCheckpointer&) = delete;

  // Starts the background thread (at most once).
  Status Start();
  // Stops the thread, then checkpoints every tenant once more. Idempotent.
  void Stop();

  // Signs and appends a checkpoint of `tenant`'s current head; nullopt when
  // the head did not change (or the tenant has no rows and no checkpoint yet).
  Result<std::optional<AuditCheckpoint>> Checkpoint(const std::string& tenant);

  const Bytes& public_key() const { return key_.public_key; }
  const std::string& dir() const { return options_.dir; }

 private:
  struct TenantState {
    bool loaded = false;
    std::optional<AuditCheckpoint> latest;
    int64_t max_counter = 0;
    int64_t file_size = -1;  // size after our last read or append; another size means reload
  };

  explicit AuditCheckpointer(AuditCheckpointerOptions options, AuditCheckpointKey key);
  // `st` is an entry of tenants_: these run with mu_ held.
  Result<std::optional<AuditCheckpoint>> CheckpointLocked(const std::string& tenant, TenantState& st)
      DSMIL_REQUIRES(mu_);
  Status LoadState(const std::string& tenant, TenantState& st) DSMIL_REQUIRES(mu_);
  Status Append(const std::string& tenant, const std::string& line, TenantState& st) DSMIL_REQUIRES(mu_);
  void RunAll(bool final_round);
  void Loop();

  AuditCheckpointerOptions options_;
  AuditCheckpointKey key_;
  const Clock& clock_;
  const Logger& log_;

  Mutex mu_;  // serialises checkpoints
  std::map<std::string, TenantState> tenants_ DSMIL_GUARDED_BY(mu_);
  std::map<std::string, std::string> last_error_ DSMIL_GUARDED_BY(mu_);  // for logging changes only

  Mutex thread_mu_;
  CondVar cv_;
  bool stop_requested_ DSMIL_GUARDED_BY(thread_mu_) = false;
  bool started_ DSMIL_GUARDED_BY(thread_mu_) = false;
  bool stopped_ DSMIL_GUARDED_BY(thread_mu_) = false;
  std::thread thread_;
};

}  // namespace dsmil::store
