// Strong types for the domain numbers that would otherwise all be uint64_t.
//
// A Revision is not a LogIndex, and a MemberId is not a LeaseId: mixing them is a compile error.
// Each is a thin wrapper with ordering, hashing and an explicit .value() to reach the raw number
// (for the wire and the disk).
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <ostream>

namespace etcdpp {

template <typename Tag, typename Rep>
class StrongNumber {
 public:
  using rep_type = Rep;
  constexpr StrongNumber() = default;
  constexpr explicit StrongNumber(Rep v) : v_(v) {}
  constexpr Rep value() const { return v_; }
  constexpr auto operator<=>(const StrongNumber&) const = default;
  constexpr StrongNumber next() const { return StrongNumber(v_ + 1); }
  friend std::ostream& operator<<(std::ostream& os, StrongNumber n) { return os << n.v_; }

 private:
  Rep v_ = 0;
};

// etcd revisions are int64 on the wire (mvccpb.KeyValue.create_revision etc.).
using Revision = StrongNumber<struct RevisionTag, int64_t>;
using Term = StrongNumber<struct TermTag, uint64_t>;
using LogIndex = StrongNumber<struct LogIndexTag, uint64_t>;
using MemberId = StrongNumber<struct MemberIdTag, uint64_t>;
using ClusterId = StrongNumber<struct ClusterIdTag, uint64_t>;
using LeaseId = StrongNumber<struct LeaseIdTag, int64_t>;
using WatchId = StrongNumber<struct WatchIdTag, int64_t>;

}  // namespace etcdpp

template <typename Tag, typename Rep>
struct std::hash<etcdpp::StrongNumber<Tag, Rep>> {
  size_t operator()(etcdpp::StrongNumber<Tag, Rep> n) const noexcept {
    return std::hash<Rep>()(n.value());
  }
};
