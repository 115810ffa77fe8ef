#include "server/etcd_server.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cmath>
#include <filesystem>
#include <thread>

#include "server/api/http_endpoints.h"
#include "server/api/kv_service.h"
#include "server/api/lease_service.h"
#include "server/api/cluster_service.h"
#include "server/api/maintenance_service.h"
#include "server/version.h"
#include "watch/watch_service.h"

namespace etcdpp::server {
namespace {

// --backend-batch-interval and --backend-batch-limit; 0 (etcd's default) keeps ours.
CommitPacer::Options CommitOptions(const Config& config) {
  CommitPacer::Options o;
  if (config.backend_batch_interval_ms > 0) {
    o.interval = std::chrono::milliseconds(config.backend_batch_interval_ms);
  }
  if (config.backend_batch_limit > 0) {
    o.max_entries = static_cast<size_t>(config.backend_batch_limit);
  }
  return o;
}

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

// Event loops for client connections: one per core but one, and at least one. Every write
// also passes the write thread (single member: WAL and apply) or the raft and apply threads,
// each busy for a few µs per write; with as many loops as cores, the threads outnumber the
// cores under load, and a loop is woken for a few responses at a time. On the 2-core bench machine one loop used 0.86-0.89x
// the CPU per TLS put of two (bench/ab.sh, 16 pairs each, docs/benchmarks.md), with the same
// QPS and latencies.
size_t ClientLoopCount() {
  unsigned cores = std::thread::hardware_concurrency();
  return cores > 1 ? cores - 1 : 1;
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

  // Multi-member cluster: a data dir that has a member file is one (its member list wins over
  // the flags on restart, as etcd ignores --initial-cluster then); a new data dir is one iff
  // --initial-cluster lists several members.
  const std::string members_path = member_dir + "/members";
  std::vector<Member> cluster_members;
  if (!s->log_.created) {
    auto loaded = LoadClusterMembers(members_path);
    if (loaded.ok()) {
      cluster_members = std::move(loaded).value();
    } else if (loaded.status().code() != Code::kNotFound) {
      return loaded.status();
    }
  } else if (members.size() > 1) {
    if (config.initial_cluster_state == ClusterState::kExisting) {
      return FailedPrecondition("joining an existing cluster (--initial-cluster-state=existing) "
                                "is not implemented: etcdpp bootstraps static clusters only");
    }
    cluster_members = members;
    ETCDPP_RETURN_IF_ERROR(SaveClusterMembers(members_path, cluster_members));
  }

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

  if (cluster_members.empty()) {
    Node::Options node_options;
    node_options.member_id = s->log_.member_id;
    node_options.cluster_id = s->log_.cluster_id;
    node_options.snapshot_count = std::max<uint64_t>(config.snapshot_count, 1);
    node_options.commit = CommitOptions(config);
    s->node_ = std::make_unique<Node>(node_options, s->log_.log.get(), s->sm_.get());
    s->ctx_.node = s->node_.get();
  } else {
    ETCDPP_RETURN_IF_ERROR(s->CreateCluster(std::move(cluster_members), me, wal_dir));
  }
  s->ctx_.store = s->store_.get();
  s->ctx_.env = s->env_.get();
  s->ctx_.config = &s->config_;
  s->ctx_.large_reads = s->large_reads_.get();
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
  grpc_options.num_loops = ClientLoopCount();
  grpc_options.http.max_concurrent_streams = config.max_concurrent_streams;
  s->grpc_ = std::make_unique<grpc::Server>(std::move(grpc_options), std::move(registry));
  return s;
}

EtcdServer::~EtcdServer() { Stop(); }

Status EtcdServer::Start() {
  if (node_ != nullptr) {
    ETCDPP_RETURN_IF_ERROR(node_->Start(std::move(log_.recovered)));
    // This single member is the leader from now on: leases start to expire (after the election
    // timeout on top of their remaining TTL, as etcd extends them on promotion).
    lessor_->Promote(std::chrono::milliseconds(config_.election_timeout_ms));
  } else {
    // In a cluster the lessor is promoted when this member becomes leader (CreateCluster).
    ETCDPP_RETURN_IF_ERROR(cluster_node_->Start(std::move(cluster_start_)));
    lease_forwarder_->Start();
    transport_->Start();
    for (const auto& a : transport_->bound_addresses()) {
      spdlog::info("serving peer traffic on {}", a);
    }
  }
  lessor_->Start();
  spdlog::info("etcdpp {} (etcd API {}) member {:x} of cluster {:x} started; term {}, applied "
               "index {}, revision {}",
               kEtcdppVersion, kEtcdServerVersion, ctx_.node->member_id().value(),
               ctx_.node->cluster_id().value(), ctx_.node->term().value(),
               ctx_.node->applied_index().value(), store_->current_rev());
  Status s = grpc_->Start();
  if (!s.ok()) {
    lessor_->Stop();
    StopConsensus();
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
  large_reads_->Stop();
  lessor_->Stop();
  StopConsensus();
  spdlog::info("stopped member {:x}", ctx_.node->member_id().value());
}

void EtcdServer::StopConsensus() {
  if (node_ != nullptr) node_->Stop();
  // While the transport still runs: a leader hands over so that the others need not wait an
  // election timeout (etcd does the same on a clean stop).
  if (cluster_node_ != nullptr) {
    cluster_node_->TransferLeadershipIfLeader(
        std::chrono::milliseconds(2 * config_.election_timeout_ms));
  }
  // The transport first: its readers call into the cluster node.
  if (lease_forwarder_ != nullptr) lease_forwarder_->Stop();
  if (transport_ != nullptr) transport_->Stop();
  if (cluster_node_ != nullptr) cluster_node_->Stop();
}

Status EtcdServer::CreateCluster(std::vector<Member> members, const Member& me,
                                 const std::string& wal_dir) {
  auto self = std::find_if(members.begin(), members.end(),
                           [&](const Member& m) { return m.id == me.id; });
  if (self == members.end()) {
    return FailedPrecondition("member " + fmt::format("{:x}", me.id.value()) +
                              " is not in the cluster's member list");
  }
  self->client_urls = me.client_urls;
  directory_ = std::make_shared<MemberDirectory>();
  directory_->members = members;
  ctx_.member_list = [dir = directory_] {
    std::lock_guard lock(dir->mu);
    return dir->members;
  };

  peer::TransportOptions t;
  t.self = me.id;
  t.cluster_id = log_.cluster_id;
  for (const auto& u : config_.listen_peer_urls) t.listen_urls.push_back(u.ToString());
  for (const Member& m : members) {
    if (m.id != me.id) t.peers[m.id] = m.peer_urls;
  }
  t.client_urls = me.client_urls;
  t.tls.cert_file = config_.peer_tls.cert_file;
  t.tls.key_file = config_.peer_tls.key_file;
  t.tls.trusted_ca_file = config_.peer_tls.trusted_ca_file;
  t.tls.client_cert_auth = config_.peer_tls.client_cert_auth;
  t.tls.allowed_cn = config_.peer_tls.allowed_cn;
  t.tls.cipher_suites = config_.cipher_suites;
  peer::Transport::Handlers h;
  h.on_message = [this](raft::Message&& m) { cluster_node_->Step(std::move(m)); };
  h.on_unreachable = [this](MemberId id) { cluster_node_->ReportUnreachable(id); };
  h.on_hello = [dir = directory_](MemberId id, const std::vector<std::string>& urls) {
    std::lock_guard lock(dir->mu);
    for (Member& m : dir->members) {
      if (m.id == id) m.client_urls = urls;
    }
  };
  h.on_lease_renew = [this](MemberId from, const peer::LeaseRenew& r) {
    lease_forwarder_->OnRequest(from, r);
  };
  h.on_lease_renew_result = [this](const peer::LeaseRenewResult& r) {
    lease_forwarder_->OnResult(r);
  };
  ETCDPP_ASSIGN_OR_RETURN(transport_, peer::Transport::Create(std::move(t), std::move(h)));

  ClusterNode::Options o;
  o.member_id = me.id;
  o.cluster_id = log_.cluster_id;
  o.heartbeat = std::chrono::milliseconds(config_.heartbeat_interval_ms);
  o.election_ticks = static_cast<int>(std::max<uint64_t>(config_.ElectionTicks(), 2));
  o.snapshot_count = std::max<uint64_t>(config_.snapshot_count, 1);
  o.commit = CommitOptions(config_);
  o.request_timeout = std::chrono::milliseconds(5000 + 2 * config_.election_timeout_ms);
  o.on_leadership = [this](bool leader) {
    // Only the leader expires leases (etcd's primary lessor); a new leader extends every lease
    // by an election timeout so that clients can find it and renew.
    if (leader) {
      lessor_->Promote(std::chrono::milliseconds(config_.election_timeout_ms));
    } else {
      lessor_->Demote();
    }
  };
  cluster_node_ = std::make_unique<ClusterNode>(
      std::move(o), log_.log.get(), sm_.get(),
      [this](raft::Message m) { transport_->Send(std::move(m)); });
  ctx_.node = cluster_node_.get();
  lease_forwarder_ = std::make_unique<LeaseForwarder>(
      cluster_node_.get(), transport_.get(), lessor_.get(),
      std::chrono::milliseconds(5000 + 2 * config_.election_timeout_ms));
  ctx_.forward_lease_renew = [f = lease_forwarder_.get()](
                                 LeaseId id, std::function<void(Result<int64_t>)> done) {
    f->Forward(id, std::move(done));
  };

  cluster_start_.members.clear();
  for (const Member& m : members) cluster_start_.members.emplace_back(m.id, m.name);
  // A WAL without entries is a member whose bootstrap did not finish (or never started).
  cluster_start_.bootstrap = log_.created || (log_.recovered.entries.empty() &&
                                              log_.recovered.last_index.value() == 0);
  if (!log_.created) {
    // The replay starts at the newest snapshot marker not beyond the applied index, as
    // OpenWalLog chose it; raft needs its term.
    ETCDPP_ASSIGN_OR_RETURN(auto markers, wal::Wal::ValidSnapshotMarkers(wal_dir));
    for (const auto& mk : markers) {
      if (mk.index <= store_->consistent_index()) {
        cluster_start_.snapshot_index = mk.index;
        cluster_start_.snapshot_term = mk.term;
      }
    }
  }
  cluster_start_.recovered = std::move(log_.recovered);
  spdlog::info("member {:x} ({}) of a {}-member cluster; peers: {}", me.id.value(), me.name,
               members.size(), config_.initial_cluster);
  return Status::Ok();
}

}  // namespace etcdpp::server
