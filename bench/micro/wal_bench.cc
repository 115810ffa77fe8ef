// WAL micro-benchmark (not a test): how long one Save (write + fdatasync) takes on this disk, and
// how many entries per second group commit reaches with batches of 1, 10, 100 and 1000 entries of
// 100 bytes. Results go to docs/benchmarks.md, "WAL micro-benchmark".
//
//   cmake --build build/<dir> --target wal_bench
//   WAL_BENCH_DIR=/var/tmp build/<dir>/src/wal/wal_bench --benchmark_min_time=2
//
// WAL_BENCH_DIR picks the file system to measure (default /tmp); a fresh WAL is made under it for
// every benchmark; all are removed when the process exits.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "wal/wal.h"

namespace etcdpp::wal {
namespace {

constexpr size_t kEntryDataBytes = 100;

std::string MakeTempDir() {
  const char* base = getenv("WAL_BENCH_DIR");
  std::string tmpl = std::string(base ? base : "/tmp") + "/etcdpp-wal-bench-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  return tmpl;
}

// Directories are removed when the process exits, not between benchmarks: deleting 64 MiB
// segments on a file system mounted with `discard` issues TRIMs that stall the following
// fdatasyncs for seconds and would be billed to the next case.
std::vector<std::string>* DirsToRemove() {
  static auto* dirs = new std::vector<std::string>;
  return dirs;
}

void RemoveDirsAtExit() {
  for (const auto& d : *DirsToRemove()) std::filesystem::remove_all(d);
}

struct BenchWal {
  BenchWal() : root(MakeTempDir()) {
    auto w = Wal::Create(root + "/wal", "bench");
    if (!w.ok()) {
      std::fprintf(stderr, "%s\n", w.status().ToString().c_str());
      std::abort();
    }
    wal = std::move(w).value();
  }
  ~BenchWal() {
    wal.reset();
    if (DirsToRemove()->empty()) std::atexit(RemoveDirsAtExit);
    DirsToRemove()->push_back(root);
  }
  std::string root;
  std::unique_ptr<Wal> wal;
};

// Appends `batch` entries per Save; reports entries/s and, per Save, p50/p99/max latency. The
// max includes segment cuts (every 64 MiB: create, pre-allocate, sync, rename, sync the dir).
void BM_Save(benchmark::State& state) {
  const size_t batch = static_cast<size_t>(state.range(0));
  BenchWal b;
  std::vector<raft::Entry> entries(batch);
  for (auto& e : entries) {
    e.term = Term(1);
    e.data.assign(kEntryDataBytes, 'v');
  }
  uint64_t next = 1;
  std::vector<double> latencies_us;
  for (auto _ : state) {
    for (auto& e : entries) e.index = LogIndex(next++);
    raft::HardState hs{Term(1), raft::NodeId(1), LogIndex(next - 1)};
    auto start = std::chrono::steady_clock::now();
    Status s = b.wal->Save(hs, entries);
    auto end = std::chrono::steady_clock::now();
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
    latencies_us.push_back(std::chrono::duration<double, std::micro>(end - start).count());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * batch * kEntryDataBytes));
  if (!latencies_us.empty()) {
    std::sort(latencies_us.begin(), latencies_us.end());
    state.counters["p50_us"] = latencies_us[latencies_us.size() / 2];
    state.counters["p99_us"] = latencies_us[latencies_us.size() * 99 / 100];
    state.counters["max_us"] = latencies_us.back();
  }
}
BENCHMARK(BM_Save)->Arg(1)->Arg(10)->Arg(100)->Arg(1000)->UseRealTime()->Unit(
    benchmark::kMicrosecond);

// Replays a WAL of state.range(0) entries of 100 B (Open + ReadAll, files in the page cache): the
// WAL's share of a cold start, which replays everything after the last snapshot marker.
void BM_ReadAll(benchmark::State& state) {
  const uint64_t n = static_cast<uint64_t>(state.range(0));
  BenchWal b;
  const std::string dir = b.root + "/wal";
  std::vector<raft::Entry> batch(1000);
  for (uint64_t next = 1; next <= n; next += batch.size()) {
    for (size_t i = 0; i < batch.size(); ++i) {
      batch[i] = raft::Entry{Term(1), LogIndex(next + i), raft::EntryType::kNormal,
                             std::string(kEntryDataBytes, 'v')};
    }
    Status s = b.wal->Save({Term(1), raft::NodeId(1), LogIndex(next)}, batch);
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      return;
    }
  }
  b.wal.reset();
  for (auto _ : state) {
    auto w = Wal::Open(dir, {});
    if (!w.ok()) {
      state.SkipWithError(w.status().ToString().c_str());
      break;
    }
    auto c = (*w)->ReadAll();
    if (!c.ok() || c->entries.size() != n) {
      state.SkipWithError("ReadAll failed or returned the wrong number of entries");
      break;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
  b.wal = nullptr;
}
BENCHMARK(BM_ReadAll)->Arg(1000)->Arg(100'000)->Arg(1'000'000)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace etcdpp::wal

BENCHMARK_MAIN();
