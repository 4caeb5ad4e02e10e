// The tamper-evident audit chain (spec §4.3, §7.2). Each row's hash covers the
// previous row's hash and the row's own fields, and its MAC (HMAC over SHA3-256)
// is keyed with the node log key, so an edited, deleted, inserted or
// reordered row breaks the chain at a place VerifyAuditChain names.
//
// hash = SHA3-256( prev_hash_hex || "\n" || seq || "\n" || ts_ms || "\n" ||
//                  event_type || "\n" || actor || "\n" || detail )
// mac  = HMAC-SHA3-256(log_key, hash_hex)
#pragma once

#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "store/archive.h"
#include "store/config.h"

namespace dsmil::store {

inline constexpr char kAuditGenesisHash[] =
    "0000000000000000000000000000000000000000000000000000000000000000";

// Fills prev_hash (from `prev`, or the genesis hash when null), hash and mac.
void SealAuditRow(const AuditRow* prev, const std::string& log_key, AuditRow& row);

struct AuditVerdict {
  bool ok = true;
  size_t rows = 0;
  std::vector<std::string> problems;  // "row seq 7: hash does not match its fields (edited)"
};
AuditVerdict VerifyAuditChain(std::span<const AuditRow> rows, const std::string& log_key);

// The node log key: <secrets_dir>/audit.key (32 random bytes, hex), created
// with mode 0600 when absent.
Result<std::string> LoadOrCreateLogKey(const StoresConfig& config);

}  // namespace dsmil::store
