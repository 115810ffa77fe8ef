// Property tests: the LMDB store against a simple in-memory model of etcd's MVCC semantics.
//
// The model keeps the full key→KeyValue map after every revision. Random sequences of puts,
// range deletes, multi-op transactions (including the same key twice), compactions carried out
// in random-sized steps interleaved with writes, and reopenings are applied to both; then every
// read at every revision still readable must match the model exactly, reads below the
// compaction revision must fail as compacted, history after it must be intact, and once a
// compaction is finished the history must hold nothing superseded.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <map>

#include "mvcc/errors.h"
#include "mvcc/store.h"
#include "mvcc/store_test_util.h"

namespace etcdpp::mvcc {
namespace {

struct Op {
  enum Kind { kPut, kDelete, kTxn, kCompact, kReopen } kind = kPut;
  // kPut/kDelete/kTxn: (is_delete, key, end or value) steps; kCompact: `back` revisions behind.
  struct Step {
    bool is_delete;
    std::string key;
    std::string arg;  // value for a put; range end for a delete ("" single, "\0" from-key)
    int64_t lease;
  };
  std::vector<Step> steps;
  int back = 0;
  int budget = 1;
};

rc::Gen<std::string> GenKey() {
  return rc::gen::element<std::string>("a", "b", "ba", "bb", "c", "d", "e", "f");
}

rc::Gen<Op::Step> GenStep() {
  return rc::gen::apply(
      [](bool is_delete, std::string key, int end_kind, std::string other, int64_t lease) {
        Op::Step s{is_delete, key, "", lease};
        if (is_delete) {
          if (end_kind == 1) s.arg = std::string(1, '\0');
          if (end_kind == 2) s.arg = other;
        } else {
          s.arg = "v" + other;
        }
        return s;
      },
      rc::gen::weightedElement<bool>({{3, false}, {1, true}}), GenKey(), rc::gen::element(0, 1, 2),
      GenKey(), rc::gen::element<int64_t>(0, 1, 2));
}

rc::Gen<Op> GenOp() {
  return rc::gen::apply(
      [](int kind, std::vector<Op::Step> steps, Op::Step single, int back, int budget) {
        Op op;
        if (kind < 6) {
          op.kind = single.is_delete ? Op::kDelete : Op::kPut;
          op.steps = {single};
        } else if (kind < 8) {
          op.kind = Op::kTxn;
          op.steps = steps;
        } else if (kind < 10) {
          op.kind = Op::kCompact;
        } else {
          op.kind = Op::kReopen;
        }
        op.back = back;
        op.budget = budget;
        return op;
      },
      // gen::element, not gen::inRange: inRange narrows with the generation size.
      rc::gen::element(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
      rc::gen::container<std::vector<Op::Step>>(GenStep()), GenStep(),
      rc::gen::element(0, 1, 2, 3, 4, 5), rc::gen::element(1, 2, 3, 5, 8));
}

using State = std::map<std::string, KeyValue>;

bool InSpan(const std::string& k, const std::string& key, const std::string& end) {
  if (end.empty()) return k == key;
  if (end == std::string(1, '\0')) return k >= key;
  return k >= key && k < end;
}

class Model {
 public:
  Model() { states_[kInitialRevision] = {}; }
  int64_t rev() const { return rev_; }
  const State& At(int64_t r) const { return states_.at(r); }

  // Applies a write transaction; returns the number of changes.
  size_t Apply(const std::vector<Op::Step>& steps) {
    State s = states_[rev_];
    size_t changes = 0;
    for (const auto& st : steps) {
      if (st.is_delete) {
        for (auto it = s.begin(); it != s.end();) {
          if (InSpan(it->first, st.key, st.arg)) {
            events_.push_back({rev_ + 1, KeyValue{it->first, "", 0, rev_ + 1, 0, 0}});
            it = s.erase(it);
            ++changes;
          } else {
            ++it;
          }
        }
      } else {
        KeyValue kv{st.key, st.arg, rev_ + 1, rev_ + 1, 1, st.lease};
        auto it = s.find(st.key);
        if (it != s.end()) {
          kv.create_revision = it->second.create_revision;
          kv.version = it->second.version + 1;
        }
        s[st.key] = kv;
        events_.push_back({rev_ + 1, kv});
        ++changes;
      }
    }
    if (changes > 0) states_[++rev_] = s;
    return changes;
  }
  // Events (main revision, kv) with main > after.
  std::vector<KeyValue> EventsAfter(int64_t after) const {
    std::vector<KeyValue> out;
    for (const auto& [main, kv] : events_) {
      if (main > after) out.push_back(kv);
    }
    return out;
  }

 private:
  int64_t rev_ = kInitialRevision;
  std::map<int64_t, State> states_;
  std::vector<std::pair<int64_t, KeyValue>> events_;
};

void CheckAgainstModel(testing::TempStore& ts, const Model& m) {
  auto view = ts.store().Read();
  RC_ASSERT(view.ok());
  RC_ASSERT(view->rev() == m.rev());
  const int64_t compact = view->compact_rev();
  const std::string all(1, '\0');
  for (int64_t r = 1; r <= m.rev(); ++r) {
    auto got = view->Range(all, all, {.rev = r});
    if (r < compact) {
      RC_ASSERT(IsCompacted(got.status()));
      continue;
    }
    RC_ASSERT(got.ok());
    const State& want = m.At(r);
    RC_ASSERT(got->count == static_cast<int64_t>(want.size()));
    RC_ASSERT(got->rev == m.rev());
    std::vector<KeyValue> want_kvs;
    for (const auto& [k, kv] : want) want_kvs.push_back(kv);
    RC_ASSERT(got->kvs == want_kvs);
    // Single-key reads and a bounded range with a limit agree too.
    for (const auto& [k, kv] : want) {
      auto one = view->Range(k, {}, {.rev = r});
      RC_ASSERT(one.ok() && one->kvs.size() == 1u && one->kvs[0] == kv);
    }
    auto bounded = view->Range("b", "d", {.limit = 2, .rev = r});
    RC_ASSERT(bounded.ok());
    std::vector<KeyValue> want_bounded;
    int64_t want_count = 0;
    for (const auto& [k, kv] : want) {
      if (k >= "b" && k < "d") {
        ++want_count;
        if (want_bounded.size() < 2) want_bounded.push_back(kv);
      }
    }
    RC_ASSERT(bounded->count == want_count);
    RC_ASSERT(bounded->kvs == want_bounded);
  }
  RC_ASSERT(IsFutureRev(view->Range("a", {}, {.rev = m.rev() + 1}).status()));

  // The lease index lists exactly the live keys attached to each lease.
  for (int64_t lease = 1; lease <= 2; ++lease) {
    std::vector<std::string> want;
    for (const auto& [k, kv] : m.At(m.rev())) {
      if (kv.lease == lease) want.push_back(k);
    }
    auto got = view->KeysWithLease(LeaseId(lease));
    RC_ASSERT(got.ok());
    RC_ASSERT(*got == want);
  }

  // History strictly after the compaction revision is untouched.
  int64_t from = std::max<int64_t>(compact + 1, 1);
  std::vector<KeyValue> history;
  auto next = view->History(from, 0, SIZE_MAX, [&](const Event& e) {
    history.push_back(e.kv);
    return true;
  });
  RC_ASSERT(next.ok());
  RC_ASSERT(history == m.EventsAfter(from - 1));

  // A finished compaction leaves exactly: each key live at the compaction revision, plus
  // everything after it.
  RC_CLASSIFY(compact >= 1, "compacted");
  if (compact >= 1 && ts.store().finished_compact_rev() == compact) {
    auto size = view->HistorySize();
    RC_ASSERT(size.ok());
    RC_ASSERT(*size == m.At(compact).size() + m.EventsAfter(compact).size());
  }
}

// Replays the same writes (no compaction) into a second store and returns its current HashKV
// after compacting at `compact` and finishing — the reference the hash must equal while the
// first store's compaction is still in progress.
uint32_t ReferenceHash(const std::vector<Op>& ops, int64_t compact) {
  testing::TempStore ref(64ull << 20);
  for (const Op& op : ops) {
    if (op.kind != Op::kPut && op.kind != Op::kDelete && op.kind != Op::kTxn) continue;
    auto b = ref.store().Write();
    TxnWrite t = b->BeginTxn();
    for (const auto& st : op.steps) {
      if (st.is_delete) {
        RC_ASSERT(t.DeleteRange(st.key, st.arg).ok());
      } else {
        RC_ASSERT(t.Put(st.key, st.arg, LeaseId(st.lease)).ok());
      }
    }
    t.End();
    RC_ASSERT(b->Commit().ok());
  }
  if (compact >= 0) RC_ASSERT(ref.Compact(compact).ok());
  auto v = ref.store().Read();
  auto h = v->HashKV(0);
  RC_ASSERT(h.ok());
  return h->hash;
}

RC_GTEST_PROP(StoreProperty, MatchesModelAtEveryRevision, ()) {
  const size_t n = *rc::gen::element<size_t>(5, 20, 40);
  const auto ops = *rc::gen::container<std::vector<Op>>(n, GenOp());
  testing::TempStore ts(64ull << 20);
  Model m;
  int64_t pending_compaction_budget = 0;
  for (const Op& op : ops) {
    switch (op.kind) {
      case Op::kPut:
      case Op::kDelete:
      case Op::kTxn: {
        auto b = ts.store().Write();
        RC_ASSERT(b.ok());
        TxnWrite t = b->BeginTxn();
        for (const auto& st : op.steps) {
          if (st.is_delete) {
            RC_ASSERT(t.DeleteRange(st.key, st.arg).ok());
          } else {
            RC_ASSERT(t.Put(st.key, st.arg, LeaseId(st.lease)).ok());
          }
        }
        size_t n = t.End().size();
        RC_ASSERT(n == m.Apply(op.steps));
        // Compaction work rides along with writes in small steps.
        if (pending_compaction_budget > 0) RC_ASSERT(b->CompactStep(op.budget).ok());
        RC_ASSERT(b->Commit().ok());
        break;
      }
      case Op::kCompact: {
        int64_t target = m.rev() - op.back;
        auto b = ts.store().Write();
        const int64_t before = b->compact_rev();
        Status s = b->Compact(target);
        if (target <= before) {
          RC_ASSERT(IsCompacted(s));
        } else {
          RC_ASSERT(s.ok());
          pending_compaction_budget = 1;
        }
        RC_ASSERT(b->Commit().ok());
        break;
      }
      case Op::kReopen:
        ts.Reopen();
        break;
    }
  }
  CheckAgainstModel(ts, m);
  {
    // HashKV does not depend on how far the physical compaction got.
    auto v = ts.store().Read();
    RC_ASSERT(v.ok());
    auto h = v->HashKV(0);
    RC_ASSERT(h.ok());
    RC_ASSERT(h->hash == ReferenceHash(ops, v->compact_rev()));
  }
  // Finish any compaction and check again.
  auto b = ts.store().Write();
  RC_ASSERT(b.ok());
  while (true) {
    auto done = b->CompactStep(2);
    RC_ASSERT(done.ok());
    if (*done) break;
  }
  RC_ASSERT(b->Commit().ok());
  CheckAgainstModel(ts, m);
}

// The `rev` record codec: any KeyValue round-trips, and any byte string (a damaged record)
// decodes or fails with kDataLoss — never crashes or reads out of bounds (ASan build).
RC_GTEST_PROP(KeyValueCodecProperty, RoundTripsAndSurvivesGarbage,
              (std::string key, std::string value, int64_t create, int64_t mod, int64_t version,
               int64_t lease, std::string garbage)) {
  KeyValue kv{key, value, create, mod, version, lease};
  std::string bytes = EncodeKeyValue(kv);
  auto back = DecodeKeyValue(bytes);
  RC_ASSERT(back.ok());
  RC_ASSERT(back->ToOwned() == kv);
  auto g = DecodeKeyValue(garbage);
  RC_ASSERT(g.ok() || g.status().code() == Code::kDataLoss);
  // A truncated record never decodes to more than it holds.
  if (!bytes.empty()) {
    auto cut = DecodeKeyValue(std::string_view(bytes).substr(0, bytes.size() - 1));
    if (cut.ok()) RC_ASSERT(cut->key.size() + cut->value.size() < bytes.size());
  }
}

}  // namespace
}  // namespace etcdpp::mvcc
