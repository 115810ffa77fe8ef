// CHECK: an always-on invariant assertion. A broken invariant is not "handled": it logs the
// condition, file, line and any streamed context to stderr and aborts, in every build type.
//
//   CHECK(applied <= committed) << "applied=" << applied << " committed=" << committed;
#pragma once

#include <sstream>

namespace etcdpp::internal {

class CheckFailure {
 public:
  CheckFailure(const char* condition, const char* file, int line);
  [[noreturn]] ~CheckFailure();
  template <typename T>
  CheckFailure& operator<<(const T& v) {
    stream_ << v;
    return *this;
  }

 private:
  std::ostringstream stream_;
};

// Lets `CHECK(x) << ...` be an expression of type void in both branches of the ternary.
struct Voidify {
  void operator&(const CheckFailure&) {}
};

}  // namespace etcdpp::internal

#define CHECK(cond)                    \
  (cond) ? (void)0                     \
         : ::etcdpp::internal::Voidify() & \
               ::etcdpp::internal::CheckFailure(#cond, __FILE__, __LINE__)

#define CHECK_EQ(a, b) CHECK((a) == (b))
#define CHECK_LE(a, b) CHECK((a) <= (b))
#define CHECK_LT(a, b) CHECK((a) < (b))
#define CHECK_GE(a, b) CHECK((a) >= (b))
