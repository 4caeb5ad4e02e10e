#include "store/audit.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>

#include "core/clock.h"
#include "core/coding.h"
#include "crypto/ossl.h"
#include "crypto/sha3.h"
#include "store/archive_backends.h"

namespace dsmil::store {
namespace {

constexpr size_t kSha3_256Rate = 136;  // SHA3-256 block size (bytes), the HMAC block

std::string Sha3Hex(std::string_view data) {
  auto d = crypto::Sha3_256(AsBytes(data));
  return ToHex(d);
}

// HMAC (RFC 2104) over SHA3-256: block size 136 bytes.
std::array<uint8_t, 32> HmacSha3_256(std::string_view key, std::string_view msg) {
  std::array<uint8_t, kSha3_256Rate> k{};
  if (key.size() > kSha3_256Rate) {
    auto kd = crypto::Sha3_256(AsBytes(key));
    std::memcpy(k.data(), kd.data(), kd.size());
  } else {
    std::memcpy(k.data(), key.data(), key.size());
  }
  std::array<uint8_t, kSha3_256Rate> pad;
  for (size_t i = 0; i < pad.size(); ++i) pad[i] = uint8_t(k[i] ^ 0x36);
  crypto::Keccak inner(kSha3_256Rate, 0x06);
  inner.Absorb(pad);
  inner.Absorb(AsBytes(msg));
  std::array<uint8_t, 32> ih;
  inner.Squeeze(ih);
  for (size_t i = 0; i < pad.size(); ++i) pad[i] = uint8_t(k[i] ^ 0x5c);
  crypto::Keccak outer(kSha3_256Rate, 0x06);
  outer.Absorb(pad);
  outer.Absorb(ih);
  std::array<uint8_t, 32> out;
  outer.Squeeze(out);
  crypto::SecureWipe(k.data(), k.size());
  crypto::SecureWipe(pad.data(), pad.size());
  return out;
}

std::string RowHash(const std::string& prev_hash, int64_t seq, const AuditRow& row) {
  std::string m;
  m.reserve(prev_hash.size() + row.event_type.size() + row.actor.size() + row.detail.size() + 48);
  m += prev_hash;
  m += '\n';
  m += std::to_string(seq);
  m += '\n';
  m += std::to_string(row.ts_ms);
  m += '\n';
  m += row.event_type;
  m += '\n';
  m += row.actor;
  m += '\n';
  m += row.detail;
  return Sha3Hex(m);
}

std::string RowMac(const std::string& log_key, const std::string& hash) { return ToHex(HmacSha3_256(log_key, hash)); }

bool SameHex(const std::string& a, const std::string& b) {
  return a.size() == b.size() && crypto::ConstantTimeEquals(AsBytes(a), AsBytes(b));
}

std::string SeqRange(int64_t from, int64_t to) {
  if (from == to) return "row seq " + std::to_string(from);
  return "rows seq " + std::to_string(from) + " to " + std::to_string(to);
}

}  // namespace

void SealAuditRow(const AuditRow* prev, const std::string& log_key, AuditRow& row) {
  row.prev_hash = prev ? prev->hash : std::string(kAuditGenesisHash);
  row.hash = RowHash(row.prev_hash, row.seq, row);
  row.mac = RowMac(log_key, row.hash);
}

AuditVerdict VerifyAuditChain(std::span<const AuditRow> rows, const std::string& log_key) {
  AuditVerdict v;
  v.rows = rows.size();
  const size_t n = rows.size();

  // Where each stored hash sits (first occurrence).
  std::map<std::string, size_t> by_hash;
  for (size_t i = 0; i < n; ++i) by_hash.emplace(rows[i].hash, i);

  // The seq each row was sealed with: its own when its hash matches its
  // fields, else the seq its predecessor link implies (a moved row), else
  // unknown (an edited row). Resolved in order, following links backwards.
  std::vector<int64_t> sealed_seq(n, -1);
  std::vector<int> state(n, 0);  // 0 unresolved, 1 resolving, 2 done
  std::vector<bool> self_ok(n, false);
  for (size_t i = 0; i < n; ++i) self_ok[i] = RowHash(rows[i].prev_hash, rows[i].seq, rows[i]) == rows[i].hash;

  auto resolve = [&](size_t start) {
    // Iterative walk down the predecessor links, then unwind.
    std::vector<size_t> stack{start};
    while (!stack.empty()) {
      size_t i = stack.back();
      if (state[i] == 2) {
        stack.pop_back();
        continue;
      }
      if (self_ok[i]) {
        sealed_seq[i] = rows[i].seq;
        state[i] = 2;
        stack.pop_back();
        continue;
      }
      int64_t candidate = -1;
      if (rows[i].prev_hash == kAuditGenesisHash) {
        candidate = 1;
      } else if (auto it = by_hash.find(rows[i].prev_hash); it != by_hash.end() && it->second != i) {
        size_t p = it->second;
        if (state[p] == 0) {
          state[i] = 1;
          state[p] = 1;
          stack.push_back(p);
          continue;
        }
        if (state[p] == 2 && sealed_seq[p] > 0) candidate = sealed_seq[p] + 1;
      }
      if (candidate > 0 && RowHash(rows[i].prev_hash, candidate, rows[i]) == rows[i].hash) {
        sealed_seq[i] = candidate;
      }
      state[i] = 2;
      stack.pop_back();
    }
  };
  for (size_t i = 0; i < n; ++i) resolve(i);

  std::set<size_t> moved;
  for (size_t i = 0; i < n; ++i) {
    const AuditRow& r = rows[i];
    const std::string at = "row seq " + std::to_string(r.seq);
    if (i > 0 && r.seq <= rows[i - 1].seq) {
      v.problems.push_back(at + ": out of seq order after row seq " + std::to_string(rows[i - 1].seq));
    }
    if (sealed_seq[i] < 0) {
      v.problems.push_back(at + ": hash does not match its fields (edited)");
    } else if (sealed_seq[i] != r.seq) {
      moved.insert(i);
      v.problems.push_back(at + ": holds the row sealed as seq " + std::to_string(sealed_seq[i]) + " (reordered)");
    }
    if (!SameHex(RowMac(log_key, r.hash), r.mac)) {
      v.problems.push_back(at + ": MAC does not verify under the log key (row forged, inserted or re-hashed)");
    }
  }

  // Links between neighbours: deletions and insertions.
  for (size_t i = 0; i < n; ++i) {
    const AuditRow& r = rows[i];
    const std::string at = "row seq " + std::to_string(r.seq);
    if (moved.count(i)) continue;
    if (i == 0) {
      if (r.seq > 1) v.problems.push_back(SeqRange(1, r.seq - 1) + ": missing (deleted)");
      if (r.seq == 1 && r.prev_hash != kAuditGenesisHash) {
        v.problems.push_back(at + ": first row does not start from the genesis hash (rows before it inserted)");
      }
      continue;
    }
    const AuditRow& p = rows[i - 1];
    if (r.prev_hash == p.hash) continue;
    auto it = by_hash.find(r.prev_hash);
    if (it != by_hash.end()) {
      size_t pi = it->second;
      if (moved.count(pi) || moved.count(i - 1)) continue;  // explained by the reordering
      if (pi + 2 == i) {
        v.problems.push_back(at + ": links to row seq " + std::to_string(rows[pi].seq) + ", so row seq " +
                             std::to_string(p.seq) + " was inserted");
      } else {
        v.problems.push_back(at + ": links to row seq " + std::to_string(rows[pi].seq) + ", not to row seq " +
                             std::to_string(p.seq) + " (reordered)");
      }
      continue;
    }
    if (sealed_seq[i - 1] < 0) continue;  // the predecessor is edited in place; already named
    if (r.seq > p.seq + 1) {
      v.problems.push_back(SeqRange(p.seq + 1, r.seq - 1) + ": missing (deleted)");
    } else {
      v.problems.push_back(at + ": does not link to row seq " + std::to_string(p.seq) +
                           " (a row before it was deleted, replaced or re-hashed)");
    }
  }
  v.ok = v.problems.empty();
  return v;
}

std::string DescribeCheckpoint(const AuditCheckpoint& c) {
  return "checkpoint #" + std::to_string(c.counter) + " (signed " + FormatRfc3339Utc(c.ts_ms * 1000000, 0) + " by " +
         c.node + ")";
}

void CheckAuditAgainstCheckpoint(std::span<const AuditRow> rows, const AuditCheckpoint& cp, AuditVerdict& v) {
  v.trusted = cp;
  const std::string who = DescribeCheckpoint(cp);
  const std::string saw =
      "seq " + std::to_string(cp.seq) + " (" + std::to_string(cp.rows) + " row" + (cp.rows == 1 ? "" : "s") + ")";
  if (cp.seq <= 0) return;  // it saw an empty log: nothing it could miss
  if (rows.empty()) {
    v.problems.push_back("truncated: the log is empty but " + who + " saw " + saw +
                         " (every row deleted, or an older copy restored)");
  } else {
    int64_t last_seq = rows.back().seq;
    for (const auto& r : rows) last_seq = std::max(last_seq, r.seq);
    const AuditRow* at = nullptr;
    size_t upto = 0;
    for (const auto& r : rows) {
      if (r.seq == cp.seq && !at) at = &r;
      if (r.seq <= cp.seq) ++upto;
    }
    if (last_seq < cp.seq) {
      v.problems.push_back("truncated: the chain ends at seq " + std::to_string(last_seq) + " but " + who + " saw " +
                           saw + " (newest rows deleted, or an older copy restored)");
    } else if (!at) {
      v.problems.push_back("row seq " + std::to_string(cp.seq) + ", the head " + who + " saw, is missing");
    } else if (!SameHex(at->hash, cp.head)) {
      v.problems.push_back("rolled back: row seq " + std::to_string(cp.seq) + " is not the row " + who + " saw (hash " +
                           at->hash.substr(0, 16) + "..., signed " + cp.head.substr(0, 16) +
                           "...): the log was replaced by another copy or rewritten");
    } else if (int64_t(upto) < cp.rows) {
      v.problems.push_back("rows deleted: " + std::to_string(upto) + " rows up to seq " + std::to_string(cp.seq) +
                           " remain but " + who + " saw " + std::to_string(cp.rows));
    }
  }
}

AuditVerdict VerifyAuditAgainstCheckpoint(std::span<const AuditRow> rows, const std::string& log_key,
                                          const std::optional<AuditCheckpoint>& checkpoint) {
  AuditVerdict v = VerifyAuditChain(rows, log_key);
  if (checkpoint) {
    CheckAuditAgainstCheckpoint(rows, *checkpoint, v);
  } else {
    v.notes.push_back("no checkpoint: truncation cannot be detected");
  }
  v.ok = v.problems.empty();
  return v;
}

Status CreateSecretFileOnce(const std::string& path, const std::string& content) {
  std::array<uint8_t, 8> r{};
  DSMIL_RETURN_IF_ERROR(crypto::RandomBytes(r));
  const std::string tmp = path + ".tmp-" + ToHex(r);
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Unavailable("cannot create " + tmp + ": " + std::strerror(errno));
  bool ok = write(fd, content.data(), content.size()) == ssize_t(content.size());
  ok = fsync(fd) == 0 && ok;
  close(fd);
  if (!ok) {
    unlink(tmp.c_str());
    return Status::Unavailable("cannot write " + tmp);
  }
  int rc = link(tmp.c_str(), path.c_str());
  int err = errno;
  unlink(tmp.c_str());
  if (rc != 0 && err == EEXIST) return Status::AlreadyExists(path + " already exists");
  if (rc != 0) return Status::Unavailable("cannot create " + path + ": " + std::strerror(err));
  return Status::Ok();
}

Result<std::string> LoadOrCreateLogKey(const StoresConfig& config) {
  std::string dir = config.secrets_dir.empty() ? config.path + "/secrets" : config.secrets_dir;
  if (dir == "/secrets" && config.path.empty() && config.secrets_dir.empty()) {
    return Status::InvalidArgument("stores: neither secrets_dir nor path is set (no place for audit.key)");
  }
  std::string path = dir + "/audit.key";
  auto existing = ReadSecret(config, "audit.key");
  if (!existing.ok() && existing.status().code() != StatusCode::kNotFound) return existing.status();
  if (!existing.ok()) {
    for (size_t pos = 1; pos <= dir.size(); ++pos) {  // mkdir -p, 0700
      if (pos != dir.size() && dir[pos] != '/') continue;
      std::string part = dir.substr(0, pos);
      if (mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) {
        return Status::Unavailable("cannot create secrets directory " + part + ": " + std::strerror(errno));
      }
    }
    std::array<uint8_t, 32> key{};
    DSMIL_RETURN_IF_ERROR(crypto::RandomBytes(key));
    std::string hex = ToHex(key) + "\n";
    crypto::SecureWipe(key.data(), key.size());
    Status created = CreateSecretFileOnce(path, hex);
    if (!created.ok() && created.code() != StatusCode::kAlreadyExists) return created;
    crypto::SecureWipe(hex.data(), hex.size());
    existing = ReadSecret(config, "audit.key");
    if (!existing.ok()) return existing.status();
  }
  auto bytes = FromHex(*existing);
  if (!bytes.ok() || bytes->size() != 32) {
    return Status::FailedPrecondition("log key " + path + " is not 32 bytes of hex");
  }
  std::string key(bytes->begin(), bytes->end());
  crypto::SecureWipe(bytes->data(), bytes->size());
  return key;
}

}  // namespace dsmil::store
