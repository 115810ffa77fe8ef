// H2TestClient: a minimal blocking HTTP/2 (h2c) client on nghttp2 for in-process tests of the
// gRPC transport: open streams with chosen headers, send DATA, RST_STREAM, and collect what the
// server answered per stream. Test-only; single-threaded.
//
// Waiting: Pump() blocks on poll() for server bytes. The 10 s limit is a safety net against a
// hung test, never what decides correctness: tests wait for a condition (stream closed, flag set).
#pragma once

#include <nghttp2/nghttp2.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "http/types.h"

namespace etcdpp::grpc::testing {

struct StreamResult {
  int status = 0;
  http::Headers headers;   // response headers
  http::Headers trailers;  // trailers (empty for trailers-only responses)
  std::string data;        // concatenated DATA bytes
  bool closed = false;
  uint32_t error_code = 0;  // RST_STREAM / close error code
  // Value of name in trailers, or in headers for a trailers-only response; "" if absent.
  std::string Trailer(const std::string& name) const;
  // The gRPC messages in data (prefix removed).
  std::vector<std::string> Messages() const;
};

class H2TestClient {
 public:
  struct Options {
    // Our SETTINGS_INITIAL_WINDOW_SIZE; with auto_window_update=false and a small window the
    // client stops granting credit (a client that never reads).
    uint32_t initial_window = 1 << 20;
    bool auto_window_update = true;
  };
  static std::unique_ptr<H2TestClient> Connect(int port);
  static std::unique_ptr<H2TestClient> Connect(int port, Options options);
  ~H2TestClient();

  // Opens a stream. method/path/extra headers; content-type application/grpc and te: trailers
  // are added when grpc is true. Returns the stream id.
  int32_t Start(const std::string& path, http::Headers extra = {}, bool grpc = true,
                const std::string& method = "POST");
  // Sends body bytes on the stream; end_stream half-closes.
  void Send(int32_t stream, std::string data, bool end_stream);
  // Convenience: gRPC unary call; returns when the stream closed.
  StreamResult Unary(const std::string& path, const std::string& request, http::Headers extra = {});
  void Reset(int32_t stream, uint32_t error_code = NGHTTP2_CANCEL);
  // Sends a PING and waits for its ACK. Returns false on failure.
  bool Ping();
  // Sends a PING without waiting; ping_acks() counts the ACKs received.
  void SendPing();
  int ping_acks() const { return ping_acks_; }

  // Reads and processes server bytes until pred() or the safety timeout; returns pred().
  bool PumpUntil(const std::function<bool()>& pred);
  StreamResult& Wait(int32_t stream);  // PumpUntil(closed)
  StreamResult& result(int32_t stream) { return streams_[stream]; }
  bool goaway_received() const { return goaway_; }
  // PING frames (not ACKs) received from the server; nghttp2 ACKs them while we pump.
  int pings_received() const { return pings_received_; }
  // Connection-level flow-control credit the server has given us (bytes we may still send).
  int32_t remote_window() const { return nghttp2_session_get_remote_window_size(session_); }
  // Body bytes queued on the stream that flow control has not let us send yet.
  size_t unsent_bytes(int32_t stream) { return outgoing_[stream].first.size(); }
  // Reads raw bytes without processing or answering anything (a dead peer) until the server
  // closes the connection; returns true on EOF within the safety timeout.
  bool WaitForCloseWithoutAnswering();
  bool connection_closed() const { return eof_; }
  int fd() const { return fd_; }

 private:
  H2TestClient() = default;
  bool Flush();
  bool ReadOnce(int timeout_ms);

  int fd_ = -1;
  nghttp2_session* session_ = nullptr;
  std::map<int32_t, StreamResult> streams_;
  std::map<int32_t, std::pair<std::string, bool>> outgoing_;  // body bytes, end_stream
  bool goaway_ = false;
  bool eof_ = false;
  bool ping_acked_ = false;
  int ping_acks_ = 0;
  int pings_received_ = 0;
};

}  // namespace etcdpp::grpc::testing
