// etcdserverpb.Maintenance: Status, Alarm (list), Defragment, Hash, HashKV and Snapshot.
//
// Threads: Status and Alarm answer on the loop thread. Defragment, Hash, HashKV and Snapshot take
// time proportional to the database, so each runs on a thread of MaintenanceJobs and completes
// its call from there (responders and streams may complete from any thread, grpc/call.h).
#pragma once

#include <atomic>
#include <functional>
#include <list>
#include <mutex>
#include <thread>

#include "grpc/call.h"
#include "server/api/api_context.h"

namespace etcdpp::server {

// Long maintenance calls running at once; one more is refused with "etcdserver: too many
// requests" (each holds a thread, and a Snapshot a temporary copy of the database on disk).
inline constexpr size_t kMaxMaintenanceJobs = 4;
// Snapshot chunk size: etcd's (32 KiB), so clients see the same message sizes.
inline constexpr size_t kSnapshotChunkBytes = 32 * 1024;
// Snapshot bytes queued for a client before the sender waits for it to read: bounds memory per
// snapshot stream well below the transport's per-stream limit (http::kMaxStreamPendingBytes).
inline constexpr size_t kSnapshotMaxPendingBytes = 1024 * 1024;

// The threads of the running maintenance calls. Owned by EtcdServer, which stops it after the
// transport and before the node and the store.
// Thread safety: all methods may be called from any thread.
class MaintenanceJobs {
 public:
  // A job sees `stopping` become true when the server stops; it should then end its call soon.
  using Job = std::function<void(const std::atomic<bool>& stopping)>;

  MaintenanceJobs() = default;
  ~MaintenanceJobs() { Stop(); }
  MaintenanceJobs(const MaintenanceJobs&) = delete;
  MaintenanceJobs& operator=(const MaintenanceJobs&) = delete;

  // Runs `job` on a new thread. Returns false (and does not run it) when kMaxMaintenanceJobs
  // are running or Stop() was called.
  bool Start(Job job);
  // Raises `stopping` and waits for every running job to return. Idempotent.
  void Stop();

 private:
  struct Running {
    std::thread thread;
    bool done = false;  // guarded by mu_
  };

  std::mutex mu_;
  bool stopped_ = false;     // guarded by mu_
  std::list<Running> jobs_;  // guarded by mu_; finished ones are joined by the next Start
  std::atomic<bool> stopping_{false};
};

// Registers the Maintenance methods. `jobs` must outlive the registry's calls.
void RegisterMaintenanceService(grpc::Registry* registry, const ApiContext* ctx,
                                MaintenanceJobs* jobs);

}  // namespace etcdpp::server
