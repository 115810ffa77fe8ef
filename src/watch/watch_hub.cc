#include "watch/watch_hub.h"

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>

#include "base/check.h"
#include "base/thread_name.h"
#include "watch/response_encoder.h"

namespace etcdpp::watch {

namespace {

size_t EventBytes(const mvcc::Event& ev) {
  size_t n = ev.kv.key.size() + ev.kv.value.size() + 48;
  if (ev.prev_kv) n += ev.prev_kv->key.size() + ev.prev_kv->value.size() + 48;
  return n;
}

}  // namespace

WatchHub::WatchHub(const mvcc::Store* store, WatchHubOptions options)
    : store_(store), options_(std::move(options)) {
  CHECK(store_ != nullptr);
  dispatched_rev_ = store_->current_rev();
  published_rev_ = dispatched_rev_;
  dispatcher_ = NamedThread("watch-dispatch", [this] { DispatchLoop(); });
  catch_up_ = NamedThread("watch-catchup", [this] { CatchUpLoop(); });
}

WatchHub::~WatchHub() { Stop(); }

void WatchHub::Stop() {
  {
    std::lock_guard<std::mutex> q(queue_mu_);
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  queue_cv_.notify_all();
  catch_up_cv_.notify_all();
  if (dispatcher_.joinable()) dispatcher_.join();
  if (catch_up_.joinable()) catch_up_.join();
}

bool WatchHub::IsCreate(const mvcc::Event& ev) {
  return ev.type == mvcc::Event::Type::kPut && ev.kv.create_revision == ev.kv.mod_revision;
}

bool WatchHub::Wanted(const Watcher& w, const mvcc::Event& ev) const {
  if (ev.kv.mod_revision < w.min_rev) return false;
  if (ev.type == mvcc::Event::Type::kPut) return !w.no_put;
  return !w.no_delete;
}

void WatchHub::FillHeader(etcdserverpb::ResponseHeader* h, int64_t rev) const {
  if (options_.fill_header) {
    options_.fill_header(h, rev);
  }
  h->set_revision(rev);
}

std::string WatchHub::HeaderBytes(int64_t rev) const {
  etcdserverpb::ResponseHeader h;
  FillHeader(&h, rev);
  return h.SerializeAsString();
}

// ---------------------------------------------------------------------------------------------
// Apply thread.

void WatchHub::Publish(std::vector<mvcc::Event> events) {
  if (events.empty()) return;
  std::vector<Revision> revs(1);
  revs[0].rev = events.front().kv.mod_revision;
  for (const auto& ev : events) revs[0].bytes += EventBytes(ev);
  revs[0].events = std::move(events);
  Enqueue(std::move(revs));
}

void WatchHub::PublishBatch(std::vector<mvcc::Event>&& events) {
  std::vector<Revision> revs;
  for (mvcc::Event& ev : events) {
    if (revs.empty() || revs.back().rev != ev.kv.mod_revision) {
      revs.emplace_back();
      revs.back().rev = ev.kv.mod_revision;
    }
    revs.back().bytes += EventBytes(ev);
    revs.back().events.push_back(std::move(ev));
  }
  Enqueue(std::move(revs));
}

void WatchHub::Enqueue(std::vector<Revision> revs) {
  if (revs.empty()) return;
  {
    std::lock_guard<std::mutex> q(queue_mu_);
    if (queue_.empty() && overflow_from_rev_ == 0 && DispatchWithoutWatchers(revs)) {
      return;
    }
    for (Revision& r : revs) EnqueueLocked(std::move(r));
  }
  queue_cv_.notify_one();
}

bool WatchHub::DispatchWithoutWatchers(const std::vector<Revision>& revs) {
  // Nobody to send to: mark the revisions dispatched here instead of waking the dispatcher
  // thread for nothing (one context switch per applied batch when no client watches). A watcher
  // created afterwards with an older start catches up from history, as after any dispatch.
  std::lock_guard<std::mutex> l(mu_);
  if (!synced_.empty() || !unsynced_.empty()) return false;
  CHECK(revs.front().rev > published_rev_)
      << "revision " << revs.front().rev << " published after " << published_rev_;
  published_rev_ = revs.back().rev;
  dispatched_rev_ = std::max(dispatched_rev_, published_rev_);
  AnswerProgressLocked();
  return true;
}

void WatchHub::EnqueueLocked(Revision r) {
  {
    CHECK(r.rev > published_rev_) << "revision " << r.rev << " published after " << published_rev_;
    published_rev_ = r.rev;
    if (overflow_from_rev_ != 0 || queue_.size() >= options_.max_queued_revisions ||
        queue_bytes_ + r.bytes > options_.max_queued_bytes) {
      // The dispatcher is far behind; keeping more in memory would grow without bound. The
      // store has the revision: synced watchers will be caught up from history.
      if (overflow_from_rev_ == 0) overflow_from_rev_ = r.rev;
    } else {
      queue_bytes_ += r.bytes;
      queue_.push_back(std::move(r));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Dispatcher thread.

void WatchHub::DispatchLoop() {
  for (;;) {
    std::deque<Revision> batch;
    int64_t overflow_from = 0;
    int64_t overflow_to = 0;
    {
      std::unique_lock<std::mutex> q(queue_mu_);
      queue_cv_.wait(q, [&] { return stop_ || !queue_.empty() || overflow_from_rev_ != 0; });
      if (stop_) return;
      batch.swap(queue_);
      queue_bytes_ = 0;
      if (overflow_from_rev_ != 0) {
        overflow_from = overflow_from_rev_;
        overflow_to = published_rev_;
        overflow_from_rev_ = 0;
      }
    }
    auto dispatch = [&] {
      for (const Revision& r : batch) {
        std::lock_guard<std::mutex> l(mu_);
        DispatchLocked(r);
      }
    };
    if (options_.around_dispatch) {
      options_.around_dispatch(dispatch);
    } else {
      dispatch();
    }
    if (overflow_from != 0) {
      std::lock_guard<std::mutex> l(mu_);
      std::vector<Watcher*> all;
      synced_.ForEach([&](Watcher* w) { all.push_back(w); });
      for (Watcher* w : all) MoveToUnsyncedLocked(w, std::max(w->min_rev, overflow_from));
      dispatched_rev_ = std::max(dispatched_rev_, overflow_to);
      AnswerProgressLocked();
      stats_.overflow_drops += static_cast<uint64_t>(overflow_to - overflow_from + 1);
    }
  }
}

void WatchHub::DispatchLocked(const Revision& r) {
  ++stamp_;
  std::vector<Watcher*> touched;
  for (uint32_t i = 0; i < r.events.size(); ++i) {
    synced_.Match(r.events[i].kv.key, [&](Watcher* w) {
      if (w->stamp != stamp_) {
        w->stamp = stamp_;
        w->matched.clear();
        touched.push_back(w);
      }
      w->matched.push_back(i);
    });
  }
  std::string header;
  EncodedEvents enc;
  std::vector<std::string_view> out;
  for (Watcher* w : touched) {
    if (w->state != Watcher::State::kSynced) continue;  // its stream broke in this loop
    if (r.rev < w->min_rev) continue;  // starts at a later revision
    out.clear();
    bool missing_prev = false;
    for (uint32_t i : w->matched) {
      const mvcc::Event& ev = r.events[i];
      if (!Wanted(*w, ev)) continue;
      // Every change but a creation has a previous value; if the batch did not collect it
      // (NeedsPrevKv() was read before this watcher existed), history has it.
      if (w->prev_kv && !IsCreate(ev) && !ev.prev_kv) missing_prev = true;
      bool with_prev = w->prev_kv && ev.prev_kv.has_value();
      auto& cache = with_prev ? enc.with_prev : enc.plain;
      if (cache.empty()) cache.resize(r.events.size());
      if (cache[i].empty()) AppendEvent(ev, with_prev, &cache[i]);
      out.push_back(cache[i]);
    }
    if (out.empty()) continue;  // everything filtered: etcd sends nothing
    if (missing_prev || w->stream->sink->pending_bytes() > options_.max_stream_pending_bytes) {
      // History has the revision (and the previous values): serve it from there.
      if (!missing_prev) {
        ++stats_.slow_moves;
        if (!w->stream->slow_logged) {  // once per stream: a stalled client must not spam
          w->stream->slow_logged = true;
          spdlog::info("watch stream {}: client is not reading ({} bytes pending); its watchers "
                       "are served from history until it catches up",
                       w->stream->id, w->stream->sink->pending_bytes());
        }
      }
      MoveToUnsyncedLocked(w, r.rev);
      continue;
    }
    if (header.empty()) header = HeaderBytes(r.rev);
    SendEventsLocked(w, header, out);
  }
  dispatched_rev_ = std::max(dispatched_rev_, r.rev);
  AnswerProgressLocked();
}

void WatchHub::SendEventsLocked(Watcher* w, const std::string& header,
                                const std::vector<std::string_view>& ev) {
  w->sent_since_progress = true;
  WatchSink* sink = w->stream->sink.get();
  size_t limit = options_.max_fragment_bytes;
  if (!w->fragment || ev.size() < 2 ||
      EventsResponseSize(header, w->id, ev, 0, ev.size(), false) < limit) {
    if (!sink->Send(EncodeEventsResponse(header, w->id, ev, false)).ok()) {
      StreamBrokenLocked(w->stream);
    }
    return;
  }
  // etcd's sendFragments: fill each part while it stays under the limit (at least one event per
  // part); every part but the last has fragment=true.
  size_t idx = 0;
  std::vector<std::string_view> part;
  while (idx < ev.size()) {
    part.clear();
    size_t size = EventsResponseSize(header, w->id, ev, 0, 0, true);
    while (idx < ev.size()) {
      size_t add = EventFieldSize(ev[idx].size());
      if (!part.empty() && size + add >= limit) break;
      part.push_back(ev[idx]);
      size += add;
      ++idx;
    }
    if (!sink->Send(EncodeEventsResponse(header, w->id, part, idx < ev.size())).ok()) {
      StreamBrokenLocked(w->stream);
      return;
    }
  }
}

void WatchHub::StreamBrokenLocked(Stream* s) {
  // The stream is finished (client gone, or reset for holding too many bytes): stop matching
  // its watchers now rather than when the transport reports the end.
  for (auto& [id, w] : s->watchers) DetachLocked(w.get());
}

void WatchHub::SendControlLocked(Stream* s, const etcdserverpb::WatchResponse& resp) {
  (void)s->sink->Send(resp.SerializeAsString());
}

// ---------------------------------------------------------------------------------------------
// Group membership.

void WatchHub::MoveToUnsyncedLocked(Watcher* w, int64_t min_rev) {
  if (w->state == Watcher::State::kSynced) synced_.Remove(w->range, w);
  if (w->state != Watcher::State::kUnsynced) unsynced_.Add(w->range, w);
  w->state = Watcher::State::kUnsynced;
  w->min_rev = min_rev;
  ++w->gen;
  catch_up_cv_.notify_one();
}

void WatchHub::MoveToSyncedLocked(Watcher* w) {
  if (w->state == Watcher::State::kUnsynced) unsynced_.Remove(w->range, w);
  if (w->state != Watcher::State::kSynced) synced_.Add(w->range, w);
  w->state = Watcher::State::kSynced;
  ++w->gen;
}

void WatchHub::DetachLocked(Watcher* w) {
  if (w->state == Watcher::State::kSynced) synced_.Remove(w->range, w);
  if (w->state == Watcher::State::kUnsynced) unsynced_.Remove(w->range, w);
  if (w->state != Watcher::State::kDone) {
    if (w->prev_kv) prev_kv_watchers_.fetch_sub(1, std::memory_order_relaxed);
    progress_watchers_.erase(w);
  }
  w->state = Watcher::State::kDone;
  ++w->gen;
}

// ---------------------------------------------------------------------------------------------
// Streams.

WatchHub::StreamId WatchHub::OpenStream(std::shared_ptr<WatchSink> sink,
                                        LeaderRequirement leader) {
  std::lock_guard<std::mutex> l(mu_);
  auto s = std::make_unique<Stream>();
  s->id = next_stream_id_++;
  s->sink = std::move(sink);
  s->leader = leader;
  StreamId id = s->id;
  streams_.emplace(id, std::move(s));
  return id;
}

void WatchHub::CloseStream(StreamId stream) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = streams_.find(stream);
  if (it == streams_.end()) return;
  for (auto& [id, w] : it->second->watchers) DetachLocked(w.get());
  streams_.erase(it);
}

void WatchHub::Create(StreamId stream, const etcdserverpb::WatchCreateRequest& req) {
  KeyRange range;
  // etcd's WatchServer: an empty key means "\0", the smallest key; range_end "\0" means every
  // key ≥ key; any other non-empty range_end is [key, range_end).
  range.key = req.key().empty() ? std::string(1, '\0') : req.key();
  if (req.range_end() == std::string_view("\0", 1)) {
    range.from_key = true;
  } else {
    range.end = req.range_end();
  }
  std::lock_guard<std::mutex> l(mu_);
  auto it = streams_.find(stream);
  if (it == streams_.end()) return;
  Stream* s = it->second.get();
  // Not current_rev(): a write acknowledged before its commit finished must not reach a watcher
  // created after the client saw the answer.
  int64_t wsrev = store_->acknowledged_rev();

  etcdserverpb::WatchResponse resp;
  FillHeader(resp.mutable_header(), wsrev);
  resp.set_created(true);
  auto fail = [&](std::string_view reason) {
    resp.set_watch_id(kInvalidWatchId);
    resp.set_canceled(true);
    resp.set_cancel_reason(std::string(reason));
    SendControlLocked(s, resp);
  };
  if (!range.end.empty() && range.key >= range.end) return fail(kErrEmptyWatcherRange);
  int64_t id = req.watch_id();
  if (id == 0) {  // clientv3.AutoWatchID
    while (s->watchers.count(s->next_id) != 0) ++s->next_id;
    id = s->next_id++;
  } else if (s->watchers.count(id) != 0) {
    return fail(kErrDuplicateWatchId);
  }

  auto w = std::make_shared<Watcher>();
  w->id = id;
  w->stream = s;
  w->range = std::move(range);
  for (int f : req.filters()) {
    if (f == etcdserverpb::WatchCreateRequest::NOPUT) w->no_put = true;
    if (f == etcdserverpb::WatchCreateRequest::NODELETE) w->no_delete = true;
  }
  w->prev_kv = req.prev_kv();
  w->progress_notify = req.progress_notify();
  w->fragment = req.fragment();
  // 0 means "from the next revision"; etcd has no meaning for negative starts, read them as
  // "from the beginning of history".
  int64_t start = req.start_revision();
  w->min_rev = start == 0 ? wsrev + 1 : std::max<int64_t>(start, 1);
  Watcher* wp = w.get();
  s->watchers.emplace(id, std::move(w));
  if (wp->prev_kv) prev_kv_watchers_.fetch_add(1, std::memory_order_relaxed);
  if (wp->progress_notify) progress_watchers_.insert(wp);

  resp.set_watch_id(id);
  SendControlLocked(s, resp);  // before any event of the watcher: both happen under mu_
  // A start below the compaction goes to catch-up even while its revisions are still queued in
  // memory, so that the client gets etcd's compaction answer.
  if (wp->min_rev > dispatched_rev_ && wp->min_rev >= store_->compact_rev()) {
    wp->state = Watcher::State::kSynced;
    synced_.Add(wp->range, wp);
  } else {
    wp->state = Watcher::State::kUnsynced;
    unsynced_.Add(wp->range, wp);
    catch_up_cv_.notify_one();
  }
}

void WatchHub::Cancel(StreamId stream, int64_t watch_id) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = streams_.find(stream);
  if (it == streams_.end()) return;
  Stream* s = it->second.get();
  auto wit = s->watchers.find(watch_id);
  if (wit == s->watchers.end()) return;
  DetachLocked(wit->second.get());
  s->watchers.erase(wit);
  etcdserverpb::WatchResponse resp;
  FillHeader(resp.mutable_header(), store_->acknowledged_rev());
  resp.set_watch_id(watch_id);
  resp.set_canceled(true);
  SendControlLocked(s, resp);
}

void WatchHub::RequestProgress(StreamId stream) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = streams_.find(stream);
  if (it == streams_.end()) return;
  // etcd 3.4 answers with the store's current revision. The answer waits until the dispatcher
  // has sent that revision to the synced watchers, so that the client may trust it as "all
  // events up to here have been delivered" (what Kubernetes relies on). Acknowledged, not just
  // committed: the client may already know a revision whose commit is still running.
  int64_t target = store_->acknowledged_rev();
  if (target <= dispatched_rev_) {
    SendProgressLocked(it->second.get(), target);
  } else {
    pending_progress_.push_back({stream, target});
  }
}

void WatchHub::SendProgressLocked(Stream* s, int64_t rev) {
  etcdserverpb::WatchResponse resp;
  FillHeader(resp.mutable_header(), rev);
  resp.set_watch_id(kInvalidWatchId);
  SendControlLocked(s, resp);
}

void WatchHub::AnswerProgressLocked() {
  while (!pending_progress_.empty() && pending_progress_.front().second <= dispatched_rev_) {
    auto [stream, rev] = pending_progress_.front();
    pending_progress_.pop_front();
    auto it = streams_.find(stream);
    if (it != streams_.end()) SendProgressLocked(it->second.get(), rev);
  }
}

void WatchHub::OnLeaderLost() {
  std::lock_guard<std::mutex> l(mu_);
  for (auto it = streams_.begin(); it != streams_.end();) {
    Stream* s = it->second.get();
    if (s->leader != LeaderRequirement::kRequireLeader) {
      ++it;
      continue;
    }
    for (auto& [id, w] : s->watchers) DetachLocked(w.get());
    s->sink->Finish(Unavailable(std::string(kErrNoLeader)));
    it = streams_.erase(it);
  }
}

WatchHub::Stats WatchHub::GetStats() const {
  std::lock_guard<std::mutex> l(mu_);
  Stats st = stats_;
  st.streams = streams_.size();
  st.synced = synced_.size();
  st.unsynced = unsynced_.size();
  st.dispatched_rev = dispatched_rev_;
  return st;
}

// ---------------------------------------------------------------------------------------------
// Catch-up thread.

void WatchHub::CatchUpLoop() {
  using Clock = std::chrono::steady_clock;
  Clock::time_point next_progress = Clock::now() + options_.progress_notify_interval;
  for (;;) {
    bool work = false;
    {
      std::unique_lock<std::mutex> l(mu_);
      if (stop_) return;
      // Wake for new unsynced watchers at once; retry blocked ones (their client had not
      // drained) after the retry interval; tick progress notifications on time.
      Clock::time_point wake = next_progress;
      if (!unsynced_.empty()) wake = std::min(wake, Clock::now() + options_.catch_up_retry_interval);
      catch_up_cv_.wait_until(l, wake);
      if (stop_) return;
      if (Clock::now() >= next_progress) {
        ProgressTickLocked();
        next_progress = Clock::now() + options_.progress_notify_interval;
      }
      work = !unsynced_.empty();
    }
    // Keep going while rounds make progress, without waiting between them.
    while (work) {
      work = CatchUpRound();
      std::lock_guard<std::mutex> l(mu_);
      if (stop_) return;
    }
  }
}

void WatchHub::ProgressTickLocked() {
  // etcd 3.4: a watcher created with progress_notify gets an empty response carrying the
  // revision each interval in which it was sent no events, if it is synced.
  for (Watcher* w : progress_watchers_) {
    if (w->state == Watcher::State::kSynced && !w->sent_since_progress) {
      etcdserverpb::WatchResponse resp;
      FillHeader(resp.mutable_header(), dispatched_rev_);
      resp.set_watch_id(w->id);
      SendControlLocked(w->stream, resp);
    }
    w->sent_since_progress = false;
  }
}

bool WatchHub::CatchUpRound() {
  struct Entry {
    std::shared_ptr<Watcher> w;
    uint64_t gen;
    int64_t min_rev;
  };
  std::vector<Entry> snapshot;
  bool any_prev_kv = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    ++stats_.catch_up_rounds;
    unsynced_.ForEach([&](Watcher* w) {
      if (w->stream->sink->pending_bytes() > options_.max_stream_pending_bytes) return;
      snapshot.push_back({w->stream->watchers.at(w->id), w->gen, w->min_rev});
      any_prev_kv = any_prev_kv || w->prev_kv;
    });
  }
  if (snapshot.empty()) return false;

  // Read history outside the lock: the dispatcher and the streams go on meanwhile.
  auto view = store_->Read();
  if (!view.ok()) return false;  // retried after the retry interval
  int64_t cur = view->rev();
  int64_t compact = view->compact_rev();
  int64_t from = INT64_MAX;
  for (const Entry& e : snapshot) {
    if (e.min_rev >= compact) from = std::min(from, e.min_rev);
  }
  std::vector<mvcc::Event> events;
  int64_t covered = cur;
  if (from <= cur) {
    size_t bytes = 0;
    auto next = view->History(from, cur, options_.catch_up_batch_events,
                              [&](const mvcc::Event& ev) {
                                events.push_back(ev);
                                bytes += EventBytes(ev);
                                return bytes < options_.catch_up_batch_bytes;
                              });
    if (!next.ok()) return false;
    covered = std::min(*next - 1, cur);
    // A revision cut short by the byte bound is read again next round.
    while (!events.empty() && events.back().kv.mod_revision > covered) events.pop_back();
    if (any_prev_kv) {
      for (mvcc::Event& ev : events) {
        if (IsCreate(ev) || ev.prev_kv) continue;
        auto r = view->Range(ev.kv.key, "", {.limit = 1, .rev = ev.kv.mod_revision - 1});
        if (r.ok() && !r->kvs.empty()) ev.prev_kv = std::move(r->kvs.front());
      }
    }
  }

  std::lock_guard<std::mutex> l(mu_);
  ++stamp_;
  bool progressed = false;  // some watcher was sent events, moved on or stopped
  std::vector<Watcher*> live;
  for (const Entry& e : snapshot) {
    Watcher* w = e.w.get();
    if (w->state != Watcher::State::kUnsynced || w->gen != e.gen) continue;
    if (w->min_rev < compact) {
      // etcd: the watcher's next revision is gone; report the compaction and stop it. Its id
      // stays taken until the client cancels it.
      etcdserverpb::WatchResponse resp;
      FillHeader(resp.mutable_header(), 0);  // etcd leaves the revision unset here
      resp.set_watch_id(w->id);
      resp.set_compact_revision(compact);
      resp.set_canceled(true);
      SendControlLocked(w->stream, resp);
      DetachLocked(w);
      progressed = true;
      continue;
    }
    w->stamp = stamp_;
    w->matched.clear();
    live.push_back(w);
  }
  for (uint32_t i = 0; i < events.size(); ++i) {
    unsynced_.Match(events[i].kv.key, [&](Watcher* w) {
      if (w->stamp == stamp_) w->matched.push_back(i);
    });
  }
  std::vector<std::string> encoded;
  std::vector<std::string_view> part;
  for (Watcher* w : live) {
    if (w->state != Watcher::State::kUnsynced) continue;  // its stream broke in this loop
    // Send whole revisions, splitting the response at revision boundaries past
    // catch_up_response_bytes.
    encoded.clear();
    part.clear();
    std::vector<int64_t> revs;
    for (uint32_t i : w->matched) {
      const mvcc::Event& ev = events[i];
      if (!Wanted(*w, ev)) continue;
      encoded.emplace_back();
      AppendEvent(ev, w->prev_kv, &encoded.back());
      revs.push_back(ev.kv.mod_revision);
    }
    size_t bytes = 0;
    for (size_t i = 0; i < encoded.size(); ++i) {
      part.push_back(encoded[i]);
      bytes += encoded[i].size();
      bool last = i + 1 == encoded.size();
      if (last) {
        SendEventsLocked(w, HeaderBytes(covered), part);
      } else if (bytes >= options_.catch_up_response_bytes && revs[i + 1] != revs[i]) {
        SendEventsLocked(w, HeaderBytes(revs[i]), part);
        part.clear();
        bytes = 0;
      }
    }
    if (w->state != Watcher::State::kUnsynced) continue;  // the stream broke while sending
    if (covered + 1 > w->min_rev) {
      w->min_rev = covered + 1;
      progressed = true;
    }
    ++w->gen;
    // Everything below min_rev has been sent; everything the dispatcher has not yet dispatched
    // will reach it from memory.
    if (w->min_rev > dispatched_rev_) {
      MoveToSyncedLocked(w);
      progressed = true;
    }
  }
  // A watcher can be stuck only behind revisions dispatched from memory but not committed yet;
  // the caller then waits a retry interval instead of re-reading the store at once.
  return progressed;
}

}  // namespace etcdpp::watch
