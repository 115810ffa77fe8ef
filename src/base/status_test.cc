#include "base/status.h"

#include <gtest/gtest.h>

#include "base/ids.h"
#include "base/result.h"

namespace etcdpp {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgument("odd");
  return x / 2;
}

Status Quarter(int x, int* out) {
  ETCDPP_ASSIGN_OR_RETURN(int h, Half(x));
  ETCDPP_ASSIGN_OR_RETURN(*out, Half(h));
  return Status::Ok();
}

TEST(StatusTest, OkAndError) {
  EXPECT_TRUE(Status::Ok().ok());
  Status s = NotFound("no such key");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_EQ(s.ToString(), "NotFound: no such key");
}

TEST(ResultTest, PropagatesErrors) {
  int out = 0;
  EXPECT_TRUE(Quarter(8, &out).ok());
  EXPECT_EQ(out, 2);
  Status s = Quarter(6, &out);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "odd");
}

TEST(ResultDeathTest, ValueOfErrorAborts) {
  Result<int> r = Half(3);
  EXPECT_DEATH((void)r.value(), "CHECK failed");
}

TEST(IdsTest, StrongNumbersCompare) {
  EXPECT_LT(Revision(1), Revision(2));
  EXPECT_EQ(LogIndex(5).next(), LogIndex(6));
}

}  // namespace
}  // namespace etcdpp
