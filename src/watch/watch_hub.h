// WatchHub: every watcher of the server, and the delivery of applied changes to them.
//
// Model (etcd's mvcc/watchable_store.go, re-done for one writer and non-blocking streams):
//  - A watcher is *synced* when it has been sent every matching change up to the last revision
//    the hub dispatched (dispatched_rev); synced watchers get new revisions from memory.
//  - A watcher is *unsynced* when it starts in the past, or fell behind because its stream's
//    client is not reading (pending bytes over max_stream_pending_bytes). Unsynced watchers are
//    caught up from the store's history (ReadView::History) in bounded batches by the catch-up
//    thread, then rejoin the synced group. The history is the buffer: a slow client costs
//    memory for at most one catch-up batch, never for every revision it missed.
//  - A watcher whose next revision has been compacted away gets a response with
//    compact_revision set and canceled=true, and stops (its id stays reserved on its stream
//    until the client cancels it, as in etcd).
//
// Ordering contract (per watcher): responses carry revisions in increasing order, each revision
// whole (split only by `fragment`), events of a revision in the order the transaction made them
// (key order for a range delete); no revision is skipped or sent twice. Every response of a
// watcher goes out while holding mu_, and a watcher is in exactly one of synced/unsynced, so
// the dispatcher and the catch-up thread never race on one watcher.
//
// Threads:
//  - Publish(), NeedsPrevKv(): the apply thread. Publish is O(1) (queues the revision); it never
//    waits on clients or I/O. If the queue is over its bound (the dispatcher is stalled), the
//    revision is dropped from memory and every synced watcher is moved to catch-up, which reads
//    the revision from the store instead.
//  - OpenStream/Create/Cancel/RequestProgress/CloseStream: loop threads (any thread).
//  - The dispatcher thread matches queued revisions against synced watchers (WatcherIndex:
//    hash for keys, interval tree for ranges) and sends.
//  - The catch-up thread serves unsynced watchers from history and sends progress
//    notifications.
// All methods are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/status.h"
#include "etcdserverpb/rpc.pb.h"
#include "mvcc/key_value.h"
#include "mvcc/store.h"
#include "watch/watcher_index.h"

namespace etcdpp::watch {

// etcd's error texts (mvcc/watcher.go, rpctypes), sent as cancel_reason or status.
inline constexpr std::string_view kErrDuplicateWatchId =
    "mvcc: duplicate watch ID provided on the WatchStream";
inline constexpr std::string_view kErrEmptyWatcherRange = "mvcc: watcher range is empty";
inline constexpr std::string_view kErrNoLeader = "etcdserver: no leader";
// clientv3.InvalidWatchID: the id of responses that belong to no watcher.
inline constexpr int64_t kInvalidWatchId = -1;

// Where one watch stream's responses go (a gRPC stream in the server, a recorder in tests).
// Thread-safe; Send must not block.
class WatchSink {
 public:
  virtual ~WatchSink() = default;
  // Queues one serialized etcdserverpb.WatchResponse. Non-OK: the stream is gone.
  virtual Status Send(std::string response) = 0;
  // Bytes queued that the client has not taken yet.
  virtual size_t pending_bytes() const = 0;
  // Ends the stream with an error status (etcd: `etcdserver: no leader`).
  virtual void Finish(const Status& status) = 0;
};

struct WatchHubOptions {
  // etcd's --experimental-watch-progress-notify-interval; default 10 minutes as etcd's
  // progressReportInterval. Tests make it short.
  std::chrono::milliseconds progress_notify_interval{10 * 60 * 1000};
  // With `fragment`, a response is split so that each part stays under this size: etcd's
  // --max-request-bytes (default 1.5 MiB) plus its 512 KiB gRPC overhead allowance.
  size_t max_fragment_bytes = 1572864 + 512 * 1024;
  // A stream with more bytes than this queued for its client is "slow": its watchers stop
  // receiving from memory and are caught up from history once it drains. 1 MiB keeps a few
  // hundred typical Kubernetes events in flight per stream, well under the transport's hard
  // 8 MiB limit (http::kMaxStreamPendingBytes) where the stream would be reset.
  size_t max_stream_pending_bytes = 1 << 20;
  // One catch-up round reads at most this many events / bytes of history (whole revisions
  // only), bounding the memory of catch-up; etcd reads up to 1000 revisions per round.
  size_t catch_up_batch_events = 1000;
  size_t catch_up_batch_bytes = 1 << 20;
  // A caught-up response is split at revision boundaries past this many bytes, so that no
  // client (python grpc accepts 4 MiB by default) gets a giant message from history.
  size_t catch_up_response_bytes = 1 << 20;
  // Revisions queued between Publish and the dispatcher: count and bytes. Beyond them the hub
  // drops revisions from memory and catches everyone up from history (see Publish).
  size_t max_queued_revisions = 10000;
  size_t max_queued_bytes = 64 << 20;
  // How often the catch-up thread retries watchers whose stream is still over the pending
  // bound (there is no "drained" notification from the transport).
  std::chrono::milliseconds catch_up_retry_interval{10};
  // Fills cluster_id, member_id and raft_term of a response header for `revision`.
  // Default: zeros (tests).
  std::function<void(etcdserverpb::ResponseHeader*, int64_t revision)> fill_header;
  // Runs `dispatch` (the dispatcher sending one batch of revisions to the synced watchers) on
  // the calling thread; the server wraps it so that the transport wakes each loop once per
  // batch (net::EventLoop::WakeBatch). Default: runs it as it is.
  std::function<void(const std::function<void()>& dispatch)> around_dispatch;
};

enum class LeaderRequirement { kNone, kRequireLeader };

class WatchHub {
 public:
  using StreamId = uint64_t;

  // `store` must outlive the hub. Starts the dispatcher and catch-up threads.
  WatchHub(const mvcc::Store* store, WatchHubOptions options);
  ~WatchHub();  // Stop()
  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  // Stops the threads; later calls are no-ops. Streams are not finished.
  void Stop();

  // --- apply thread ---

  // Hands over the changes of one revision (TxnWrite::End() of an applied transaction).
  // REQUIRES: the revision is final (durable in the log and acknowledged: Store::
  // acknowledged_rev() covers it), though its batch may not have committed yet; revisions are
  // published in increasing order. Empty `events` is ignored. Synced watchers get it from
  // memory; catch-up reads only committed history, so an unsynced watcher whose next revision
  // is not committed yet waits for the commit (retrying every catch_up_retry_interval).
  void Publish(std::vector<mvcc::Event> events);
  // The same for the concatenated events of several revisions (one applied batch, in revision
  // order): what KvStateMachine's EventSink hands over.
  void PublishBatch(std::vector<mvcc::Event>&& events);
  // True iff some watcher wants prev_kv: pass to WriteBatchOptions::collect_prev_kv. Events that
  // lack a prev_kv a watcher needs (the flag was read before the watcher existed) are served
  // from history instead, so a stale answer costs time, never correctness.
  bool NeedsPrevKv() const { return prev_kv_watchers_.load(std::memory_order_relaxed) > 0; }

  // --- streams (any thread) ---

  StreamId OpenStream(std::shared_ptr<WatchSink> sink, LeaderRequirement leader);
  // Drops every watcher of the stream. Idempotent.
  void CloseStream(StreamId stream);
  // Handles a WatchCreateRequest: sends the created response (or created+canceled with etcd's
  // reason), then events.
  void Create(StreamId stream, const etcdserverpb::WatchCreateRequest& request);
  // Handles a WatchCancelRequest: canceled response iff the watcher exists (etcd ignores
  // unknown ids).
  void Cancel(StreamId stream, int64_t watch_id);
  // Handles a WatchProgressRequest as etcd 3.4 does: a response with watch_id -1, no events,
  // and the store's current revision, sent once that revision has been dispatched.
  void RequestProgress(StreamId stream);

  // The member lost its leader: finishes every stream opened with kRequireLeader with
  // Unavailable "etcdserver: no leader" (etcd's interceptor does this for hasleader=true).
  void OnLeaderLost();

  struct Stats {
    size_t streams = 0;
    size_t synced = 0;
    size_t unsynced = 0;
    int64_t dispatched_rev = 0;
    uint64_t slow_moves = 0;       // watchers moved to catch-up because their client lagged
    uint64_t overflow_drops = 0;   // revisions dropped from the dispatch queue
    uint64_t catch_up_rounds = 0;
  };
  Stats GetStats() const;

 private:
  struct Stream;
  struct Watcher {
    int64_t id = 0;
    Stream* stream = nullptr;
    KeyRange range;
    bool no_put = false;
    bool no_delete = false;
    bool prev_kv = false;
    bool progress_notify = false;
    bool fragment = false;
    // The next revision this watcher must receive.
    int64_t min_rev = 0;
    enum class State { kSynced, kUnsynced, kDone } state = State::kSynced;
    // Bumped whenever min_rev or state changes; catch-up snapshots compare it.
    uint64_t gen = 0;
    // Cleared by each progress tick; set by any event response.
    bool sent_since_progress = false;
    // Dispatcher/catch-up scratch: stamp of the round that last matched, and the matched event
    // indexes of that round.
    uint64_t stamp = 0;
    std::vector<uint32_t> matched;
  };
  struct Stream {
    StreamId id = 0;
    std::shared_ptr<WatchSink> sink;
    LeaderRequirement leader = LeaderRequirement::kNone;
    std::unordered_map<int64_t, std::shared_ptr<Watcher>> watchers;
    int64_t next_id = 0;
    bool slow_logged = false;  // logged its first slow episode
  };
  // One published revision waiting for the dispatcher.
  struct Revision {
    int64_t rev = 0;
    std::vector<mvcc::Event> events;
    size_t bytes = 0;
  };
  // Encoded forms of one revision's events, built lazily once per revision.
  struct EncodedEvents {
    std::vector<std::string> plain;
    std::vector<std::string> with_prev;
  };

  void Enqueue(std::vector<Revision> revs);
  void EnqueueLocked(Revision r);  // REQUIRES: queue_mu_ held
  void DispatchLoop();
  void CatchUpLoop();
  // REQUIRES: mu_ held.
  void DispatchLocked(const Revision& r);
  // One bounded round of catch-up; returns true iff it moved some watcher forward.
  bool CatchUpRound();
  void ProgressTickLocked();
  void SendProgressLocked(Stream* s, int64_t rev);
  // Answers the progress requests whose revision has been dispatched.
  void AnswerProgressLocked();
  // Marks `revs` dispatched at once if no watcher exists; needs queue_mu_ held and the queue
  // empty. False if there are watchers.
  bool DispatchWithoutWatchers(const std::vector<Revision>& revs);
  void MoveToUnsyncedLocked(Watcher* w, int64_t min_rev);
  void MoveToSyncedLocked(Watcher* w);
  void DetachLocked(Watcher* w);  // out of its group; state kDone
  void StreamBrokenLocked(Stream* s);
  // Sends one event response, fragmented if the watcher asked for it. `header`: serialized
  // ResponseHeader.
  void SendEventsLocked(Watcher* w, const std::string& header,
                        const std::vector<std::string_view>& ev);
  void SendControlLocked(Stream* s, const etcdserverpb::WatchResponse& resp);
  std::string HeaderBytes(int64_t rev) const;
  void FillHeader(etcdserverpb::ResponseHeader* h, int64_t rev) const;
  bool Wanted(const Watcher& w, const mvcc::Event& ev) const;
  static bool IsCreate(const mvcc::Event& ev);

  const mvcc::Store* const store_;
  const WatchHubOptions options_;

  // Publish → dispatcher queue.
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Revision> queue_;          // guarded by queue_mu_
  size_t queue_bytes_ = 0;              // guarded by queue_mu_
  int64_t overflow_from_rev_ = 0;       // first dropped revision, 0 if none; queue_mu_
  int64_t published_rev_ = 0;           // last revision given to Publish; queue_mu_

  // Watchers and streams.
  mutable std::mutex mu_;
  std::condition_variable catch_up_cv_;
  std::unordered_map<StreamId, std::unique_ptr<Stream>> streams_;  // guarded by mu_
  StreamId next_stream_id_ = 1;                                     // mu_
  WatcherIndex<Watcher> synced_;                                    // mu_
  WatcherIndex<Watcher> unsynced_;                                  // mu_
  std::unordered_set<Watcher*> progress_watchers_;                  // mu_
  // Every revision ≤ dispatched_rev_ has been sent to the synced watchers it matches.
  int64_t dispatched_rev_ = 0;  // mu_
  uint64_t stamp_ = 0;          // mu_
  // Progress requests waiting for their revision to be dispatched, in revision order.
  std::deque<std::pair<StreamId, int64_t>> pending_progress_;  // mu_
  Stats stats_;                 // mu_ (counters part)
  bool stop_ = false;           // mu_ and queue_mu_

  std::atomic<int64_t> prev_kv_watchers_{0};
  std::thread dispatcher_;
  std::thread catch_up_;
};

}  // namespace etcdpp::watch
