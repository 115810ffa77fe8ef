// Result<T>: either a value of T or a non-OK Status. The return type of fallible functions that
// produce something, so errors stay values across module boundaries.
#pragma once

#include <utility>
#include <variant>

#include "base/check.h"
#include "base/status.h"

namespace etcdpp {

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design, like absl::StatusOr.
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    CHECK(!std::get<Status>(v_).ok()) << "Result built from an OK status carries no value";
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  // Returns OK iff a value is held.
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }

  // REQUIRES: ok().
  T& value() & { CHECK(ok()) << status().ToString(); return std::get<T>(v_); }
  const T& value() const& { CHECK(ok()) << status().ToString(); return std::get<T>(v_); }
  T&& value() && { CHECK(ok()) << status().ToString(); return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace etcdpp

// Evaluates a Result expression; on error returns its status, else moves the value into lhs.
#define ETCDPP_CONCAT_INNER_(a, b) a##b
#define ETCDPP_CONCAT_(a, b) ETCDPP_CONCAT_INNER_(a, b)
#define ETCDPP_ASSIGN_OR_RETURN(lhs, expr) \
  ETCDPP_ASSIGN_OR_RETURN_IMPL_(ETCDPP_CONCAT_(etcdpp_result_, __LINE__), lhs, expr)
#define ETCDPP_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()
