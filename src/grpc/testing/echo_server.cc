// grpc_echo_server: a small server on the real transport for integration tests with real clients
// (etcdctl/grpc-go, python grpcio/C-core, curl). Not part of etcdpp itself.
//
// Methods (requests and responses are raw bytes unless noted):
//   /etcdpp.test.Echo/Unary         echoes the request
//   /etcdpp.test.Echo/Fail          request "<code>:<message>" → that gRPC status
//   /etcdpp.test.Echo/Later         request "<ms>" → replies "done" from another thread after ms
//   /etcdpp.test.Echo/Metadata      replies "cn=<cn>\n" plus "<key>=<value>\n" per metadata entry
//   /etcdpp.test.Echo/ServerStream  request "<n>:<size>" → n messages of size bytes, then OK
//   /etcdpp.test.Echo/Bidi          echoes each message; finishes OK on half-close
//   /etcdpp.test.Echo/Hang          stream that never answers; counts cancellations
//   /etcdserverpb.KV/Range          hand-encoded RangeResponse: the requested key → "bar"
// HTTP: GET /health, GET /version, POST /echo (echo body), GET /stats (cancellation count).
//
// Flags: --listen-urls=a,b --cert-file= --key-file= --trusted-ca-file= --client-cert-auth
//        --auto-tls --cipher-suites=a,b --loops=N --max-request-bytes=N
//        --max-concurrent-streams=N --port-file=PATH (writes "<url> <port>" lines when serving)
#include <signal.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

#include "base/varint.h"
#include "grpc/server.h"

using etcdpp::Code;
using etcdpp::PutVarint;
using etcdpp::Status;
using namespace etcdpp::grpc;

namespace {

std::atomic<int> g_cancellations{0};

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

void PutBytesField(int field, const std::string& bytes, std::string* out) {
  PutVarint(static_cast<uint64_t>(field) << 3 | 2, out);
  PutVarint(bytes.size(), out);
  out->append(bytes);
}

void PutVarintField(int field, uint64_t v, std::string* out) {
  PutVarint(static_cast<uint64_t>(field) << 3, out);
  PutVarint(v, out);
}

// Reads field 1 (key) of a RangeRequest; enough for `etcdctl get <key>`.
std::string RangeKey(const std::string& req) {
  size_t i = 0;
  while (i < req.size()) {
    uint64_t tag = 0;
    int shift = 0;
    while (i < req.size()) {
      uint8_t b = static_cast<uint8_t>(req[i++]);
      tag |= uint64_t(b & 0x7f) << shift;
      shift += 7;
      if (!(b & 0x80)) break;
    }
    int wire = tag & 7;
    uint64_t v = 0;
    shift = 0;
    while (i < req.size()) {
      uint8_t b = static_cast<uint8_t>(req[i++]);
      v |= uint64_t(b & 0x7f) << shift;
      shift += 7;
      if (!(b & 0x80)) break;
    }
    if (wire == 2) {
      if ((tag >> 3) == 1) return req.substr(i, v);
      i += v;
    } else if (wire != 0) {
      return "";
    }
  }
  return "";
}

class BidiEcho : public StreamHandler {
 public:
  explicit BidiEcho(ServerStream s) : stream_(std::move(s)) {}
  void OnMessage(std::string_view m) override { (void)stream_.Send(std::string(m)); }
  void OnHalfClose() override { stream_.Finish(Status::Ok()); }
  void OnCancel() override { g_cancellations++; }

 private:
  ServerStream stream_;
};

class ServerStreamer : public StreamHandler {
 public:
  explicit ServerStreamer(ServerStream s) : stream_(std::move(s)) {}
  void OnMessage(std::string_view m) override {
    auto parts = Split(std::string(m), ':');
    int n = parts.size() > 0 ? std::stoi(parts[0]) : 1;
    size_t size = parts.size() > 1 ? std::stoul(parts[1]) : 16;
    // Produce from another thread, as the watch hub will.
    std::thread([s = stream_, n, size]() mutable {
      for (int i = 0; i < n; ++i) {
        std::string msg(size, static_cast<char>('a' + i % 26));
        // Back off while the client is slow instead of overflowing the bound.
        while (s.pending_bytes() > 4 * 1024 * 1024 && !s.IsDone()) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        if (!s.Send(std::move(msg)).ok()) return;
      }
      s.Finish(Status::Ok());
    }).detach();
  }
  void OnHalfClose() override {}
  void OnCancel() override { g_cancellations++; }

 private:
  ServerStream stream_;
};

class Hang : public StreamHandler {
 public:
  void OnMessage(std::string_view) override {}
  void OnHalfClose() override {}
  void OnCancel() override { g_cancellations++; }
};

}  // namespace

int main(int argc, char** argv) {
  ServerOptions opts;
  opts.listen_urls = {"http://127.0.0.1:0"};
  std::string port_file;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto eq = a.find('=');
    std::string k = a.substr(0, eq);
    std::string v = eq == std::string::npos ? "" : a.substr(eq + 1);
    if (k == "--listen-urls")
      opts.listen_urls = Split(v, ',');
    else if (k == "--cert-file")
      opts.tls.cert_file = v;
    else if (k == "--key-file")
      opts.tls.key_file = v;
    else if (k == "--trusted-ca-file")
      opts.tls.trusted_ca_file = v;
    else if (k == "--client-cert-auth")
      opts.tls.client_cert_auth = v != "false";
    else if (k == "--auto-tls")
      opts.tls.auto_tls = v != "false";
    else if (k == "--cipher-suites")
      opts.tls.cipher_suites = Split(v, ',');
    else if (k == "--loops")
      opts.num_loops = std::stoul(v);
    else if (k == "--max-request-bytes")
      opts.max_request_bytes = std::stoul(v);
    else if (k == "--max-concurrent-streams")
      opts.http.max_concurrent_streams = std::stoul(v);
    else if (k == "--tls-reload-check-ms") {
      opts.tls.reload_check_interval = std::chrono::milliseconds(std::stoi(v));
    } else if (k == "--port-file")
      port_file = v;
    else if (k == "--debug")
      spdlog::set_level(spdlog::level::debug);
    else {
      std::cerr << "unknown flag " << a << "\n";
      return 2;
    }
  }

  auto reg = std::make_shared<Registry>();
  reg->AddUnary("/etcdpp.test.Echo/Unary",
                [](CallContext&, std::string req, UnaryResponder r) { r.Reply(std::move(req)); });
  reg->AddUnary("/etcdpp.test.Echo/Fail", [](CallContext&, std::string req, UnaryResponder r) {
    // "<code>:<message>"; parsed by hand (GCC 12 -O2 warns falsely on find/substr here).
    int code = 0;
    size_t i = 0;
    while (i < req.size() && req[i] >= '0' && req[i] <= '9') code = code * 10 + (req[i++] - '0');
    std::string message = i < req.size() ? std::string(req.begin() + i + 1, req.end()) : "";
    r.Fail(Status(static_cast<Code>(code), std::move(message)));
  });
  reg->AddUnary("/etcdpp.test.Echo/Later", [](CallContext&, std::string req, UnaryResponder r) {
    int ms = req.empty() ? 0 : std::stoi(req);
    std::thread([ms, r = std::move(r)]() mutable {
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      r.Reply("done");
    }).detach();
  });
  reg->AddUnary("/etcdpp.test.Echo/Metadata", [](CallContext& ctx, std::string, UnaryResponder r) {
    std::string out = "cn=" + ctx.client_cn() + "\n";
    for (const auto& h : ctx.metadata()) out += h.name + "=" + h.value + "\n";
    if (ctx.deadline()) out += "deadline=yes\n";
    r.Reply(std::move(out));
  });
  reg->AddStream("/etcdpp.test.Echo/ServerStream", [](CallContext&, ServerStream s) {
    return std::make_unique<ServerStreamer>(std::move(s));
  });
  reg->AddStream("/etcdpp.test.Echo/Bidi", [](CallContext&, ServerStream s) {
    return std::make_unique<BidiEcho>(std::move(s));
  });
  reg->AddStream("/etcdpp.test.Echo/Hang",
                 [](CallContext&, ServerStream) { return std::make_unique<Hang>(); });
  reg->AddUnary("/etcdserverpb.KV/Range", [](CallContext&, std::string req, UnaryResponder r) {
    std::string key = RangeKey(req);
    std::string header, kv, resp;
    PutVarintField(1, 0x1234, &header);  // cluster_id
    PutVarintField(2, 0x5678, &header);  // member_id
    PutVarintField(3, 7, &header);       // revision
    PutVarintField(4, 2, &header);       // raft_term
    PutBytesField(1, key, &kv);
    PutVarintField(2, 5, &kv);  // create_revision
    PutVarintField(3, 7, &kv);  // mod_revision
    PutVarintField(4, 2, &kv);  // version
    PutBytesField(5, "bar", &kv);
    PutBytesField(1, header, &resp);
    PutBytesField(2, kv, &resp);
    PutVarintField(4, 1, &resp);  // count
    r.Reply(std::move(resp));
  });
  reg->AddHttp("GET", "/health", [](etcdpp::http::HttpRequest&&, etcdpp::http::HttpResponder r) {
    r.Send(etcdpp::http::HttpResponse::Text(200, "{\"health\":\"true\"}"));
  });
  reg->AddHttp("GET", "/version", [](etcdpp::http::HttpRequest&&, etcdpp::http::HttpResponder r) {
    r.Send(etcdpp::http::HttpResponse::Text(
        200, "{\"etcdserver\":\"3.4.0\",\"etcdcluster\":\"3.4.0\"}", "application/json"));
  });
  reg->AddHttp("POST", "/echo", [](etcdpp::http::HttpRequest&& req, etcdpp::http::HttpResponder r) {
    std::string cn = req.client_cn;
    auto resp = etcdpp::http::HttpResponse::Text(200, std::move(req.body));
    resp.headers.push_back({"x-client-cn", cn});
    resp.headers.push_back({"x-protocol", req.http2 ? "h2" : "http/1.1"});
    r.Send(std::move(resp));
  });
  reg->AddHttp("GET", "/stats", [](etcdpp::http::HttpRequest&&, etcdpp::http::HttpResponder r) {
    r.Send(etcdpp::http::HttpResponse::Text(
        200, "cancellations=" + std::to_string(g_cancellations.load()) + "\n"));
  });

  Server server(opts, reg);
  Status s = server.Start();
  if (!s.ok()) {
    std::cerr << "start failed: " << s.ToString() << "\n";
    return 1;
  }
  if (!port_file.empty()) {
    std::string tmp = port_file + ".tmp";
    {
      std::ofstream out(tmp);
      for (const auto& b : server.bound()) out << b.url.original << " " << b.port << "\n";
    }
    std::rename(tmp.c_str(), port_file.c_str());
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  int sig = 0;
  sigwait(&set, &sig);
  server.Stop(std::chrono::seconds(2));
  return 0;
}
