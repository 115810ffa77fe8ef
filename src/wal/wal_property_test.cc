// Property: for any sequence of Saves (with conflicting overwrites), commit-only HardState
// updates, snapshots with segment release, injected write/fsync failures and crashes that lose or
// tear unsynced bytes, reopening the WAL returns exactly what was synced — every entry that a
// successful Save covered is there, nothing is invented, and the only possible extra is a prefix
// of the one batch whose write or fsync failed.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>

#include "wal/mem_file_system.h"
#include "wal/wal.h"

namespace etcdpp::wal {
namespace {

using raft::Entry;
using raft::HardState;

const char* const kDir = "/d/member/wal";

struct Model {
  std::vector<Entry> log;  // entries after `snap`, as ReadAll must return them
  SnapshotMarker snap;
  std::vector<HardState> hs_candidates{HardState{}};  // what ReadAll may return as hard state
  HardState hs;                                       // the last one given to Save

  uint64_t last() const { return log.empty() ? snap.index.value() : log.back().index.value(); }
  // Applies a batch with overwrite semantics.
  void Apply(const std::vector<Entry>& batch) {
    if (batch.empty()) return;
    uint64_t first = batch[0].index.value();
    log.resize(first - snap.index.value() - 1);
    log.insert(log.end(), batch.begin(), batch.end());
  }
};

struct Harness {
  MemFileSystem fs;
  WalOptions opts;
  std::unique_ptr<Wal> wal;
  Model model;
  // A batch that may have reached the disk in part (its write or fsync failed).
  std::optional<std::vector<Entry>> failed_batch;
};

// Crashes (or closes), reopens and checks the recovered contents against the model. Then resets
// the model to what was recovered.
void ReopenAndCheck(Harness& h, bool crash) {
  if (crash) {
    auto mode = *rc::gen::element(MemFileSystem::CrashMode::kDropUnsynced,
                                  MemFileSystem::CrashMode::kTornSectors);
    h.fs.Crash(mode, *rc::gen::arbitrary<uint64_t>());
    h.wal.reset();
  } else {
    Status s = h.wal->Close();
    RC_ASSERT(s.ok() || !h.wal->sticky_error().ok());
    h.wal.reset();
    // A sticky WAL has refused to sync; only a restart (which may lose what it refused) is honest.
    h.fs.Crash();
  }
  RC_LOG() << (crash ? "crash" : "close") << " and reopen from snapshot " << h.model.snap.index
           << "\n";
  auto w = Wal::Open(kDir, h.model.snap, h.opts);
  if (!w.ok()) RC_FAIL(w.status().ToString());
  h.wal = std::move(w).value();
  auto c = h.wal->ReadAll();
  if (!c.ok()) RC_FAIL(c.status().ToString());

  // Entries: exactly the synced log, plus possibly a prefix of the failed batch.
  bool matched = c->entries == h.model.log;
  if (!matched && h.failed_batch) {
    for (size_t k = 1; k <= h.failed_batch->size() && !matched; ++k) {
      Model m = h.model;
      m.Apply(std::vector<Entry>(h.failed_batch->begin(), h.failed_batch->begin() + k));
      matched = c->entries == m.log;
    }
  }
  RC_ASSERT(matched);
  auto& cands = h.model.hs_candidates;
  RC_ASSERT(std::find(cands.begin(), cands.end(), c->hard_state) != cands.end());

  h.model.log = c->entries;
  h.model.hs = c->hard_state;
  h.model.hs_candidates = {c->hard_state};
  h.failed_batch.reset();
  RC_ASSERT(h.wal->last_index().value() == h.model.last());
}

std::vector<Entry> GenBatch(const Model& m, uint64_t term) {
  uint64_t lo = m.snap.index.value() + 1;
  uint64_t first = *rc::gen::inRange<uint64_t>(
      std::max<uint64_t>(lo, m.last() > 5 ? m.last() - 5 : 1), m.last() + 2);
  first = std::max(first, lo);
  size_t n = *rc::gen::inRange<size_t>(1, 20);
  std::vector<Entry> batch;
  for (size_t i = 0; i < n; ++i) {
    size_t bytes = *rc::gen::inRange<size_t>(0, 300);
    batch.push_back(Entry{Term(term), LogIndex(first + i), raft::EntryType::kNormal,
                          std::string(bytes, static_cast<char>('a' + (first + i) % 26))});
  }
  return batch;
}

RC_GTEST_PROP(WalPropertyTest, RecoversExactlyWhatWasSynced, ()) {
  Harness h;
  h.opts.fs = &h.fs;
  h.opts.segment_size_bytes = *rc::gen::element<uint64_t>(1024, 4096, 16384);
  auto created = Wal::Create(kDir, "meta", h.opts);
  RC_ASSERT(created.ok());
  h.wal = std::move(created).value();
  uint64_t term = 1;

  const int steps = *rc::gen::inRange(1, 80);
  for (int step = 0; step < steps; ++step) {
    int op = *rc::gen::inRange(0, 112);
    Model& m = h.model;
    if (op < 55) {
      if (*rc::gen::inRange(0, 4) == 0) ++term;  // a new leader, maybe overwriting a suffix
      auto batch = GenBatch(m, term);
      HardState hs{Term(term), raft::NodeId(1),
                   LogIndex(std::min(m.last(), m.hs.commit.value() + 1))};
      RC_LOG() << "save " << batch.front().index << ".." << batch.back().index << " term " << term
               << "\n";
      Status s = h.wal->Save(hs, batch);
      if (!s.ok()) RC_FAIL(s.ToString());
      m.Apply(batch);
      m.hs = hs;
      m.hs_candidates = {hs};
    } else if (op < 65) {
      HardState hs = m.hs;
      hs.term = Term(std::max<uint64_t>(term, 1));
      hs.commit = LogIndex(hs.commit.value() + 1);
      bool sync = hs.term != m.hs.term || hs.vote != m.hs.vote;
      RC_ASSERT(h.wal->Save(hs, {}).ok());
      m.hs = hs;
      if (sync) {
        m.hs_candidates = {hs};
      } else {
        m.hs_candidates.push_back(hs);
      }
    } else if (op < 73) {
      ReopenAndCheck(h, /*crash=*/true);
    } else if (op < 81) {
      // A failing write or fsync in the middle of a batch, then the restart it forces.
      if (*rc::gen::arbitrary<bool>()) {
        h.fs.FailSync(1);
      } else {
        h.fs.FailWrite(1);
      }
      ++term;
      auto batch = GenBatch(m, term);
      HardState hs{Term(term), raft::NodeId(1), m.hs.commit};
      RC_LOG() << "failing save " << batch.front().index << ".." << batch.back().index << "\n";
      Status s = h.wal->Save(hs, batch);
      RC_ASSERT(!s.ok());
      RC_ASSERT(h.wal->Save(hs, batch) == s);  // sticky
      h.failed_batch = batch;
      m.hs_candidates.push_back(hs);
      ReopenAndCheck(h, /*crash=*/true);
    } else if (op < 90) {
      if (m.log.empty()) continue;
      // Snapshot at some entry, then release the segments below it.
      size_t k = *rc::gen::inRange<size_t>(0, m.log.size());
      SnapshotMarker snap{m.log[k].index, m.log[k].term};
      RC_LOG() << "snapshot at " << snap.index << "\n";
      RC_ASSERT(h.wal->SaveSnapshot(snap).ok());
      RC_ASSERT(h.wal->ReleaseLockTo(snap.index).ok());
      m.log.erase(m.log.begin(), m.log.begin() + static_cast<std::ptrdiff_t>(k) + 1);
      m.snap = snap;
    } else if (op < 100) {
      ReopenAndCheck(h, /*crash=*/false);
    } else if (op < 106) {
      // The process dies at an arbitrary file-system call inside a Save (possibly in the middle
      // of a segment cut); the Save may even have returned OK just before.
      int n = *rc::gen::inRange(1, 10);
      h.fs.DieAfter(n);
      ++term;
      auto batch = GenBatch(m, term);
      if (*rc::gen::arbitrary<bool>()) {  // sometimes big enough to force a cut
        for (auto& e : batch) e.data.resize(600, 'z');
      }
      HardState hs{Term(term), raft::NodeId(1), m.hs.commit};
      RC_LOG() << "save " << batch.front().index << ".." << batch.back().index << " dying at call "
               << n << "\n";
      Status s = h.wal->Save(hs, batch);
      if (s.ok()) {
        m.Apply(batch);
        m.hs = hs;
        m.hs_candidates = {hs};
      } else {
        h.failed_batch = batch;
        m.hs_candidates.push_back(hs);
      }
      ReopenAndCheck(h, /*crash=*/true);
    } else {
      // The process dies during SaveSnapshot or the segment release after it.
      if (m.log.empty()) continue;
      size_t k = *rc::gen::inRange<size_t>(0, m.log.size());
      SnapshotMarker snap{m.log[k].index, m.log[k].term};
      int n = *rc::gen::inRange(1, 6);
      h.fs.DieAfter(n);
      RC_LOG() << "snapshot at " << snap.index << " dying at call " << n << "\n";
      if (h.wal->SaveSnapshot(snap).ok()) {
        (void)h.wal->ReleaseLockTo(snap.index);  // may fail part-way: only a prefix is removed
        m.log.erase(m.log.begin(), m.log.begin() + static_cast<std::ptrdiff_t>(k) + 1);
        m.snap = snap;
      }
      ReopenAndCheck(h, /*crash=*/true);
    }
  }
  ReopenAndCheck(h, /*crash=*/true);
}

}  // namespace
}  // namespace etcdpp::wal
