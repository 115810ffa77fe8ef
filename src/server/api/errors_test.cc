#include "server/api/errors.h"

#include <gtest/gtest.h>

#include <set>

#include "mvcc/errors.h"
#include "storage/errors.h"

namespace etcdpp::api {
namespace {

// Spot checks against etcd 3.4's rpctypes/error.go: code and text exactly.
TEST(EtcdErrors, MatchEtcdCodesAndMessages) {
  EXPECT_EQ(Err(EtcdError::kEmptyKey),
            Status(Code::kInvalidArgument, "etcdserver: key is not provided"));
  EXPECT_EQ(Err(EtcdError::kCompacted),
            Status(Code::kOutOfRange, "etcdserver: mvcc: required revision has been compacted"));
  EXPECT_EQ(Err(EtcdError::kNoSpace),
            Status(Code::kResourceExhausted, "etcdserver: mvcc: database space exceeded"));
  EXPECT_EQ(Err(EtcdError::kLeaseNotFound),
            Status(Code::kNotFound, "etcdserver: requested lease not found"));
  EXPECT_EQ(Err(EtcdError::kInvalidAuthToken),
            Status(Code::kUnauthenticated, "etcdserver: invalid auth token"));
  EXPECT_EQ(Err(EtcdError::kWatchCanceled), Status(Code::kCancelled, "etcdserver: watch canceled"));
  EXPECT_EQ(Err(EtcdError::kCorrupt), Status(Code::kDataLoss, "etcdserver: corrupt cluster"));
}

TEST(EtcdErrors, EveryMessageIsUniqueAndPrefixed) {
  std::set<std::string_view> seen;
#define ETCDPP_CHECK_ENTRY_(name, code, message)     \
  EXPECT_TRUE(seen.insert(message).second) << #name; \
  EXPECT_EQ(std::string_view(message).substr(0, 12), "etcdserver: ") << #name;
  ETCDPP_ETCD_ERRORS(ETCDPP_CHECK_ENTRY_)
#undef ETCDPP_CHECK_ENTRY_
}

TEST(EtcdErrors, ModuleStatusesBecomeClientErrors) {
  EXPECT_TRUE(Is(ToClientStatus(mvcc::ErrCompacted()), EtcdError::kCompacted));
  EXPECT_TRUE(Is(ToClientStatus(mvcc::ErrFutureRev()), EtcdError::kFutureRev));
  EXPECT_TRUE(Is(ToClientStatus(Err(EtcdError::kDuplicateKey)), EtcdError::kDuplicateKey));
  EXPECT_TRUE(Is(ToClientStatus(Status(Code::kResourceExhausted,
                                       std::string(storage::kMapFullMessage) + " in mdb_put")),
                 EtcdError::kNoSpace));
  Status other = ToClientStatus(Internal("disk on fire"));
  EXPECT_EQ(other.code(), Code::kUnknown);
  EXPECT_EQ(other.message(), "disk on fire");
  EXPECT_TRUE(ToClientStatus(Status::Ok()).ok());
}

}  // namespace
}  // namespace etcdpp::api
