#include "server/api/range_body.h"

#include <atomic>
#include <utility>

#include "base/check.h"
#include "base/chunked_buffer.h"
#include "spdlog/spdlog.h"

namespace etcdpp::server {
namespace {
std::atomic<int> streamed_ranges{0};
}  // namespace

StreamingSlot::StreamingSlot() : held_(streamed_ranges.fetch_add(1) < kMaxStreamedRanges) {
  if (!held_) streamed_ranges.fetch_sub(1);
}

StreamingSlot::StreamingSlot(StreamingSlot&& o) noexcept : held_(std::exchange(o.held_, false)) {}

StreamingSlot::~StreamingSlot() {
  if (held_) streamed_ranges.fetch_sub(1);
}

std::unique_ptr<RangeBody> RangeBody::Start(net::EventLoop* loop, mvcc::ReadView view,
                                            apply::RangeRemainder rest, StreamingSlot slot,
                                            std::chrono::milliseconds max_hold) {
  CHECK(loop != nullptr) << "RangeBody::Start off a loop thread";
  auto state = std::make_shared<State>();
  state->view.emplace(std::move(view));
  state->rest = std::move(rest);
  state->slot.emplace(std::move(slot));
  loop->RunAfter(max_hold, [weak = std::weak_ptr<State>(state), max_hold] {
    auto s = weak.lock();
    if (s == nullptr || !s->view.has_value()) return;  // read, or the client went away
    spdlog::info("range: a client took over {} ms to read a streamed answer; the rest ({} bytes) "
                 "is held in memory and its snapshot released",
                 max_hold.count(), s->rest.bytes_left());
    SpillState(*s);
  });
  return std::unique_ptr<RangeBody>(new RangeBody(std::move(state)));
}

void RangeBody::SpillState(State& s) {
  ChunkedBuffer rest;
  while (!s.rest.done() && s.spill_status.ok()) {
    s.spill_status = s.rest.Next(*s.view, SIZE_MAX, &rest);
  }
  s.spilled = std::move(rest).Release();
  s.view.reset();
  s.slot.reset();
}

void RangeBody::Spill() {
  if (state_->view.has_value()) SpillState(*state_);
}

Status RangeBody::Next(size_t hint, std::vector<std::string>* out) {
  State& s = *state_;
  if (!s.spill_status.ok()) return s.spill_status;
  if (!s.view.has_value()) {
    // Spilled: hand over everything, it is in memory already.
    for (auto& chunk : s.spilled) out->push_back(std::move(chunk));
    s.spilled.clear();
    return Status::Ok();
  }
  ChunkedBuffer piece;
  ETCDPP_RETURN_IF_ERROR(s.rest.Next(*s.view, hint, &piece));
  for (auto& chunk : std::move(piece).Release()) out->push_back(std::move(chunk));
  if (s.rest.done()) {
    s.view.reset();  // everything is encoded: the snapshot is no longer needed
    s.slot.reset();
  }
  return Status::Ok();
}

bool RangeBody::done() const {
  return state_->rest.done() && state_->spilled.empty() && state_->spill_status.ok();
}

}  // namespace etcdpp::server
