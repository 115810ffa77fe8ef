// In-process tests of the gRPC transport over real sockets, driven by a raw nghttp2 client, so
// each wire detail (trailers, trailers-only errors, deadlines, RST_STREAM, limits, flow control)
// is checked frame by frame.
#include "grpc/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <thread>

#include "base/chunked_buffer.h"
#include "grpc/framing.h"
#include "grpc/testing/h2_test_client.h"

namespace etcdpp::grpc {
namespace {

using testing::H2TestClient;
using testing::StreamResult;

struct StreamProbe {
  std::mutex mu;
  std::vector<std::string> messages;
  std::atomic<bool> half_closed{false};
  std::atomic<int> cancels{0};
  ServerStream stream;
  std::atomic<bool> started{false};
};

class ProbeHandler : public StreamHandler {
 public:
  explicit ProbeHandler(std::shared_ptr<StreamProbe> p) : p_(std::move(p)) {}
  void OnMessage(std::string_view m) override {
    std::lock_guard<std::mutex> l(p_->mu);
    p_->messages.emplace_back(m);
  }
  void OnHalfClose() override { p_->half_closed = true; }
  void OnCancel() override { p_->cancels++; }

 private:
  std::shared_ptr<StreamProbe> p_;
};

// A message of n bytes that shows where each byte sits.
std::string FramedMessage(size_t n) {
  std::string m(n, '\0');
  for (size_t i = 0; i < n; ++i) m[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  return m;
}

// What a test body source did, seen from the test thread.
struct SourceProbe {
  std::atomic<size_t> produced{0};  // bytes handed to the transport
  std::atomic<int> pieces{0};
  std::atomic<bool> destroyed{false};
};

// Produces FramedMessage(n) from byte `from` on, in pieces of `hint` bytes; fails instead of
// producing past `fail_at`.
class MessageSource : public http::BodySource {
 public:
  MessageSource(std::shared_ptr<SourceProbe> probe, size_t n, size_t from, size_t fail_at)
      : probe_(std::move(probe)), message_(FramedMessage(n)), at_(from), fail_at_(fail_at) {}
  ~MessageSource() override { probe_->destroyed = true; }
  Status Next(size_t hint, std::vector<std::string>* out) override {
    if (at_ >= fail_at_) return Internal("the source broke");
    std::string piece = message_.substr(at_, hint);
    at_ += piece.size();
    probe_->produced += piece.size();
    probe_->pieces++;
    out->push_back(std::move(piece));
    return Status::Ok();
  }
  bool done() const override { return at_ == message_.size(); }

 private:
  std::shared_ptr<SourceProbe> probe_;
  std::string message_;
  size_t at_;
  size_t fail_at_;
};

class GrpcServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(ServerOptions()); }

  void StartServer(ServerOptions opts) {
    auto reg = std::make_shared<Registry>();
    reg->AddUnary("/t.S/Echo",
                  [](CallContext&, std::string req, UnaryResponder r) { r.Reply(std::move(req)); });
    reg->AddUnary("/t.S/Fail", [](CallContext&, std::string, UnaryResponder r) {
      r.Fail(Status(Code::kNotFound, "caf\xc3\xa9 100%\nend"));
    });
    reg->AddUnary("/t.S/Meta", [](CallContext& ctx, std::string, UnaryResponder r) {
      std::string out;
      for (const auto& h : ctx.metadata()) out += h.name + "=" + h.value + ";";
      if (ctx.deadline()) out += "deadline;";
      r.Reply(out);
    });
    reg->AddUnary("/t.S/Park", [this](CallContext&, std::string, UnaryResponder r) {
      std::lock_guard<std::mutex> l(mu_);
      parked_.push_back(std::move(r));
      handler_thread_ = std::this_thread::get_id();
      parked_count_++;
    });
    reg->AddUnary("/t.S/Drop", [](CallContext&, std::string, UnaryResponder) {});
    // Replies with FramedMessage(n) built in 100,000-byte chunks, n given as the request.
    reg->AddUnary("/t.S/Framed", [](CallContext&, std::string req, UnaryResponder r) {
      std::string message = FramedMessage(std::stoul(req));
      ChunkedBuffer out(100000);
      out.Append(MessagePrefix(message.size()));
      out.Append(message);
      r.ReplyFramed(std::move(out).Release());
    });
    // Replies with FramedMessage(n), its first 1000 bytes framed and the rest from a
    // MessageSource; the request is "n" or "n fail_at".
    reg->AddUnary("/t.S/Sourced", [this](CallContext&, std::string req, UnaryResponder r) {
      size_t n = 0, fail_at = SIZE_MAX;
      std::sscanf(req.c_str(), "%zu %zu", &n, &fail_at);
      std::string message = FramedMessage(n);
      const size_t head = std::min<size_t>(1000, n);
      std::vector<std::string> framed{MessagePrefix(n), message.substr(0, head)};
      r.ReplyFramed(std::move(framed), std::make_unique<MessageSource>(source_, n, head, fail_at));
    });
    reg->AddStream("/t.S/Stream", [this](CallContext&, ServerStream s) {
      probe_->stream = s;
      probe_->started = true;
      return std::make_unique<ProbeHandler>(probe_);
    });
    reg->AddHttp("GET", "/health", [](http::HttpRequest&&, http::HttpResponder r) {
      r.Send(http::HttpResponse::Text(200, "{\"health\":\"true\"}"));
    });
    reg->AddHttp("POST", "/echo", [](http::HttpRequest&& req, http::HttpResponder r) {
      r.Send(http::HttpResponse::Text(200, std::move(req.body)));
    });
    opts.listen_urls = {"http://127.0.0.1:0"};
    opts.num_loops = 2;
    server_ = std::make_unique<Server>(opts, reg);
    Status s = server_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
    port_ = server_->bound()[0].port;
  }

  // A client with a 65535-byte window that it never refills: the server may send it no more.
  std::unique_ptr<H2TestClient> ConnectWithoutWindowUpdates() {
    H2TestClient::Options o;
    o.initial_window = 65535;
    o.auto_window_update = false;
    return H2TestClient::Connect(port_, o);
  }

  void TearDown() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      parked_.clear();
    }
    if (server_) server_->Stop(std::chrono::milliseconds(100));
  }

  std::unique_ptr<Server> server_;
  int port_ = 0;
  std::mutex mu_;
  std::vector<UnaryResponder> parked_;
  std::atomic<int> parked_count_{0};
  std::thread::id handler_thread_;  // the loop thread that ran the last Park handler; mu_
  std::shared_ptr<StreamProbe> probe_ = std::make_shared<StreamProbe>();
  std::shared_ptr<SourceProbe> source_ = std::make_shared<SourceProbe>();
};

TEST_F(GrpcServerTest, UnaryReplyHasHeadersMessageAndTrailers) {
  auto c = H2TestClient::Connect(port_);
  ASSERT_NE(c, nullptr);
  StreamResult r = c->Unary("/t.S/Echo", "hello");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(*http::FindHeader(r.headers, "content-type"), "application/grpc");
  ASSERT_EQ(r.Messages(), std::vector<std::string>{"hello"});
  ASSERT_FALSE(r.trailers.empty());
  EXPECT_EQ(r.Trailer("grpc-status"), "0");
  EXPECT_EQ(r.error_code, 0u);
}

TEST_F(GrpcServerTest, ErrorIsTrailersOnlyWithPercentEncodedMessage) {
  auto c = H2TestClient::Connect(port_);
  StreamResult r = c->Unary("/t.S/Fail", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.trailers.empty()) << "expected a trailers-only response";
  EXPECT_TRUE(r.data.empty());
  EXPECT_EQ(r.Trailer("content-type"), "application/grpc");
  EXPECT_EQ(r.Trailer("grpc-status"), "5");
  EXPECT_EQ(r.Trailer("grpc-message"), "caf%C3%A9 100%25%0Aend");
}

TEST_F(GrpcServerTest, UnknownServiceAndMethodAreUnimplemented) {
  auto c = H2TestClient::Connect(port_);
  StreamResult r = c->Unary("/t.Nope/X", "");
  EXPECT_EQ(r.Trailer("grpc-status"), "12");
  EXPECT_EQ(r.Trailer("grpc-message"), "unknown service t.Nope");
  r = c->Unary("/t.S/Nope", "");
  EXPECT_EQ(r.Trailer("grpc-status"), "12");
  EXPECT_EQ(r.Trailer("grpc-message"), "unknown method Nope for service t.S");
}

TEST_F(GrpcServerTest, RequestOverLimitIsRequestTooLarge) {
  auto c = H2TestClient::Connect(port_);
  StreamResult r = c->Unary("/t.S/Echo", std::string(1536 * 1024 + 1, 'x'));
  EXPECT_EQ(r.Trailer("grpc-status"), "3");
  EXPECT_EQ(r.Trailer("grpc-message"), "etcdserver: request is too large");
  // Exactly at the limit is accepted, and the connection is still usable.
  r = c->Unary("/t.S/Echo", std::string(1536 * 1024, 'y'));
  EXPECT_EQ(r.Trailer("grpc-status"), "0");
  ASSERT_EQ(r.Messages().size(), 1u);
  EXPECT_EQ(r.Messages()[0].size(), 1536u * 1024);
}

TEST_F(GrpcServerTest, OversizedPrefixIsRefusedBeforeTheBodyArrives) {
  auto c = H2TestClient::Connect(port_);
  int32_t id = c->Start("/t.S/Echo");
  // Only the 5-byte prefix announcing 100 MB; the server must answer without waiting for it.
  std::string prefix = EncodeMessage("").substr(0, 1) + std::string("\x05\xf5\xe1\x00", 4);
  c->Send(id, prefix, false);
  StreamResult& r = c->Wait(id);
  EXPECT_EQ(r.Trailer("grpc-status"), "3");
}

TEST_F(GrpcServerTest, IncompleteMessagesCannotMakeTheServerBufferMoreThanItsWindow) {
  auto c = H2TestClient::Connect(port_);
  ASSERT_TRUE(c->Ping());
  // 20 streams, each announcing a 1.5 MiB message and sending only 1 MiB of it: 20 MiB that the
  // server would have to hold. It grants only its 16 MiB connection window.
  std::string partial = EncodeMessage(std::string(1536 * 1024, 'p')).substr(0, 1 << 20);
  std::vector<int32_t> ids;
  for (int i = 0; i < 20; ++i) {
    ids.push_back(c->Start("/t.S/Echo"));
    c->Send(ids.back(), partial, false);
  }
  ASSERT_TRUE(c->PumpUntil([&] { return c->remote_window() == 0; }));
  size_t unsent = 0;
  for (int32_t id : ids) unsent += c->unsent_bytes(id);
  EXPECT_GE(unsent, 20u * (1 << 20) - 16u * (1 << 20) - 65535);
  // The server still answers on the same connection, and resetting the streams gives the
  // credit back (bytes held for closed streams are released).
  EXPECT_TRUE(c->Ping());
  for (int32_t id : ids) c->Reset(id);
  ASSERT_TRUE(c->PumpUntil([&] { return c->remote_window() > 8 * (1 << 20); }));
  EXPECT_EQ(c->Unary("/t.S/Echo", "after").Trailer("grpc-status"), "0");
}

TEST_F(GrpcServerTest, LargeRequestsOneAfterAnotherDoNotStall) {
  auto c = H2TestClient::Connect(port_);
  for (int i = 0; i < 30; ++i) {  // 30 × 1.5 MiB ≫ the 16 MiB connection window
    auto r = c->Unary("/t.S/Echo", std::string(1536 * 1024, 'a' + i % 26));
    ASSERT_EQ(r.Trailer("grpc-status"), "0") << "call " << i;
  }
}

TEST_F(GrpcServerTest, GzipRequestIsDecodedAndOtherEncodingsRefused) {
  auto c = H2TestClient::Connect(port_);
  int32_t id = c->Start("/t.S/Echo", {{"grpc-encoding", "gzip"}});
  std::string gz = GzipCompress("compressed hello");
  std::string frame = EncodeMessage(gz);
  frame[0] = 1;  // compressed flag
  c->Send(id, frame, true);
  StreamResult& r = c->Wait(id);
  EXPECT_EQ(r.Trailer("grpc-status"), "0");
  EXPECT_EQ(r.Messages(), std::vector<std::string>{"compressed hello"});

  StreamResult r2 = c->Unary("/t.S/Echo", "x", {{"grpc-encoding", "snappy"}});
  EXPECT_EQ(r2.Trailer("grpc-status"), "12");

  // Compressed flag without an encoding is a protocol error (INTERNAL).
  int32_t id3 = c->Start("/t.S/Echo");
  std::string f3 = EncodeMessage("abc");
  f3[0] = 1;
  c->Send(id3, f3, true);
  EXPECT_EQ(c->Wait(id3).Trailer("grpc-status"), "13");
}

TEST_F(GrpcServerTest, MetadataIncludingBinaryIsExposed) {
  auto c = H2TestClient::Connect(port_);
  StreamResult r = c->Unary("/t.S/Meta", "",
                            {{"token", "abc"},
                             {"hasleader", "true"},
                             {"x-bin", Base64Encode(std::string("\x00\xff", 2))},
                             {"grpc-timeout", "10S"}});
  ASSERT_EQ(r.Messages().size(), 1u);
  EXPECT_EQ(r.Messages()[0],
            "token=abc;hasleader=true;x-bin=" + std::string("\x00\xff", 2) + ";deadline;");
}

TEST_F(GrpcServerTest, DeadlineExceededWhenTheHandlerIsLateAndLateReplyIsIgnored) {
  auto c = H2TestClient::Connect(port_);
  int32_t id = c->Start("/t.S/Park", {{"grpc-timeout", "20m"}});
  c->Send(id, EncodeMessage("x"), true);
  StreamResult& r = c->Wait(id);
  EXPECT_EQ(r.Trailer("grpc-status"), "4");
  ASSERT_EQ(parked_count_.load(), 1);
  std::lock_guard<std::mutex> l(mu_);
  EXPECT_TRUE(parked_[0].context().IsCancelled());
  parked_[0].Reply("too late");  // must be a harmless no-op
}

TEST_F(GrpcServerTest, ReplyFromAnotherThreadArrives) {
  auto c = H2TestClient::Connect(port_);
  int32_t id = c->Start("/t.S/Park");
  c->Send(id, EncodeMessage("x"), true);
  ASSERT_TRUE(c->PumpUntil([&] { return parked_count_.load() == 1; }));
  std::thread([this] {
    std::lock_guard<std::mutex> l(mu_);
    parked_[0].Reply("from thread");
  }).join();
  StreamResult& r = c->Wait(id);
  EXPECT_EQ(r.Messages(), std::vector<std::string>{"from thread"});
  EXPECT_EQ(r.Trailer("grpc-status"), "0");
}

TEST_F(GrpcServerTest, RunOnLoopRunsOnTheCallsLoopThread) {
  auto c = H2TestClient::Connect(port_);
  int32_t id = c->Start("/t.S/Park");
  c->Send(id, EncodeMessage("x"), true);
  ASSERT_TRUE(c->PumpUntil([&] { return parked_count_.load() == 1; }));
  std::thread::id ran_on;
  std::thread([&] {
    std::lock_guard<std::mutex> l(mu_);
    UnaryResponder* r = &parked_[0];
    EXPECT_TRUE(r->RunOnLoop([&ran_on, r] {
      ran_on = std::this_thread::get_id();
      r->Reply("from the loop");
    }));
  }).join();
  StreamResult& r = c->Wait(id);
  EXPECT_EQ(r.Messages(), std::vector<std::string>{"from the loop"});
  EXPECT_EQ(ran_on, handler_thread_);
}

TEST_F(GrpcServerTest, DroppedResponderAnswersInternal) {
  auto c = H2TestClient::Connect(port_);
  StreamResult r = c->Unary("/t.S/Drop", "");
  EXPECT_EQ(r.Trailer("grpc-status"), "13");
}

TEST_F(GrpcServerTest, ClientResetReachesStreamHandlerAsCancel) {
  auto c = H2TestClient::Connect(port_);
  int32_t id = c->Start("/t.S/Stream");
  c->Send(id, EncodeMessage("one"), false);
  ASSERT_TRUE(c->PumpUntil([&] {
    std::lock_guard<std::mutex> l(probe_->mu);
    return probe_->messages.size() == 1;
  }));
  c->Reset(id);
  ASSERT_TRUE(c->PumpUntil([&] { return probe_->cancels.load() == 1; }));
  EXPECT_TRUE(probe_->stream.IsDone());
  EXPECT_FALSE(probe_->stream.Send("after cancel").ok());
}

TEST_F(GrpcServerTest, BidiMessagesHalfCloseAndServerSendsFromAnotherThread) {
  auto c = H2TestClient::Connect(port_);
  int32_t id = c->Start("/t.S/Stream");
  c->Send(id, EncodeMessage("a") + EncodeMessage("bb"), false);
  c->Send(id, EncodeMessage("ccc"), true);
  ASSERT_TRUE(c->PumpUntil([&] { return probe_->half_closed.load(); }));
  {
    std::lock_guard<std::mutex> l(probe_->mu);
    EXPECT_EQ(probe_->messages, (std::vector<std::string>{"a", "bb", "ccc"}));
  }
  std::thread([s = probe_->stream]() mutable {
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(s.Send("m" + std::to_string(i)).ok());
    s.Finish(Status::Ok());
  }).join();
  StreamResult& r = c->Wait(id);
  auto msgs = r.Messages();
  ASSERT_EQ(msgs.size(), 100u);
  EXPECT_EQ(msgs[99], "m99");
  EXPECT_EQ(r.Trailer("grpc-status"), "0");
  EXPECT_EQ(probe_->cancels.load(), 0);
}

TEST_F(GrpcServerTest, ClientThatNeverReadsHitsTheSendBound) {
  auto c = ConnectWithoutWindowUpdates();
  int32_t id = c->Start("/t.S/Stream");
  c->Send(id, EncodeMessage("go"), false);
  ASSERT_TRUE(c->PumpUntil([&] { return probe_->started.load(); }));
  ServerStream s = probe_->stream;
  std::string chunk(64 * 1024, 'z');
  Status last;
  size_t sent = 0;
  for (int i = 0; i < 1000 && last.ok(); ++i) {
    last = s.Send(chunk);
    if (last.ok()) sent += chunk.size();
  }
  EXPECT_EQ(last.code(), Code::kResourceExhausted);
  EXPECT_LE(sent, http::kMaxStreamPendingBytes + chunk.size() + 65535);
  EXPECT_TRUE(s.IsDone());
}

TEST_F(GrpcServerTest, ManySmallStreamMessagesArriveWholeAndInOrder) {
  // Thousands of pieces queued on one stream, taken by nghttp2 a frame at a time: the stream's
  // queue frees and compacts what was sent while more keeps coming.
  auto c = H2TestClient::Connect(port_);
  int32_t id = c->Start("/t.S/Stream");
  c->Send(id, EncodeMessage("go"), false);
  ASSERT_TRUE(c->PumpUntil([&] { return probe_->started.load(); }));
  ServerStream s = probe_->stream;
  constexpr int kMessages = 3000;
  for (int i = 0; i < kMessages; ++i) {
    std::string m = "message " + std::to_string(i);
    m.resize(100, '.');
    ASSERT_TRUE(s.Send(m).ok()) << i;
  }
  ASSERT_TRUE(c->PumpUntil([&] { return c->result(id).Messages().size() >= kMessages; }));
  std::vector<std::string> got = c->result(id).Messages();
  ASSERT_EQ(got.size(), size_t{kMessages});
  for (int i = 0; i < kMessages; ++i) {
    ASSERT_EQ(got[i].substr(0, got[i].find('.')), "message " + std::to_string(i));
  }
  s.Finish(Status::Ok());
}

TEST_F(GrpcServerTest, FramedReplyInChunksArrivesAsOneMessage) {
  auto c = H2TestClient::Connect(port_);
  // 3 MiB: larger than the client's 1 MiB window and kMaxStreamPendingBytes is irrelevant to a
  // unary reply; an empty message and one smaller than a chunk too.
  for (size_t n : {size_t{0}, size_t{99}, size_t{3 << 20}}) {
    StreamResult r = c->Unary("/t.S/Framed", std::to_string(n));
    ASSERT_EQ(r.Messages().size(), 1u) << n;
    EXPECT_TRUE(r.Messages()[0] == FramedMessage(n)) << n;
    EXPECT_EQ(r.Trailer("grpc-status"), "0");
  }
}

// A unary response larger than kMaxStreamPendingBytes is still sent whole (it is one response)
// and flow control paces it: a client that stops granting credit gets no more than its window,
// and resetting the stream ends the call with the connection still usable.
TEST_F(GrpcServerTest, LargeFramedReplyToAClientThatStopsReading) {
  auto c = ConnectWithoutWindowUpdates();
  int32_t id = c->Start("/t.S/Framed");
  c->Send(id, EncodeMessage(std::to_string(http::kMaxStreamPendingBytes + (1 << 20))), true);
  ASSERT_TRUE(c->PumpUntil([&] { return c->result(id).data.size() >= 65535; }));
  EXPECT_EQ(c->result(id).data.size(), 65535u);
  c->Reset(id);
  auto c2 = H2TestClient::Connect(port_);
  StreamResult r = c2->Unary("/t.S/Framed", std::to_string(http::kMaxStreamPendingBytes + 7));
  ASSERT_EQ(r.Messages().size(), 1u);
  EXPECT_TRUE(r.Messages()[0] == FramedMessage(http::kMaxStreamPendingBytes + 7));
}

// A body source is drained into one message and destroyed once done.
TEST_F(GrpcServerTest, SourcedReplyArrivesAsOneMessage) {
  auto c = H2TestClient::Connect(port_);
  for (size_t n : {size_t{0}, size_t{1000}, size_t{1001}, size_t{3 << 20}}) {
    source_ = std::make_shared<SourceProbe>();  // the handler reads source_ per call
    StreamResult r = c->Unary("/t.S/Sourced", std::to_string(n));
    ASSERT_EQ(r.Messages().size(), 1u) << n;
    EXPECT_TRUE(r.Messages()[0] == FramedMessage(n)) << n;
    EXPECT_EQ(r.Trailer("grpc-status"), "0");
    EXPECT_EQ(source_->produced.load(), n - std::min<size_t>(n, 1000));
    EXPECT_TRUE(source_->destroyed.load());
  }
  EXPECT_GT(source_->pieces.load(), 4) << "3 MiB should come in several pieces";
}

// The source is asked for more only as the client grants flow-control credit, and a client that
// goes away destroys it (a streamed Range then releases its snapshot).
TEST_F(GrpcServerTest, SourceIsPacedByTheClientAndDestroyedWhenItResets) {
  auto c = ConnectWithoutWindowUpdates();
  int32_t id = c->Start("/t.S/Sourced");
  c->Send(id, EncodeMessage(std::to_string(64 << 20)), true);
  ASSERT_TRUE(c->PumpUntil([&] { return c->result(id).data.size() >= 65535; }));
  EXPECT_EQ(c->result(id).data.size(), 65535u);
  EXPECT_LE(source_->produced.load(), size_t{1} << 20) << "produced far beyond the window";
  EXPECT_FALSE(source_->destroyed.load());
  c->Reset(id);
  ASSERT_TRUE(c->PumpUntil([&] { return source_->destroyed.load(); }));
}

// A source that fails mid-body resets the stream (the promised message cannot be completed);
// the connection keeps serving.
TEST_F(GrpcServerTest, FailingSourceResetsOnlyItsStream) {
  auto c = H2TestClient::Connect(port_);
  int32_t id = c->Start("/t.S/Sourced");
  c->Send(id, EncodeMessage(std::to_string(2 << 20) + " " + std::to_string(1 << 20)), true);
  StreamResult& r = c->Wait(id);
  EXPECT_EQ(r.error_code, static_cast<uint32_t>(NGHTTP2_INTERNAL_ERROR));
  EXPECT_TRUE(r.trailers.empty());
  EXPECT_LT(r.data.size(), size_t{2} << 20);
  EXPECT_TRUE(source_->destroyed.load());
  EXPECT_TRUE(c->Unary("/t.S/Echo", "still here").Messages() ==
              std::vector<std::string>{"still here"});
}

TEST_F(GrpcServerTest, PlainHttpOverHttp2GoesToTheRouter) {
  auto c = H2TestClient::Connect(port_);
  int32_t id = c->Start("/health", {}, /*grpc=*/false, "GET");
  c->Send(id, "", true);
  StreamResult& r = c->Wait(id);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.data, "{\"health\":\"true\"}");
  int32_t id2 = c->Start("/missing", {}, false, "GET");
  c->Send(id2, "", true);
  EXPECT_EQ(c->Wait(id2).status, 404);
}

TEST_F(GrpcServerTest, Http2RequestBodiesUpToTheLimitAndA413AboveIt) {
  auto c = H2TestClient::Connect(port_);
  std::string body(3 * 1024 * 1024, 'b');  // larger than the 1 MiB default stream window
  int32_t id = c->Start("/echo", {}, false, "POST");
  c->Send(id, body, true);
  StreamResult& ok = c->Wait(id);
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.data.size(), body.size());
  // Over the limit: 413, then RST_STREAM(NO_ERROR) so the client stops sending (RFC 9113 §8.1).
  int32_t id2 = c->Start("/echo", {}, false, "POST");
  c->Send(id2, std::string(5 * 1024 * 1024, 'x'), true);
  StreamResult& big = c->Wait(id2);
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(big.error_code, 0u);
  // The connection's flow-control credit came back: it still serves requests.
  EXPECT_EQ(c->Unary("/t.S/Echo", "next").Trailer("grpc-status"), "0");
}

TEST_F(GrpcServerTest, MalformedFrameGetsGoawayAndCloseOthersUnaffected) {
  auto other = H2TestClient::Connect(port_);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port_));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  // Preface, then a SETTINGS frame on stream 1: a connection error (PROTOCOL_ERROR).
  std::string bytes = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  bytes += std::string("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9);  // our SETTINGS
  bytes += std::string("\x00\x00\x00\x04\x00\x00\x00\x00\x01", 9);  // bad SETTINGS
  ASSERT_EQ(send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
  std::string got;
  char buf[4096];
  ssize_t n;
  timeval tv{10, 0};  // safety net only
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) got.append(buf, static_cast<size_t>(n));
  close(fd);
  EXPECT_EQ(n, 0) << "server must close the connection";
  // Somewhere in what we got is a GOAWAY frame (type 7) on stream 0.
  bool goaway = false;
  for (size_t i = 0; i + 9 <= got.size();) {
    size_t len = (static_cast<uint8_t>(got[i]) << 16) | (static_cast<uint8_t>(got[i + 1]) << 8) |
                 static_cast<uint8_t>(got[i + 2]);
    if (got[i + 3] == 7) goaway = true;
    i += 9 + len;
  }
  EXPECT_TRUE(goaway);
  EXPECT_EQ(other->Unary("/t.S/Echo", "fine").Trailer("grpc-status"), "0");
}

TEST_F(GrpcServerTest, PingIsAnswered) {
  auto c = H2TestClient::Connect(port_);
  EXPECT_TRUE(c->Ping());
}

// The server holds PING acknowledgements for its next output (grpc-go pings after every
// response); a call that is not answered must not hold them back, nor may a burst of PINGs.
TEST_F(GrpcServerTest, PingsDuringAnUnansweredCallAreAnswered) {
  auto c = H2TestClient::Connect(port_);
  int32_t id = c->Start("/t.S/Park");
  c->Send(id, EncodeMessage("x"), true);
  ASSERT_TRUE(c->PumpUntil([&] { return parked_count_.load() == 1; }));
  constexpr int kPings = 20;  // more than the server holds at once
  for (int i = 0; i < kPings; ++i) c->SendPing();
  ASSERT_TRUE(c->PumpUntil([&] { return c->ping_acks() == kPings; }));
  EXPECT_FALSE(c->result(id).closed);
  {
    std::lock_guard<std::mutex> l(mu_);
    parked_[0].Reply("late");
  }
  EXPECT_EQ(c->Wait(id).Messages(), std::vector<std::string>{"late"});
  EXPECT_TRUE(c->Ping());
}

// A client that sends PINGs far faster than it could read the answers is cut off (nghttp2 keeps
// at most 1000 unsent acknowledgements); others are served meanwhile.
TEST_F(GrpcServerTest, PingFloodEndsTheSession) {
  auto c = H2TestClient::Connect(port_);
  ASSERT_TRUE(c->Ping());  // settings exchanged
  std::string frames;
  for (int i = 0; i < 3000; ++i) {
    const char ping[17] = {0, 0, 8, NGHTTP2_PING, 0, 0, 0, 0, 0};  // stream 0, zero payload
    frames.append(ping, sizeof(ping));
  }
  ASSERT_EQ(send(c->fd(), frames.data(), frames.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(frames.size()));
  EXPECT_TRUE(c->WaitForCloseWithoutAnswering());
  auto other = H2TestClient::Connect(port_);
  EXPECT_EQ(other->Unary("/t.S/Echo", "fine").Trailer("grpc-status"), "0");
}

TEST_F(GrpcServerTest, CompletionAfterTheConnectionClosedIsANoOp) {
  {
    auto c = H2TestClient::Connect(port_);
    int32_t id = c->Start("/t.S/Park");
    c->Send(id, EncodeMessage("x"), true);
    ASSERT_TRUE(c->PumpUntil([&] { return parked_count_.load() == 1; }));
  }  // client disconnects
  // Wait for the server to see the close, then complete: nothing may crash or leak (ASAN).
  auto c2 = H2TestClient::Connect(port_);
  ASSERT_TRUE(c2->PumpUntil([&] {
    std::lock_guard<std::mutex> l(mu_);
    return parked_[0].context().IsCancelled();
  }));
  std::lock_guard<std::mutex> l(mu_);
  parked_[0].Reply("nobody listens");
}

TEST_F(GrpcServerTest, StopSendsGoawayAndLetsInFlightCallsFinish) {
  auto c = H2TestClient::Connect(port_);
  int32_t id = c->Start("/t.S/Park");
  c->Send(id, EncodeMessage("x"), true);
  ASSERT_TRUE(c->PumpUntil([&] { return parked_count_.load() == 1; }));
  std::thread stopper([this] { server_->Stop(std::chrono::seconds(10)); });
  ASSERT_TRUE(c->PumpUntil([&] { return c->goaway_received(); }));
  {
    std::lock_guard<std::mutex> l(mu_);
    parked_[0].Reply("finished during shutdown");
  }
  StreamResult& r = c->Wait(id);
  EXPECT_EQ(r.Messages(), std::vector<std::string>{"finished during shutdown"});
  EXPECT_EQ(r.Trailer("grpc-status"), "0");
  stopper.join();
  server_.reset();
}

TEST_F(GrpcServerTest, KeepalivePingsAnIdleClientAndKeepsItOpen) {
  server_->Stop(std::chrono::milliseconds(0));
  ServerOptions o;
  o.http.keepalive_interval = std::chrono::milliseconds(20);
  o.http.keepalive_timeout = std::chrono::milliseconds(5000);
  StartServer(o);
  auto c = H2TestClient::Connect(port_);
  // An idle client that answers PINGs is never dropped, however many PINGs it gets.
  ASSERT_TRUE(c->PumpUntil([&] { return c->pings_received() >= 3; }));
  EXPECT_FALSE(c->connection_closed());
  EXPECT_EQ(c->Unary("/t.S/Echo", "alive").Trailer("grpc-status"), "0");
}

TEST_F(GrpcServerTest, KeepaliveClosesAPeerThatNeverAnswers) {
  server_->Stop(std::chrono::milliseconds(0));
  ServerOptions o;
  o.http.keepalive_interval = std::chrono::milliseconds(20);
  o.http.keepalive_timeout = std::chrono::milliseconds(20);
  StartServer(o);
  auto c = H2TestClient::Connect(port_);
  EXPECT_TRUE(c->WaitForCloseWithoutAnswering());
}

TEST_F(GrpcServerTest, MaxConcurrentStreamsIsAdvertisedAndEnforced) {
  server_->Stop(std::chrono::milliseconds(0));
  ServerOptions o;
  o.http.max_concurrent_streams = 2;
  StartServer(o);
  auto c = H2TestClient::Connect(port_);
  ASSERT_TRUE(c->Ping());  // settings exchanged
  std::vector<int32_t> ids;
  for (int i = 0; i < 3; ++i) {
    int32_t id = c->Start("/t.S/Park");
    c->Send(id, EncodeMessage("x"), true);
    ids.push_back(id);
  }
  ASSERT_TRUE(c->PumpUntil([&] { return parked_count_.load() == 2; }));
  // The client library itself queues the third stream until one finishes.
  {
    std::lock_guard<std::mutex> l(mu_);
    parked_[0].Reply("1");
  }
  ASSERT_TRUE(c->PumpUntil([&] { return parked_count_.load() == 3; }));
}

}  // namespace
}  // namespace etcdpp::grpc
