#include "core/status.h"

#include <gtest/gtest.h>

namespace dsmil {
namespace {

Result<int> Half(int x) {
  if (x % 2) return Status::InvalidArgument("odd: " + std::to_string(x));
  return x / 2;
}

Status Chain(int x, int* out) {
  DSMIL_ASSIGN_OR_RETURN(int h, Half(x));
  DSMIL_ASSIGN_OR_RETURN(*out, Half(h));
  return Status::Ok();
}

TEST(Status, OkIsDefault) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "OK");
  EXPECT_EQ(s.message(), "");
}

TEST(Status, CarriesCodeAndMessage) {
  Status s = Status::PermissionDenied("tenant BRAVO may not read ALPHA_SOC_EVENTS");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(s.ToString(), "PERMISSION_DENIED: tenant BRAVO may not read ALPHA_SOC_EVENTS");
  EXPECT_EQ(s.WithContext("store").message(), "store: tenant BRAVO may not read ALPHA_SOC_EVENTS");
  Status copy = s;
  EXPECT_EQ(copy, s);
}

TEST(Result, PropagatesErrors) {
  int out = 0;
  EXPECT_TRUE(Chain(8, &out).ok());
  EXPECT_EQ(out, 2);
  Status s = Chain(6, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "odd: 3");
}

}  // namespace
}  // namespace dsmil

namespace dsmil {
namespace {

// Reading the value of a failed Result stops the process with the error, in
// every build type (RelWithDebInfo compiles assert out).
TEST(ResultMisuseDeathTest, ValueOfAnErrorAbortsNamingTheError) {
  Result<int> r = Status::NotFound("no such widget");
  EXPECT_DEATH((void)r.value(), "Result::value\\(\\) called on an error: NOT_FOUND: no such widget");
  EXPECT_DEATH((void)*r, "no such widget");
  const Result<std::string> c = Status::Unavailable("down");
  EXPECT_DEATH((void)c->size(), "UNAVAILABLE: down");
}

// A Result built from an OK Status is an Internal error, never "not ok but OK".
TEST(ResultMisuse, OkStatusBecomesAnInternalError) {
  Result<int> r = Status::Ok();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
  EXPECT_NE(r.status().message().find("OK Status"), std::string::npos);
}

}  // namespace
}  // namespace dsmil
