#include "http/http2_session.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "base/check.h"

namespace etcdpp::http {

struct Http2Session::Stream {
  int32_t id = 0;
  RequestHead head;
  size_t header_bytes = 0;
  std::unique_ptr<StreamHandler> handler;  // set iff the dispatcher claimed the stream
  bool dispatched = false;
  std::string body;  // unclaimed (plain HTTP) streams only
  bool body_too_large = false;
  size_t held_bytes = 0;  // received DATA bytes not yet returned as window credit
  std::shared_ptr<StreamShared> shared;
  // Response side.
  bool response_started = false;
  // Response DATA not yet taken by nghttp2: out[out_front] onwards, the first from
  // out_front_offset. A vector, not a deque: most streams carry one piece, and a deque allocates
  // twice even when empty.
  std::vector<std::string> out;
  size_t out_front = 0;
  size_t out_front_offset = 0;
  // Produces the body's remainder once `out` is drained (StreamWriter::SendResponse's `rest`);
  // reset as soon as it is done, so a stream never holds a finished one.
  std::shared_ptr<BodySource> source;
  bool end_requested = false;
  Headers trailers;
  const Headers* constant_trailers = nullptr;  // sent instead of `trailers` when set
  bool data_deferred = false;
};

namespace {

nghttp2_nv MakeNv(const std::string& name, const std::string& value,
                  uint8_t flags = NGHTTP2_NV_FLAG_NONE) {
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                    value.size(), flags};
}

// The name-value array nghttp2 takes for a header block, on the stack for the usual few headers.
class NvArray {
 public:
  explicit NvArray(size_t n) {
    if (n > kInline) heap_.reserve(n);
  }
  void Add(nghttp2_nv nv) {
    if (heap_.capacity() > 0) {
      heap_.push_back(nv);
    } else {
      inline_[size_++] = nv;
    }
  }
  void AddAll(const Headers& headers, uint8_t flags) {
    for (const auto& h : headers) Add(MakeNv(h.name, h.value, flags));
  }
  const nghttp2_nv* data() const { return heap_.capacity() > 0 ? heap_.data() : inline_; }
  size_t size() const { return heap_.capacity() > 0 ? heap_.size() : size_; }

 private:
  static constexpr size_t kInline = 8;
  nghttp2_nv inline_[kInline];
  size_t size_ = 0;
  std::vector<nghttp2_nv> heap_;
};

constexpr uint8_t kCopy = NGHTTP2_NV_FLAG_NONE;
constexpr uint8_t kNoCopy = NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE;

// A client's PING is acknowledged along with our next output, and at the latest after
// kPingAckDelay. grpc-go clients send a PING after every response they receive (their
// flow-control window estimator), usually in the same packet as their next request. When that
// request is answered later from another thread (every write is), an immediate acknowledgement
// costs one more write here and one more wake-up of the client per call. The delay only
// lengthens the client's round-trip estimate; keepalive timeouts are seconds. At most
// kMaxHeldPingAcks wait at once.
constexpr auto kPingAckDelay = std::chrono::milliseconds(1);
constexpr size_t kMaxHeldPingAcks = 16;

// How much a BodySource is asked for at a time: a few DATA frames' worth, so a streamed body
// holds little memory and a large one interleaves with the loop's other work.
constexpr size_t kSourcePieceBytes = 256 * 1024;

class H2Responder : public HttpResponder::Impl {
 public:
  explicit H2Responder(StreamWriter writer) : writer_(std::move(writer)) {}
  void Send(HttpResponse r) override {
    r.headers.push_back({"content-length", std::to_string(r.body.size())});
    if (r.body.empty()) {
      writer_.SendHeadersAndEnd(r.status, std::move(r.headers));
      return;
    }
    writer_.SendHeaders(r.status, std::move(r.headers));
    writer_.SendData(std::move(r.body));
    writer_.Finish({});
  }

 private:
  StreamWriter writer_;
};

}  // namespace

// ---- StreamWriter: any thread → the session's loop. ----

namespace {
template <typename Fn>
void OnSessionLoop(const std::shared_ptr<StreamShared>& shared, Fn fn) {
  if (!shared || shared->closed.load()) return;
  auto run = [shared, fn = std::move(fn)]() mutable {
    auto session = shared->session.lock();
    if (session != nullptr) fn(*session, shared->stream_id);
  };
  // Always queued, even on the loop thread, so calls from different threads keep their order.
  shared->loop->Post(std::move(run));
}
}  // namespace

void StreamWriter::SendHeaders(int status, Headers headers) const {
  OnSessionLoop(shared_, [status, headers = std::move(headers)](Http2Session& s, int32_t id) {
    s.WriterSendHeaders(id, status, std::move(headers), false);
  });
}

void StreamWriter::SendHeadersAndEnd(int status, Headers headers) const {
  OnSessionLoop(shared_, [status, headers = std::move(headers)](Http2Session& s, int32_t id) {
    s.WriterSendHeaders(id, status, std::move(headers), true);
  });
}

bool StreamWriter::RunOnLoop(std::function<void()> fn) const {
  if (!shared_ || shared_->closed.load()) return false;
  return shared_->loop->Post(std::move(fn));
}

bool StreamWriter::SendData(std::string data) const {
  if (!shared_ || shared_->closed.load()) return false;
  size_t before = shared_->pending_bytes.fetch_add(data.size());
  if (before > kMaxStreamPendingBytes) {
    shared_->pending_bytes.fetch_sub(data.size());
    return false;
  }
  OnSessionLoop(shared_, [data = std::move(data)](Http2Session& s, int32_t id) mutable {
    s.WriterSendData(id, std::move(data));
  });
  return true;
}

void StreamWriter::Finish(Headers trailers) const {
  OnSessionLoop(shared_, [trailers = std::move(trailers)](Http2Session& s, int32_t id) {
    s.WriterFinish(id, std::move(trailers));
  });
}

void StreamWriter::SendResponse(int status, const Headers* headers, std::vector<std::string> data,
                                const Headers* trailers, std::unique_ptr<BodySource> rest) const {
  if (!shared_ || shared_->closed.load()) return;
  size_t bytes = 0;
  for (const auto& piece : data) bytes += piece.size();
  shared_->pending_bytes.fetch_add(bytes);
  // Shared only so that the task stays copyable (std::function); the stream becomes its owner.
  std::shared_ptr<BodySource> source = std::move(rest);
  OnSessionLoop(shared_, [status, headers, data = std::move(data), trailers, source](
                             Http2Session& s, int32_t id) mutable {
    s.WriterRespond(id, status, headers, std::move(data), trailers, std::move(source));
  });
}

void StreamWriter::Reset(uint32_t error_code) const {
  OnSessionLoop(shared_,
                [error_code](Http2Session& s, int32_t id) { s.WriterReset(id, error_code); });
}

// ---- Session ----

std::shared_ptr<Http2Session> Http2Session::Create(net::Connection* conn, const Router* router,
                                                   StreamDispatcher* dispatcher,
                                                   const HttpOptions& options) {
  std::shared_ptr<Http2Session> s(new Http2Session(conn, router, dispatcher, options));
  Status st = s->Init();
  CHECK(st.ok()) << st.ToString();  // Only allocation failures can get here.
  return s;
}

Http2Session::Http2Session(net::Connection* conn, const Router* router,
                           StreamDispatcher* dispatcher, const HttpOptions& options)
    : conn_(conn),
      router_(router),
      dispatcher_(dispatcher),
      options_(options),
      loop_(conn->loop()->shared_from_this()) {}

Http2Session::~Http2Session() {
  if (session_ != nullptr) nghttp2_session_del(session_);
}

Status Http2Session::Init() {
  nghttp2_session_callbacks* cbs;
  if (nghttp2_session_callbacks_new(&cbs) != 0) return Internal("nghttp2 callbacks");
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, OnBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(cbs, OnHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, OnFrameRecv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, OnDataChunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, OnStreamClose);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, OnFrameSend);
  nghttp2_option* opt;
  nghttp2_option_new(&opt);
  nghttp2_option_set_max_send_header_block_length(opt, 64 * 1024);
  // nghttp2's HTTP messaging checks reject what grpc-go sends on unix sockets (":authority" is
  // the socket path, with '/'). Go's server accepts it, so we relax them and check the request
  // pseudo-headers ourselves in Dispatch().
  nghttp2_option_set_no_http_messaging(opt, 1);
  // Flow control is ours: credit goes back to the client only for bytes we no longer hold (see
  // StreamHandler::OnData), so a client cannot make us buffer more than its windows.
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_no_auto_ping_ack(opt, 1);  // HoldPingAck
  int rv = nghttp2_session_server_new2(&session_, cbs, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
  if (rv != 0) return Internal(std::string("nghttp2_session_server_new: ") + nghttp2_strerror(rv));
  // A held request body must fit in the stream window or the client would stall forever.
  options_.initial_window_bytes = static_cast<uint32_t>(std::min<size_t>(
      std::max<size_t>(options_.initial_window_bytes, options_.max_http_body_bytes + 1024),
      NGHTTP2_MAX_WINDOW_SIZE));
  options_.connection_window_bytes =
      std::max(options_.connection_window_bytes, options_.initial_window_bytes);
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, options_.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, options_.initial_window_bytes},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, options_.max_header_list_bytes},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, 3);
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                        static_cast<int32_t>(options_.connection_window_bytes));
  last_activity_ = std::chrono::steady_clock::now();
  if (options_.keepalive_interval.count() > 0) {
    ArmKeepalive(last_activity_ + options_.keepalive_interval);
  }
  return Status::Ok();
}

void Http2Session::ArmKeepalive(std::chrono::steady_clock::time_point when) {
  std::weak_ptr<Http2Session> weak = weak_from_this();
  keepalive_timer_ = loop_->RunAt(when, [weak] {
    if (auto self = weak.lock()) {
      self->keepalive_timer_ = 0;
      self->OnKeepaliveTimer();
    }
  });
}

void Http2Session::OnKeepaliveTimer() {
  if (closed_) return;
  auto now = std::chrono::steady_clock::now();
  if (ping_sent_at_) {
    if (last_activity_ < *ping_sent_at_) {
      spdlog::warn("http2 keepalive: no reply to PING within {} ms, closing peer={}",
                   options_.keepalive_timeout.count(), conn_->info().peer);
      conn_->Close(Unavailable("keepalive timeout"));
      return;
    }
    ping_sent_at_.reset();
  }
  if (now - last_activity_ >= options_.keepalive_interval) {
    nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, nullptr);
    ping_sent_at_ = now;
    Kick();
    ArmKeepalive(now + options_.keepalive_timeout);
    return;
  }
  ArmKeepalive(last_activity_ + options_.keepalive_interval);
}

bool Http2Session::HoldPingAck(const uint8_t* opaque_data) {
  std::array<uint8_t, 8> data;
  memcpy(data.data(), opaque_data, data.size());
  held_ping_acks_.push_back(data);
  return held_ping_acks_.size() < kMaxHeldPingAcks || SubmitHeldPingAcks();
}

bool Http2Session::SubmitHeldPingAcks() {
  int rv = 0;
  for (const auto& data : held_ping_acks_) {
    if (rv == 0) rv = nghttp2_submit_ping(session_, NGHTTP2_FLAG_ACK, data.data());
  }
  held_ping_acks_.clear();
  loop_->CancelTimer(std::exchange(ping_ack_timer_, 0));
  if (rv == 0) return true;
  // nghttp2 keeps at most 1000 unsent ACKs: this client sends PINGs faster than it reads our
  // answers (a PING flood), which nghttp2's own acknowledgements would also end the session for.
  spdlog::warn("http2 peer={}: PING acknowledgement refused ({}), closing", conn_->info().peer,
               nghttp2_strerror(rv));
  nghttp2_session_terminate_session(session_, NGHTTP2_ENHANCE_YOUR_CALM);
  return false;
}

void Http2Session::Kick() {
  if (!closed_) conn_->RequestFlush();
}

Status Http2Session::OnRead(std::string_view data) {
  last_activity_ = std::chrono::steady_clock::now();
  if (ping_sent_at_) {
    // Any bytes prove the peer alive: back to the idle interval (rare path, once per PING).
    ping_sent_at_.reset();
    loop_->CancelTimer(keepalive_timer_);
    ArmKeepalive(last_activity_ + options_.keepalive_interval);
  }
  ssize_t n = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(data.data()),
                                       data.size());
  Kick();
  if (n < 0) {
    return InvalidArgument(std::string("http2: ") + nghttp2_strerror(static_cast<int>(n)));
  }
  return Status::Ok();
}

void Http2Session::ProduceOutput(std::string* out, size_t max_bytes) {
  if (!held_ping_acks_.empty()) {
    if (nghttp2_session_want_write(session_) != 0) {
      SubmitHeldPingAcks();  // they ride along with what goes out anyway
    } else if (ping_ack_timer_ == 0) {
      std::weak_ptr<Http2Session> weak = weak_from_this();
      ping_ack_timer_ = loop_->RunAt(std::chrono::steady_clock::now() + kPingAckDelay, [weak] {
        if (auto self = weak.lock()) {
          self->ping_ack_timer_ = 0;
          self->SubmitHeldPingAcks();
          self->Kick();
        }
      });
    }
  }
  size_t produced = 0;
  while (produced < max_bytes) {
    const uint8_t* p = nullptr;
    ssize_t n = nghttp2_session_mem_send(session_, &p);
    if (n < 0) {
      spdlog::warn("http2 send error peer={}: {}", conn_->info().peer,
                   nghttp2_strerror(static_cast<int>(n)));
      break;
    }
    if (n == 0) break;
    out->append(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
    produced += static_cast<size_t>(n);
  }
}

bool Http2Session::WantsClose() const {
  if (closed_) return true;
  return nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0;
}

void Http2Session::OnShutdown() {
  if (shutting_down_ || closed_) return;
  shutting_down_ = true;
  // Streams the client opened so far are finished; later ones are refused and retried elsewhere.
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  goaway_sent_ = true;
  Kick();
}

void Http2Session::OnClose() {
  closed_ = true;
  loop_->CancelTimer(std::exchange(keepalive_timer_, 0));
  loop_->CancelTimer(std::exchange(ping_ack_timer_, 0));
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, s] : streams) {
    s->shared->closed.store(true);
    if (s->handler != nullptr && !s->end_requested) s->handler->OnReset();
  }
}

int Http2Session::OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* self = static_cast<Http2Session*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  auto s = std::make_unique<Stream>();
  s->id = frame->hd.stream_id;
  s->shared = std::make_shared<StreamShared>();
  s->shared->loop = self->loop_;
  s->shared->session = self->weak_from_this();
  s->shared->stream_id = s->id;
  // grpc-go sends five to seven regular headers per call; growing the vector one by one cost
  // ~1% of the server's CPU under many small writes.
  s->head.headers.reserve(8);
  self->streams_[s->id] = std::move(s);
  return 0;
}

int Http2Session::OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                           size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                           void* user) {
  auto* self = static_cast<Http2Session*>(user);
  auto it = self->streams_.find(frame->hd.stream_id);
  if (it == self->streams_.end() || it->second->dispatched) return 0;  // trailers: ignored
  Stream* s = it->second.get();
  s->header_bytes += namelen + valuelen + 32;
  if (s->header_bytes > self->options_.max_header_list_bytes) {
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets just this stream
  }
  std::string_view n(reinterpret_cast<const char*>(name), namelen);
  std::string_view v(reinterpret_cast<const char*>(value), valuelen);
  if (!n.empty() && n[0] == ':') {
    if (n == ":method")
      s->head.method = v;
    else if (n == ":path")
      s->head.path = v;
    else if (n == ":authority")
      s->head.authority = v;
    else if (n == ":scheme")
      s->head.scheme = v;
    return 0;
  }
  s->head.headers.push_back({std::string(n), std::string(v)});
  return 0;
}

int Http2Session::OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* self = static_cast<Http2Session*>(user);
  if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) {
    return self->HoldPingAck(frame->ping.opaque_data) ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
  }
  if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
  auto it = self->streams_.find(frame->hd.stream_id);
  if (it == self->streams_.end()) return 0;
  Stream* s = it->second.get();
  if (frame->hd.type == NGHTTP2_HEADERS && !s->dispatched &&
      (frame->hd.flags & NGHTTP2_FLAG_END_HEADERS)) {
    self->Dispatch(s);
    // Dispatch may have ended the stream; look it up again.
    it = self->streams_.find(frame->hd.stream_id);
    if (it == self->streams_.end()) return 0;
    s = it->second.get();
  }
  if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
    if (s->handler != nullptr) {
      s->handler->OnEnd();
    } else if (!s->body_too_large && !s->end_requested) {
      self->RunHttpHandler(s);
    }
  }
  return 0;
}

void Http2Session::Dispatch(Stream* s) {
  s->dispatched = true;
  if (s->head.method.empty() || s->head.path.empty() || s->head.path[0] != '/') {
    spdlog::warn("http2 request without :method/:path from peer={}", conn_->info().peer);
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_PROTOCOL_ERROR);
    s->end_requested = true;
    return;
  }
  if (dispatcher_ != nullptr) {
    s->handler = dispatcher_->Claim(s->head, conn_->info(), StreamWriter(s->shared));
  }
}

void Http2Session::RunHttpHandler(Stream* s) {
  HttpRequest req;
  req.method = s->head.method;
  auto q = s->head.path.find('?');
  if (q == std::string::npos) {
    req.path = s->head.path;
  } else {
    req.path = s->head.path.substr(0, q);
    req.query = s->head.path.substr(q + 1);
  }
  req.headers = std::move(s->head.headers);
  req.body = std::move(s->body);
  Release(s, s->held_bytes);
  req.peer = conn_->info().peer;
  req.client_cn = conn_->info().client_cn;
  req.http2 = true;
  HttpResponder responder(std::make_unique<H2Responder>(StreamWriter(s->shared)));
  if (router_ == nullptr) {
    responder.Send(HttpResponse::Text(404, "404 page not found\n"));
    return;
  }
  router_->Route(std::move(req), std::move(responder));
}

int Http2Session::OnDataChunk(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data,
                              size_t len, void* user) {
  auto* self = static_cast<Http2Session*>(user);
  auto it = self->streams_.find(stream_id);
  if (it == self->streams_.end()) return 0;
  Stream* s = it->second.get();
  std::string_view chunk(reinterpret_cast<const char*>(data), len);
  s->held_bytes += len;
  if (s->handler != nullptr) {
    self->Release(s, s->handler->OnData(chunk));
    return 0;
  }
  if (s->body_too_large) {
    self->Release(s, len);
    return 0;
  }
  if (s->body.size() + len > self->options_.max_http_body_bytes) {
    s->body_too_large = true;
    self->Release(s, s->held_bytes);
    s->body.clear();
    StreamWriter(s->shared).SendHeadersAndEnd(
        413, {{"content-type", "text/plain; charset=utf-8"}, {"content-length", "0"}});
    return 0;
  }
  s->body.append(chunk);  // held until the request is handed to the router
  return 0;
}

void Http2Session::Release(Stream* s, size_t bytes) {
  bytes = std::min(bytes, s->held_bytes);
  if (bytes == 0) return;
  s->held_bytes -= bytes;
  nghttp2_session_consume(session_, s->id, bytes);
}

int Http2Session::OnFrameSend(nghttp2_session* session, const nghttp2_frame* frame, void*) {
  // Our response is complete but the client is still sending (413, a gRPC error or a rejected
  // message before the request ended): tell it to stop, without error (RFC 9113 §8.1). Without
  // this the stream never closes and clients such as curl wait for it forever.
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
      nghttp2_session_get_stream_remote_close(session, frame->hd.stream_id) == 0) {
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
  }
  return 0;
}

int Http2Session::OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t error_code,
                                void* user) {
  auto* self = static_cast<Http2Session*>(user);
  auto it = self->streams_.find(stream_id);
  if (it == self->streams_.end()) return 0;
  std::unique_ptr<Stream> s = std::move(it->second);
  self->streams_.erase(it);
  if (s->held_bytes > 0) {
    // The stream is gone; its bytes still count against the connection window.
    nghttp2_session_consume_connection(self->session_, s->held_bytes);
  }
  s->shared->closed.store(true);
  if (s->handler != nullptr && !s->end_requested) {
    spdlog::debug("http2 stream {} reset by peer={} (error {})", stream_id,
                  self->conn_->info().peer, error_code);
    s->handler->OnReset();
  }
  return 0;
}

ssize_t Http2Session::ReadData(nghttp2_session* session, int32_t stream_id, uint8_t* buf,
                               size_t length, uint32_t* data_flags, nghttp2_data_source*,
                               void* user) {
  auto* self = static_cast<Http2Session*>(user);
  auto it = self->streams_.find(stream_id);
  if (it == self->streams_.end()) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  Stream* s = it->second.get();
  size_t n = 0;
  while (n < length) {
    if (s->out_front == s->out.size()) {
      if (s->source == nullptr) break;
      s->out.clear();
      s->out_front = 0;
      Status st = s->source->Next(kSourcePieceBytes, &s->out);
      if (!st.ok()) {
        // The promised body cannot be completed: nghttp2 resets the stream (INTERNAL_ERROR).
        spdlog::error("http2 stream {} peer={}: response body failed: {}", stream_id,
                      self->conn_->info().peer, st.ToString());
        s->source.reset();
        s->shared->pending_bytes.fetch_sub(n);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
      }
      size_t produced = 0;
      for (const auto& piece : s->out) produced += piece.size();
      s->shared->pending_bytes.fetch_add(produced);
      if (s->source->done()) s->source.reset();  // released as soon as it has nothing left
      continue;
    }
    const std::string& front = s->out[s->out_front];
    size_t take = std::min(length - n, front.size() - s->out_front_offset);
    memcpy(buf + n, front.data() + s->out_front_offset, take);
    n += take;
    s->out_front_offset += take;
    if (s->out_front_offset == front.size()) {
      std::string().swap(s->out[s->out_front]);  // sent: free it now, not when `out` drains
      ++s->out_front;
      s->out_front_offset = 0;
    }
  }
  if (s->out_front == s->out.size()) {
    s->out.clear();
    s->out_front = 0;
  } else if (s->out_front >= 64 && s->out_front * 2 >= s->out.size()) {
    // A stream that never drains (a watch behind flow control) must not keep every sent slot.
    s->out.erase(s->out.begin(), s->out.begin() + static_cast<ptrdiff_t>(s->out_front));
    s->out_front = 0;
  }
  s->shared->pending_bytes.fetch_sub(n);
  if (s->out.empty() && s->source == nullptr && s->end_requested) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    const Headers& trailers = s->constant_trailers ? *s->constant_trailers : s->trailers;
    if (!trailers.empty()) {
      const uint8_t flags = s->constant_trailers ? kNoCopy : kCopy;
      NvArray nva(trailers.size());
      nva.AddAll(trailers, flags);
      // Trailers must be submitted from inside this callback (GRPC-NOTES §1).
      int rv = nghttp2_submit_trailer(session, stream_id, nva.data(), nva.size());
      if (rv == 0) *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    }
    return static_cast<ssize_t>(n);
  }
  if (n == 0) {
    s->data_deferred = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  return static_cast<ssize_t>(n);
}

Http2Session::Stream* Http2Session::WritableStream(int32_t id) {
  if (closed_) return nullptr;
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

void Http2Session::ResumeData(Stream* s) {
  if (s->data_deferred) {
    s->data_deferred = false;
    nghttp2_session_resume_data(session_, s->id);
  }
  Kick();
}

void Http2Session::WriterSendHeaders(int32_t id, int status, const Headers& headers,
                                     bool end_stream, bool constant) {
  Stream* s = WritableStream(id);
  if (s == nullptr) return;
  if (s->response_started) {
    spdlog::error("http2 stream {}: response headers sent twice (bug in caller)", id);
    return;
  }
  s->response_started = true;
  std::string status_str = std::to_string(status);
  static const std::string kStatus = ":status";
  NvArray nva(headers.size() + 1);
  nva.Add(MakeNv(kStatus, status_str, NGHTTP2_NV_FLAG_NO_COPY_NAME));
  const uint8_t flags = constant ? kNoCopy : kCopy;
  nva.AddAll(headers, flags);
  int rv;
  if (end_stream) {
    s->end_requested = true;
    rv = nghttp2_submit_response(session_, id, nva.data(), nva.size(), nullptr);
  } else {
    nghttp2_data_provider provider{};
    provider.read_callback = ReadData;
    rv = nghttp2_submit_response(session_, id, nva.data(), nva.size(), &provider);
  }
  if (rv != 0) {
    spdlog::warn("http2 submit response failed peer={} stream={}: {}", conn_->info().peer, id,
                 nghttp2_strerror(rv));
  }
  Kick();
}

void Http2Session::WriterSendData(int32_t id, std::string data) {
  Stream* s = WritableStream(id);
  if (s == nullptr) return;
  if (s->end_requested) {
    s->shared->pending_bytes.fetch_sub(data.size());
    return;
  }
  s->out.push_back(std::move(data));
  ResumeData(s);
}

void Http2Session::WriterFinish(int32_t id, Headers trailers, const Headers* constant_trailers) {
  Stream* s = WritableStream(id);
  if (s == nullptr) return;
  if (s->end_requested) return;
  if (!s->response_started) {
    spdlog::error("http2 stream {}: finished before headers (bug in caller)", id);
    WriterReset(id, NGHTTP2_INTERNAL_ERROR);
    return;
  }
  s->end_requested = true;
  s->trailers = std::move(trailers);
  s->constant_trailers = constant_trailers;
  ResumeData(s);
}

void Http2Session::WriterRespond(int32_t id, int status, const Headers* headers,
                                 std::vector<std::string> data, const Headers* trailers,
                                 std::shared_ptr<BodySource> rest) {
  WriterSendHeaders(id, status, *headers, false, /*constant=*/true);
  for (auto& piece : data) WriterSendData(id, std::move(piece));
  Stream* s = WritableStream(id);
  if (s != nullptr && rest != nullptr && !rest->done()) s->source = std::move(rest);
  WriterFinish(id, Headers(), trailers);
}

void Http2Session::WriterReset(int32_t id, uint32_t error_code) {
  Stream* s = WritableStream(id);
  if (s == nullptr) return;
  s->end_requested = true;  // we end it: the handler needs no OnReset
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, error_code);
  Kick();
}

}  // namespace etcdpp::http
