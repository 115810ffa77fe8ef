// libFuzzer target: arbitrary bytes after the HTTP/2 client preface, against the real HTTP/2
// session and gRPC dispatcher (unary, streaming, rejected calls, plain HTTP over h2). Seeds from
// fuzz/make_h2_seeds give it valid frames to mutate.
#include <cstring>

#include "fuzz/transport_harness.h"
#include "grpc/server.h"
#include "http/server_protocol.h"

namespace {

using namespace etcdpp::grpc;

class Echo : public StreamHandler {
 public:
  explicit Echo(ServerStream s) : s_(std::move(s)) {}
  void OnMessage(std::string_view m) override { (void)s_.Send(std::string(m)); }
  void OnHalfClose() override { s_.Finish(etcdpp::Status::Ok()); }
  void OnCancel() override {}

 private:
  ServerStream s_;
};

std::shared_ptr<Registry> MakeRegistry() {
  auto reg = std::make_shared<Registry>();
  reg->AddUnary("/f.S/Echo",
                [](CallContext&, std::string req, UnaryResponder r) { r.Reply(std::move(req)); });
  reg->AddUnary("/f.S/Fail", [](CallContext&, std::string, UnaryResponder r) {
    r.Fail(etcdpp::Status(Code::kNotFound, "nope \xff%"));
  });
  reg->AddStream("/f.S/Bidi",
                 [](CallContext&, ServerStream s) { return std::make_unique<Echo>(std::move(s)); });
  reg->AddHttp("GET", "/health", [](etcdpp::http::HttpRequest&&, etcdpp::http::HttpResponder r) {
    r.Send(etcdpp::http::HttpResponse::Text(200, "ok"));
  });
  return reg;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto registry = MakeRegistry();
  static auto* dispatcher = new GrpcDispatcher(registry, 4096);
  static etcdpp::fuzz::Harness* harness =
      new etcdpp::fuzz::Harness(etcdpp::http::MakeServerProtocolFactory(
          &registry->router(), dispatcher, etcdpp::http::HttpOptions()));
  static const char kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  std::string input(kPreface, sizeof(kPreface) - 1);
  input.append(reinterpret_cast<const char*>(data), size);
  harness->Run(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  return 0;
}
