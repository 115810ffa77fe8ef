// Status: the result of an operation that can fail, as a value (never an exception).
//
// A Status is either OK or carries a code from one project-wide enum plus a message. Modules map
// their own failures onto these codes; the translation to gRPC codes and etcd's exact error
// strings ("etcdserver: ...") happens once, in src/grpc/ and src/server/api/.
//
// Thread safety: a Status is an immutable value; copies may be used from any thread.
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace etcdpp {

// Codes follow gRPC's canonical codes so a Status can cross to the wire without a lossy mapping.
enum class Code : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

std::string_view CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // "OK" or "<CodeName>: <message>", for logs.
  std::string ToString() const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
inline Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }
inline Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
inline Status DataLoss(std::string m) { return {Code::kDataLoss, std::move(m)}; }
inline Status FailedPrecondition(std::string m) { return {Code::kFailedPrecondition, std::move(m)}; }
inline Status OutOfRange(std::string m) { return {Code::kOutOfRange, std::move(m)}; }
inline Status ResourceExhausted(std::string m) { return {Code::kResourceExhausted, std::move(m)}; }
inline Status IoError(std::string m) { return {Code::kInternal, std::move(m)}; }

}  // namespace etcdpp

// Returns early from the enclosing function with the status if it is not OK.
#define ETCDPP_RETURN_IF_ERROR(expr)          \
  do {                                        \
    ::etcdpp::Status etcdpp_status_ = (expr); \
    if (!etcdpp_status_.ok()) return etcdpp_status_; \
  } while (0)
