#include "store/audit_checkpoint.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "crypto/keyfile.h"
#include "crypto/mldsa.h"
#include "store/scope.h"

namespace dsmil::store {
namespace {

namespace fs = std::filesystem;

constexpr char kSigField[] = " sig=";

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool ValidNodeName(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// A non-negative decimal without sign or leading zeros (except "0").
std::optional<int64_t> ParseCount(std::string_view s) {
  if (s.empty() || s.size() > 18 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

Status MakeDirs(const std::string& dir) {
  for (size_t pos = 1; pos <= dir.size(); ++pos) {  // mkdir -p, 0700
    if (pos != dir.size() && dir[pos] != '/') continue;
    std::string part = dir.substr(0, pos);
    if (mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) {
      return Status::Unavailable("cannot create directory " + part + ": " + std::strerror(errno));
    }
  }
  return Status::Ok();
}

bool Exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

}  // namespace

std::string AuditCheckpointFile(const std::string& dir, const std::string& tenant) {
  return dir + "/" + tenant + ".ckpt";
}

std::string DefaultAuditCheckpointKeyPrefix(const std::string& dir) { return dir + "/" + kAuditCheckpointKeyName; }

std::string AuditCheckpointPayload(const AuditCheckpoint& c) {
  return std::string(kAuditCheckpointMagic) + " v1 tenant=" + c.tenant + " counter=" + std::to_string(c.counter) +
         " seq=" + std::to_string(c.seq) + " rows=" + std::to_string(c.rows) + " head=" + c.head +
         " ts_ms=" + std::to_string(c.ts_ms) + " node=" + c.node;
}

Result<std::string> SignAuditCheckpoint(const AuditCheckpoint& c, ByteView secret_key) {
  if (!TenantScope::For(c.tenant).ok()) return Status::InvalidArgument("checkpoint: bad tenant id '" + c.tenant + "'");
  if (!ValidNodeName(c.node)) return Status::InvalidArgument("checkpoint: bad node name '" + c.node + "'");
  if (c.head.size() != 64 || !IsLowerHex(c.head)) return Status::InvalidArgument("checkpoint: head is not 64 hex");
  if (c.counter < 1 || c.seq < 0 || c.rows < 0 || c.ts_ms < 0) {
    return Status::InvalidArgument("checkpoint: counter, seq, rows or ts_ms out of range");
  }
  std::string payload = AuditCheckpointPayload(c);
  DSMIL_ASSIGN_OR_RETURN(Bytes sig,
                         crypto::MlDsa87Sign(secret_key, AsBytes(payload), AsBytes(kAuditCheckpointContext)));
  return payload + kSigField + ToHex(sig) + "\n";
}

Result<AuditCheckpoint> ParseAuditCheckpoint(std::string_view line, ByteView public_key) {
  size_t at = line.rfind(kSigField);
  if (at == std::string_view::npos) return Status::InvalidArgument("no sig= field");
  std::string_view payload = line.substr(0, at);
  std::string_view sig_hex = line.substr(at + std::strlen(kSigField));
  if (sig_hex.size() != 2 * crypto::kMlDsa87SignatureBytes || !IsLowerHex(sig_hex)) {
    return Status::InvalidArgument("sig is not " + std::to_string(2 * crypto::kMlDsa87SignatureBytes) + " hex digits");
  }
  DSMIL_ASSIGN_OR_RETURN(Bytes sig, FromHex(sig_hex));
  Status v = crypto::MlDsa87Verify(public_key, AsBytes(payload), AsBytes(kAuditCheckpointContext), sig);
  if (!v.ok()) {
    if (v.code() == StatusCode::kUnauthenticated) {
      return Status::Unauthenticated("signature does not verify (altered, or signed by another key)");
    }
    return v;
  }
  // Signed: now the fields, strictly in order.
  std::vector<std::string_view> tok;
  size_t pos = 0;
  while (pos <= payload.size()) {
    size_t sp = payload.find(' ', pos);
    if (sp == std::string_view::npos) sp = payload.size();
    tok.push_back(payload.substr(pos, sp - pos));
    pos = sp + 1;
  }
  static constexpr const char* kKeys[] = {"tenant", "counter", "seq", "rows", "head", "ts_ms", "node"};
  if (tok.size() != 9 || tok[0] != kAuditCheckpointMagic || tok[1] != "v1") {
    return Status::InvalidArgument("not a v1 checkpoint line");
  }
  std::string_view val[7];
  for (size_t i = 0; i < 7; ++i) {
    std::string key = std::string(kKeys[i]) + "=";
    if (tok[i + 2].substr(0, key.size()) != key)
      return Status::InvalidArgument("field " + std::to_string(i + 3) + " is not " + key);
    val[i] = tok[i + 2].substr(key.size());
  }
  AuditCheckpoint c;
  c.tenant = std::string(val[0]);
  if (!TenantScope::For(c.tenant).ok()) return Status::InvalidArgument("tenant: bad id");
  auto counter = ParseCount(val[1]), seq = ParseCount(val[2]), rows = ParseCount(val[3]), ts = ParseCount(val[5]);
  if (!counter || *counter < 1) return Status::InvalidArgument("counter: not a positive integer");
  if (!seq) return Status::InvalidArgument("seq: not an integer");
  if (!rows) return Status::InvalidArgument("rows: not an integer");
  if (!ts) return Status::InvalidArgument("ts_ms: not an integer");
  c.counter = *counter;
  c.seq = *seq;
  c.rows = *rows;
  c.ts_ms = *ts;
  c.head = std::string(val[4]);
  if (c.head.size() != 64 || !IsLowerHex(c.head)) return Status::InvalidArgument("head: not 64 hex digits");
  c.node = std::string(val[6]);
  if (!ValidNodeName(c.node)) return Status::InvalidArgument("node: bad name");
  return c;
}

AuditCheckpointLog ParseAuditCheckpointLog(std::string_view text, const std::string& tenant, ByteView public_key,
                                           const std::string& file_name) {
  AuditCheckpointLog log;
  log.file = file_name;
  log.exists = true;
  std::optional<AuditCheckpoint> prev;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    ++line_no;
    const std::string where = "checkpoint file " + file_name + " line " + std::to_string(line_no);
    if (nl == std::string_view::npos) {
      log.notes.push_back(where + ": incomplete (a write was cut short); ignored");
      break;
    }
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++log.lines;
    auto c = ParseAuditCheckpoint(line, public_key);
    if (!c.ok()) {
      log.problems.push_back(where + ": " + c.status().message() + "; checkpoint rejected");
      continue;
    }
    if (c->tenant != tenant) {
      log.problems.push_back(where + ": " + DescribeCheckpoint(*c) + " is for tenant " + c->tenant + ", not " + tenant +
                             "; checkpoint rejected");
      continue;
    }
    ++log.valid;
    if (prev) {
      if (c->counter <= prev->counter) {
        log.problems.push_back(where + ": " + DescribeCheckpoint(*c) + " follows checkpoint #" +
                               std::to_string(prev->counter) + " (counters out of order)");
      }
      if (c->seq < prev->seq || (c->seq == prev->seq && c->head != prev->head)) {
        log.problems.push_back(where + ": " + DescribeCheckpoint(*c) + " saw seq " + std::to_string(c->seq) +
                               " after " + DescribeCheckpoint(*prev) + " saw seq " + std::to_string(prev->seq) +
                               " (the log went back between them)");
      }
    }
    if (!log.latest || c->counter > log.latest->counter) log.latest = *c;
    log.max_counter = std::max(log.max_counter, c->counter);
    prev = *c;
  }
  return log;
}

Result<AuditCheckpointLog> ReadAuditCheckpointLog(const std::string& dir, const std::string& tenant,
                                                  ByteView public_key) {
  const std::string file = AuditCheckpointFile(dir, tenant);
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    if (!Exists(file)) {
      AuditCheckpointLog empty;
      empty.file = file;
      return empty;
    }
    return Status::Unavailable("cannot read checkpoint file " + file + ": " + std::strerror(errno));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status::Unavailable("cannot read checkpoint file " + file);
  return ParseAuditCheckpointLog(ss.str(), tenant, public_key, file);
}

AuditVerdict VerifyAuditWithCheckpoints(std::span<const AuditRow> rows, const std::string& log_key,
                                        const AuditCheckpointLog& log) {
  AuditVerdict v = VerifyAuditAgainstCheckpoint(rows, log_key, log.latest);
  v.problems.insert(v.problems.end(), log.problems.begin(), log.problems.end());
  v.notes.insert(v.notes.end(), log.notes.begin(), log.notes.end());
  if (!log.latest && log.lines > 0) {
    v.notes.push_back("none of the " + std::to_string(log.lines) + " checkpoints in " + log.file + " verifies");
  }
  v.ok = v.problems.empty();
  return v;
}

Result<AuditCheckpointKey> LoadOrCreateAuditCheckpointKey(const std::string& prefix) {
  const std::string key_file = prefix + ".key", pub_file = prefix + ".pub";
  AuditCheckpointKey k;
  if (!Exists(key_file)) {
    if (Exists(pub_file)) {
      return Status::FailedPrecondition("audit checkpoint key: " + pub_file + " exists without " + key_file +
                                        " (restore the private key, or move the public key aside to make a new pair)");
    }
    DSMIL_RETURN_IF_ERROR(MakeDirs(fs::path(prefix).parent_path().string()));
    DSMIL_ASSIGN_OR_RETURN(crypto::MlDsa87KeyPair pair, crypto::MlDsa87KeyGen());
    DSMIL_RETURN_IF_ERROR(crypto::WriteKeyPair(prefix, crypto::KeyAlg::kMlDsa87, pair.public_key, pair.secret_key));
    k.public_key = std::move(pair.public_key);
    k.secret_key = std::move(pair.secret_key);
    return k;
  }
  auto priv = crypto::ReadPrivateKey(key_file, crypto::KeyAlg::kMlDsa87);
  if (!priv.ok()) return priv.status().WithContext("audit checkpoint key");
  auto pub = crypto::ReadPublicKey(pub_file, crypto::KeyAlg::kMlDsa87);
  if (!pub.ok()) return pub.status().WithContext("audit checkpoint key");
  // The halves must belong together, or every checkpoint would be rejected.
  static constexpr char kProbe[] = "audit checkpoint key pair check";
  DSMIL_ASSIGN_OR_RETURN(Bytes sig, crypto::MlDsa87Sign(priv->key, AsBytes(kProbe), AsBytes(kAuditCheckpointContext)));
  if (!crypto::MlDsa87Verify(*pub, AsBytes(kProbe), AsBytes(kAuditCheckpointContext), sig).ok()) {
    return Status::FailedPrecondition("audit checkpoint key: " + pub_file + " is not the public key of " + key_file);
  }
  k.public_key = std::move(*pub);
  k.secret_key = std::move(priv->key);
  return k;
}

Result<Bytes> ReadAuditCheckpointPublicKey(const std::string& path) {
  auto pub = crypto::ReadPublicKey(path, crypto::KeyAlg::kMlDsa87);
  if (!pub.ok()) return pub.status().WithContext("audit checkpoint public key");
  return pub;
}

bool PathIsInside(const std::string& path, const std::string& dir) {
  if (path.empty() || dir.empty()) return false;
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::absolute(path, ec), ec);
  if (ec) p = fs::absolute(path).lexically_normal();
  fs::path d = fs::weakly_canonical(fs::absolute(dir, ec), ec);
  if (ec) d = fs::absolute(dir).lexically_normal();
  auto pi = p.begin();
  for (auto di = d.begin(); di != d.end(); ++di) {
    if (di->empty()) continue;  // a trailing separator
    if (pi == p.end() || *pi != *di) return false;
    ++pi;
  }
  return true;
}

// ---------------------------------------------------------------------------

Result<std::unique_ptr<AuditCheckpointer>> AuditCheckpointer::Create(AuditCheckpointerOptions o) {
  if (o.dir.empty()) return Status::InvalidArgument("audit checkpoints: no checkpoint directory");
  const std::string secrets =
      o.stores.secrets_dir.empty() && !o.stores.path.empty() ? o.stores.path + "/secrets" : o.stores.secrets_dir;
  for (const auto& [what, other] :
       {std::pair<std::string, std::string>{"stores.path", o.stores.path}, {"stores.secrets_dir", secrets}}) {
    if (PathIsInside(o.dir, other)) {
      return Status::InvalidArgument("audit checkpoints: directory " + o.dir + " is inside " + what + " " + other +
                                     " (whoever can rewrite the archive could rewrite its checkpoints)");
    }
  }
  if (o.signing_key.empty()) o.signing_key = DefaultAuditCheckpointKeyPrefix(o.dir);
  for (const auto& [what, other] :
       {std::pair<std::string, std::string>{"stores.path", o.stores.path}, {"stores.secrets_dir", secrets}}) {
    if (PathIsInside(o.signing_key, other)) {
      return Status::InvalidArgument("audit checkpoints: signing key " + o.signing_key + " is inside " + what + " " +
                                     other);
    }
  }
  if (!ValidNodeName(o.node)) return Status::InvalidArgument("audit checkpoints: bad node name '" + o.node + "'");
  for (const auto& t : o.tenants) {
    auto s = TenantScope::For(t);
    if (!s.ok()) return s.status().WithContext("audit checkpoints");
  }
  if (o.interval.count() <= 0) return Status::InvalidArgument("audit checkpoints: interval must be positive");
  DSMIL_RETURN_IF_ERROR(MakeDirs(o.dir));
  DSMIL_ASSIGN_OR_RETURN(AuditCheckpointKey key, LoadOrCreateAuditCheckpointKey(o.signing_key));
  return std::unique_ptr<AuditCheckpointer>(new AuditCheckpointer(std::move(o), std::move(key)));
}

AuditCheckpointer::AuditCheckpointer(AuditCheckpointerOptions options, AuditCheckpointKey key)
    : options_(std::move(options)),
      key_(std::move(key)),
      clock_(options_.clock ? *options_.clock : DefaultClock()),
      log_(options_.log ? *options_.log : DefaultLogger()) {}

AuditCheckpointer::~AuditCheckpointer() { Stop(); }

Status AuditCheckpointer::Start() {
  MutexLock lock(thread_mu_);
  if (stopped_) return Status::FailedPrecondition("audit checkpointer already stopped");
  if (started_) return Status::Ok();
  started_ = true;
  thread_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

void AuditCheckpointer::Stop() {
  {
    MutexLock lock(thread_mu_);
    if (stopped_) return;
    stopped_ = true;
    stop_requested_ = true;
  }
  cv_.NotifyAll();
  if (thread_.joinable()) thread_.join();
  RunAll(/*final_round=*/true);
}

void AuditCheckpointer::Loop() {
  thread_mu_.Lock();
  while (!stop_requested_) {
    const auto deadline = std::chrono::steady_clock::now() + options_.interval;
    while (!stop_requested_) {
      if (!cv_.WaitUntil(thread_mu_, deadline)) break;
    }
    if (stop_requested_) break;
    thread_mu_.Unlock();
    RunAll(/*final_round=*/false);
    thread_mu_.Lock();
  }
  thread_mu_.Unlock();
}

void AuditCheckpointer::RunAll(bool final_round) {
  for (const auto& t : options_.tenants) {
    auto r = Checkpoint(t);
    MutexLock lock(mu_);
    std::string& last = last_error_[t];
    if (!r.ok()) {
      // Logged when it changes (and always at shutdown), not every interval.
      if (r.status().message() != last || final_round) {
        log_.Error("audit checkpoint failed", {{"tenant", t}, {"error", r.status().ToString()}});
      }
      last = r.status().message();
      continue;
    }
    last.clear();
    if (*r) {
      log_.Debug("audit checkpoint",
                 {{"tenant", t}, {"counter", (*r)->counter}, {"seq", (*r)->seq}, {"rows", (*r)->rows}});
    }
  }
}

Result<std::optional<AuditCheckpoint>> AuditCheckpointer::Checkpoint(const std::string& tenant) {
  MutexLock lock(mu_);
  TenantState& st = tenants_[tenant];
  return CheckpointLocked(tenant, st);
}

Status AuditCheckpointer::LoadState(const std::string& tenant, TenantState& st) {
  const std::string file = AuditCheckpointFile(options_.dir, tenant);
  struct stat sb {};
  int64_t size = stat(file.c_str(), &sb) == 0 ? int64_t(sb.st_size) : -1;
  if (st.loaded && size == st.file_size) return Status::Ok();
  DSMIL_ASSIGN_OR_RETURN(AuditCheckpointLog log, ReadAuditCheckpointLog(options_.dir, tenant, key_.public_key));
  for (const auto& p : log.problems) log_.Warn("audit checkpoint file", {{"tenant", tenant}, {"problem", p}});
  st.latest = log.latest;
  st.max_counter = log.max_counter;
  st.file_size = size;
  st.loaded = true;
  return Status::Ok();
}

Result<std::optional<AuditCheckpoint>> AuditCheckpointer::CheckpointLocked(const std::string& tenant, TenantState& st) {
  DSMIL_ASSIGN_OR_RETURN(TenantScope scope, TenantScope::For(tenant));
  DSMIL_RETURN_IF_ERROR(LoadState(tenant, st));
  const std::optional<AuditCheckpoint>& prev = st.latest;
  // The embedded archive is a file: a tenant without one has no rows, and
  // opening it would create it.
  if (options_.stores.kind != "servers") {
    const std::string db = options_.stores.path + "/archive/" + tenant + ".db";
    if (!Exists(db)) {
      if (!prev || prev->seq == 0) return std::optional<AuditCheckpoint>();
      return Status::DataLoss("audit log of " + tenant + ": truncated: the archive " + db + " is gone but " +
                              DescribeCheckpoint(*prev) + " saw seq " + std::to_string(prev->seq) +
                              "; not signing a new checkpoint");
    }
  }
  // Opened afresh each time: a handle kept open would go on reading a file
  // that was replaced underneath it.
  DSMIL_ASSIGN_OR_RETURN(std::unique_ptr<Archive> archive, OpenArchive(options_.stores, scope));
  DSMIL_ASSIGN_OR_RETURN(AuditHead head, archive->ReadAuditHead());
  AuditCheckpoint c;
  c.tenant = tenant;
  c.seq = head.last ? head.last->seq : 0;
  c.rows = int64_t(head.rows);
  c.head = head.last ? head.last->hash : std::string(kAuditGenesisHash);
  c.node = options_.node;
  if (!prev) {
    if (c.seq == 0 && c.rows == 0) return std::optional<AuditCheckpoint>();  // nothing to vouch for yet
  } else {
    if (c.seq == prev->seq && c.rows == prev->rows && c.head == prev->head) {
      return std::optional<AuditCheckpoint>();  // unchanged
    }
    const std::string refuse = "; not signing a new checkpoint";
    if (c.seq < prev->seq) {
      return Status::DataLoss(
          "audit log of " + tenant + ": truncated: " +
          (c.seq == 0 ? std::string("the log is empty") : "the chain ends at seq " + std::to_string(c.seq)) + " but " +
          DescribeCheckpoint(*prev) + " saw seq " + std::to_string(prev->seq) + refuse);
    }
    if (prev->seq > 0) {
      DSMIL_ASSIGN_OR_RETURN(std::optional<AuditRow> at, archive->ReadAuditRow(prev->seq));
      if (!at) {
        return Status::DataLoss("audit log of " + tenant + ": row seq " + std::to_string(prev->seq) + ", the head " +
                                DescribeCheckpoint(*prev) + " saw, is missing" + refuse);
      }
      if (at->hash != prev->head) {
        return Status::DataLoss("audit log of " + tenant + ": rolled back: row seq " + std::to_string(prev->seq) +
                                " is not the row " + DescribeCheckpoint(*prev) + " saw" + refuse);
      }
    }
  }
  c.counter = st.max_counter + 1;
  c.ts_ms = clock_.NowUnixNanos() / 1000000;
  DSMIL_ASSIGN_OR_RETURN(std::string line, SignAuditCheckpoint(c, key_.secret_key));
  DSMIL_RETURN_IF_ERROR(Append(tenant, line, st));
  st.latest = c;
  st.max_counter = c.counter;
  return std::optional<AuditCheckpoint>(c);
}

Status AuditCheckpointer::Append(const std::string& tenant, const std::string& line, TenantState& st) {
  const std::string file = AuditCheckpointFile(options_.dir, tenant);
  bool created = !Exists(file);
  int fd = open(file.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return Status::Unavailable("cannot open checkpoint file " + file + ": " + std::strerror(errno));
  auto fail = [&](const std::string& what) {
    Status s = Status::Unavailable(what + " " + file + ": " + std::strerror(errno));
    close(fd);
    return s;
  };
  // Another process appending to the same file waits here.
  if (flock(fd, LOCK_EX) != 0) return fail("cannot lock checkpoint file");
  struct stat sb {};
  if (fstat(fd, &sb) != 0) return fail("cannot stat checkpoint file");
  // A line cut short by a crash is dropped before the next one is written:
  // it was never a checkpoint, and it would run into the new line.
  if (sb.st_size > 0) {
    char last = 0;
    if (pread(fd, &last, 1, sb.st_size - 1) != 1) return fail("cannot read checkpoint file");
    if (last != '\n') {
      off_t keep = sb.st_size - 1;
      while (keep > 0) {
        char ch = 0;
        if (pread(fd, &ch, 1, keep - 1) != 1) return fail("cannot read checkpoint file");
        if (ch == '\n') break;
        --keep;
      }
      if (ftruncate(fd, keep) != 0) return fail("cannot repair checkpoint file");
      log_.Warn("audit checkpoint file: dropped an incomplete last line", {{"tenant", tenant}, {"file", file}});
    }
  }
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = write(fd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("cannot write checkpoint file");
    done += size_t(n);
  }
  if (fsync(fd) != 0) return fail("cannot sync checkpoint file");
  if (fstat(fd, &sb) != 0) return fail("cannot stat checkpoint file");
  st.file_size = int64_t(sb.st_size);
  close(fd);
  if (created) {
    int dfd = open(options_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      (void)fsync(dfd);
      close(dfd);
    }
  }
  return Status::Ok();
}

}  // namespace dsmil::store
