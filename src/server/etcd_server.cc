#include "server/etcd_server.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cmath>
#include <filesystem>

#include "server/api/http_endpoints.h"
#include "server/api/kv_service.h"
#include "server/api/lease_service.h"
#include "server/api/cluster_service.h"
#include "server/api/maintenance_service.h"
#include "server/version.h"
#include "watch/watch_service.h"

namespace etcdpp::server {
namespace {

// etcd creates the data dir and its member dir with mode 0700 (fileutil.PrivateDirMode).
Status MakePrivateDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return IoError("cannot create directory " + dir + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);
  return Status::Ok();
}

net::TlsConfig ToNetTls(const Config& config) {
  net::TlsConfig t;
  t.cert_file = config.client_tls.cert_file;
  t.key_file = config.client_tls.key_file;
  t.trusted_ca_file = config.client_tls.trusted_ca_file;
  t.client_cert_auth = config.client_tls.client_cert_auth;
  t.cipher_suites = config.cipher_suites;
  t.auto_tls = config.client_tls.auto_tls;
  if (t.auto_tls) t.auto_tls_dir = config.EffectiveDataDir() + "/fixtures/client";
  return t;
}

}  // namespace

Result<std::unique_ptr<EtcdServer>> EtcdServer::Create(const Config& config) {
  std::unique_ptr<EtcdServer> s(new EtcdServer(config));
  const std::string data_dir = config.EffectiveDataDir();
  const std::string member_dir = data_dir + "/member";
  const std::string wal_dir = config.wal_dir.empty() ? member_dir + "/wal" : config.wal_dir;
  // A member that already has a log ignores the bootstrap flags, as etcd does.
  if (!wal::Wal::Exists(wal_dir)) ETCDPP_RETURN_IF_ERROR(ValidateBootstrap(config));
  ETCDPP_RETURN_IF_ERROR(MakePrivateDir(member_dir + "/snap"));

  // Identity: this member and the cluster, derived from the initial cluster as etcd does.
  ETCDPP_ASSIGN_OR_RETURN(auto members,
                          ParseInitialCluster(config.initial_cluster, config.initial_cluster_token));
  auto self = std::find_if(members.begin(), members.end(),
                           [&](const Member& m) { return m.name == config.name; });
  if (self == members.end()) {
    return InvalidArgument("couldn't find local name \"" + config.name +
                           "\" in the initial cluster configuration");
  }
  // Until the peer transport exists, a member of a multi-member cluster would serve alone and
  // diverge from its peers (split brain). Refuse to start instead.
  if (members.size() > 1) {
    return FailedPrecondition("--initial-cluster lists " + std::to_string(members.size()) +
                              " members, but this etcdpp serves single-member clusters only "
                              "(clustering is not implemented yet)");
  }
  std::vector<MemberId> ids;
  for (const Member& m : members) ids.push_back(m.id);

  storage::EnvOptions env_options;
  env_options.path = member_dir + "/snap/db";
  env_options.map_size_bytes = static_cast<uint64_t>(config.EffectiveQuotaBackendBytes());
  ETCDPP_ASSIGN_OR_RETURN(s->env_, storage::Env::Open(env_options));
  ETCDPP_ASSIGN_OR_RETURN(s->store_, mvcc::Store::Open(s->env_.get()));
  ETCDPP_ASSIGN_OR_RETURN(s->log_, OpenWalLog(wal_dir, self->id, ComputeClusterId(ids),
                                              s->store_->consistent_index()));
  if (s->log_.member_id != self->id) {
    spdlog::warn("data dir {} belongs to member {:x}; keeping that identity", data_dir,
                 s->log_.member_id.value());
  }
  for (const auto& u : config.advertise_client_urls) self->client_urls.push_back(u.ToString());
  Member me = *self;
  me.id = s->log_.member_id;

  // Lease (Lease service owner): opened before the node replays its log, since replayed grants
  // and puts with leases consult it. etcd's minimum TTL: ceil(((3 * election ticks) / 2) *
  // heartbeat) in seconds (2 s with the defaults).
  lease::LessorOptions lessor_options;
  lessor_options.min_ttl_seconds = static_cast<int64_t>(
      std::ceil(static_cast<double>((3 * config.ElectionTicks()) / 2 *
                                    config.heartbeat_interval_ms) / 1000.0));
  ETCDPP_ASSIGN_OR_RETURN(s->lessor_, lease::Lessor::Open(s->env_.get(),
                                                          lease::SteadyClock::Get(),
                                                          lessor_options));
  s->applier_ = apply::KvApplier(apply::ApplierHooks{
      [lessor = s->lessor_.get()](LeaseId id) { return lessor->Exists(id); }});

  s->sm_ = std::make_unique<KvStateMachine>(s->store_.get(), s->applier_);
  s->sm_->SetLessor(s->lessor_.get());

  Node::Options node_options;
  node_options.member_id = s->log_.member_id;
  node_options.cluster_id = s->log_.cluster_id;
  node_options.snapshot_count = std::max<uint64_t>(config.snapshot_count, 1);
  s->node_ = std::make_unique<Node>(node_options, s->log_.log.get(), s->sm_.get());

  s->ctx_.node = s->node_.get();
  s->ctx_.store = s->store_.get();
  s->ctx_.env = s->env_.get();
  s->ctx_.config = &s->config_;
  s->ctx_.self = me;
  s->ctx_.members = {me};

  // Watch: the apply thread hands every committed batch's events to the hub.
  s->hub_ = std::make_unique<watch::WatchHub>(s->store_.get(), watch::HubOptionsFor(&s->ctx_));
  s->sm_->SetEventSink(
      [hub = s->hub_.get()](std::vector<mvcc::Event>&& events) {
        hub->PublishBatch(std::move(events));
      },
      [hub = s->hub_.get()] { return hub->NeedsPrevKv(); });

  auto registry = std::make_shared<grpc::Registry>();
  watch::RegisterWatchService(registry.get(), &s->ctx_, s->hub_.get());
  RegisterKvService(registry.get(), &s->ctx_, &s->applier_);
  ConnectLessor(s->lessor_.get(), &s->ctx_);
  RegisterLeaseService(registry.get(), &s->ctx_, s->lessor_.get());
  RegisterMaintenanceService(registry.get(), &s->ctx_, s->maintenance_jobs_.get());
  RegisterClusterService(registry.get(), &s->ctx_);
  RegisterHttpEndpoints(registry.get(), &s->ctx_);

  grpc::ServerOptions grpc_options;
  grpc_options.listen_urls.clear();
  for (const auto& u : config.listen_client_urls) grpc_options.listen_urls.push_back(u.ToString());
  grpc_options.tls = ToNetTls(config);
  grpc_options.max_request_bytes = config.max_request_bytes;
  grpc_options.http.max_concurrent_streams = config.max_concurrent_streams;
  s->grpc_ = std::make_unique<grpc::Server>(std::move(grpc_options), std::move(registry));
  return s;
}

EtcdServer::~EtcdServer() { Stop(); }

Status EtcdServer::Start() {
  ETCDPP_RETURN_IF_ERROR(node_->Start(std::move(log_.recovered)));
  // This single member is the leader from now on: leases start to expire (after the election
  // timeout on top of their remaining TTL, as etcd extends them on promotion).
  lessor_->Promote(std::chrono::milliseconds(config_.election_timeout_ms));
  lessor_->Start();
  spdlog::info("etcdpp {} (etcd API {}) member {:x} of cluster {:x} started; term {}, applied "
               "index {}, revision {}",
               kEtcdppVersion, kEtcdServerVersion, node_->member_id().value(),
               node_->cluster_id().value(), node_->term().value(), node_->applied_index().value(),
               store_->current_rev());
  Status s = grpc_->Start();
  if (!s.ok()) {
    lessor_->Stop();
    node_->Stop();
    return s;
  }
  started_ = true;
  for (const auto& b : grpc_->bound()) {
    spdlog::info("serving client requests on {}", b.address);
  }
  return Status::Ok();
}

void EtcdServer::Stop() {
  if (!started_) return;
  started_ = false;
  grpc_->Stop(std::chrono::seconds(2));
  maintenance_jobs_->Stop();
  lessor_->Stop();
  node_->Stop();
  spdlog::info("stopped member {:x}", node_->member_id().value());
}

}  // namespace etcdpp::server
