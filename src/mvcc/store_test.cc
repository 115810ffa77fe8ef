#include "mvcc/store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "mvcc/errors.h"
#include "mvcc/store_test_util.h"
#include "storage/errors.h"

namespace etcdpp::mvcc {
namespace {

using testing::TempStore;

std::vector<std::string> Keys(const RangeResult& r) {
  std::vector<std::string> out;
  for (const auto& kv : r.kvs) out.push_back(kv.key);
  return out;
}

TEST(StoreTest, FreshStoreIsAtRevisionOne) {
  TempStore ts;
  auto r = ts.Range("a");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->rev, 1);
  EXPECT_EQ(r->count, 0);
  EXPECT_EQ(ts.store().current_rev(), 1);
  EXPECT_EQ(ts.store().compact_rev(), kNeverCompacted);
}

// The numbers etcd assigns: first write is revision 2; version counts puts in a generation;
// a delete ends the generation; the next put starts a new one.
TEST(StoreTest, RevisionsVersionsAndGenerationsFollowEtcd) {
  TempStore ts;
  EXPECT_EQ(ts.Put("a", "1"), 2);
  EXPECT_EQ(ts.Put("b", "1"), 3);
  EXPECT_EQ(ts.Put("a", "2"), 4);
  auto r = ts.Range("a");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->kvs.size(), 1u);
  EXPECT_EQ(r->kvs[0], (KeyValue{"a", "2", 2, 4, 2, 0}));
  EXPECT_EQ(r->rev, 4);

  DeleteResult d = ts.Delete("a");
  EXPECT_EQ(d.deleted, 1);
  EXPECT_EQ(d.rev, 5);
  EXPECT_EQ(ts.Range("a")->count, 0);

  EXPECT_EQ(ts.Put("a", "3"), 6);
  r = ts.Range("a");
  EXPECT_EQ(r->kvs[0], (KeyValue{"a", "3", 6, 6, 1, 0}));

  // Historic reads see each point in time.
  EXPECT_EQ(ts.Range("a", {}, {.rev = 2})->kvs[0], (KeyValue{"a", "1", 2, 2, 1, 0}));
  EXPECT_EQ(ts.Range("a", {}, {.rev = 3})->kvs[0], (KeyValue{"a", "1", 2, 2, 1, 0}));
  EXPECT_EQ(ts.Range("a", {}, {.rev = 4})->kvs[0].value, "2");
  EXPECT_EQ(ts.Range("a", {}, {.rev = 5})->count, 0);
  EXPECT_EQ(ts.Range("a", {}, {.rev = 1})->count, 0);
  // The header revision of a historic read is the current revision, as in etcd.
  EXPECT_EQ(ts.Range("a", {}, {.rev = 3})->rev, 6);
}

// Acknowledge() publishes a batch's revisions before its commit; reads still see only what is
// committed.
TEST(StoreTest, AcknowledgedRevisionRunsAheadOfTheCommit) {
  TempStore ts;
  ts.Put("a", "1");
  auto b = ts.store().Write();
  ASSERT_TRUE(b.ok());
  TxnWrite t = b->BeginTxn();
  ASSERT_TRUE(t.Put("a", "2", LeaseId(0)).ok());
  t.End();
  b->Acknowledge();
  EXPECT_EQ(ts.store().acknowledged_rev(), 3);
  EXPECT_EQ(ts.store().current_rev(), 2);
  EXPECT_EQ(ts.Range("a")->kvs[0].value, "1");
  ASSERT_TRUE(b->Commit().ok());
  EXPECT_EQ(ts.store().current_rev(), 3);
  EXPECT_EQ(ts.store().acknowledged_rev(), 3);
  ts.Put("b", "1");  // a commit without Acknowledge() raises it too
  EXPECT_EQ(ts.store().acknowledged_rev(), 4);
}

TEST(StoreTest, DeleteOfNothingDoesNotBumpTheRevision) {
  TempStore ts;
  ts.Put("a", "1");
  DeleteResult d = ts.Delete("zzz");
  EXPECT_EQ(d.deleted, 0);
  EXPECT_EQ(d.rev, 2);
  EXPECT_EQ(ts.store().current_rev(), 2);
  EXPECT_EQ(ts.Put("b", "1"), 3);
}

TEST(StoreTest, OneTransactionIsOneRevisionWithSubRevisionsAndSeesItsOwnWrites) {
  TempStore ts;
  ts.Put("x", "old");
  auto b = ts.store().Write();
  ASSERT_TRUE(b.ok());
  TxnWrite t = b->BeginTxn();
  EXPECT_EQ(t.rev(), 2);
  EXPECT_EQ(*t.Put("a", "1", LeaseId(0)), 3);
  EXPECT_EQ(*t.Put("b", "1", LeaseId(0)), 3);
  auto in_txn = t.Range("a", "c", {});
  ASSERT_TRUE(in_txn.ok());
  EXPECT_EQ(Keys(*in_txn), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(in_txn->rev, 3);
  // Reading at the revision before the transaction still works inside it.
  EXPECT_EQ(t.Range("a", "c", {.rev = 2})->count, 0);
  auto d = t.DeleteRange("x", {});
  EXPECT_EQ(d->deleted, 1);
  EXPECT_EQ(d->rev, 3);
  EXPECT_EQ(t.DeleteRange("nothing", {})->rev, 3);  // something changed already
  std::vector<Event> events = t.End();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].kv, (KeyValue{"a", "1", 3, 3, 1, 0}));
  EXPECT_EQ(events[2].type, Event::Type::kDelete);
  EXPECT_EQ(events[2].kv, (KeyValue{"x", "", 0, 3, 0, 0}));

  TxnWrite t2 = b->BeginTxn();
  EXPECT_EQ(t2.rev(), 3);
  EXPECT_EQ(*t2.Put("a", "2", LeaseId(0)), 4);
  t2.End();
  b->SetConsistentIndex(LogIndex(17), Term(2));
  ASSERT_TRUE(b->Commit().ok());

  auto r = ts.Range("a", std::string(1, '\0'));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Keys(*r), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r->kvs[0], (KeyValue{"a", "2", 3, 4, 2, 0}));
  EXPECT_EQ(ts.store().consistent_index(), LogIndex(17));
  auto v = ts.store().Read();
  EXPECT_EQ(v->consistent_term(), Term(2));
}

TEST(StoreTest, RangeVariants) {
  TempStore ts;
  for (std::string k : {"a", "ab", "abc", "b", "c", "d"}) ts.Put(k, "v" + k);
  const std::string from_key(1, '\0');
  EXPECT_EQ(Keys(*ts.Range("ab", "b")), (std::vector<std::string>{"ab", "abc"}));
  EXPECT_EQ(Keys(*ts.Range("b", from_key)), (std::vector<std::string>{"b", "c", "d"}));
  EXPECT_EQ(Keys(*ts.Range(from_key, from_key)).size(), 6u);  // etcdctl get --from-key ''
  EXPECT_EQ(ts.Range("c", "a")->count, 0);                    // end before key
  EXPECT_EQ(ts.Range("zz")->count, 0);

  auto limited = ts.Range("a", from_key, {.limit = 2});
  EXPECT_EQ(Keys(*limited), (std::vector<std::string>{"a", "ab"}));
  EXPECT_EQ(limited->count, 6);

  auto count_only = ts.Range("a", "c", {.count_only = true});
  EXPECT_TRUE(count_only->kvs.empty());
  EXPECT_EQ(count_only->count, 4);

  auto keys_only = ts.Range("a", "b", {.keys_only = true});
  ASSERT_EQ(keys_only->kvs.size(), 3u);
  EXPECT_EQ(keys_only->kvs[0], (KeyValue{"a", "", 2, 2, 1, 0}));

  // The same at a past revision (historic path).
  ts.Put("zz", "1");
  auto hist = ts.Range("a", from_key, {.limit = 2, .rev = 7});
  EXPECT_EQ(Keys(*hist), (std::vector<std::string>{"a", "ab"}));
  EXPECT_EQ(hist->count, 6);
  EXPECT_EQ(ts.Range("a", from_key, {.rev = 7, .count_only = true})->count, 6);
  auto hist_keys = ts.Range("a", "b", {.rev = 7, .keys_only = true});
  EXPECT_EQ(hist_keys->kvs[0], (KeyValue{"a", "", 2, 2, 1, 0}));
}

// Reading in pieces: each stops at its limit, counts only what it visited, and the next one
// resumes after the last key; tombstoned keys (at the current revision and in the past) are
// skipped without counting towards the limit.
TEST(StoreTest, StopAtLimitReadsARangeInPieces) {
  TempStore ts;
  for (std::string k : {"a", "b", "c", "d", "e", "f", "g"}) ts.Put(k, "v" + k);
  const int64_t before_delete = ts.store().current_rev();
  ts.Delete("c", "e");
  const std::string from_key(1, '\0');
  for (int64_t rev : {int64_t{0}, before_delete}) {
    std::vector<std::string> seen;
    std::string next = "a";
    for (int piece = 0; piece < 10; ++piece) {
      auto r = ts.Range(next, from_key, {.limit = 2, .rev = rev, .stop_at_limit = true});
      ASSERT_TRUE(r.ok());
      EXPECT_EQ(r->count, static_cast<int64_t>(r->kvs.size()));
      if (r->kvs.empty()) break;
      for (const auto& kv : r->kvs) seen.push_back(kv.key);
      next = r->kvs.back().key + '\0';
    }
    std::vector<std::string> want =
        rev == 0 ? std::vector<std::string>{"a", "b", "e", "f", "g"}
                 : std::vector<std::string>{"a", "b", "c", "d", "e", "f", "g"};
    EXPECT_EQ(seen, want) << rev;
  }
}

// The budget counts every key walked, counted or not and deleted or not, and is all or nothing.
TEST(StoreTest, WalkBudgetGivesUpOnceMoreKeysAreWalked) {
  TempStore ts;
  for (std::string k : {"a", "b", "c", "d", "e"}) ts.Put(k, "v");
  ts.Delete("b");
  const std::string from_key(1, '\0');
  EXPECT_EQ(ts.Range("a", from_key, {.walk_budget = 5})->count, 4);  // 5 keys walked, b deleted
  EXPECT_TRUE(IsWalkBudget(ts.Range("a", from_key, {.walk_budget = 4}).status()));
  EXPECT_TRUE(
      IsWalkBudget(ts.Range("a", from_key, {.limit = 1, .walk_budget = 4}).status()));  // counts
  EXPECT_TRUE(IsWalkBudget(
      ts.Range("a", from_key, {.rev = ts.store().current_rev() - 1, .walk_budget = 2}).status()));
  EXPECT_EQ(ts.Range("c", "e", {.walk_budget = 2})->count, 2);
}

TEST(StoreTest, FutureAndCompactedRevisions) {
  TempStore ts;
  for (int i = 0; i < 5; ++i) ts.Put("k", std::to_string(i));  // revisions 2..6
  EXPECT_TRUE(IsFutureRev(ts.Range("k", {}, {.rev = 7}).status()));
  ASSERT_TRUE(ts.Compact(4).ok());
  EXPECT_TRUE(IsCompacted(ts.Range("k", {}, {.rev = 3}).status()));
  EXPECT_EQ(ts.Range("k", {}, {.rev = 4})->kvs[0].value, "2");  // at the compaction revision
  EXPECT_EQ(ts.Range("k", {}, {.rev = 5})->kvs[0].value, "3");
  EXPECT_TRUE(IsCompacted(ts.Compact(4)));
  EXPECT_TRUE(IsCompacted(ts.Compact(3)));
  EXPECT_TRUE(IsFutureRev(ts.Compact(7)));
  EXPECT_TRUE(ts.Compact(6).ok());
  EXPECT_EQ(ts.store().compact_rev(), 6);
}

TEST(StoreTest, CompactionDropsSupersededHistoryAndTombstones) {
  TempStore ts;
  ts.Put("a", "1");  // 2
  ts.Put("a", "2");  // 3
  ts.Put("b", "1");  // 4
  ts.Delete("b");    // 5
  ts.Put("c", "1");  // 6
  ts.Put("a", "3");  // 7
  ASSERT_TRUE(ts.Compact(5).ok());
  auto v = ts.store().Read();
  ASSERT_TRUE(v.ok());
  std::vector<int64_t> revs;
  ASSERT_TRUE(v->History(5, 0, 100, [&](const Event& e) {
                 revs.push_back(e.kv.mod_revision);
                 return true;
               }).ok());
  // a@2 superseded by a@3, b@4 superseded by its tombstone, tombstone b@5 dropped.
  EXPECT_EQ(revs, (std::vector<int64_t>{6, 7}));
  EXPECT_EQ(ts.Range("a", {}, {.rev = 5})->kvs[0].value, "2");
  EXPECT_EQ(ts.Range("b", {}, {.rev = 5})->count, 0);
  EXPECT_EQ(ts.Range("a", std::string(1, '\0'), {.rev = 5})->count, 1);
  // a@3 is still there as the state at revision 5.
  EXPECT_TRUE(IsCompacted(v->History(4, 0, 100, [](const Event&) { return true; }).status()));
}

TEST(StoreTest, CompactionProceedsInSmallStepsAcrossBatches) {
  TempStore ts;
  for (int i = 0; i < 50; ++i) ts.Put("k" + std::to_string(i % 5), std::to_string(i));
  int64_t target = ts.store().current_rev() - 3;
  ASSERT_TRUE(ts.Compact(target, /*finish=*/false).ok());
  EXPECT_EQ(ts.store().compact_rev(), target);
  EXPECT_LT(ts.store().finished_compact_rev(), target);
  int steps = 0;
  while (true) {
    auto b = ts.store().Write();
    auto done = b->CompactStep(4);
    ASSERT_TRUE(done.ok());
    // Writes interleave with compaction.
    TxnWrite t = b->BeginTxn();
    ASSERT_TRUE(t.Put("other", std::to_string(steps), LeaseId(0)).ok());
    t.End();
    ASSERT_TRUE(b->Commit().ok());
    ++steps;
    if (*done) break;
    // Reopening mid-compaction resumes from the stored cursor.
    if (steps == 3) ts.Reopen();
  }
  EXPECT_GT(steps, 3);
  EXPECT_EQ(ts.store().finished_compact_rev(), target);
  for (int k = 0; k < 5; ++k) {
    auto r = ts.Range("k" + std::to_string(k), {}, {.rev = target});
    ASSERT_EQ(r->count, 1);
  }
  auto v = ts.store().Read();
  int history = 0;
  ASSERT_TRUE(v->History(target, 0, 1000, [&](const Event& e) {
                 if (e.kv.key != "other") ++history;
                 return true;
               }).ok());
  // What survives of k*: each key's entry at `target` plus the 3 later puts.
  EXPECT_LE(history, 5 + 3);
}

TEST(StoreTest, ReopenKeepsEverythingWithoutRebuilding) {
  TempStore ts;
  ts.Put("a", "1");
  ts.Put("a", "2");
  ts.Delete("a");
  ts.Put("b", "1", /*lease=*/7);
  ts.Reopen();
  EXPECT_EQ(ts.store().current_rev(), 5);
  EXPECT_EQ(ts.Range("b")->kvs[0], (KeyValue{"b", "1", 5, 5, 1, 7}));
  EXPECT_EQ(ts.Range("a", {}, {.rev = 3})->kvs[0].value, "2");
  EXPECT_EQ(ts.Put("a", "x"), 6);
  EXPECT_EQ(ts.Range("a")->kvs[0].version, 1);
}

TEST(StoreTest, EventsCarryPrevKvWhenAskedAndPrevLeaseAlways) {
  TempStore ts;
  ts.Put("a", "1", 5);
  auto b = ts.store().Write({.collect_prev_kv = true});
  TxnWrite t = b->BeginTxn();
  ASSERT_TRUE(t.Put("a", "2", LeaseId(6)).ok());
  ASSERT_TRUE(t.Put("n", "new", LeaseId(0)).ok());
  std::vector<Event> ev = t.End();
  ASSERT_EQ(ev.size(), 2u);
  ASSERT_TRUE(ev[0].prev_kv.has_value());
  EXPECT_EQ(*ev[0].prev_kv, (KeyValue{"a", "1", 2, 2, 1, 5}));
  EXPECT_EQ(ev[0].prev_lease, LeaseId(5));
  EXPECT_FALSE(ev[1].prev_kv.has_value());
  TxnWrite t2 = b->BeginTxn();
  ASSERT_TRUE(t2.DeleteRange("a", "z").ok());
  ev = t2.End();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].prev_kv->value, "2");
  EXPECT_EQ(ev[0].prev_lease, LeaseId(6));
  EXPECT_EQ(ev[1].kv, (KeyValue{"n", "", 0, 4, 0, 0}));
  ASSERT_TRUE(b->Commit().ok());
}

TEST(StoreTest, HashKvErrorsAndSensitivity) {
  TempStore a, b;
  for (TempStore* ts : {&a, &b}) {
    ts->Put("k", "1");
    ts->Put("k", "2");
    ts->Put("j", "1");
  }
  auto ha = a.store().Read()->HashKV(0);
  ASSERT_TRUE(ha.ok());
  EXPECT_EQ(ha->rev, 4);
  EXPECT_EQ(ha->hash, b.store().Read()->HashKV(0)->hash);
  EXPECT_NE(ha->hash, a.store().Read()->HashKV(3)->hash);
  b.Put("k", "3");
  EXPECT_NE(ha->hash, b.store().Read()->HashKV(0)->hash);
  EXPECT_EQ(ha->hash, b.store().Read()->HashKV(4)->hash);
  ASSERT_TRUE(a.Compact(3).ok());
  EXPECT_TRUE(IsCompacted(a.store().Read()->HashKV(3).status()));
  EXPECT_TRUE(IsFutureRev(a.store().Read()->HashKV(5).status()));
  EXPECT_EQ(a.store().Read()->HashKV(4)->compact_rev, 3);
}

TEST(StoreTest, LeaseIndexFollowsPutsAndDeletes) {
  TempStore ts;
  ts.Put("a", "1", 5);
  ts.Put("b", "1", 5);
  ts.Put("c", "1", 6);
  ts.Put("b", "2", 6);  // moves b from lease 5 to 6
  ts.Delete("c");
  auto v = ts.store().Read();
  EXPECT_EQ(*v->KeysWithLease(LeaseId(5)), (std::vector<std::string>{"a"}));
  EXPECT_EQ(*v->KeysWithLease(LeaseId(6)), (std::vector<std::string>{"b"}));
  EXPECT_TRUE(v->KeysWithLease(LeaseId(7))->empty());
  // A revoke-style transaction sees its own deletes.
  auto b = ts.store().Write();
  TxnWrite t = b->BeginTxn();
  auto keys = t.KeysWithLease(LeaseId(6));
  ASSERT_TRUE(keys.ok());
  for (const std::string& k : *keys) ASSERT_TRUE(t.DeleteRange(k, {}).ok());
  EXPECT_TRUE(t.KeysWithLease(LeaseId(6))->empty());
  EXPECT_EQ(t.End().size(), 1u);
  ASSERT_TRUE(b->Commit().ok());
}

TEST(StoreTest, LongKeysAreRejectedOnPutAndHarmlessInReads) {
  TempStore ts;
  std::string longest(kMaxUserKeyBytes, 'k');
  std::string too_long(kMaxUserKeyBytes + 1, 'k');
  ts.Put(longest, "v");
  ts.Put("l", "v");
  auto b = ts.store().Write();
  TxnWrite t = b->BeginTxn();
  EXPECT_TRUE(IsKeyTooLong(t.Put(too_long, "v", LeaseId(0)).status()));
  t.End();
  b->Abort();
  EXPECT_EQ(ts.Range(too_long)->count, 0);
  // A range starting past the longest stored key: seeks a truncated prefix, then skips.
  EXPECT_EQ(Keys(*ts.Range(too_long, "z")), (std::vector<std::string>{"l"}));
  EXPECT_EQ(Keys(*ts.Range(too_long, "z", {.rev = 2})).size(), 0u);
  EXPECT_EQ(ts.Range(longest, std::string(1, '\0'))->count, 2);
}

TEST(StoreTest, MapFullFailsTheBatchAndLeavesTheStoreUsable) {
  TempStore ts(/*map_size=*/1 << 20);
  ts.Put("before", "1");
  auto b = ts.store().Write();
  ASSERT_TRUE(b.ok());
  Status failed;
  std::string value(8000, 'x');
  for (int i = 0; i < 1000 && failed.ok(); ++i) {
    TxnWrite t = b->BeginTxn();
    failed = t.Put("k" + std::to_string(i), value, LeaseId(0)).status();
    t.End();
  }
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(storage::IsMapFull(failed)) << failed.ToString();
  b->Abort();
  // Nothing of the failed batch is visible; the store still reads and writes.
  EXPECT_EQ(ts.store().current_rev(), 2);
  EXPECT_EQ(ts.Range("k0")->count, 0);
  EXPECT_EQ(ts.Put("after", "1"), 3);
  ts.Reopen();
  EXPECT_EQ(ts.Range("after")->kvs[0].mod_revision, 3);
}

TEST(StoreTest, ReadersKeepTheirSnapshotWhileTheWriterGoesOn) {
  TempStore ts;
  ts.Put("a", "1");
  auto view = ts.store().Read();
  ASSERT_TRUE(view.ok());
  std::thread writer([&] {
    for (int i = 0; i < 20; ++i) ts.Put("a", std::to_string(i));
  });
  writer.join();
  EXPECT_EQ(view->rev(), 2);
  EXPECT_EQ(view->Range("a", {}, {})->kvs[0].value, "1");
  EXPECT_EQ(ts.Range("a")->kvs[0].value, "19");
}

// One writer moves "money" between keys in transactions while readers on other threads take
// snapshots: every snapshot must see a consistent total and a revision that matches its data.
TEST(StoreTest, ConcurrentReadersSeeOnlyWholeCommittedBatches) {
  TempStore ts;
  constexpr int kAccounts = 8;
  constexpr int kTotal = 800;
  {
    auto b = ts.store().Write();
    TxnWrite t = b->BeginTxn();
    for (int i = 0; i < kAccounts; ++i) {
      ASSERT_TRUE(
          t.Put("acct" + std::to_string(i), std::to_string(kTotal / kAccounts), LeaseId(0)).ok());
    }
    t.End();
    ASSERT_TRUE(b->Commit().ok());
  }
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0};
  auto reader = [&] {
    while (!stop.load()) {
      auto v = ts.store().Read();
      ASSERT_TRUE(v.ok());
      auto r = v->Range("acct", "acct~", {});
      ASSERT_TRUE(r.ok());
      int sum = 0;
      int64_t max_mod = 0;
      for (const auto& kv : r->kvs) {
        sum += std::stoi(kv.value);
        max_mod = std::max(max_mod, kv.mod_revision);
      }
      ASSERT_EQ(sum, kTotal);
      ASSERT_EQ(max_mod, v->rev());  // every revision here changes some account
      reads.fetch_add(1);
    }
  };
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; ++i) readers.emplace_back(reader);
  std::mt19937 rng(7);
  std::vector<int> balance(kAccounts, kTotal / kAccounts);
  for (int batch = 0; batch < 200; ++batch) {
    auto b = ts.store().Write();
    ASSERT_TRUE(b.ok());
    for (int txn = 0; txn < 3; ++txn) {
      int from = static_cast<int>(rng() % kAccounts);
      int to = (from + 1 + static_cast<int>(rng() % (kAccounts - 1))) % kAccounts;
      int amount = balance[from] > 0 ? 1 + static_cast<int>(rng() % balance[from]) : 0;
      balance[from] -= amount;
      balance[to] += amount;
      TxnWrite t = b->BeginTxn();
      ASSERT_TRUE(
          t.Put("acct" + std::to_string(from), std::to_string(balance[from]), LeaseId(0)).ok());
      ASSERT_TRUE(t.Put("acct" + std::to_string(to), std::to_string(balance[to]), LeaseId(0)).ok());
      t.End();
    }
    ASSERT_TRUE(b->Commit().ok());
  }
  // Readers keep going until each has had a chance to run (not a timing assumption: the
  // check is on what they saw, not on how many reads they made).
  while (reads.load() < 3 && !HasFailure()) std::this_thread::yield();
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(ts.store().current_rev(), 2 + 600);
}

TEST(StoreTest, HistoryDeliversWholeRevisions) {
  TempStore ts;
  auto b = ts.store().Write();
  TxnWrite t = b->BeginTxn();
  for (std::string k : {"a", "b", "c"}) ASSERT_TRUE(t.Put(k, "1", LeaseId(0)).ok());
  t.End();
  ASSERT_TRUE(b->Commit().ok());
  ts.Delete("b");
  auto v = ts.store().Read();
  std::vector<std::pair<int64_t, Event::Type>> seen;
  auto next = v->History(2, 0, 1, [&](const Event& e) {
    seen.emplace_back(e.kv.mod_revision, e.type);
    return true;
  });
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, 3);
  EXPECT_EQ(seen.size(), 3u);
  seen.clear();
  next = v->History(*next, 0, 1, [&](const Event& e) {
    seen.emplace_back(e.kv.mod_revision, e.type);
    return true;
  });
  EXPECT_EQ(*next, 4);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], std::make_pair(int64_t{3}, Event::Type::kDelete));
}

}  // namespace
}  // namespace etcdpp::mvcc
