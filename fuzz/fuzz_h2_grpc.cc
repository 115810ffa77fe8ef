// libFuzzer target: arbitrary bytes after the HTTP/2 client preface, against the real HTTP/2
// session and gRPC dispatcher (unary, streaming, rejected calls, plain HTTP over h2). Seeds from
// fuzz/make_h2_seeds give it valid frames to mutate.
#include <cstring>

#include "fuzz/transport_harness.h"
#include "grpc/framing.h"
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

// The rest of a reply produced on demand, 1000 bytes at a time whatever the hint; with
// `fail_after_first`, the second piece fails (the stream is then reset).
class RepeatSource : public etcdpp::http::BodySource {
 public:
  RepeatSource(std::string rest, bool fail_after_first)
      : rest_(std::move(rest)), fail_after_first_(fail_after_first) {}
  etcdpp::Status Next(size_t, std::vector<std::string>* out) override {
    if (fail_after_first_ && at_ > 0) return etcdpp::Internal("the source broke");
    out->push_back(rest_.substr(at_, 1000));
    at_ += out->back().size();
    return etcdpp::Status::Ok();
  }
  bool done() const override { return at_ == rest_.size(); }

 private:
  std::string rest_;
  bool fail_after_first_;
  size_t at_ = 0;
};

std::shared_ptr<Registry> MakeRegistry() {
  auto reg = std::make_shared<Registry>();
  reg->AddUnary("/f.S/Echo",
                [](CallContext&, std::string req, UnaryResponder r) { r.Reply(std::move(req)); });
  reg->AddUnary("/f.S/Fail", [](CallContext&, std::string, UnaryResponder r) {
    r.Fail(etcdpp::Status(Code::kNotFound, "nope \xff%"));
  });
  // Replies with the request repeated 100 times, all but its first byte from a RepeatSource (a
  // streamed Range answer's shape); a request starting with 'F' makes the source fail.
  reg->AddUnary("/f.S/Sourced", [](CallContext&, std::string req, UnaryResponder r) {
    std::string message;
    for (int i = 0; i < 100; ++i) message += req;
    if (message.empty()) return r.Reply("");
    const bool fail = req[0] == 'F';
    std::vector<std::string> head{etcdpp::grpc::MessagePrefix(message.size()),
                                  message.substr(0, 1)};
    r.ReplyFramed(std::move(head), std::make_unique<RepeatSource>(message.substr(1), fail));
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
