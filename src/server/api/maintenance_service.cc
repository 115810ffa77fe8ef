#include "server/api/maintenance_service.h"

#include "grpc/typed.h"
#include "server/version.h"

namespace etcdpp::server {

using etcdserverpb::AlarmRequest;
using etcdserverpb::AlarmResponse;
using etcdserverpb::StatusRequest;
using etcdserverpb::StatusResponse;

void RegisterMaintenanceService(grpc::Registry* registry, const ApiContext* ctx) {
  grpc::AddTypedUnary<StatusRequest, StatusResponse>(
      *registry, "/etcdserverpb.Maintenance/Status",
      [ctx](grpc::CallContext&, StatusRequest&&, grpc::TypedResponder<StatusResponse> r) {
        StatusResponse resp;
        ctx->FillHeader(resp.mutable_header(), ctx->store->acknowledged_rev());
        resp.set_version(std::string(kEtcdServerVersion));
        auto stats = ctx->env->Stats();
        if (stats.ok()) {
          resp.set_dbsize(static_cast<int64_t>(stats->map_size_bytes < stats->used_bytes
                                                   ? stats->map_size_bytes
                                                   : stats->used_bytes));
          resp.set_dbsizeinuse(static_cast<int64_t>(stats->used_bytes));
        }
        resp.set_leader(ctx->node->leader().value());
        resp.set_raftindex(ctx->node->committed_index().value());
        resp.set_raftterm(ctx->node->term().value());
        resp.set_raftappliedindex(ctx->node->applied_index().value());
        Status write_error = ctx->node->write_path_error();
        if (!write_error.ok()) resp.add_errors(write_error.message());
        r.Reply(resp);
      });

  // No alarm can be raised yet (NOSPACE arrives with the quota); list answers empty, as etcd
  // does on a healthy member.
  grpc::AddTypedUnary<AlarmRequest, AlarmResponse>(
      *registry, "/etcdserverpb.Maintenance/Alarm",
      [ctx](grpc::CallContext&, AlarmRequest&&, grpc::TypedResponder<AlarmResponse> r) {
        AlarmResponse resp;
        ctx->FillHeader(resp.mutable_header(), ctx->store->acknowledged_rev());
        r.Reply(resp);
      });
}

}  // namespace etcdpp::server
