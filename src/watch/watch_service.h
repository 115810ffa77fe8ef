// The gRPC Watch service: the bidi stream /etcdserverpb.Watch/Watch on top of the WatchHub.
//
// One stream carries any number of watchers. Requests run on the connection's loop thread and
// only hand work to the hub (which never blocks); responses are queued on the stream by the hub's
// threads. Behaviour follows etcd 3.4's v3rpc/watch.go:
//  - a client half-close does not end the stream (etcd keeps sending events);
//  - metadata hasleader=true (clientv3 WithRequireLeader): refused with Unavailable
//    "etcdserver: no leader" when the member has no leader, and finished the same way when it
//    loses it later (WatchHub::OnLeaderLost);
//  - when the stream ends, all its watchers are dropped.
#pragma once

#include "grpc/call.h"
#include "server/api/api_context.h"
#include "watch/watch_hub.h"

namespace etcdpp::watch {

// Registers /etcdserverpb.Watch/Watch. `context` and `hub` must outlive the registry's server.
void RegisterWatchService(grpc::Registry* registry, const server::ApiContext* context,
                          WatchHub* hub);

// WatchHubOptions for a server: header fields from `context`, fragment size from
// --max-request-bytes, progress interval from
// --experimental-watch-progress-notify-interval (0 keeps etcd's 10 minutes).
WatchHubOptions HubOptionsFor(const server::ApiContext* context);

}  // namespace etcdpp::watch
