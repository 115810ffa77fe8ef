// Http2Session: the server side of one HTTP/2 connection, nghttp2 in memory mode driven by the
// connection's loop (nghttp2_session_mem_recv / mem_send); no socket I/O here.
//
// A new stream is offered to the StreamDispatcher (the gRPC layer) when its request headers are
// complete; if it is not claimed, the request body is collected and the request goes to the HTTP
// Router, whose response comes back through an HttpResponder.
//
// Ownership and threads: owned (via shared_ptr) by the connection's protocol object; used only on
// the loop thread. StreamWriter/HttpResponder handles reach it through a weak_ptr and a post.
// Invariant: every entry of streams_ is an open nghttp2 stream; a stream record is removed in
// on_stream_close, after which writers see `closed`.
#pragma once

#include <nghttp2/nghttp2.h>

#include <array>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "base/status.h"
#include "http/options.h"
#include "http/stream.h"
#include "http/types.h"
#include "net/connection.h"

namespace etcdpp::http {

class Http2Session : public std::enable_shared_from_this<Http2Session> {
 public:
  // conn must outlive the session's use of it (guaranteed: the session is told OnClose).
  static std::shared_ptr<Http2Session> Create(net::Connection* conn, const Router* router,
                                              StreamDispatcher* dispatcher,
                                              const HttpOptions& options);
  ~Http2Session();

  Status OnRead(std::string_view data);
  void ProduceOutput(std::string* out, size_t max_bytes);
  bool WantsClose() const;
  void OnShutdown();
  void OnClose();

  // Loop-thread operations behind StreamWriter (each checks the stream still exists).
  // `constant` headers and `constant_trailers` outlive the stream (see
  // StreamWriter::SendResponse): nghttp2 is told not to copy them. `constant_trailers`, when
  // set, are sent instead of `trailers`.
  void WriterSendHeaders(int32_t id, int status, const Headers& headers, bool end_stream,
                         bool constant = false);
  void WriterSendData(int32_t id, std::string data);
  void WriterFinish(int32_t id, Headers trailers, const Headers* constant_trailers = nullptr);
  void WriterReset(int32_t id, uint32_t error_code);
  void WriterRespond(int32_t id, int status, const Headers* headers, std::vector<std::string> data,
                     const Headers* trailers, std::shared_ptr<BodySource> rest);

  size_t open_streams() const { return streams_.size(); }

 private:
  struct Stream;
  Http2Session(net::Connection* conn, const Router* router, StreamDispatcher* dispatcher,
               const HttpOptions& options);
  Status Init();
  void Kick();  // ask the connection to flush soon
  void ArmKeepalive(std::chrono::steady_clock::time_point when);
  void OnKeepaliveTimer();
  // A client's PING is acknowledged with our next output, or after kPingAckDelay (see .cc).
  // Both return false if nghttp2 refused an acknowledgement (a PING flood); the session is then
  // terminated (GOAWAY ENHANCE_YOUR_CALM).
  bool HoldPingAck(const uint8_t* opaque_data);
  bool SubmitHeldPingAcks();
  void Dispatch(Stream* s);
  void RunHttpHandler(Stream* s);
  // Returns up to `bytes` of the stream's held DATA to the client as window credit.
  void Release(Stream* s, size_t bytes);
  // The open stream a Writer* operation is for; nullptr once it closed or the session did.
  Stream* WritableStream(int32_t id);
  // The stream has DATA or its end to send again: wakes its data callback if it deferred.
  void ResumeData(Stream* s);

  static int OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t flags,
                      void* user);
  static int OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int OnDataChunk(nghttp2_session*, uint8_t flags, int32_t stream_id, const uint8_t* data,
                         size_t len, void* user);
  static int OnFrameSend(nghttp2_session* session, const nghttp2_frame* frame, void* user);
  static int OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* user);
  static ssize_t ReadData(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length,
                          uint32_t* data_flags, nghttp2_data_source* source, void* user);

  net::Connection* conn_;
  const Router* router_;
  StreamDispatcher* dispatcher_;
  HttpOptions options_;
  nghttp2_session* session_ = nullptr;
  std::shared_ptr<net::EventLoop> loop_;
  std::unordered_map<int32_t, std::unique_ptr<Stream>> streams_;
  bool closed_ = false;
  bool shutting_down_ = false;
  // Keepalive: time of the last bytes from the peer; a PING is outstanding iff ping_sent_at_ set.
  std::chrono::steady_clock::time_point last_activity_;
  std::optional<std::chrono::steady_clock::time_point> ping_sent_at_;
  net::EventLoop::TimerId keepalive_timer_ = 0;
  std::vector<std::array<uint8_t, 8>> held_ping_acks_;  // opaque data of unanswered PINGs
  net::EventLoop::TimerId ping_ack_timer_ = 0;
  bool goaway_sent_ = false;
};

}  // namespace etcdpp::http
