// The embedded vector store: one hnswlib index per collection.
//
// Layout, under <stores.path>/vectors/:
//   <full_name>/index.bin      hnswlib's own format (HierarchicalNSW::saveIndex)
//   <full_name>/payloads.bin   "DSVP0001", u64 count, then per point: u64 id,
//                              u32 length, payload bytes (big-endian)
//   <full_name>/meta           text: magic, name, dim, count, the size and
//                              checksum of both files, and its own checksum
//   snapshots/<full_name>-<utc>/   the same three files, written by Snapshot
//
// A save writes index.bin.new and payloads.bin.new, then meta (the commit
// point, written to meta.new and renamed), then renames the two data files
// into place. Loading finishes an interrupted save (a .new file that matches
// the meta file is renamed in, one that does not is removed) and refuses a
// data file whose size or checksum disagrees with the meta file.
//
// Vectors are stored normalised, so hnswlib's inner-product space gives
// cosine distance (1 - cosine); scores are 1 - distance.
//
// Sharing: a collection is loaded once per process (a registry keyed by its
// directory), so two Vectors objects of one tenant see the same points.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

// hnswlib 0.6.2's SSE path prefetches from one entry past the end of a
// neighbour list (the value only feeds _mm_prefetch, which never faults, and
// the read stays inside malloc's rounding; fixed in later hnswlib releases).
// AddressSanitizer reports it all the same, so sanitizer builds use hnswlib's
// plain distance loops and no prefetch.
#if defined(__SANITIZE_ADDRESS__)
#define NO_MANUAL_VECTORIZATION
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NO_MANUAL_VECTORIZATION
#endif
#endif
#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "core/coding.h"
#include "core/mutex.h"
#include "store/file_mode.h"
#include "store/vectors.h"
#include "store/vectors_internal.h"

namespace dsmil::store {
namespace vectors_internal {
namespace {

namespace fs = std::filesystem;
using Index = hnswlib::HierarchicalNSW<float>;

constexpr size_t kM = 16;
constexpr size_t kEfConstruction = 200;
// ef at search time (at least k): chosen with bench/vectors for recall@10 of
// 0.95 or more on 384-dim data (docs/vectors.md).
constexpr size_t kEfSearch = 128;
constexpr size_t kInitialCapacity = 1024;
// Batches with at least this many new points are inserted by several threads.
constexpr size_t kParallelInsertMin = 4096;
constexpr unsigned kMaxInsertThreads = 8;
constexpr char kMetaMagic[] = "dsmil-vectors 1";
constexpr char kPayloadMagic[] = "DSVP0001";  // 8 bytes, no terminator written
constexpr size_t kAccessLogMax = 4096;

// ---- access record ---------------------------------------------------------

Mutex g_log_mu;
std::deque<std::string>& AccessLog() DSMIL_REQUIRES(g_log_mu) {
  static auto* log = new std::deque<std::string>();
  return *log;
}
void Record(std::string entry) {
  MutexLock lock(g_log_mu);
  auto& log = AccessLog();
  log.push_back(std::move(entry));
  while (log.size() > kAccessLogMax) log.pop_front();
}

// ---- checksum --------------------------------------------------------------

// A fast 64-bit checksum (four multiply-rotate lanes) for detecting damaged
// files; not a MAC.
class Checksum {
 public:
  void Update(const uint8_t* p, size_t n) {
    total_ += n;
    if (buf_len_ > 0) {
      size_t take = std::min(n, sizeof(buf_) - buf_len_);
      std::memcpy(buf_ + buf_len_, p, take);
      buf_len_ += take;
      p += take;
      n -= take;
      if (buf_len_ < sizeof(buf_)) return;
      Block(buf_);
      buf_len_ = 0;
    }
    while (n >= sizeof(buf_)) {
      Block(p);
      p += sizeof(buf_);
      n -= sizeof(buf_);
    }
    std::memcpy(buf_, p, n);
    buf_len_ = n;
  }
  uint64_t Final() const {
    uint64_t h = total_ * kP1;
    for (int i = 0; i < 4; ++i) h = Mix(h ^ Rotl(lanes_[i], 7 * (i + 1)));
    for (size_t i = 0; i < buf_len_; ++i) h = Mix(h ^ (uint64_t(buf_[i]) << (8 * (i % 8))));
    return Mix(h);
  }

 private:
  static constexpr uint64_t kP1 = 0x9E3779B185EBCA87ULL, kP2 = 0xC2B2AE3D27D4EB4FULL;
  static uint64_t Rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
  static uint64_t Mix(uint64_t h) {
    h ^= h >> 33;
    h *= kP2;
    h ^= h >> 29;
    h *= kP1;
    h ^= h >> 32;
    return h;
  }
  void Block(const uint8_t* p) {
    for (int i = 0; i < 4; ++i) {
      uint64_t w;
      std::memcpy(&w, p + 8 * i, 8);
      lanes_[i] = Rotl(lanes_[i] + w * kP2, 31) * kP1;
    }
  }
  uint64_t lanes_[4] = {kP1, kP2, kP1 ^ kP2, 0x165667B19E3779F9ULL};
  uint8_t buf_[32];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

std::string Hex64(uint64_t v) {
  char s[17];
  std::snprintf(s, sizeof(s), "%016llx", static_cast<unsigned long long>(v));
  return s;
}

std::string ErrnoText(int e) { return std::strerror(e); }

struct FileSum {
  uint64_t bytes = 0;
  uint64_t sum = 0;
};

// Size and checksum of a file; NotFound if it does not exist.
Result<FileSum> SumFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT) return Status::NotFound("vectors: " + path + " does not exist");
    return Status::Unavailable("vectors: open " + path + ": " + ErrnoText(e));
  }
  Checksum c;
  FileSum out;
  std::vector<uint8_t> buf(1 << 20);
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return Status::Unavailable("vectors: read " + path + ": " + ErrnoText(e));
    }
    if (n == 0) break;
    c.Update(buf.data(), size_t(n));
    out.bytes += uint64_t(n);
  }
  ::close(fd);
  out.sum = c.Final();
  return out;
}

Status SyncPath(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return Status::Unavailable("vectors: open " + path + " for fsync: " + ErrnoText(errno));
  int rc = ::fsync(fd);
  int e = errno;
  ::close(fd);
  if (rc != 0) return Status::Unavailable("vectors: fsync " + path + ": " + ErrnoText(e));
  return Status::Ok();
}

// Writes `data` to `path` (created or truncated, mode 0600) and fsyncs it.
Status WriteFileSynced(const std::string& path, const uint8_t* data, size_t n) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Unavailable("vectors: create " + path + ": " + ErrnoText(errno));
  size_t off = 0;
  while (off < n) {
    ssize_t w = ::write(fd, data + off, n - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return Status::Unavailable("vectors: write " + path + ": " + ErrnoText(e));
    }
    off += size_t(w);
  }
  if (::fsync(fd) != 0) {
    int e = errno;
    ::close(fd);
    return Status::Unavailable("vectors: fsync " + path + ": " + ErrnoText(e));
  }
  if (::close(fd) != 0) return Status::Unavailable("vectors: close " + path + ": " + ErrnoText(errno));
  return Status::Ok();
}

Status RenameFile(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return Status::Unavailable("vectors: rename " + from + " to " + to + ": " + ErrnoText(errno));
  }
  return Status::Ok();
}

Result<std::string> ReadSmallFile(const std::string& path, size_t limit) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::NotFound("vectors: " + path + " does not exist or cannot be read");
  std::string s;
  char buf[4096];
  while (f.read(buf, sizeof(buf)) || f.gcount() > 0) {
    s.append(buf, size_t(f.gcount()));
    if (s.size() > limit) {
      return Status::DataLoss("vectors: " + path + " is larger than " + std::to_string(limit) + " bytes");
    }
  }
  return s;
}

// ---- meta file ---------------------------------------------------------------

struct Meta {
  std::string name;
  size_t dim = 0;
  uint64_t count = 0;
  FileSum index, payloads;
};

std::string MetaBody(const Meta& m) {
  std::ostringstream s;
  s << kMetaMagic << "\n"
    << "name " << m.name << "\n"
    << "dim " << m.dim << "\n"
    << "count " << m.count << "\n"
    << "index_bytes " << m.index.bytes << "\n"
    << "index_sum " << Hex64(m.index.sum) << "\n"
    << "payload_bytes " << m.payloads.bytes << "\n"
    << "payload_sum " << Hex64(m.payloads.sum) << "\n";
  return s.str();
}

uint64_t SumString(const std::string& s) {
  Checksum c;
  c.Update(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  return c.Final();
}

std::string EncodeMeta(const Meta& m) {
  std::string body = MetaBody(m);
  return body + "meta_sum " + Hex64(SumString(body)) + "\n";
}

Result<Meta> DecodeMeta(const std::string& text, const std::string& path) {
  auto bad = [&](const std::string& why) { return Status::DataLoss("vectors: meta file " + path + " " + why); };
  size_t tail = text.rfind("meta_sum ");
  if (tail == std::string::npos || (tail > 0 && text[tail - 1] != '\n')) return bad("has no meta_sum line");
  std::string body = text.substr(0, tail);
  std::string sum_line = text.substr(tail + 9);
  while (!sum_line.empty() && sum_line.back() == '\n') sum_line.pop_back();
  if (sum_line != Hex64(SumString(body))) return bad("is corrupt (checksum mismatch)");
  std::istringstream in(body);
  std::string line;
  if (!std::getline(in, line) || line != kMetaMagic)
    return bad("does not start with '" + std::string(kMetaMagic) + "'");
  std::map<std::string, std::string> kv;
  while (std::getline(in, line)) {
    size_t sp = line.find(' ');
    if (sp == std::string::npos) return bad("has a malformed line '" + line.substr(0, 64) + "'");
    kv[line.substr(0, sp)] = line.substr(sp + 1);
  }
  auto num = [&](const char* key, uint64_t& out, int base) -> Status {
    auto it = kv.find(key);
    if (it == kv.end()) return bad(std::string("has no '") + key + "'");
    errno = 0;
    char* end = nullptr;
    unsigned long long v = std::strtoull(it->second.c_str(), &end, base);
    if (it->second.empty() || errno != 0 || *end != '\0') return bad(std::string("has a bad '") + key + "'");
    out = v;
    return Status::Ok();
  };
  Meta m;
  auto name = kv.find("name");
  if (name == kv.end()) return bad("has no 'name'");
  m.name = name->second;
  uint64_t dim = 0;
  DSMIL_RETURN_IF_ERROR(num("dim", dim, 10));
  m.dim = size_t(dim);
  DSMIL_RETURN_IF_ERROR(num("count", m.count, 10));
  DSMIL_RETURN_IF_ERROR(num("index_bytes", m.index.bytes, 10));
  DSMIL_RETURN_IF_ERROR(num("index_sum", m.index.sum, 16));
  DSMIL_RETURN_IF_ERROR(num("payload_bytes", m.payloads.bytes, 10));
  DSMIL_RETURN_IF_ERROR(num("payload_sum", m.payloads.sum, 16));
  return m;
}

// ---- a collection ------------------------------------------------------------

struct Collection {
  explicit Collection(size_t d) : dim(d), space(d) {}

  std::string full_name;
  std::string dir;
  const size_t dim;
  // Exclusive: Upsert (adds, resizes). Shared: Search, Count, saving. Taken
  // through CollectionReadLock/CollectionWriteLock only, which pass `gate`
  // first so that a waiting writer is not starved by a steady stream of searches.
  SharedMutex mu;
  Mutex gate;
  // One save of this collection at a time.
  Mutex save_mu;
  hnswlib::InnerProductSpace space;  // must outlive `index`
  std::unique_ptr<Index> index DSMIL_GUARDED_BY(mu);
  std::unordered_map<uint64_t, std::string> payloads DSMIL_GUARDED_BY(mu);
  uint64_t version DSMIL_GUARDED_BY(mu) = 0;  // bumped by Upsert
  uint64_t saved_version DSMIL_GUARDED_BY(save_mu) = 0;
};

// Holds c.mu shared for its scope (through c.gate).
class DSMIL_SCOPED_CAPABILITY CollectionReadLock {
 public:
  explicit CollectionReadLock(Collection& c) DSMIL_ACQUIRE_SHARED(c.mu) : mu_(c.mu) {
    MutexLock gate(c.gate);
    mu_.LockShared();
  }
  ~CollectionReadLock() DSMIL_RELEASE() { mu_.UnlockShared(); }
  CollectionReadLock(const CollectionReadLock&) = delete;
  CollectionReadLock& operator=(const CollectionReadLock&) = delete;

 private:
  SharedMutex& mu_;
};

// Holds c.mu exclusively for its scope (through c.gate).
class DSMIL_SCOPED_CAPABILITY CollectionWriteLock {
 public:
  explicit CollectionWriteLock(Collection& c) DSMIL_ACQUIRE(c.mu) : mu_(c.mu) {
    MutexLock gate(c.gate);
    mu_.Lock();
  }
  ~CollectionWriteLock() DSMIL_RELEASE() { mu_.Unlock(); }
  CollectionWriteLock(const CollectionWriteLock&) = delete;
  CollectionWriteLock& operator=(const CollectionWriteLock&) = delete;

 private:
  SharedMutex& mu_;
};

// The size saveIndex writes for `index` (used to detect a short write: hnswlib
// writes through an unchecked std::ofstream).
uint64_t ExpectedIndexBytes(const Index& x) {
  uint64_t n = sizeof(x.offsetLevel0_) + sizeof(x.max_elements_) + sizeof(x.cur_element_count) +
               sizeof(x.size_data_per_element_) + sizeof(x.label_offset_) + sizeof(x.offsetData_) +
               sizeof(x.maxlevel_) + sizeof(x.enterpoint_node_) + sizeof(x.maxM_) + sizeof(x.maxM0_) + sizeof(x.M_) +
               sizeof(x.mult_) + sizeof(x.ef_construction_);
  n += uint64_t(x.cur_element_count) * x.size_data_per_element_;
  for (size_t i = 0; i < x.cur_element_count; ++i) {
    n += sizeof(unsigned int);
    if (x.element_levels_[i] > 0) n += uint64_t(x.size_links_per_element_) * uint64_t(x.element_levels_[i]);
  }
  return n;
}

std::vector<uint8_t> EncodePayloads(const std::unordered_map<uint64_t, std::string>& payloads) {
  std::vector<std::pair<uint64_t, const std::string*>> sorted;
  sorted.reserve(payloads.size());
  size_t bytes = 16;
  for (const auto& [id, p] : payloads) {
    sorted.emplace_back(id, &p);
    bytes += 12 + p.size();
  }
  std::sort(sorted.begin(), sorted.end());
  Bytes out;
  out.reserve(bytes);
  out.insert(out.end(), kPayloadMagic, kPayloadMagic + 8);
  AppendU64BE(out, sorted.size());
  for (const auto& [id, p] : sorted) {
    AppendU64BE(out, id);
    AppendU32BE(out, uint32_t(p->size()));
    out.insert(out.end(), p->begin(), p->end());
  }
  return out;
}

Status DecodePayloads(const std::string& data, const std::string& path,
                      std::unordered_map<uint64_t, std::string>& out) {
  auto bad = [&](const std::string& why) { return Status::DataLoss("vectors: payload file " + path + " " + why); };
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  size_t n = data.size();
  if (n < 16 || std::memcmp(p, kPayloadMagic, 8) != 0) return bad("does not start with DSVP0001");
  uint64_t count = GetU64BE(p + 8);
  size_t off = 16;
  for (uint64_t i = 0; i < count; ++i) {
    if (n - off < 12) return bad("ends inside record " + std::to_string(i));
    uint64_t id = GetU64BE(p + off);
    uint32_t len = GetU32BE(p + off + 8);
    off += 12;
    if (len > kMaxPayloadBytes || n - off < len) {
      return bad("record " + std::to_string(i) + " has length " + std::to_string(len) + " with " +
                 std::to_string(n - off) + " bytes left");
    }
    out[id] = data.substr(off, len);
    off += len;
  }
  if (off != n) return bad("has " + std::to_string(n - off) + " bytes after the last record");
  return Status::Ok();
}

// Writes the collection's three files into `dir`. With `journal`, follows the
// save protocol above (the directory holds a live collection); without, writes
// them directly (a fresh snapshot directory). Caller holds c.mu (shared or
// exclusive) and c.save_mu.
Status SaveFiles(Collection& c, const std::string& dir, bool journal) DSMIL_REQUIRES_SHARED(c.mu)
    DSMIL_REQUIRES(c.save_mu) {
  const std::string suffix = journal ? ".new" : "";
  const std::string index_path = dir + "/index.bin" + suffix;
  const std::string payload_path = dir + "/payloads.bin" + suffix;
  try {
    c.index->saveIndex(index_path);
  } catch (const std::exception& e) {
    return Status::Unavailable("vectors: saving " + index_path + ": " + e.what());
  }
  // hnswlib writes through std::ofstream, with the umask's mode.
  DSMIL_RETURN_IF_ERROR(MakePrivateFile(index_path).WithContext("vectors"));
  DSMIL_RETURN_IF_ERROR(SyncPath(index_path, false));
  Meta m;
  m.name = c.full_name;
  m.dim = c.dim;
  m.count = c.index->cur_element_count;
  DSMIL_ASSIGN_OR_RETURN(m.index, SumFile(index_path));
  uint64_t expected = ExpectedIndexBytes(*c.index);
  if (m.index.bytes != expected) {
    return Status::Unavailable("vectors: " + index_path + " was written short (" + std::to_string(m.index.bytes) +
                               " of " + std::to_string(expected) + " bytes; disk full?)");
  }
  std::vector<uint8_t> payloads = EncodePayloads(c.payloads);
  DSMIL_RETURN_IF_ERROR(WriteFileSynced(payload_path, payloads.data(), payloads.size()));
  Checksum ps;
  ps.Update(payloads.data(), payloads.size());
  m.payloads = {payloads.size(), ps.Final()};
  std::string meta = EncodeMeta(m);
  const auto* mb = reinterpret_cast<const uint8_t*>(meta.data());
  if (!journal) {
    DSMIL_RETURN_IF_ERROR(WriteFileSynced(dir + "/meta", mb, meta.size()));
    return SyncPath(dir, true);
  }
  DSMIL_RETURN_IF_ERROR(WriteFileSynced(dir + "/meta.new", mb, meta.size()));
  DSMIL_RETURN_IF_ERROR(RenameFile(dir + "/meta.new", dir + "/meta"));  // commit point
  DSMIL_RETURN_IF_ERROR(SyncPath(dir, true));
  DSMIL_RETURN_IF_ERROR(RenameFile(index_path, dir + "/index.bin"));
  DSMIL_RETURN_IF_ERROR(RenameFile(payload_path, dir + "/payloads.bin"));
  return SyncPath(dir, true);
}

// Brings `path` in line with the meta file: a pending `path`.new that matches
// is renamed in (a save that stopped after its commit point), one that does
// not is removed (a save that never committed). Then checks `path` itself.
Status SettleDataFile(const std::string& path, const FileSum& want, const char* what) {
  const std::string pending = path + ".new";
  auto pending_sum = SumFile(pending);
  if (pending_sum.ok()) {
    if (pending_sum.value().bytes == want.bytes && pending_sum.value().sum == want.sum) {
      DSMIL_RETURN_IF_ERROR(RenameFile(pending, path));
    } else {
      ::unlink(pending.c_str());
    }
  }
  auto have = SumFile(path);
  if (!have.ok()) {
    if (have.status().code() == StatusCode::kNotFound) {
      return Status::DataLoss(std::string("vectors: ") + what + " file " + path + " is missing");
    }
    return have.status();
  }
  if (have.value().bytes != want.bytes || have.value().sum != want.sum) {
    return Status::DataLoss(std::string("vectors: ") + what + " file " + path +
                            " is corrupt: " + std::to_string(have.value().bytes) + " bytes with checksum " +
                            Hex64(have.value().sum) + ", the meta file records " + std::to_string(want.bytes) +
                            " bytes with checksum " + Hex64(want.sum));
  }
  return Status::Ok();
}

// hnswlib's loadIndex trusts the file (sizes, neighbour ids). The checksum
// in the meta file catches damage, not a crafted file, so the header is
// checked against what this store writes before hnswlib reads it, and the
// graph is checked after.
Status CheckIndexHeader(const std::string& path, size_t dim, uint64_t count) {
  auto bad = [&](const std::string& why) {
    return Status::DataLoss("vectors: index file " + path + " has a bad header: " + why);
  };
  std::ifstream f(path, std::ios::binary);
  char h[96];
  if (!f.read(h, sizeof(h))) return bad("shorter than 96 bytes");
  size_t off = 0;
  auto get = [&](auto& v) {
    std::memcpy(&v, h + off, sizeof(v));
    off += sizeof(v);
  };
  size_t offset_level0, max_elements, cur, size_per_element, label_offset, offset_data, max_m, max_m0, m, ef_c;
  int max_level;
  unsigned enter_point;
  double mult;
  get(offset_level0), get(max_elements), get(cur), get(size_per_element), get(label_offset), get(offset_data);
  get(max_level), get(enter_point), get(max_m), get(max_m0), get(m), get(mult), get(ef_c);
  if (off != sizeof(h)) return bad("unexpected layout");
  if (cur != count) return bad(std::to_string(cur) + " elements, the meta file " + std::to_string(count));
  if (offset_level0 != 0) return bad("level-0 offset " + std::to_string(offset_level0));
  if (m < 2 || m > 256 || max_m != m || max_m0 != 2 * m) return bad("M " + std::to_string(m));
  size_t links0 = max_m0 * sizeof(hnswlib::tableint) + sizeof(hnswlib::linklistsizeint);
  if (offset_data != links0 || label_offset != links0 + dim * sizeof(float) ||
      size_per_element != label_offset + sizeof(hnswlib::labeltype)) {
    return bad("element layout does not match dimension " + std::to_string(dim));
  }
  if (max_level < -1 || max_level > 64 || (count > 0 && (max_level < 0 || enter_point >= count))) {
    return bad("entry point " + std::to_string(enter_point) + " at level " + std::to_string(max_level));
  }
  if (!(mult > 0 && mult < 10)) return bad("level multiplier");
  return Status::Ok();
}

Status CheckGraph(const Index& x, const std::string& path) {
  auto bad = [&](const std::string& why) {
    return Status::DataLoss("vectors: index file " + path + " has a bad graph: " + why);
  };
  const size_t n = x.cur_element_count;
  if (x.label_lookup_.size() != n) return bad("duplicate ids");
  for (size_t i = 0; i < n; ++i) {
    int levels = x.element_levels_[i];
    if (levels > x.maxlevel_) return bad("element " + std::to_string(i) + " above the top level");
    for (int l = 0; l <= levels; ++l) {
      hnswlib::linklistsizeint* ll =
          l == 0 ? x.get_linklist0(hnswlib::tableint(i)) : x.get_linklist(hnswlib::tableint(i), l);
      size_t size = x.getListCount(ll);
      if (size > (l == 0 ? x.maxM0_ : x.maxM_)) return bad("element " + std::to_string(i) + " has too many links");
      const auto* ids = reinterpret_cast<const hnswlib::tableint*>(ll + 1);
      for (size_t j = 0; j < size; ++j) {
        if (ids[j] >= n) return bad("element " + std::to_string(i) + " links to " + std::to_string(ids[j]));
      }
    }
  }
  if (n > 0 && x.element_levels_[x.enterpoint_node_] != x.maxlevel_) return bad("entry point below the top level");
  return Status::Ok();
}

// Loads hnswlib's index file; hnswlib reports errors by throwing.
Result<std::unique_ptr<Index>> LoadIndexFile(hnswlib::InnerProductSpace* space, const std::string& path, size_t dim,
                                             uint64_t count) {
  DSMIL_RETURN_IF_ERROR(CheckIndexHeader(path, dim, count));
  auto index = std::make_unique<Index>(space);
  // The one-argument constructor leaves everything unset; give the destructor
  // something safe to free if loadIndex throws halfway.
  index->data_level0_memory_ = nullptr;
  index->linkLists_ = nullptr;
  index->visited_list_pool_ = nullptr;
  index->cur_element_count = 0;
  index->num_deleted_ = 0;
  index->metric_distance_computations = 0;
  index->metric_hops = 0;
  try {
    // Capacity from the meta file's count, not from the file's own field.
    index->loadIndex(path, space, std::max<size_t>(size_t(count), kInitialCapacity));
  } catch (const std::exception& e) {
    index->cur_element_count = 0;  // element_levels_ may not match; leak rather than misfree
    return Status::DataLoss("vectors: index file " + path + " cannot be loaded: " + e.what());
  }
  DSMIL_RETURN_IF_ERROR(CheckGraph(*index, path));
  return index;
}

Result<std::shared_ptr<Collection>> LoadCollection(const std::string& dir, const std::string& full_name) {
  const std::string meta_path = dir + "/meta";
  auto text = ReadSmallFile(meta_path, 4096);
  if (!text.ok()) {
    return Status::DataLoss("vectors: collection " + full_name + " has no readable meta file " + meta_path);
  }
  DSMIL_ASSIGN_OR_RETURN(Meta m, DecodeMeta(text.value(), meta_path));
  if (m.name != full_name) {
    return Status::DataLoss("vectors: meta file " + meta_path + " names collection '" + m.name.substr(0, 64) +
                            "', not " + full_name);
  }
  if (m.dim == 0 || m.dim > kMaxDim) {
    return Status::DataLoss("vectors: meta file " + meta_path + " has dimension " + std::to_string(m.dim) + " (1.." +
                            std::to_string(kMaxDim) + ")");
  }
  DSMIL_RETURN_IF_ERROR(SettleDataFile(dir + "/index.bin", m.index, "index"));
  DSMIL_RETURN_IF_ERROR(SettleDataFile(dir + "/payloads.bin", m.payloads, "payload"));
  ::unlink((dir + "/meta.new").c_str());

  auto c = std::make_shared<Collection>(m.dim);
  c->full_name = full_name;
  c->dir = dir;
  CollectionWriteLock lock(*c);  // not shared yet; held all the same, as for every use
  DSMIL_ASSIGN_OR_RETURN(c->index, LoadIndexFile(&c->space, dir + "/index.bin", m.dim, m.count));
  if (c->index->data_size_ != m.dim * sizeof(float) || c->index->cur_element_count != m.count) {
    return Status::DataLoss("vectors: index file " + dir + "/index.bin holds " +
                            std::to_string(c->index->cur_element_count) + " vectors of " +
                            std::to_string(c->index->data_size_ / sizeof(float)) + " components, the meta file " +
                            std::to_string(m.count) + " of " + std::to_string(m.dim));
  }
  if (c->index->max_elements_ < kInitialCapacity) {
    try {
      c->index->resizeIndex(kInitialCapacity);
    } catch (const std::exception& e) {
      return Status::ResourceExhausted("vectors: " + full_name + ": " + e.what());
    }
  }
  DSMIL_ASSIGN_OR_RETURN(std::string payload_bytes, ReadSmallFile(dir + "/payloads.bin", size_t(1) << 40));
  DSMIL_RETURN_IF_ERROR(DecodePayloads(payload_bytes, dir + "/payloads.bin", c->payloads));
  for (const auto& kv : c->payloads) {
    if (c->index->label_lookup_.count(kv.first) == 0) {
      return Status::DataLoss("vectors: payload file " + dir + "/payloads.bin has id " + std::to_string(kv.first) +
                              " that the index does not");
    }
  }
  c->index->setEf(kEfSearch);
  Record("load " + full_name);
  return c;
}

// Process-wide registry: collection directory -> the loaded collection.
Mutex g_registry_mu;
std::map<std::string, std::weak_ptr<Collection>>& Registry() DSMIL_REQUIRES(g_registry_mu) {
  static auto* r = new std::map<std::string, std::weak_ptr<Collection>>();
  return *r;
}

std::string UtcStamp() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

// ---- the backend ---------------------------------------------------------------

class HnswVectors final : public Vectors {
 public:
  HnswVectors(const TenantScope& scope, std::string root) : scope_(scope), root_(std::move(root)) {}
  ~HnswVectors() override {
    // Best effort: points upserted and never flushed are written now. Callers
    // that need to see a failure call Flush() themselves.
    (void)Flush();
  }

  const TenantScope& scope() const override { return scope_; }

  Status CreateCollection(const std::string& name, size_t dim) override {
    DSMIL_RETURN_IF_ERROR(CheckDim(dim));
    DSMIL_ASSIGN_OR_RETURN(std::shared_ptr<Collection> c, Get(name, dim));
    if (c->dim != dim) {
      return Status::FailedPrecondition("vectors: collection " + c->full_name + " exists with dimension " +
                                        std::to_string(c->dim) + ", not " + std::to_string(dim));
    }
    return Status::Ok();
  }

  Result<std::vector<CollectionInfo>> ListCollections() override {
    std::vector<CollectionInfo> out;
    std::error_code ec;
    fs::directory_iterator it(root_, ec);
    if (ec) {
      if (ec == std::errc::no_such_file_or_directory) return out;
      return Status::Unavailable("vectors: listing " + root_ + ": " + ec.message());
    }
    for (const auto& entry : it) {
      std::string name = entry.path().filename().string();
      if (!scope_.OwnsCollection(name) || !scope_.Collection(name.substr(scope_.lower().size() + 1)).ok()) continue;
      if (!entry.is_directory(ec)) continue;
      CollectionInfo info;
      info.name = name;
      std::shared_ptr<Collection> open;
      {
        MutexLock lock(g_registry_mu);
        auto r = Registry().find(entry.path().string());
        if (r != Registry().end()) open = r->second.lock();
      }
      if (open) {
        CollectionReadLock lock(*open);
        info.dim = open->dim;
        info.count = open->index->cur_element_count;
      } else {
        const std::string meta_path = entry.path().string() + "/meta";
        auto text = ReadSmallFile(meta_path, 4096);
        if (!text.ok()) continue;  // not a collection (an interrupted create)
        DSMIL_ASSIGN_OR_RETURN(Meta m, DecodeMeta(text.value(), meta_path));
        info.dim = m.dim;
        info.count = m.count;
      }
      out.push_back(std::move(info));
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    return out;
  }

  Status Upsert(const std::string& name, std::span<const VectorPoint> points) override {
    if (points.size() > kMaxPointsPerUpsert) {
      return Status::InvalidArgument("vectors: " + std::to_string(points.size()) +
                                     " points in one upsert, over the limit of " + std::to_string(kMaxPointsPerUpsert));
    }
    DSMIL_ASSIGN_OR_RETURN(std::shared_ptr<Collection> c, Get(name, 0));
    for (size_t i = 0; i < points.size(); ++i) {
      std::string what = "point " + std::to_string(i) + " (id " + std::to_string(points[i].id) + ")";
      DSMIL_RETURN_IF_ERROR(CheckVector(points[i].vector, c->dim, what));
      DSMIL_RETURN_IF_ERROR(CheckPayload(points[i].payload, what));
    }
    if (points.empty()) return Status::Ok();
    // Same id twice in one batch: the last one wins.
    std::unordered_map<uint64_t, size_t> last;
    last.reserve(points.size());
    for (size_t i = 0; i < points.size(); ++i) last[points[i].id] = i;

    CollectionWriteLock lock(*c);
    Index& index = *c->index;
    std::vector<size_t> fresh, replace;
    for (size_t i = 0; i < points.size(); ++i) {
      if (last[points[i].id] != i) continue;
      (index.label_lookup_.count(points[i].id) ? replace : fresh).push_back(i);
    }
    try {
      size_t need = index.cur_element_count + fresh.size();
      if (need > index.max_elements_) index.resizeIndex(std::max(need, index.max_elements_ * 2));
      auto add = [&](size_t i) {
        std::vector<float> v = Normalized(points[i].vector);
        index.addPoint(v.data(), points[i].id);
      };
      for (size_t i : replace) add(i);  // hnswlib updates the point in place
      unsigned threads = std::min(std::max(1u, std::thread::hardware_concurrency()), kMaxInsertThreads);
      if (fresh.size() < kParallelInsertMin || threads == 1) {
        for (size_t i : fresh) add(i);
      } else {
        // hnswlib's addPoint is safe for concurrent inserts of distinct labels.
        std::atomic<size_t> next{0};
        Mutex err_mu;
        std::string err;
        std::vector<std::thread> pool;
        for (unsigned t = 0; t < threads; ++t) {
          pool.emplace_back([&] {
            for (size_t j; (j = next.fetch_add(1)) < fresh.size();) {
              try {
                add(fresh[j]);
              } catch (const std::exception& e) {
                MutexLock g(err_mu);
                if (err.empty()) err = e.what();
                next = fresh.size();
              }
            }
          });
        }
        for (auto& t : pool) t.join();
        if (!err.empty()) throw std::runtime_error(err);
      }
    } catch (const std::exception& e) {
      ++c->version;
      return Status::Internal("vectors: upsert into " + c->full_name + ": " + e.what());
    }
    for (const auto& [id, i] : last) {
      if (points[i].payload.empty()) {
        c->payloads.erase(id);
      } else {
        c->payloads[id] = points[i].payload;
      }
    }
    ++c->version;
    return Status::Ok();
  }

  Result<std::vector<VectorHit>> Search(const std::string& name, std::span<const float> query, size_t k) override {
    DSMIL_RETURN_IF_ERROR(CheckK(k));
    DSMIL_ASSIGN_OR_RETURN(std::shared_ptr<Collection> c, Get(name, 0));
    DSMIL_RETURN_IF_ERROR(CheckVector(query, c->dim, "query"));
    std::vector<float> q = Normalized(query);
    Record("search " + c->full_name);
    std::vector<VectorHit> hits;
    CollectionReadLock lock(*c);
    try {
      auto top = c->index->searchKnn(q.data(), k);
      hits.resize(top.size());
      for (size_t i = top.size(); i-- > 0;) {  // the queue yields the farthest first
        hits[i].id = top.top().second;
        hits[i].score = 1.0f - top.top().first;
        top.pop();
      }
    } catch (const std::exception& e) {
      return Status::Internal("vectors: search in " + c->full_name + ": " + e.what());
    }
    for (auto& h : hits) {
      auto p = c->payloads.find(h.id);
      h.payload = p == c->payloads.end() ? "{}" : p->second;
    }
    return hits;
  }

  Result<uint64_t> Count(const std::string& name) override {
    DSMIL_ASSIGN_OR_RETURN(std::shared_ptr<Collection> c, Get(name, 0));
    CollectionReadLock lock(*c);
    return uint64_t(c->index->cur_element_count);
  }

  Status Flush() override {
    std::vector<std::shared_ptr<Collection>> held;
    {
      MutexLock lock(mu_);
      for (const auto& kv : held_) held.push_back(kv.second);
    }
    Status first;
    for (const auto& c : held) {
      MutexLock save(c->save_mu);
      CollectionReadLock lock(*c);
      if (c->version == c->saved_version) continue;
      Status s = SaveFiles(*c, c->dir, /*journal=*/true);
      if (s.ok()) {
        c->saved_version = c->version;
      } else if (first.ok()) {
        first = s;
      }
    }
    return first;
  }

  Result<std::string> Snapshot(const std::string& name) override {
    DSMIL_ASSIGN_OR_RETURN(std::shared_ptr<Collection> c, Get(name, 0));
    const std::string snap_root = root_ + "/snapshots";
    DSMIL_RETURN_IF_ERROR(MakePrivateDirs(snap_root).WithContext("vectors"));
    std::error_code ec;
    MutexLock save(c->save_mu);
    CollectionReadLock lock(*c);  // no upsert while copying
    std::string base = snap_root + "/" + c->full_name + "-" + UtcStamp();
    std::string final_dir = base;
    for (int i = 2; fs::exists(final_dir, ec); ++i) final_dir = base + "-" + std::to_string(i);
    std::string tmp = snap_root + "/.tmp-" + fs::path(final_dir).filename().string();
    fs::remove_all(tmp, ec);
    if (!fs::create_directory(tmp, ec)) {
      return Status::Unavailable("vectors: creating " + tmp + ": " + (ec ? ec.message() : "exists"));
    }
    fs::permissions(tmp, fs::perms::owner_all, fs::perm_options::replace, ec);
    if (ec) return Status::Unavailable("vectors: chmod 700 " + tmp + ": " + ec.message());
    Status s = SaveFiles(*c, tmp, /*journal=*/false);
    if (s.ok()) s = RenameFile(tmp, final_dir);
    if (s.ok()) s = SyncPath(snap_root, true);
    if (!s.ok()) {
      fs::remove_all(tmp, ec);
      return s;
    }
    return final_dir;
  }

 private:
  // The collection `name` of this tenant, loaded if needed. With create_dim
  // > 0 a missing collection is created with that dimension (and saved at once,
  // so that it is listed and survives a restart); otherwise NotFound.
  Result<std::shared_ptr<Collection>> Get(const std::string& name, size_t create_dim) {
    DSMIL_ASSIGN_OR_RETURN(std::string full, ResolveCollection(scope_, name));
    {
      MutexLock lock(mu_);
      auto it = held_.find(full);
      if (it != held_.end()) return it->second;
    }
    DSMIL_RETURN_IF_ERROR(RefuseForeign(name));
    const std::string dir = root_ + "/" + full;
    std::shared_ptr<Collection> c;
    {
      MutexLock lock(g_registry_mu);
      auto& reg = Registry();
      auto r = reg.find(dir);
      if (r != reg.end()) c = r->second.lock();
      if (!c) {
        std::error_code ec;
        if (fs::exists(dir + "/meta", ec) || fs::exists(dir + "/meta.new", ec)) {
          DSMIL_ASSIGN_OR_RETURN(c, LoadCollection(dir, full));
        } else if (create_dim == 0) {
          return Status::NotFound("vectors: collection " + full + " does not exist");
        } else {
          DSMIL_ASSIGN_OR_RETURN(c, NewCollection(dir, full, create_dim));
        }
        reg[dir] = c;
      }
    }
    MutexLock lock(mu_);
    return held_.emplace(full, c).first->second;
  }

  // A short name that is itself the full name of another tenant's existing
  // collection ("alpha_events" asked by BRAVO) is refused outright rather
  // than quietly resolved to "bravo_alpha_events".
  Status RefuseForeign(const std::string& name) const {
    if (scope_.OwnsCollection(name)) return Status::Ok();
    std::error_code ec;
    if (fs::exists(root_ + "/" + name + "/meta", ec)) {
      return Status::PermissionDenied("vectors: '" + name + "' is another tenant's collection; tenant " +
                                      scope_.tenant() + " reaches only " + scope_.lower() + "_* collections");
    }
    return Status::Ok();
  }

  Result<std::shared_ptr<Collection>> NewCollection(const std::string& dir, const std::string& full, size_t dim) {
    DSMIL_RETURN_IF_ERROR(MakePrivateDirs(dir).WithContext("vectors"));
    auto c = std::make_shared<Collection>(dim);
    c->full_name = full;
    c->dir = dir;
    // Not shared yet; both locks held all the same (in the usual order).
    MutexLock save(c->save_mu);
    CollectionWriteLock lock(*c);
    try {
      c->index = std::make_unique<Index>(&c->space, kInitialCapacity, kM, kEfConstruction);
    } catch (const std::exception& e) {
      return Status::ResourceExhausted("vectors: creating " + full + ": " + e.what());
    }
    c->index->setEf(kEfSearch);
    DSMIL_RETURN_IF_ERROR(SaveFiles(*c, dir, /*journal=*/true));
    return c;
  }

  const TenantScope scope_;
  const std::string root_;
  Mutex mu_;
  std::map<std::string, std::shared_ptr<Collection>> held_ DSMIL_GUARDED_BY(mu_);
};

}  // namespace

DistanceFn HnswInnerProductDistance(size_t dim) {
  hnswlib::InnerProductSpace space(dim);
  return space.get_dist_func();
}

Status ResealCollectionFiles(const std::string& dir) {
  const std::string meta_path = dir + "/meta";
  DSMIL_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(meta_path, 4096));
  DSMIL_ASSIGN_OR_RETURN(Meta m, DecodeMeta(text, meta_path));
  DSMIL_ASSIGN_OR_RETURN(m.index, SumFile(dir + "/index.bin"));
  DSMIL_ASSIGN_OR_RETURN(m.payloads, SumFile(dir + "/payloads.bin"));
  std::string meta = EncodeMeta(m);
  return WriteFileSynced(meta_path, reinterpret_cast<const uint8_t*>(meta.data()), meta.size());
}

std::vector<std::string> HnswAccessLog() {
  MutexLock lock(g_log_mu);
  return {AccessLog().begin(), AccessLog().end()};
}

void ClearHnswAccessLog() {
  MutexLock lock(g_log_mu);
  AccessLog().clear();
}

Result<std::unique_ptr<Vectors>> OpenHnswVectors(const StoresConfig& config, const TenantScope& scope) {
  if (config.path.empty()) {
    return Status::InvalidArgument("stores.path: empty; the embedded vector store needs a data directory");
  }
  std::string root = config.path + "/vectors";
  // Payloads are tenant data: only the node's user may enter the directory.
  DSMIL_RETURN_IF_ERROR(MakePrivateDirs(root).WithContext("vectors"));
  return std::unique_ptr<Vectors>(new HnswVectors(scope, root));
}

}  // namespace vectors_internal
}  // namespace dsmil::store
