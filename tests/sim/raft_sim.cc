// raft_sim: runs the deterministic raft simulator (simulator.h) for one seed or a campaign.
//
//   raft_sim --seed=N [--verbose]      one seed, with a trace if --verbose
//   raft_sim --seeds=N [--first-seed=S] [--jobs=J]   a campaign of N seeds from S
// Options that change the run: --fault-ms, --liveness-ms, --nodes. A failing seed prints a
// one-line command that reproduces it; the exit status is non-zero if any seed failed.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "simulator.h"

namespace {

using etcdpp::sim::RunSimulation;
using etcdpp::sim::SimOptions;
using etcdpp::sim::SimResult;

const char* g_argv0 = "raft_sim";
// The seed each worker runs, for the abort handler (a CHECK in the core aborts the process).
constexpr int kMaxJobs = 64;
std::atomic<uint64_t> g_current_seed[kMaxJobs];
int g_jobs = 1;
std::string g_extra_flags;

void OnAbort(int) {
  // Async-signal-safe: only write(2) of preformatted pieces.
  char buf[512];
  for (int j = 0; j < g_jobs; ++j) {
    const uint64_t seed = g_current_seed[j].load();
    if (seed == 0) continue;
    int n = std::snprintf(buf, sizeof(buf),
                          "ABORT while running seed %llu\n  reproduce: %s --seed=%llu%s\n",
                          static_cast<unsigned long long>(seed), g_argv0,
                          static_cast<unsigned long long>(seed), g_extra_flags.c_str());
    if (n > 0) (void)!write(2, buf, static_cast<size_t>(n));
  }
  std::signal(SIGABRT, SIG_DFL);
  std::abort();
}

bool Flag(const char* arg, const char* name, std::string* value) {
  const size_t n = std::strlen(name);
  if (std::strncmp(arg, name, n) != 0) return false;
  if (arg[n] == '=') {
    *value = arg + n + 1;
    return true;
  }
  if (arg[n] == '\0') {
    *value = "1";
    return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  g_argv0 = argv[0];
  SimOptions base;
  uint64_t seed = 0, seeds = 0, first = 1;
  int jobs = 1;
  bool quiet = false;
  for (int i = 1; i < argc; ++i) {
    std::string v;
    if (Flag(argv[i], "--seed", &v)) {
      seed = std::stoull(v);
    } else if (Flag(argv[i], "--seeds", &v)) {
      seeds = std::stoull(v);
    } else if (Flag(argv[i], "--first-seed", &v)) {
      first = std::stoull(v);
    } else if (Flag(argv[i], "--jobs", &v)) {
      jobs = std::max(1, std::min(kMaxJobs, std::stoi(v)));
    } else if (Flag(argv[i], "--fault-ms", &v)) {
      base.fault_ms = std::stoull(v);
      g_extra_flags += " --fault-ms=" + v;
    } else if (Flag(argv[i], "--liveness-ms", &v)) {
      base.liveness_ms = std::stoull(v);
      g_extra_flags += " --liveness-ms=" + v;
    } else if (Flag(argv[i], "--nodes", &v)) {
      base.nodes = std::stoi(v);
      g_extra_flags += " --nodes=" + v;
    } else if (Flag(argv[i], "--verbose", &v)) {
      base.verbose = true;
    } else if (Flag(argv[i], "--quiet", &v)) {
      quiet = true;
    } else {
      std::fprintf(stderr,
                   "usage: %s (--seed=N [--verbose] | --seeds=N [--first-seed=S] [--jobs=J]) "
                   "[--fault-ms=MS] [--liveness-ms=MS] [--nodes=N] [--quiet]\n",
                   argv[0]);
      return 2;
    }
  }
  if (seed == 0 && seeds == 0) seeds = 100;
  std::signal(SIGABRT, OnAbort);

  if (seed != 0) {
    SimOptions o = base;
    o.seed = seed;
    g_current_seed[0] = seed;
    SimResult r = RunSimulation(o);
    if (!r.ok) {
      std::printf("FAIL seed=%llu: %s\n  reproduce: %s --seed=%llu%s --verbose\n",
                  static_cast<unsigned long long>(seed), r.failure.c_str(), argv[0],
                  static_cast<unsigned long long>(seed), g_extra_flags.c_str());
      return 1;
    }
    std::printf(
        "ok seed=%llu events=%llu commits=%llu acks=%llu reads=%llu crashes=%llu "
        "diskfail=%llu confchanges=%llu transfers=%llu snapshots=%llu max_term=%llu "
        "liveness=%llums\n",
        static_cast<unsigned long long>(seed), static_cast<unsigned long long>(r.events),
        static_cast<unsigned long long>(r.commits), static_cast<unsigned long long>(r.acks),
        static_cast<unsigned long long>(r.reads), static_cast<unsigned long long>(r.crashes),
        static_cast<unsigned long long>(r.disk_failures),
        static_cast<unsigned long long>(r.conf_changes),
        static_cast<unsigned long long>(r.transfers),
        static_cast<unsigned long long>(r.snapshots_sent),
        static_cast<unsigned long long>(r.max_term),
        static_cast<unsigned long long>(r.liveness_ms));
    return 0;
  }

  g_jobs = jobs;
  const auto start = std::chrono::steady_clock::now();
  std::atomic<uint64_t> next{first};
  const uint64_t end = first + seeds;
  std::mutex mu;
  SimResult total;
  uint64_t failures = 0, max_liveness = 0;
  auto worker = [&](int j) {
    for (;;) {
      const uint64_t s = next.fetch_add(1);
      if (s >= end) break;
      g_current_seed[j] = s;
      SimOptions o = base;
      o.seed = s;
      SimResult r = RunSimulation(o);
      std::lock_guard<std::mutex> lock(mu);
      if (!r.ok) {
        ++failures;
        std::printf("FAIL seed=%llu: %s\n  reproduce: %s --seed=%llu%s --verbose\n",
                    static_cast<unsigned long long>(s), r.failure.c_str(), argv[0],
                    static_cast<unsigned long long>(s), g_extra_flags.c_str());
        std::fflush(stdout);
      }
      total.events += r.events;
      total.commits += r.commits;
      total.acks += r.acks;
      total.reads += r.reads;
      total.crashes += r.crashes;
      total.disk_failures += r.disk_failures;
      total.partitions += r.partitions;
      total.pauses += r.pauses;
      total.conf_changes += r.conf_changes;
      total.transfers += r.transfers;
      total.snapshots_sent += r.snapshots_sent;
      total.msgs_dropped += r.msgs_dropped;
      max_liveness = std::max(max_liveness, r.liveness_ms);
    }
    g_current_seed[j] = 0;
  };
  std::vector<std::thread> threads;
  for (int j = 0; j < jobs; ++j) threads.emplace_back(worker, j);
  for (auto& t : threads) t.join();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!quiet || failures > 0) {
    std::printf(
        "seeds %llu..%llu: %llu run, %llu failed in %.1fs | events=%llu applied=%llu "
        "acked=%llu reads=%llu crashes=%llu diskfail=%llu partitions=%llu pauses=%llu "
        "confchanges=%llu transfers=%llu snapshots=%llu dropped=%llu max_liveness=%llums\n",
        static_cast<unsigned long long>(first), static_cast<unsigned long long>(end - 1),
        static_cast<unsigned long long>(seeds), static_cast<unsigned long long>(failures), secs,
        static_cast<unsigned long long>(total.events),
        static_cast<unsigned long long>(total.commits), static_cast<unsigned long long>(total.acks),
        static_cast<unsigned long long>(total.reads),
        static_cast<unsigned long long>(total.crashes),
        static_cast<unsigned long long>(total.disk_failures),
        static_cast<unsigned long long>(total.partitions),
        static_cast<unsigned long long>(total.pauses),
        static_cast<unsigned long long>(total.conf_changes),
        static_cast<unsigned long long>(total.transfers),
        static_cast<unsigned long long>(total.snapshots_sent),
        static_cast<unsigned long long>(total.msgs_dropped),
        static_cast<unsigned long long>(max_liveness));
  }
  return failures == 0 ? 0 : 1;
}
