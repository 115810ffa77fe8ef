#include "watch/response_encoder.h"

#include "base/varint.h"

namespace etcdpp::watch {
namespace {

// Field numbers and wire types of etcdserverpb.WatchResponse and mvccpb.Event (rpc.proto,
// kv.proto).
constexpr uint32_t kWireVarint = 0;
constexpr uint32_t kWireBytes = 2;
constexpr uint32_t kRespHeader = 1;
constexpr uint32_t kRespWatchId = 2;
constexpr uint32_t kRespFragment = 7;
constexpr uint32_t kRespEvents = 11;
constexpr uint32_t kEventType = 1;
constexpr uint32_t kEventKv = 2;
constexpr uint32_t kEventPrevKv = 3;
constexpr uint64_t kEventTypeDelete = 1;  // mvccpb.Event.DELETE; PUT is 0 and omitted

void PutTag(uint32_t field, uint32_t wire, std::string* out) { PutVarint((field << 3) | wire, out); }

void PutBytesField(uint32_t field, std::string_view bytes, std::string* out) {
  PutTag(field, kWireBytes, out);
  PutVarint(bytes.size(), out);
  out->append(bytes);
}

size_t BytesFieldSize(uint32_t field, size_t n) {
  return VarintSize((field << 3) | kWireBytes) + VarintSize(n) + n;
}

// Size of header + watch_id + fragment, the part every fragment of a response repeats.
size_t FixedPartSize(std::string_view header, int64_t watch_id, bool fragment) {
  size_t n = BytesFieldSize(kRespHeader, header.size());
  // int64 fields encode negative values as 10-byte varints (two's complement).
  if (watch_id != 0) n += 1 + VarintSize(static_cast<uint64_t>(watch_id));
  if (fragment) n += 2;
  return n;
}

}  // namespace

void AppendEvent(const mvcc::Event& ev, bool with_prev_kv, std::string* out) {
  if (ev.type == mvcc::Event::Type::kDelete) {
    PutTag(kEventType, kWireVarint, out);
    PutVarint(kEventTypeDelete, out);
  }
  std::string kv;
  mvcc::EncodeKeyValue(ev.kv, &kv);
  PutBytesField(kEventKv, kv, out);
  if (with_prev_kv && ev.prev_kv.has_value()) {
    kv.clear();
    mvcc::EncodeKeyValue(*ev.prev_kv, &kv);
    PutBytesField(kEventPrevKv, kv, out);
  }
}

size_t EventFieldSize(size_t encoded_event_size) {
  return BytesFieldSize(kRespEvents, encoded_event_size);
}

std::string EncodeEventsResponse(std::string_view header, int64_t watch_id,
                                 const std::vector<std::string_view>& events, bool fragment) {
  std::string out;
  out.reserve(EventsResponseSize(header, watch_id, events, 0, events.size(), fragment));
  PutBytesField(kRespHeader, header, &out);
  if (watch_id != 0) {
    PutTag(kRespWatchId, kWireVarint, &out);
    PutVarint(static_cast<uint64_t>(watch_id), &out);
  }
  if (fragment) {
    PutTag(kRespFragment, kWireVarint, &out);
    PutVarint(1, &out);
  }
  for (std::string_view e : events) PutBytesField(kRespEvents, e, &out);
  return out;
}

size_t EventsResponseSize(std::string_view header, int64_t watch_id,
                          const std::vector<std::string_view>& events, size_t begin, size_t end,
                          bool fragment) {
  size_t n = FixedPartSize(header, watch_id, fragment);
  for (size_t i = begin; i < end; ++i) n += EventFieldSize(events[i].size());
  return n;
}

}  // namespace etcdpp::watch
