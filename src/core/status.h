// Status and Result<T>: the one error type of DSMIL.
//
// Library code returns Status or Result<T>; exceptions never cross a library
// boundary. A Status is either OK (cheap: no allocation) or carries a code and
// a message that names what is wrong ("dbe: TLV 3 (type 0x05) overruns the
// frame: length 900, 12 bytes left"). Codes are a fixed set, so callers can
// branch on them; messages are for people and logs.
#pragma once

#include <cassert>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace dsmil {

enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument = 1,  // bad input from outside: frame, body, config, flag
  kNotFound = 2,
  kAlreadyExists = 3,
  kPermissionDenied = 4,    // authenticated, but not allowed (policy, tenant)
  kUnauthenticated = 5,     // identity missing or not verifiable
  kResourceExhausted = 6,   // limit reached (size, count, memory, rate)
  kFailedPrecondition = 7,  // state does not allow it (e.g. key readable by others)
  kOutOfRange = 8,
  kUnavailable = 9,  // peer or server cannot be reached now; retry may work
  kDeadlineExceeded = 10,
  kDataLoss = 11,       // corrupted or truncated stored data
  kUnimplemented = 12,  // feature not built yet; never faked
  kInternal = 13,       // invariant broken on our side
};

// Stable upper-case name of a code, e.g. "INVALID_ARGUMENT".
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message);

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) { return {StatusCode::kInvalidArgument, std::move(msg)}; }
  static Status NotFound(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
  static Status AlreadyExists(std::string msg) { return {StatusCode::kAlreadyExists, std::move(msg)}; }
  static Status PermissionDenied(std::string msg) { return {StatusCode::kPermissionDenied, std::move(msg)}; }
  static Status Unauthenticated(std::string msg) { return {StatusCode::kUnauthenticated, std::move(msg)}; }
  static Status ResourceExhausted(std::string msg) { return {StatusCode::kResourceExhausted, std::move(msg)}; }
  static Status FailedPrecondition(std::string msg) { return {StatusCode::kFailedPrecondition, std::move(msg)}; }
  static Status OutOfRange(std::string msg) { return {StatusCode::kOutOfRange, std::move(msg)}; }
  static Status Unavailable(std::string msg) { return {StatusCode::kUnavailable, std::move(msg)}; }
  static Status DeadlineExceeded(std::string msg) { return {StatusCode::kDeadlineExceeded, std::move(msg)}; }
  static Status DataLoss(std::string msg) { return {StatusCode::kDataLoss, std::move(msg)}; }
  static Status Unimplemented(std::string msg) { return {StatusCode::kUnimplemented, std::move(msg)}; }
  static Status Internal(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }

  bool ok() const { return rep_ == nullptr; }
  StatusCode code() const { return rep_ ? rep_->code : StatusCode::kOk; }
  // The message alone ("" when OK).
  const std::string& message() const;
  // "INVALID_ARGUMENT: message", or "OK".
  std::string ToString() const;

  // Returns a copy whose message is "prefix: message" (same code). OK stays OK.
  Status WithContext(std::string_view prefix) const;

  Status(const Status& other) : rep_(other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr) {}
  Status& operator=(const Status& other) {
    if (this != &other) rep_ = other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr;
    return *this;
  }
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code() == b.code() && a.message() == b.message();
  }

 private:
  struct Rep {
    StatusCode code;
    std::string message;
  };
  std::unique_ptr<Rep> rep_;
};

namespace internal {
// Prints "Result::value() called on an error: <status>" to stderr and aborts:
// reading the value of a failed Result is a bug, and it stops the process in
// every build type instead of throwing across libraries.
[[noreturn]] void DieOnValueOfError(const Status& status);
// The Status a Result built from an OK Status holds instead: an Internal
// error that says so (a Result is never "not ok" with an OK status).
Status OkStatusInResult();
}  // namespace internal

// Result<T> holds either a value or a non-OK Status. value() (and * and ->)
// on an error aborts with the error (internal::DieOnValueOfError).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status)                      // NOLINT(google-explicit-constructor)
      : v_(status.ok() ? internal::OkStatusInResult() : std::move(status)) {}

  bool ok() const { return std::holds_alternative<T>(v_); }
  // The error (OK when a value is held).
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }

  T& value() & {
    if (!ok()) internal::DieOnValueOfError(std::get<Status>(v_));
    return std::get<T>(v_);
  }
  const T& value() const& {
    if (!ok()) internal::DieOnValueOfError(std::get<Status>(v_));
    return std::get<T>(v_);
  }
  T&& value() && {
    if (!ok()) internal::DieOnValueOfError(std::get<Status>(v_));
    return std::get<T>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace dsmil

// Returns from the enclosing function when `expr` (a Status) is not OK.
#define DSMIL_RETURN_IF_ERROR(expr)                \
  do {                                             \
    ::dsmil::Status dsmil_status_ = (expr);        \
    if (!dsmil_status_.ok()) return dsmil_status_; \
  } while (0)

#define DSMIL_CONCAT_INNER_(a, b) a##b
#define DSMIL_CONCAT_(a, b) DSMIL_CONCAT_INNER_(a, b)

// Declares `lhs` from a Result, or returns its Status from the enclosing function.
#define DSMIL_ASSIGN_OR_RETURN(lhs, expr) \
  DSMIL_ASSIGN_OR_RETURN_IMPL_(DSMIL_CONCAT_(dsmil_result_, __LINE__), lhs, expr)
#define DSMIL_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()
