// etcdserverpb.Maintenance: Status, Alarm (list), Defragment, Hash, HashKV and Snapshot.
//
// Threads: Status and Alarm answer on the loop thread. Defragment, Hash, HashKV and Snapshot take
// time proportional to the database, so each runs on a thread of JobThreads and completes its
// call from there (responders and streams may complete from any thread, grpc/call.h).
#pragma once

#include <cstddef>

#include "grpc/call.h"
#include "server/api/api_context.h"
#include "server/api/job_threads.h"

namespace etcdpp::server {

// Long maintenance calls running at once; one more is refused with "etcdserver: too many
// requests" (each holds a thread, and a Snapshot a temporary copy of the database on disk).
inline constexpr size_t kMaxMaintenanceJobs = 4;
// Snapshot chunk size: etcd's (32 KiB), so clients see the same message sizes.
inline constexpr size_t kSnapshotChunkBytes = 32 * 1024;
// Snapshot bytes queued for a client before the sender waits for it to read: bounds memory per
// snapshot stream well below the transport's per-stream limit (http::kMaxStreamPendingBytes).
inline constexpr size_t kSnapshotMaxPendingBytes = 1024 * 1024;

// Registers the Maintenance methods. `jobs` must outlive the registry's calls.
void RegisterMaintenanceService(grpc::Registry* registry, const ApiContext* ctx, JobThreads* jobs);

}  // namespace etcdpp::server
