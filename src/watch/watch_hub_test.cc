// WatchHub against a real mvcc::Store on a temporary LMDB environment. Responses are recorded
// by a sink that parses them with the generated protobuf classes. Waits are on conditions with
// a generous deadline that only decides when to give up.
#include "watch/watch_hub.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <random>
#include <thread>

#include "mvcc/store_test_util.h"

namespace etcdpp::watch {
namespace {

using etcdserverpb::WatchCreateRequest;
using etcdserverpb::WatchResponse;
using mvcc::testing::TempStore;

constexpr auto kGiveUp = std::chrono::seconds(20);

class RecordingSink : public WatchSink {
 public:
  Status Send(std::string bytes) override {
    WatchResponse r;
    EXPECT_TRUE(r.ParseFromString(bytes));
    std::lock_guard<std::mutex> l(mu_);
    msgs_.push_back(std::move(r));
    cv_.notify_all();
    return Status::Ok();
  }
  size_t pending_bytes() const override { return pending_.load(); }
  void Finish(const Status& status) override {
    std::lock_guard<std::mutex> l(mu_);
    finished_ = status;
    cv_.notify_all();
  }

  void set_pending(size_t n) { pending_ = n; }
  std::vector<WatchResponse> msgs() const {
    std::lock_guard<std::mutex> l(mu_);
    return msgs_;
  }
  std::optional<Status> finished() const {
    std::lock_guard<std::mutex> l(mu_);
    return finished_;
  }
  // Waits until pred(messages) holds; false on giving up.
  bool WaitFor(const std::function<bool(const std::vector<WatchResponse>&)>& pred) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, kGiveUp, [&] { return pred(msgs_); });
  }
  // Every event sent to `watch_id`, in order (fragments joined).
  std::vector<mvccpb::Event> Events(int64_t watch_id) const {
    std::vector<mvccpb::Event> out;
    for (const auto& m : msgs()) {
      if (m.watch_id() != watch_id) continue;
      for (const auto& e : m.events()) out.push_back(e);
    }
    return out;
  }
  bool WaitEvents(int64_t watch_id, size_t n) {
    return WaitFor([&](const std::vector<WatchResponse>& ms) {
      size_t c = 0;
      for (const auto& m : ms) {
        if (m.watch_id() == watch_id) c += static_cast<size_t>(m.events_size());
      }
      return c >= n;
    });
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<WatchResponse> msgs_;
  std::optional<Status> finished_;
  std::atomic<size_t> pending_{0};
};

// Polls `pred` until it holds; false when giving up. For states that send nothing when reached.
bool Eventually(const std::function<bool()>& pred) {
  auto deadline = std::chrono::steady_clock::now() + kGiveUp;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return pred();
}

WatchCreateRequest Req(std::string key, std::string end = "", int64_t start = 0) {
  WatchCreateRequest r;
  r.set_key(std::move(key));
  r.set_range_end(std::move(end));
  r.set_start_revision(start);
  return r;
}

class HubTest : public ::testing::Test {
 protected:
  void SetUp() override { Reset({}); }
  void Reset(WatchHubOptions o) {
    hub_.reset();
    o.catch_up_retry_interval = std::chrono::milliseconds(1);
    o.fill_header = [](etcdserverpb::ResponseHeader* h, int64_t) {
      h->set_cluster_id(1);
      h->set_member_id(2);
      h->set_raft_term(3);
    };
    hub_ = std::make_unique<WatchHub>(&ts_.store(), o);
  }

  // One revision in one committed batch, published as the apply thread does.
  int64_t Txn(const std::function<void(mvcc::TxnWrite&)>& fn) {
    bool prev = hub_->NeedsPrevKv();
    auto b = ts_.store().Write({.collect_prev_kv = prev});
    EXPECT_TRUE(b.ok());
    mvcc::TxnWrite t = b->BeginTxn();
    fn(t);
    auto events = t.End();
    EXPECT_TRUE(b->Commit().ok());
    int64_t rev = ts_.store().current_rev();
    hub_->Publish(std::move(events));
    return rev;
  }
  int64_t Put(std::string k, std::string v) {
    return Txn([&](mvcc::TxnWrite& t) { ASSERT_TRUE(t.Put(k, v, LeaseId(0)).ok()); });
  }
  int64_t Del(std::string k, std::string end = "") {
    return Txn([&](mvcc::TxnWrite& t) { ASSERT_TRUE(t.DeleteRange(k, end).ok()); });
  }

  std::pair<std::shared_ptr<RecordingSink>, WatchHub::StreamId> Open(
      LeaderRequirement l = LeaderRequirement::kNone) {
    auto sink = std::make_shared<RecordingSink>();
    return {sink, hub_->OpenStream(sink, l)};
  }

  TempStore ts_;
  std::unique_ptr<WatchHub> hub_;
};

std::vector<std::string> Keys(const std::vector<mvccpb::Event>& evs) {
  std::vector<std::string> out;
  for (const auto& e : evs) {
    out.push_back((e.type() == mvccpb::Event::DELETE ? "-" : "+") + e.kv().key() + "@" +
                  std::to_string(e.kv().mod_revision()));
  }
  return out;
}

TEST_F(HubTest, CreatedThenMatchingEventsOnly) {
  Put("x", "0");  // rev 2
  auto [sink, s] = Open();
  hub_->Create(s, Req("a"));
  hub_->Create(s, Req("p/", "p0"));                        // prefix p/
  hub_->Create(s, Req("m", std::string(1, '\0')));         // from key m
  Put("a", "1");     // 3
  Put("b", "1");     // 4
  Put("p/1", "1");   // 5
  Put("p0", "1");    // 6
  Del("a");          // 7
  ASSERT_TRUE(sink->WaitEvents(0, 2));
  ASSERT_TRUE(sink->WaitEvents(1, 1));
  ASSERT_TRUE(sink->WaitEvents(2, 2));
  auto msgs = sink->msgs();
  ASSERT_GE(msgs.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(msgs[i].created());
    EXPECT_EQ(msgs[i].watch_id(), i);  // auto ids from 0
    EXPECT_EQ(msgs[i].header().revision(), 2);
    EXPECT_EQ(msgs[i].header().cluster_id(), 1u);
  }
  EXPECT_EQ(Keys(sink->Events(0)), (std::vector<std::string>{"+a@3", "-a@7"}));
  EXPECT_EQ(Keys(sink->Events(1)), (std::vector<std::string>{"+p/1@5"}));
  EXPECT_EQ(Keys(sink->Events(2)), (std::vector<std::string>{"+p/1@5", "+p0@6"}));
  // One response per revision, header revision = that revision.
  for (const auto& m : sink->msgs()) {
    if (m.events_size() > 0) {
      EXPECT_EQ(m.header().revision(), m.events(0).kv().mod_revision());
    }
  }
  auto e = sink->Events(0);
  EXPECT_EQ(e[0].kv().value(), "1");
  EXPECT_EQ(e[0].kv().version(), 1);
  EXPECT_EQ(e[0].kv().create_revision(), 3);
}

// The apply thread publishes revisions as soon as they are applied, before their batch commits:
// live watchers get them at once; a watcher catching up from history waits for the commit,
// then continues without a gap or a repeat.
TEST_F(HubTest, PublishedBeforeCommitReachesLiveWatchersAndCatchUpAfterTheCommit) {
  Put("a", "0");  // rev 2, committed
  auto [sink, s] = Open();
  hub_->Create(s, Req("a"));  // watch 0: live, from rev 3
  auto batch = ts_.store().Write({});
  ASSERT_TRUE(batch.ok());
  for (std::string v : {"1", "2"}) {  // revs 3 and 4, published uncommitted
    mvcc::TxnWrite t = batch->BeginTxn();
    ASSERT_TRUE(t.Put("a", v, LeaseId(0)).ok());
    std::vector<mvcc::Event> events = t.End();
    batch->Acknowledge();
    hub_->Publish(std::move(events));
  }
  ASSERT_TRUE(sink->WaitEvents(0, 2));
  hub_->Create(s, Req("a", "", 2));  // watch 1: from rev 2; history has only rev 2 so far
  ASSERT_TRUE(sink->WaitEvents(1, 1));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // catch-up retries meanwhile
  EXPECT_EQ(Keys(sink->Events(1)), (std::vector<std::string>{"+a@2"}));
  ASSERT_TRUE(batch->Commit().ok());
  ASSERT_TRUE(sink->WaitEvents(1, 3));
  Put("a", "3");  // rev 5: watch 1 is live again
  ASSERT_TRUE(sink->WaitEvents(1, 4));
  ASSERT_TRUE(sink->WaitEvents(0, 3));
  EXPECT_EQ(Keys(sink->Events(1)), (std::vector<std::string>{"+a@2", "+a@3", "+a@4", "+a@5"}));
  EXPECT_EQ(Keys(sink->Events(0)), (std::vector<std::string>{"+a@3", "+a@4", "+a@5"}));
}

TEST_F(HubTest, TxnEventsArriveTogetherInTxnOrder) {
  auto [sink, s] = Open();
  hub_->Create(s, Req("k", "l"));
  int64_t rev = Txn([](mvcc::TxnWrite& t) {
    ASSERT_TRUE(t.Put("k3", "v", LeaseId(0)).ok());
    ASSERT_TRUE(t.Put("k1", "v", LeaseId(0)).ok());
    ASSERT_TRUE(t.Put("k2", "v", LeaseId(0)).ok());
  });
  int64_t drev = Del("k1", "k4");  // a range delete: key order
  ASSERT_TRUE(sink->WaitEvents(0, 6));
  auto msgs = sink->msgs();
  ASSERT_EQ(msgs.size(), 3u);
  EXPECT_EQ(msgs[1].events_size(), 3);
  EXPECT_EQ(msgs[1].header().revision(), rev);
  EXPECT_EQ(msgs[2].events_size(), 3);
  EXPECT_EQ(Keys(sink->Events(0)),
            (std::vector<std::string>{"+k3@" + std::to_string(rev), "+k1@" + std::to_string(rev),
                                      "+k2@" + std::to_string(rev), "-k1@" + std::to_string(drev),
                                      "-k2@" + std::to_string(drev),
                                      "-k3@" + std::to_string(drev)}));
}

TEST_F(HubTest, Filters) {
  auto [sink, s] = Open();
  auto noput = Req("a");
  noput.add_filters(WatchCreateRequest::NOPUT);
  auto nodel = Req("a");
  nodel.add_filters(WatchCreateRequest::NODELETE);
  hub_->Create(s, noput);
  hub_->Create(s, nodel);
  Put("a", "1");
  Del("a");
  Put("a", "2");
  ASSERT_TRUE(sink->WaitEvents(1, 2));
  ASSERT_TRUE(sink->WaitEvents(0, 1));
  EXPECT_EQ(Keys(sink->Events(0)), (std::vector<std::string>{"-a@3"}));
  EXPECT_EQ(Keys(sink->Events(1)), (std::vector<std::string>{"+a@2", "+a@4"}));
  // A revision filtered out entirely sends nothing: 2 created + 1 + 2 event responses.
  EXPECT_EQ(sink->msgs().size(), 5u);
}

TEST_F(HubTest, PrevKvFromApplyAndFromHistory) {
  Put("a", "1");  // 2
  auto [sink, s] = Open();
  EXPECT_FALSE(hub_->NeedsPrevKv());
  auto r = Req("a");
  r.set_prev_kv(true);
  hub_->Create(s, r);
  EXPECT_TRUE(hub_->NeedsPrevKv());
  Put("a", "2");  // 3, collected by the batch
  // A batch that did not collect prev_kv (the flag was read before the watcher existed): the
  // watcher is served from history, which reads the previous value.
  auto b = ts_.store().Write();
  ASSERT_TRUE(b.ok());
  auto t = b->BeginTxn();
  ASSERT_TRUE(t.Put("a", "3", LeaseId(0)).ok());
  auto evs = t.End();
  ASSERT_TRUE(b->Commit().ok());
  hub_->Publish(std::move(evs));  // 4
  Del("a");                                              // 5
  Put("a", "new");                                       // 6: a create, no prev_kv
  ASSERT_TRUE(sink->WaitEvents(0, 4));
  auto e = sink->Events(0);
  ASSERT_EQ(e.size(), 4u);
  EXPECT_EQ(e[0].prev_kv().value(), "1");
  EXPECT_EQ(e[1].prev_kv().value(), "2");
  EXPECT_EQ(e[2].type(), mvccpb::Event::DELETE);
  EXPECT_EQ(e[2].prev_kv().value(), "3");
  EXPECT_FALSE(e[3].has_prev_kv());
  hub_->CloseStream(s);
  EXPECT_FALSE(hub_->NeedsPrevKv());
}

TEST_F(HubTest, StartRevisionReplaysHistoryThenLive) {
  for (int i = 0; i < 50; ++i) Put("k" + std::to_string(i % 7), std::to_string(i));  // 2..51
  auto [sink, s] = Open();
  hub_->Create(s, Req("k", "l", 10));
  for (int i = 50; i < 80; ++i) Put("k" + std::to_string(i % 7), std::to_string(i));  // ..81
  ASSERT_TRUE(sink->WaitEvents(0, 72));
  auto e = sink->Events(0);
  ASSERT_EQ(e.size(), 72u);
  for (size_t i = 0; i < e.size(); ++i) EXPECT_EQ(e[i].kv().mod_revision(), 10 + int64_t(i));
  EXPECT_TRUE(Eventually([&] { return hub_->GetStats().unsynced == 0; }));
  EXPECT_EQ(hub_->GetStats().synced, 1u);
}

TEST_F(HubTest, CompactedStartRevisionCancels) {
  for (int i = 0; i < 10; ++i) Put("a", std::to_string(i));  // 2..11
  ASSERT_TRUE(ts_.Compact(8).ok());
  auto [sink, s] = Open();
  hub_->Create(s, Req("a", "", 3));
  ASSERT_TRUE(sink->WaitFor([](const auto& ms) { return ms.size() >= 2; }));
  auto ms = sink->msgs();
  EXPECT_TRUE(ms[0].created());
  EXPECT_FALSE(ms[0].canceled());
  EXPECT_TRUE(ms[1].canceled());
  EXPECT_EQ(ms[1].compact_revision(), 8);
  EXPECT_EQ(ms[1].watch_id(), 0);
  // Still reserved until canceled, as in etcd; the cancel is answered.
  auto dup = Req("a");
  dup.set_watch_id(0);
  hub_->Cancel(s, 0);
  ASSERT_TRUE(sink->WaitFor([](const auto& ms) { return ms.size() >= 3; }));
  EXPECT_TRUE(sink->msgs()[2].canceled());
  // Watching from exactly the compaction revision works.
  hub_->Create(s, Req("a", "", 8));
  ASSERT_TRUE(sink->WaitEvents(1, 4));
  EXPECT_EQ(sink->Events(1).front().kv().mod_revision(), 8);
}

TEST_F(HubTest, WatchIdsDuplicatesAndCancel) {
  auto [sink, s] = Open();
  auto r = Req("a");
  r.set_watch_id(1);
  hub_->Create(s, r);
  hub_->Create(s, r);           // duplicate
  hub_->Create(s, Req("a"));    // auto: 0
  hub_->Create(s, Req("a"));    // auto: 2 (1 is taken)
  hub_->Create(s, Req("b", "a"));  // empty range
  hub_->Cancel(s, 1);
  hub_->Cancel(s, 42);  // unknown: no response
  auto ms = sink->msgs();
  ASSERT_EQ(ms.size(), 6u);
  EXPECT_EQ(ms[0].watch_id(), 1);
  EXPECT_TRUE(ms[1].created() && ms[1].canceled());
  EXPECT_EQ(ms[1].watch_id(), -1);
  EXPECT_EQ(ms[1].cancel_reason(), kErrDuplicateWatchId);
  EXPECT_EQ(ms[2].watch_id(), 0);
  EXPECT_EQ(ms[3].watch_id(), 2);
  EXPECT_EQ(ms[4].cancel_reason(), kErrEmptyWatcherRange);
  EXPECT_EQ(ms[4].watch_id(), -1);
  EXPECT_TRUE(ms[5].canceled());
  EXPECT_FALSE(ms[5].created());
  EXPECT_EQ(ms[5].watch_id(), 1);
  Put("a", "x");
  ASSERT_TRUE(sink->WaitEvents(2, 1));
  ASSERT_TRUE(sink->WaitEvents(0, 1));
  EXPECT_TRUE(sink->Events(1).empty());  // canceled
}

TEST_F(HubTest, WithoutWatchersPublishingDispatchesAtOnceAndLaterWatchersGetHistory) {
  auto [sink, s] = Open();  // a stream, but no watcher yet
  int64_t rev = 0;
  for (int i = 0; i < 5; ++i) {
    rev = Put("k" + std::to_string(i), "v");
    // Done on the publishing thread: nothing is left queued for the dispatcher.
    EXPECT_EQ(hub_->GetStats().dispatched_rev, rev);
  }
  hub_->RequestProgress(s);
  ASSERT_TRUE(sink->WaitFor([&](const auto& ms) {
    return !ms.empty() && ms.back().watch_id() == -1 && ms.back().header().revision() == rev;
  }));
  hub_->Create(s, Req("k", "l", 1));
  int64_t live = Put("k9", "v");
  ASSERT_TRUE(sink->WaitEvents(0, 6));
  EXPECT_EQ(Keys(sink->Events(0)),
            (std::vector<std::string>{"+k0@2", "+k1@3", "+k2@4", "+k3@5", "+k4@6",
                                      "+k9@" + std::to_string(live)}));
}

TEST_F(HubTest, ProgressRequestAndNotify) {
  WatchHubOptions o;
  o.progress_notify_interval = std::chrono::milliseconds(20);
  Reset(o);
  Put("z", "1");
  auto [sink, s] = Open();
  auto r = Req("a");
  r.set_progress_notify(true);
  hub_->Create(s, r);
  int64_t rev = Put("q", "1");
  hub_->RequestProgress(s);
  // RequestProgress answers with the revision dispatched so far; wait for the notify instead.
  ASSERT_TRUE(sink->WaitFor([&](const auto& ms) {
    for (const auto& m : ms) {
      if (m.watch_id() == 0 && !m.created() && m.events_size() == 0 &&
          m.header().revision() == rev)
        return true;
    }
    return false;
  }));
  bool saw_request = false;
  for (const auto& m : sink->msgs()) {
    if (m.watch_id() == -1) {
      saw_request = true;
      EXPECT_EQ(m.events_size(), 0);
      EXPECT_EQ(m.header().revision(), rev);
    }
  }
  EXPECT_TRUE(saw_request);
}

TEST_F(HubTest, LeaderLostFinishesRequireLeaderStreamsOnly) {
  auto [a, sa] = Open(LeaderRequirement::kRequireLeader);
  auto [b, sb] = Open();
  hub_->Create(sa, Req("k"));
  hub_->Create(sb, Req("k"));
  hub_->OnLeaderLost();
  ASSERT_TRUE(a->finished().has_value());
  EXPECT_EQ(a->finished()->code(), Code::kUnavailable);
  EXPECT_EQ(a->finished()->message(), kErrNoLeader);
  EXPECT_FALSE(b->finished().has_value());
  Put("k", "v");
  ASSERT_TRUE(b->WaitEvents(0, 1));
  EXPECT_EQ(hub_->GetStats().streams, 1u);
}

TEST_F(HubTest, FragmentSplitsLargeRevision) {
  WatchHubOptions o;
  o.max_fragment_bytes = 1000;
  Reset(o);
  auto [sink, s] = Open();
  auto r = Req("f", "g");
  r.set_fragment(true);
  hub_->Create(s, r);
  hub_->Create(s, Req("f", "g"));  // the same without fragment
  std::string big(300, 'x');
  Txn([&](mvcc::TxnWrite& t) {
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(t.Put("f" + std::to_string(i), big, LeaseId(0)).ok());
  });
  ASSERT_TRUE(sink->WaitEvents(0, 10));
  ASSERT_TRUE(sink->WaitEvents(1, 10));
  std::vector<WatchResponse> parts;
  for (const auto& m : sink->msgs()) {
    if (m.watch_id() == 0 && m.events_size() > 0) parts.push_back(m);
  }
  ASSERT_GT(parts.size(), 1u);
  for (size_t i = 0; i < parts.size(); ++i) {
    EXPECT_EQ(parts[i].fragment(), i + 1 < parts.size());
    EXPECT_LT(parts[i].ByteSizeLong(), 1000u);
  }
  auto e = sink->Events(0);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(e[i].kv().key(), "f" + std::to_string(i));
  int whole = 0;
  for (const auto& m : sink->msgs()) {
    if (m.watch_id() == 1 && m.events_size() > 0) ++whole;
  }
  EXPECT_EQ(whole, 1);
}

TEST_F(HubTest, SlowConsumerIsBoundedThenCaughtUp) {
  WatchHubOptions o;
  o.max_stream_pending_bytes = 1000;
  o.catch_up_batch_events = 7;  // several catch-up rounds
  Reset(o);
  auto [slow, s1] = Open();
  auto [fast, s2] = Open();
  hub_->Create(s1, Req("k", "l"));
  hub_->Create(s2, Req("k", "l"));
  slow->set_pending(5000);  // the client stopped reading
  for (int i = 0; i < 100; ++i) Put("k" + std::to_string(i % 10), std::to_string(i));
  // The fast stream is not held up by the slow one.
  ASSERT_TRUE(fast->WaitEvents(0, 100));
  EXPECT_EQ(slow->Events(0).size(), 0u);
  auto st = hub_->GetStats();
  EXPECT_EQ(st.slow_moves, 1u);
  EXPECT_EQ(st.unsynced, 1u);
  slow->set_pending(0);  // it reads again
  ASSERT_TRUE(slow->WaitEvents(0, 100));
  for (int i = 100; i < 120; ++i) Put("k" + std::to_string(i % 10), std::to_string(i));
  ASSERT_TRUE(slow->WaitEvents(0, 120));
  ASSERT_TRUE(fast->WaitEvents(0, 120));
  EXPECT_EQ(Keys(slow->Events(0)), Keys(fast->Events(0)));
  EXPECT_EQ(slow->Events(0).size(), 120u);
  // It rejoins the synced group (possibly one empty round after its last events).
  EXPECT_TRUE(Eventually([&] { return hub_->GetStats().unsynced == 0; }));
}

TEST_F(HubTest, QueueOverflowFallsBackToHistory) {
  WatchHubOptions o;
  o.max_queued_revisions = 0;  // every revision overflows the dispatch queue
  Reset(o);
  auto [sink, s] = Open();
  hub_->Create(s, Req("k", "l"));
  for (int i = 0; i < 30; ++i) Put("k" + std::to_string(i % 3), std::to_string(i));
  ASSERT_TRUE(sink->WaitEvents(0, 30));
  auto e = sink->Events(0);
  ASSERT_EQ(e.size(), 30u);
  for (size_t i = 0; i < e.size(); ++i) EXPECT_EQ(e[i].kv().mod_revision(), 2 + int64_t(i));
  EXPECT_GT(hub_->GetStats().overflow_drops, 0u);
}

// Random writes, watchers with random ranges, start revisions and filters, random slow clients
// and progress requests; every watcher must see exactly the matching history, in order.
TEST_F(HubTest, RandomizedCompleteness) {
  WatchHubOptions o;
  o.max_stream_pending_bytes = 1;
  o.catch_up_batch_events = 5;
  Reset(o);
  std::mt19937 rng(42);
  auto key = [&] { return std::string(1, static_cast<char>('a' + rng() % 8)); };
  struct Made {
    std::shared_ptr<RecordingSink> sink;
    WatchHub::StreamId s;
    KeyRange range;
    int64_t start;
    bool no_put = false;
    bool no_delete = false;
  };
  std::vector<Made> made;
  for (int step = 0; step < 400; ++step) {
    int op = rng() % 20;
    if (op < 14) {
      if (rng() % 4 == 0) {
        std::string a = key(), b = key();
        if (a > b) std::swap(a, b);
        Del(a, b + "z");
      } else {
        Put(key(), std::to_string(step));
      }
    } else if (op < 17) {
      auto [sink, s] = Open();
      std::string a = key(), b = key();
      if (a > b) std::swap(a, b);
      int kind = rng() % 3;
      auto r = Req(a, kind == 0 ? "" : kind == 1 ? b + "z" : std::string(1, '\0'));
      int64_t cur = ts_.store().current_rev();
      r.set_start_revision(rng() % 2 ? 0 : 1 + static_cast<int64_t>(rng() % cur));
      if (rng() % 5 == 0) r.add_filters(WatchCreateRequest::NOPUT);
      if (rng() % 5 == 0) r.add_filters(WatchCreateRequest::NODELETE);
      if (rng() % 3 == 0) r.set_prev_kv(true);
      hub_->Create(s, r);
      KeyRange kr{r.key(), kind == 1 ? r.range_end() : "", kind == 2};
      made.push_back({sink, s, kr, r.start_revision() == 0 ? cur + 1 : r.start_revision()});
      for (int f : r.filters()) {
        if (f == WatchCreateRequest::NOPUT) made.back().no_put = true;
        if (f == WatchCreateRequest::NODELETE) made.back().no_delete = true;
      }
    } else if (op < 19 && !made.empty()) {
      auto& m = made[rng() % made.size()];
      m.sink->set_pending(m.sink->pending_bytes() ? 0 : 10);  // toggle slow
    } else if (!made.empty()) {
      auto& m = made[rng() % made.size()];
      hub_->RequestProgress(m.s);  // control responses interleave with events
    }
  }
  for (auto& m : made) m.sink->set_pending(0);
  int64_t final_rev = ts_.store().current_rev();
  // Expected events from the store's own history.
  auto view = ts_.store().Read();
  ASSERT_TRUE(view.ok());
  std::vector<mvcc::Event> history;
  ASSERT_TRUE(view->History(1, final_rev, SIZE_MAX, [&](const mvcc::Event& e) {
                     history.push_back(e);
                     return true;
                   }).ok());
  for (size_t i = 0; i < made.size(); ++i) {
    auto& m = made[i];
    std::vector<std::string> want;
    for (const auto& e : history) {
      if (e.kv.mod_revision < m.start || !m.range.Contains(e.kv.key)) continue;
      bool put = e.type == mvcc::Event::Type::kPut;
      if ((put && m.no_put) || (!put && m.no_delete)) continue;
      want.push_back((put ? "+" : "-") + e.kv.key + "@" + std::to_string(e.kv.mod_revision));
    }
    ASSERT_TRUE(m.sink->WaitEvents(0, want.size())) << "watcher " << i;
    EXPECT_EQ(Keys(m.sink->Events(0)), want) << "watcher " << i;
  }
  EXPECT_TRUE(Eventually([&] { return hub_->GetStats().unsynced == 0; }));
}

}  // namespace
}  // namespace etcdpp::watch

namespace etcdpp::watch {
namespace {

// KvStateMachine hands over one committed batch holding several revisions at once.
TEST_F(HubTest, PublishBatchSplitsRevisions) {
  auto [sink, s] = Open();
  hub_->Create(s, Req("a", "z"));
  auto b = ts_.store().Write();
  ASSERT_TRUE(b.ok());
  std::vector<mvcc::Event> all;
  for (int i = 0; i < 3; ++i) {
    auto t = b->BeginTxn();
    ASSERT_TRUE(t.Put("b", "v", LeaseId(0)).ok());
    ASSERT_TRUE(t.Put("c", "v", LeaseId(0)).ok());
    for (auto& e : t.End()) all.push_back(std::move(e));
  }
  ASSERT_TRUE(b->Commit().ok());
  hub_->PublishBatch(std::move(all));
  ASSERT_TRUE(sink->WaitEvents(0, 6));
  auto ms = sink->msgs();
  ASSERT_EQ(ms.size(), 4u);  // created + one per revision
  for (int i = 1; i < 4; ++i) {
    EXPECT_EQ(ms[i].events_size(), 2);
    EXPECT_EQ(ms[i].header().revision(), 1 + i);
  }
}

}  // namespace
}  // namespace etcdpp::watch

namespace etcdpp::watch {
namespace {

// 10,000 watchers on 1,000 streams (the issue's benchmark shape): every put reaches every
// matching watcher; prints the time per put for all of them (informational, not asserted).
TEST_F(HubTest, TenThousandWatchers) {
  std::vector<std::pair<std::shared_ptr<RecordingSink>, WatchHub::StreamId>> streams;
  for (int i = 0; i < 1000; ++i) streams.push_back(Open());
  for (int i = 0; i < 10000; ++i) {
    auto& [sink, s] = streams[i % 1000];
    // Half watch the shared prefix (Kubernetes-style), half a key of their own.
    hub_->Create(s, i % 2 ? Req("/registry/pods/", "/registry/pods0")
                          : Req("/registry/pods/p" + std::to_string(i % 50)));
  }
  auto start = std::chrono::steady_clock::now();
  constexpr int kPuts = 20;
  for (int i = 0; i < kPuts; ++i) Put("/registry/pods/p" + std::to_string(i), "v");
  // Stream j holds watchers i ≡ j (mod 1000): 5 prefix watchers (j odd) or 5 key watchers.
  for (int j = 0; j < 1000; ++j) {
    size_t want = 0;
    for (int i = j; i < 10000; i += 1000) want += i % 2 ? kPuts : (i % 50 < kPuts ? 1 : 0);
    ASSERT_TRUE(streams[j].first->WaitFor([&](const auto& ms) {
      size_t n = 0;
      for (const auto& m : ms) n += static_cast<size_t>(m.events_size());
      return n >= want;
    })) << "stream " << j;
  }
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::steady_clock::now() - start).count();
  std::cout << "[ info ] " << kPuts << " puts to 10,000 watchers delivered in " << us
            << " us (" << us / kPuts << " us per put, debug+sanitizers)\n";
  EXPECT_EQ(hub_->GetStats().synced, 10000u);
}

}  // namespace
}  // namespace etcdpp::watch
