// Writes seed inputs for fuzz_h2_grpc: client frame sequences (after the preface) produced by a
// real nghttp2 client session, so the fuzzer starts from valid HEADERS/DATA/RST/PING frames.
// Usage: make_h2_seeds <dir>
#include <nghttp2/nghttp2.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace {

struct Req {
  std::string path;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool end = true;
  bool rst = false;
  std::string method = "POST";
};

std::string Frame(const std::string& msg, bool compressed = false) {
  uint32_t n = static_cast<uint32_t>(msg.size());
  std::string f = {static_cast<char>(compressed ? 1 : 0), static_cast<char>(n >> 24),
                   static_cast<char>(n >> 16), static_cast<char>(n >> 8), static_cast<char>(n)};
  return f + msg;
}

std::string Generate(const std::vector<Req>& reqs, bool ping) {
  nghttp2_session_callbacks* cbs;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session* s;
  nghttp2_session_client_new(&s, cbs, nullptr);
  nghttp2_session_callbacks_del(cbs);
  nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, nullptr, 0);
  static std::vector<std::string> bodies;
  for (const auto& r : reqs) {
    std::vector<std::pair<std::string, std::string>> h = {
        {":method", r.method}, {":scheme", "http"}, {":authority", "x"}, {":path", r.path}};
    if (r.method == "POST") {
      h.push_back({"content-type", "application/grpc"});
      h.push_back({"te", "trailers"});
    }
    for (auto& x : r.headers) h.push_back(x);
    std::vector<nghttp2_nv> nva;
    for (auto& [n, v] : h) {
      nva.push_back({(uint8_t*)n.data(), (uint8_t*)v.data(), n.size(), v.size(), 0});
    }
    bodies.push_back(r.body);
    nghttp2_data_provider p{};
    p.source.ptr = &bodies.back();
    p.read_callback = [](nghttp2_session*, int32_t, uint8_t* buf, size_t len, uint32_t* flags,
                         nghttp2_data_source* src, void*) -> ssize_t {
      auto* b = static_cast<std::string*>(src->ptr);
      size_t n = std::min(len, b->size());
      memcpy(buf, b->data(), n);
      b->erase(0, n);
      if (b->empty()) *flags |= NGHTTP2_DATA_FLAG_EOF;
      return static_cast<ssize_t>(n);
    };
    int32_t id = nghttp2_submit_request(s, nullptr, nva.data(), nva.size(),
                                        r.method == "POST" ? &p : nullptr, nullptr);
    if (r.rst) nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
  }
  if (ping) nghttp2_submit_ping(s, NGHTTP2_FLAG_NONE, nullptr);
  std::string out;
  const uint8_t* d;
  ssize_t n;
  while ((n = nghttp2_session_mem_send(s, &d)) > 0) out.append((const char*)d, n);
  nghttp2_session_del(s);
  return out.substr(24);  // the fuzz target adds the preface itself
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  std::string dir = argv[1];
  std::vector<std::pair<std::string, std::string>> seeds = {
      {"unary", Generate({{"/f.S/Echo", {}, Frame("hello")}}, false)},
      {"fail", Generate({{"/f.S/Fail", {}, Frame("")}}, true)},
      {"bidi",
       Generate({{"/f.S/Bidi", {{"grpc-timeout", "5S"}}, Frame("a") + Frame("bb")}}, false)},
      {"unknown", Generate({{"/f.X/Y", {{"token", "t"}, {"k-bin", "AAE"}}, Frame("z")}}, false)},
      {"gzip",
       Generate({{"/f.S/Echo", {{"grpc-encoding", "gzip"}}, Frame("notgzip", true)}}, false)},
      {"toolarge", Generate({{"/f.S/Echo", {}, Frame(std::string(5000, 'x'))}}, false)},
      {"rst", Generate({{"/f.S/Bidi", {}, Frame("q"), false, true}}, false)},
      {"sourced", Generate({{"/f.S/Sourced", {}, Frame("sourced body")}}, false)},
      {"sourced-fail", Generate({{"/f.S/Sourced", {}, Frame("F")}}, false)},
      {"health", Generate({{"/health", {}, "", true, false, "GET"}}, true)},
      {"many", Generate({{"/f.S/Echo", {}, Frame("1")},
                         {"/f.S/Bidi", {{"grpc-timeout", "1n"}}, Frame("2")},
                         {"/health", {}, "", true, false, "GET"}},
                        true)},
  };
  for (auto& [name, bytes] : seeds) {
    std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
  }
  return 0;
}
