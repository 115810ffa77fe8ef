// libFuzzer target: arbitrary bytes as an HTTP/1.1 client (and, when they start with the HTTP/2
// preface, as h2c) against the real server protocol with a small router.
#include "fuzz/transport_harness.h"
#include "http/server_protocol.h"

namespace {

etcdpp::http::Router* MakeRouter() {
  using namespace etcdpp::http;
  auto* r = new Router();
  r->Add("GET", "/health", [](HttpRequest&&, HttpResponder resp) {
    resp.Send(HttpResponse::Text(200, "{\"health\":\"true\"}"));
  });
  r->Add("POST", "/v3/", [](HttpRequest&& req, HttpResponder resp) {
    resp.Send(HttpResponse::Text(200, req.body));
  });
  r->Add("", "/drop", [](HttpRequest&&, HttpResponder) {});
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static etcdpp::http::Router* router = MakeRouter();
  static etcdpp::fuzz::Harness* harness = [] {
    etcdpp::http::HttpOptions o;
    o.max_http_body_bytes = 4096;  // small limits so the fuzzer reaches 413/431 paths
    o.max_header_list_bytes = 2048;
    return new etcdpp::fuzz::Harness(etcdpp::http::MakeServerProtocolFactory(router, nullptr, o));
  }();
  harness->Run(data, size);
  return 0;
}
