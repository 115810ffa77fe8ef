// RangeBody: the part of a large Range answer that is encoded while the client reads it
// (apply::RangeRemainder behind the http::BodySource the transport pulls from), with the
// snapshot it reads and the limits that keep such answers from holding storage for long.
//
// Thread: created and used on the loop thread of the call it answers (the transport calls Next
// there; the hold timer runs there).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "http/stream.h"
#include "mvcc/store.h"
#include "net/event_loop.h"
#include "server/apply/kv_apply.h"

namespace etcdpp::server {

// A slot among the kMaxStreamedRanges answers that may stream at once, server-wide: each holds
// an LMDB reader slot until its client has read it, so slow readers must not take them all
// (storage::kDefaultMaxReaders). Without a slot a large answer is built whole instead.
class StreamingSlot {
 public:
  static constexpr int kMaxStreamedRanges = 256;
  StreamingSlot();
  StreamingSlot(StreamingSlot&& o) noexcept;
  StreamingSlot(const StreamingSlot&) = delete;
  StreamingSlot& operator=(const StreamingSlot&) = delete;
  ~StreamingSlot();
  bool held() const { return held_; }

 private:
  bool held_;
};

class RangeBody : public http::BodySource {
 public:
  // How long an answer may read from its snapshot. A client that has not read it all by then
  // (it stopped reading, or reads very slowly) gets the rest from memory: it is encoded at once,
  // as etcd builds every answer, and the snapshot released. While a snapshot is open LMDB cannot
  // reuse the pages writes free, so an open-ended hold would let the data file grow.
  static constexpr std::chrono::seconds kMaxSnapshotHold{30};

  // Arms the hold timer on `loop` (the calling thread's). REQUIRES: slot.held().
  static std::unique_ptr<RangeBody> Start(net::EventLoop* loop, mvcc::ReadView view,
                                          apply::RangeRemainder rest, StreamingSlot slot,
                                          std::chrono::milliseconds max_hold = kMaxSnapshotHold);

  Status Next(size_t hint, std::vector<std::string>* out) override;
  bool done() const override;
  // False once the rest was moved to memory (or encoded) and the snapshot released.
  bool holds_snapshot() const { return state_->view.has_value(); }
  // Encodes everything left into memory and releases the snapshot and the streaming slot.
  void Spill();

 private:
  struct State {
    std::optional<mvcc::ReadView> view;
    apply::RangeRemainder rest;
    std::optional<StreamingSlot> slot;
    std::vector<std::string> spilled;  // the rest, once encoded into memory
    Status spill_status;
  };
  explicit RangeBody(std::shared_ptr<State> state) : state_(std::move(state)) {}
  static void SpillState(State& s);

  // Shared with the hold timer, which must find it gone once the transport dropped the body.
  std::shared_ptr<State> state_;
};

}  // namespace etcdpp::server
