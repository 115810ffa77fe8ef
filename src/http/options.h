// Limits of the HTTP layer, one place (values and reasons).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace etcdpp::http {

struct HttpOptions {
  // HTTP/2 SETTINGS_INITIAL_WINDOW_SIZE: at least 1 MiB per stream (GRPC-NOTES §4). Raised
  // automatically so one whole request fits: max_http_body_bytes here, and
  // --max-request-bytes in grpc::Server (credit is returned only for complete messages).
  uint32_t initial_window_bytes = 1024 * 1024;
  // Connection-level receive window: 16 MiB, shared by all streams of a connection; with the
  // rule above it bounds what one connection can make us buffer.
  uint32_t connection_window_bytes = 16 * 1024 * 1024;
  // etcd --max-concurrent-streams (etcd's default is math.MaxUint32, i.e. unlimited).
  uint32_t max_concurrent_streams = UINT32_MAX;
  // Request header block limit (HTTP/2 SETTINGS_MAX_HEADER_LIST_SIZE and HTTP/1.1): 64 KiB,
  // far above any real client (auth tokens are < 1 KiB) and well below memory concerns.
  uint32_t max_header_list_bytes = 64 * 1024;
  // Largest plain-HTTP request body (JSON gateway). etcd's gateway accepts what becomes a
  // --max-request-bytes message; JSON+base64 inflates it, so 2x the default 1.5 MiB + slack.
  size_t max_http_body_bytes = 4 * 1024 * 1024;
  // etcd --grpc-keepalive-interval / --grpc-keepalive-timeout: after this long without any
  // bytes from the client, the server sends an HTTP/2 PING; without any reply within the timeout
  // the connection is closed (a dead peer, not an idle one: healthy idle clients answer PINGs).
  // etcd's defaults: 2 h and 20 s. Zero interval disables it.
  std::chrono::milliseconds keepalive_interval{std::chrono::hours(2)};
  std::chrono::milliseconds keepalive_timeout{std::chrono::seconds(20)};
};

}  // namespace etcdpp::http
