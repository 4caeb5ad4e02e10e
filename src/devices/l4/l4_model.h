// The L4 Reactive Classifier model (docs/soc.md): multinomial logistic
// regression over hashed sparse features (tokens such as "proto=tls",
// "bytes_out:b20", "w=beacon", each hashed with 32-bit FNV-1a into `dim`
// buckets): one softmax head for the category, one for the severity;
// confidence = probability of the chosen category. Weights from
// models/l4_classifier.json, written by tools/train_l4.py (which computes the
// same tokens; L4Tokens is the reference).
//
// Immutable after loading: Classify is const, allocation-free (a small stack
// buffer) and thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "devices/soc/event.h"

namespace dsmil::soc {

struct L4Output {
  Category category = Category::kSoc;
  Severity severity = Severity::kLow;
  double confidence = 0;
  std::array<double, kCategoryCount> category_probs{};
  std::array<double, kSeverityCount> severity_probs{};
};

// 32-bit FNV-1a.
inline uint32_t Fnv1a32(std::string_view s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

// Calls `emit(token)` for each token of the event's features, in a fixed
// order (docs/soc.md, "L4 features"). Tokens are built in a stack buffer.
template <typename Emit>
void L4Tokens(const Features& f, Emit&& emit);

class L4Model {
 public:
  static Result<L4Model> Parse(std::string_view json_text);
  static Result<L4Model> Load(const std::string& path);

  L4Output Classify(const Features& f) const;

  size_t dim() const { return dim_; }
  // Held-out accuracy recorded by the trainer (category head), or -1.
  double heldout_accuracy() const { return heldout_accuracy_; }

 private:
  size_t dim_ = 0;
  // Row-major by bucket: weights for bucket b are at [b * k, (b + 1) * k).
  std::vector<float> cat_w_, sev_w_;
  std::array<float, kCategoryCount> cat_b_{};
  std::array<float, kSeverityCount> sev_b_{};
  double heldout_accuracy_ = -1;
};

// ---- implementation of the template ----

namespace internal {
// Appends the decimal digits of v to buf at *n.
inline void AppendInt(char* buf, size_t* n, int64_t v) {
  char tmp[24];
  size_t k = 0;
  bool neg = v < 0;
  uint64_t u = neg ? uint64_t(-(v + 1)) + 1 : uint64_t(v);
  do {
    tmp[k++] = char('0' + u % 10);
    u /= 10;
  } while (u);
  if (neg) buf[(*n)++] = '-';
  while (k) buf[(*n)++] = tmp[--k];
}
inline int Log2Bucket(int64_t v) { return v <= 0 ? 0 : 64 - __builtin_clzll(uint64_t(v)); }
}  // namespace internal

template <typename Emit>
void L4Tokens(const Features& f, Emit&& emit) {
  char buf[96];
  auto str = [&](std::string_view prefix, std::string_view v) {
    if (v.empty()) return;
    size_t n = 0;
    for (char c : prefix) buf[n++] = c;
    for (char c : v) {
      if (n >= sizeof buf) break;
      buf[n++] = (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
    }
    emit(std::string_view(buf, n));
  };
  auto has = [&](std::string_view name, bool present) {
    if (present) str("has=", name);
  };
  auto bucket = [&](std::string_view name, const std::optional<int64_t>& v) {
    if (!v) return;
    size_t n = 0;
    for (char c : name) buf[n++] = c;
    buf[n++] = ':';
    buf[n++] = 'b';
    internal::AppendInt(buf, &n, internal::Log2Bucket(*v));
    emit(std::string_view(buf, n));
  };
  auto tenth = [&](std::string_view name, const std::optional<double>& v) {
    if (!v) return;
    size_t n = 0;
    for (char c : name) buf[n++] = c;
    buf[n++] = ':';
    int t = int(*v * 10);
    if (t > 9) t = 9;
    internal::AppendInt(buf, &n, t);
    emit(std::string_view(buf, n));
  };
  emit("bias");
  str("proto=", f.protocol);
  str("kex=", f.kex);
  str("tls=", f.tls_version);
  str("enclave=", f.enclave_attestation);
  str("proc=", f.process);
  if (f.dst_port) {
    size_t n = 0;
    for (char c : std::string_view("port=")) buf[n++] = c;
    internal::AppendInt(buf, &n, *f.dst_port);
    emit(std::string_view(buf, n));
  }
  has("src_ip", !f.src_ip.empty());
  has("dst_ip", !f.dst_ip.empty());
  has("src_host", !f.src_host.empty());
  has("dst_domain", !f.dst_domain.empty());
  has("user", !f.user.empty());
  has("file_hash", !f.file_hash.empty());
  bucket("bytes_in", f.bytes_in);
  bucket("bytes_out", f.bytes_out);
  bucket("conn_count", f.conn_count);
  bucket("failed_logins", f.failed_logins);
  bucket("distinct_ports", f.distinct_ports);
  if (f.login_hour) {
    size_t n = 0;
    for (char c : std::string_view("hour=")) buf[n++] = c;
    internal::AppendInt(buf, &n, *f.login_hour);
    emit(std::string_view(buf, n));
  }
  tenth("anomaly", f.anomaly_score);
  tenth("biometric", f.biometric_score);
  // Signature words: maximal runs of [a-z0-9], lower-cased, at most 32.
  int words = 0;
  size_t i = 0;
  const std::string& s = f.signature;
  while (i < s.size() && words < 32) {
    auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
    while (i < s.size() && !alnum(s[i])) ++i;
    size_t start = i;
    while (i < s.size() && alnum(s[i])) ++i;
    if (i > start) {
      str("w=", std::string_view(s).substr(start, std::min<size_t>(i - start, 64)));
      ++words;
    }
  }
}

}  // namespace dsmil::soc
