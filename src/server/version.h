// Version strings. etcdpp has its own release version, but clients decide which etcd features
// they may use from the etcd version a server reports, so the server also claims one.
//
// Where each is used:
// - kEtcdppVersion: `etcdpp --version`, the start-up log line, the user agent of peer traffic.
// - kEtcdServerVersion: the "etcdserver" field of GET /version and StatusResponse.version
//   (Maintenance.Status). kube-apiserver and clientv3 key features on it (e.g. progress
//   notifications, RequestProgress), so it names the etcd release whose API we implement.
// - kEtcdClusterVersion: the "etcdcluster" field of GET /version (major.minor.0, as etcd
//   reports the lowest version all members run).
//
// Plain constants: safe from any thread.
#pragma once

#include <string_view>

namespace etcdpp {

// Keep equal to project(... VERSION ...) in the top-level CMakeLists.txt (config_test checks).
inline constexpr std::string_view kEtcdppVersion = "0.1.0";

inline constexpr std::string_view kEtcdServerVersion = "3.5.13";
inline constexpr std::string_view kEtcdClusterVersion = "3.5.0";

}  // namespace etcdpp
