#include "server/api/cluster_service.h"

#include "grpc/typed.h"

namespace etcdpp::server {

using etcdserverpb::MemberListRequest;
using etcdserverpb::MemberListResponse;

void RegisterClusterService(grpc::Registry* registry, const ApiContext* ctx) {
  grpc::AddTypedUnary<MemberListRequest, MemberListResponse>(
      *registry, "/etcdserverpb.Cluster/MemberList",
      [ctx](grpc::CallContext&, MemberListRequest&&, grpc::TypedResponder<MemberListResponse> r) {
        MemberListResponse resp;
        // etcd leaves the revision out of MemberList headers.
        ctx->FillHeader(resp.mutable_header(), 0);
        const std::vector<Member> members = ctx->member_list ? ctx->member_list() : ctx->members;
        for (const Member& m : members) {
          auto* pm = resp.add_members();
          pm->set_id(m.id.value());
          pm->set_name(m.name);
          for (const auto& u : m.peer_urls) pm->add_peerurls(u);
          for (const auto& u : m.client_urls) pm->add_clienturls(u);
          pm->set_islearner(m.is_learner);
        }
        r.Reply(resp);
      });
}

}  // namespace etcdpp::server
