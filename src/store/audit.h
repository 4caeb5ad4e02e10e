// The tamper-evident audit chain (spec §4.3, §7.2). Each row's hash covers the
// previous row's hash and the row's own fields, and its MAC (HMAC over SHA3-256)
// is keyed with the node log key, so an edited, deleted, inserted or
// reordered row breaks the chain at a place VerifyAuditChain names.
//
// hash = SHA3-256( prev_hash_hex || "\n" || seq || "\n" || ts_ms || "\n" ||
//                  event_type || "\n" || actor || "\n" || detail )
// mac  = HMAC-SHA3-256(log_key, hash_hex)
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "store/archive.h"
#include "store/config.h"

namespace dsmil::store {

inline constexpr char kAuditGenesisHash[] = "0000000000000000000000000000000000000000000000000000000000000000";

// Fills prev_hash (from `prev`, or the genesis hash when null), hash and mac.
void SealAuditRow(const AuditRow* prev, const std::string& log_key, AuditRow& row);

// A signed statement of a tenant's chain head at one moment, kept outside the
// stores (store/audit_checkpoint.h writes, signs and reads them). The chain
// alone cannot show that its newest rows were deleted, or that the whole log
// was replaced by an older copy: a checkpoint can.
struct AuditCheckpoint {
  std::string tenant;
  int64_t counter = 0;  // 1, 2, 3, ... in the tenant's checkpoint file
  int64_t seq = 0;      // the newest seq the signer saw (0: empty log)
  int64_t rows = 0;     // how many rows the log held
  std::string head;     // hex hash of row `seq` (kAuditGenesisHash when empty)
  int64_t ts_ms = 0;    // when it was signed, ms since the Unix epoch
  std::string node;     // the node that signed it
};
// "checkpoint #12 (signed 2026-12-07T16:00:00Z by node-a)"
std::string DescribeCheckpoint(const AuditCheckpoint& c);

struct AuditVerdict {
  bool ok = true;
  size_t rows = 0;
  std::vector<std::string> problems;  // "row seq 7: hash does not match its fields (edited)"
  // Remarks that do not fail the verdict, e.g. "no checkpoint: truncation
  // cannot be detected".
  std::vector<std::string> notes;
  // The checkpoint the rows were checked against (VerifyAuditAgainstCheckpoint).
  std::optional<AuditCheckpoint> trusted;
};
AuditVerdict VerifyAuditChain(std::span<const AuditRow> rows, const std::string& log_key);

// VerifyAuditChain, then the rows against `checkpoint`, a checkpoint whose
// signature was already verified (the latest valid one): the log must still
// reach the checkpoint's seq, hold the row the checkpoint saw at that seq, and
// no fewer rows up to it. Reported as problems:
//   "truncated: the log is empty but checkpoint #12 (...) saw seq 57"
//   "truncated: the chain ends at seq 40 but checkpoint #12 (...) saw seq 57"
//   "rolled back: row seq 57 is not the row checkpoint #12 (...) saw ..."
// Without a checkpoint the chain is still verified and the verdict notes
// "no checkpoint: truncation cannot be detected".
AuditVerdict VerifyAuditAgainstCheckpoint(std::span<const AuditRow> rows, const std::string& log_key,
                                          const std::optional<AuditCheckpoint>& checkpoint);
// Only the checkpoint part of VerifyAuditAgainstCheckpoint, appended to `v`.
void CheckAuditAgainstCheckpoint(std::span<const AuditRow> rows, const AuditCheckpoint& checkpoint, AuditVerdict& v);

// The node log key: <secrets_dir>/audit.key (32 random bytes, hex), created
// with mode 0600 when absent.
Result<std::string> LoadOrCreateLogKey(const StoresConfig& config);

}  // namespace dsmil::store
