#include "http/types.h"

#include <gtest/gtest.h>

namespace etcdpp::http {
namespace {

struct Capture : HttpResponder::Impl {
  explicit Capture(HttpResponse* out) : out_(out) {}
  void Send(HttpResponse r) override { *out_ = std::move(r); }
  HttpResponse* out_;
};

HttpResponse RouteOnce(const Router& router, std::string method, std::string path) {
  HttpResponse got;
  got.status = -1;
  HttpRequest req;
  req.method = std::move(method);
  req.path = std::move(path);
  router.Route(std::move(req), HttpResponder(std::make_unique<Capture>(&got)));
  return got;
}

TEST(RouterTest, ExactBeatsPrefixAndLongestPrefixWins) {
  Router r;
  auto reply = [](std::string body) {
    return [body](HttpRequest&&, HttpResponder resp) { resp.Send(HttpResponse::Text(200, body)); };
  };
  r.Add("GET", "/v3/", reply("v3"));
  r.Add("GET", "/v3/kv/", reply("kv"));
  r.Add("GET", "/v3/kv/range", reply("range"));
  EXPECT_EQ(RouteOnce(r, "GET", "/v3/kv/range").body, "range");
  EXPECT_EQ(RouteOnce(r, "GET", "/v3/kv/put").body, "kv");
  EXPECT_EQ(RouteOnce(r, "GET", "/v3/lease").body, "v3");
  EXPECT_EQ(RouteOnce(r, "GET", "/v2").status, 404);
  EXPECT_EQ(RouteOnce(r, "PUT", "/v3/kv/range").status, 405);
}

TEST(RouterTest, DroppedResponderAnswers500) {
  Router r;
  r.Add("", "/drop", [](HttpRequest&&, HttpResponder) {});
  EXPECT_EQ(RouteOnce(r, "GET", "/drop").status, 500);
}

}  // namespace
}  // namespace etcdpp::http
