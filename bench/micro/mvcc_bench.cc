// MVCC micro-benchmark (not a test): the LMDB-backed store without the server around it.
//  - BM_PutBatch/N: puts of 100-byte values, N write transactions (revisions) per LMDB commit,
//    the way the apply thread batches committed entries; items/s = revisions per second.
//  - BM_PutBatchNoSync/N: the same with commits that do not fdatasync (CommitSync::kNone),
//    i.e. the cost of the code without the disk.
//  - BM_PutRandomNoSync/N: the same with keys drawn at random from 100k (the server
//    benchmark's put case), so that every put lands on a different page.
//  - BM_RangeOneKey: a single-key Range at the current revision on a fresh ReadView (what a
//    serializable get costs), random keys of a 100k-key store.
//  - BM_RangeOneKeyHistoric: the same at an older revision (LatestAtOrBefore in key_states).
//  - BM_FullScan100kx1KiB: one Range over all of 100k keys with 1 KiB values.
//  - BM_FullScanApplier100kx1KiB: the same through KvApplier::Range, serialized to wire bytes.
//  - BM_Open1M: opening a store holding 1M keys (Env::Open + Store::Open + one read), the cold
//    start figure; the store is built once and cached under the bench dir.
// Results go to docs/benchmarks.md, "MVCC micro-benchmark".
//
//   cmake -S . -B build/<dir> -G Ninja -DCMAKE_BUILD_TYPE=Release
//   cmake --build build/<dir> --target mvcc_bench
//   MVCC_BENCH_DIR=/var/tmp build/<dir>/src/mvcc/mvcc_bench
//
// MVCC_BENCH_DIR picks the file system (default /tmp). Commits sync data pages (see
// storage/env.h), so BM_PutBatch measures the disk as much as the code at small batch sizes.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include "mvcc/store.h"
#include "server/apply/kv_apply.h"
#include "storage/env.h"

namespace etcdpp::mvcc {
namespace {

std::string BenchDir() {
  const char* base = getenv("MVCC_BENCH_DIR");
  return base ? base : "/tmp";
}

void Die(const Status& s) {
  std::fprintf(stderr, "%s\n", s.ToString().c_str());
  std::abort();
}

struct BenchStore {
  explicit BenchStore(std::string path, bool remove_after,
                      storage::CommitSync sync = storage::CommitSync::kDataOnly)
      : path_(std::move(path)), remove_after_(remove_after) {
    storage::EnvOptions o;
    o.commit_sync = sync;
    o.path = path_ + "/db";
    o.map_size_bytes = 8ull << 30;
    std::filesystem::create_directories(path_);
    auto env = storage::Env::Open(o);
    if (!env.ok()) Die(env.status());
    env_ = std::move(env).value();
    auto store = Store::Open(env_.get());
    if (!store.ok()) Die(store.status());
    store_ = std::move(store).value();
  }
  ~BenchStore() {
    store_.reset();
    env_.reset();
    if (remove_after_) std::filesystem::remove_all(path_);
  }
  static std::unique_ptr<BenchStore> Fresh(
      storage::CommitSync sync = storage::CommitSync::kDataOnly) {
    std::string tmpl = BenchDir() + "/etcdpp-mvcc-bench-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
    return std::make_unique<BenchStore>(tmpl, true, sync);
  }

  // Loads n keys "key-%010d" with `value_bytes` values, `per_commit` puts per revision batch.
  void Load(int64_t n, size_t value_bytes, int64_t per_commit = 10000) {
    std::string value(value_bytes, 'v');
    char key[32];
    for (int64_t i = 0; i < n;) {
      auto b = store_->Write();
      if (!b.ok()) Die(b.status());
      for (int64_t j = 0; j < per_commit && i < n; ++j, ++i) {
        TxnWrite t = b->BeginTxn();
        std::snprintf(key, sizeof(key), "key-%010lld", static_cast<long long>(i));
        auto r = t.Put(key, value, LeaseId(0));
        if (!r.ok()) Die(r.status());
        t.End();
      }
      Status s = b->Commit();
      if (!s.ok()) Die(s);
    }
  }

  std::string path_;
  bool remove_after_;
  std::unique_ptr<storage::Env> env_;
  std::unique_ptr<Store> store_;
};

enum class KeyOrder { kSequential, kRandom };

void PutBatch(benchmark::State& state, storage::CommitSync sync,
              KeyOrder order = KeyOrder::kSequential) {
  auto bs = BenchStore::Fresh(sync);
  const int64_t batch = state.range(0);
  std::string value(100, 'v');
  char key[32];
  int64_t i = 0;
  std::mt19937_64 rng(1);
  for (auto _ : state) {
    auto b = bs->store_->Write();
    for (int64_t j = 0; j < batch; ++j, ++i) {
      TxnWrite t = b->BeginTxn();
      int64_t k = order == KeyOrder::kRandom ? static_cast<int64_t>(rng() % 100000) : i % 100000;
      std::snprintf(key, sizeof(key), "key-%010lld", static_cast<long long>(k));
      auto r = t.Put(key, value, LeaseId(0));
      if (!r.ok()) Die(r.status());
      benchmark::DoNotOptimize(t.End());
    }
    b->SetConsistentIndex(LogIndex(static_cast<uint64_t>(i)), Term(1));
    Status s = b->Commit();
    if (!s.ok()) Die(s);
  }
  state.SetItemsProcessed(state.iterations() * batch);
}
void BM_PutBatch(benchmark::State& state) { PutBatch(state, storage::CommitSync::kDataOnly); }
void BM_PutBatchNoSync(benchmark::State& state) { PutBatch(state, storage::CommitSync::kNone); }
BENCHMARK(BM_PutBatch)->Arg(1)->Arg(16)->Arg(128)->Arg(1024)->UseRealTime();
BENCHMARK(BM_PutBatchNoSync)->Arg(1)->Arg(16)->Arg(128)->Arg(1024)->UseRealTime();
void BM_PutRandomNoSync(benchmark::State& state) {
  PutBatch(state, storage::CommitSync::kNone, KeyOrder::kRandom);
}
BENCHMARK(BM_PutRandomNoSync)->Arg(1024)->UseRealTime();

void RangeOneKey(benchmark::State& state, bool historic) {
  static std::unique_ptr<BenchStore> bs = [] {
    auto s = BenchStore::Fresh();
    s->Load(100000, 100);
    return s;
  }();
  std::mt19937_64 rng(42);
  char key[32];
  const int64_t rev = historic ? bs->store_->current_rev() / 2 : 0;
  for (auto _ : state) {
    std::snprintf(key, sizeof(key), "key-%010lld", static_cast<long long>(rng() % 100000));
    auto view = bs->store_->Read();
    auto r = view->Range(key, {}, {.rev = rev});
    if (!r.ok()) Die(r.status());
    benchmark::DoNotOptimize(r->kvs.data());
  }
  state.SetItemsProcessed(state.iterations());
}
void BM_RangeOneKey(benchmark::State& state) { RangeOneKey(state, false); }
// Only taking and releasing a snapshot: the fixed part of every read.
void BM_ReadView(benchmark::State& state) {
  auto bs = BenchStore::Fresh();
  bs->Load(1000, 100);
  for (auto _ : state) {
    auto view = bs->store_->Read();
    benchmark::DoNotOptimize(view->rev());
  }
}
BENCHMARK(BM_ReadView);
void BM_RangeOneKeyHistoric(benchmark::State& state) { RangeOneKey(state, true); }
BENCHMARK(BM_RangeOneKey);
BENCHMARK(BM_RangeOneKeyHistoric);

void BM_FullScan100kx1KiB(benchmark::State& state) {
  auto bs = BenchStore::Fresh();
  bs->Load(100000, 1024, 1000);
  for (auto _ : state) {
    auto view = bs->store_->Read();
    auto r = view->Range(std::string(1, '\0'), std::string(1, '\0'), {});
    if (!r.ok() || r->count != 100000) std::abort();
    benchmark::DoNotOptimize(r->kvs.data());
  }
  state.SetItemsProcessed(state.iterations() * 100000);
}
BENCHMARK(BM_FullScan100kx1KiB)->Unit(benchmark::kMillisecond)->UseRealTime();

// The same read through the KV applier: RangeRequest in, serialized RangeResponse bytes out
// (what the gRPC layer then frames), i.e. the engine's share of a full read.
void BM_FullScanApplier100kx1KiB(benchmark::State& state) {
  auto bs = BenchStore::Fresh();
  bs->Load(100000, 1024, 1000);
  apply::KvApplier applier;
  etcdserverpb::RangeRequest req;
  req.set_key(std::string(1, '\0'));
  req.set_range_end(std::string(1, '\0'));
  std::string wire;
  for (auto _ : state) {
    auto view = bs->store_->Read();
    auto resp = applier.Range(*view, req);
    if (!resp.ok() || resp->count() != 100000) std::abort();
    wire.clear();
    resp->SerializeToString(&wire);
    benchmark::DoNotOptimize(wire.data());
  }
  state.SetItemsProcessed(state.iterations() * 100000);
}
BENCHMARK(BM_FullScanApplier100kx1KiB)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Open1M(benchmark::State& state) {
  const std::string dir = BenchDir() + "/etcdpp-mvcc-bench-1M";
  if (!std::filesystem::exists(dir + "/db")) {
    BenchStore build(dir, false);
    build.Load(1000000, 128, 20000);
  }
  for (auto _ : state) {
    auto start = std::chrono::steady_clock::now();
    BenchStore bs(dir, false);
    auto view = bs.store_->Read();
    auto r = view->Range("key-0000777777", {}, {});
    if (!r.ok() || r->count != 1) std::abort();
    auto took = std::chrono::steady_clock::now() - start;
    state.SetIterationTime(std::chrono::duration<double>(took).count());
  }
}
BENCHMARK(BM_Open1M)->UseManualTime()->Unit(benchmark::kMicrosecond)->Iterations(20);

}  // namespace
}  // namespace etcdpp::mvcc

BENCHMARK_MAIN();
