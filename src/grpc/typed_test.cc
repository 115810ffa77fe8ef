// The typed wrappers, checked with protobuf's well-known StringValue so the test does not need
// the etcd protos.
#include "grpc/typed.h"

#include <google/protobuf/wrappers.pb.h>
#include <gtest/gtest.h>

#include "grpc/framing.h"
#include "grpc/server.h"
#include "grpc/testing/h2_test_client.h"

namespace etcdpp::grpc {
namespace {

using google::protobuf::StringValue;

class Upper : public TypedStreamHandler<StringValue> {
 public:
  explicit Upper(TypedStream<StringValue> s) : s_(std::move(s)) {}
  void OnRequest(StringValue&& req) override {
    StringValue out;
    out.set_value(req.value() + "!");
    (void)s_.Send(out);
  }
  void OnHalfClose() override { s_.Finish(Status::Ok()); }
  void OnCancel() override {}

 private:
  TypedStream<StringValue> s_;
};

TEST(TypedTest, UnaryAndStreamParseAndSerialize) {
  auto reg = std::make_shared<Registry>();
  AddTypedUnary<StringValue, StringValue>(
      *reg, "/t.T/Hello", [](CallContext&, StringValue&& req, TypedResponder<StringValue> r) {
        StringValue resp;
        resp.set_value("hello " + req.value());
        r.Reply(resp);
      });
  AddTypedStream<StringValue, StringValue>(*reg, "/t.T/Bang",
                                           [](CallContext&, TypedStream<StringValue> s) {
                                             return std::make_unique<Upper>(std::move(s));
                                           });
  ServerOptions o;
  o.listen_urls = {"http://127.0.0.1:0"};
  o.num_loops = 1;
  Server server(o, reg);
  ASSERT_TRUE(server.Start().ok());
  auto c = testing::H2TestClient::Connect(server.bound()[0].port);

  StringValue req;
  req.set_value("world");
  auto r = c->Unary("/t.T/Hello", req.SerializeAsString());
  ASSERT_EQ(r.Messages().size(), 1u);
  StringValue resp;
  ASSERT_TRUE(resp.ParseFromString(r.Messages()[0]));
  EXPECT_EQ(resp.value(), "hello world");

  // Not a StringValue: field 1 with wire type 7 is invalid.
  auto bad = c->Unary("/t.T/Hello", std::string("\x0f", 1));
  EXPECT_EQ(bad.Trailer("grpc-status"), "13");

  int32_t id = c->Start("/t.T/Bang");
  c->Send(id, EncodeMessage(req.SerializeAsString()) + EncodeMessage(req.SerializeAsString()),
          true);
  auto& sr = c->Wait(id);
  ASSERT_EQ(sr.Messages().size(), 2u);
  ASSERT_TRUE(resp.ParseFromString(sr.Messages()[1]));
  EXPECT_EQ(resp.value(), "world!");
  EXPECT_EQ(sr.Trailer("grpc-status"), "0");
  server.Stop(std::chrono::milliseconds(0));
}

}  // namespace
}  // namespace etcdpp::grpc
