// Hand-written protobuf wire encoding of the watch responses that carry events
// (etcdserverpb.WatchResponse with mvccpb.Event entries), so that the hub serialises each event
// once per revision and builds every watcher's response by concatenation instead of building
// and serialising one protobuf object per watcher. Control responses (created, canceled,
// progress) are rare and use the generated classes instead.
//
// The bytes equal what the generated code would write: fields in number order, proto3 zero
// values omitted (response_encoder_test.cc parses them back with the generated classes).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mvcc/key_value.h"

namespace etcdpp::watch {

// Appends the mvccpb.Event encoding of `ev` (not length-prefixed). prev_kv is written iff
// `with_prev_kv` and ev.prev_kv is set.
void AppendEvent(const mvcc::Event& ev, bool with_prev_kv, std::string* out);

// Bytes one encoded event adds to a WatchResponse (field tag + length + body).
size_t EventFieldSize(size_t encoded_event_size);

// Builds a serialized etcdserverpb.WatchResponse from an already serialized ResponseHeader,
// the watch id, and already encoded events (each an AppendEvent output).
std::string EncodeEventsResponse(std::string_view header, int64_t watch_id,
                                 const std::vector<std::string_view>& events, bool fragment);

// Size EncodeEventsResponse would produce for the events [begin, end).
size_t EventsResponseSize(std::string_view header, int64_t watch_id,
                          const std::vector<std::string_view>& events, size_t begin, size_t end,
                          bool fragment);

}  // namespace etcdpp::watch
