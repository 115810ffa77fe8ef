#include "server/api/maintenance_service.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "base/check.h"
#include "base/thread_name.h"
#include "grpc/typed.h"
#include "mvcc/db_hash.h"
#include "server/api/errors.h"
#include "server/version.h"

namespace etcdpp::server {

using etcdserverpb::AlarmRequest;
using etcdserverpb::AlarmResponse;
using etcdserverpb::DefragmentRequest;
using etcdserverpb::DefragmentResponse;
using etcdserverpb::HashKVRequest;
using etcdserverpb::HashKVResponse;
using etcdserverpb::HashRequest;
using etcdserverpb::HashResponse;
using etcdserverpb::SnapshotRequest;
using etcdserverpb::SnapshotResponse;
using etcdserverpb::StatusRequest;
using etcdserverpb::StatusResponse;

namespace {

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// An unnamed temporary file in `dir` (nothing is left behind, even after a crash); -1 on error.
int OpenAnonymousFile(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)) return fd;
  // The file system has no O_TMPFILE: create a named file and unlink it at once.
  std::string tmpl = dir + "/db.snapshot.XXXXXX";
  fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd >= 0) ::unlink(tmpl.c_str());
  return fd;
}

// Owns a file descriptor.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Maintenance threads may block: waits there until every write already answered to a client is
// visible to reads, so that a hash or a snapshot covers the writes the caller saw succeed.
Status WaitForAcknowledgedWrites(const ApiContext* ctx) {
  std::promise<Status> visible;
  auto done = visible.get_future();
  ctx->node->ReadAcknowledged([&visible](Status s) { visible.set_value(std::move(s)); });
  return done.get();
}

// Streams a consistent copy of the database as etcd does: chunks whose remaining_bytes count
// down to 0, then one more message whose blob is the SHA-256 of all the chunks (etcdctl checks
// that the saved file is n·512 + 32 bytes long; `snapshot restore` checks the digest).
void StreamSnapshot(const ApiContext* ctx, grpc::TypedStream<SnapshotResponse> stream,
                    const std::atomic<bool>& stopping) {
  const auto start = std::chrono::steady_clock::now();
  // The copy is taken on one LMDB read transaction (a consistent state; writers go on) into a
  // temporary file, so its size is known before the first chunk, as etcd's remaining_bytes needs.
  Fd file{OpenAnonymousFile(DirOf(ctx->env->options().path))};
  if (file.fd < 0) {
    stream.Finish(Internal(std::string("etcdserver: snapshot: cannot create a temporary file: ") +
                           strerror(errno)));
    return;
  }
  Status s = WaitForAcknowledgedWrites(ctx);
  if (s.ok()) s = ctx->env->CopyCompactToFd(file.fd);
  off_t total = s.ok() ? ::lseek(file.fd, 0, SEEK_END) : -1;
  if (s.ok() && (total < 0 || ::lseek(file.fd, 0, SEEK_SET) != 0)) {
    s = Internal(std::string("etcdserver: snapshot: seek: ") + strerror(errno));
  }
  if (!s.ok()) {
    spdlog::warn("failed to copy the database for a snapshot: {}", s.ToString());
    stream.Finish(api::ToClientStatus(s));
    return;
  }
  spdlog::info("sending database snapshot to client ({} bytes)", total);

  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> sha(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  CHECK(sha != nullptr && EVP_DigestInit_ex(sha.get(), EVP_sha256(), nullptr) == 1);
  std::vector<char> buf(kSnapshotChunkBytes);
  uint64_t sent = 0;
  SnapshotResponse resp;
  while (sent < static_cast<uint64_t>(total)) {
    // Flow control: wait while the client has not taken what is queued. The transport has no
    // "drained" notification; a short pause keeps this thread cheap while it waits.
    while (stream.pending_bytes() > kSnapshotMaxPendingBytes && !stream.IsDone() &&
           !stopping.load(std::memory_order_acquire)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (stream.IsDone()) return;  // the client went away
    if (stopping.load(std::memory_order_acquire)) {
      stream.Finish(api::Err(api::EtcdError::kStopped));
      return;
    }
    size_t want =
        static_cast<size_t>(std::min<uint64_t>(buf.size(), static_cast<uint64_t>(total) - sent));
    ssize_t n = ::read(file.fd, buf.data(), want);
    if (n <= 0) {
      stream.Finish(Internal(std::string("etcdserver: snapshot: read: ") +
                             (n < 0 ? strerror(errno) : "unexpected end of file")));
      return;
    }
    sent += static_cast<uint64_t>(n);
    EVP_DigestUpdate(sha.get(), buf.data(), static_cast<size_t>(n));
    resp.set_remaining_bytes(static_cast<uint64_t>(total) - sent);
    resp.set_blob(buf.data(), static_cast<size_t>(n));
    if (!stream.Send(resp).ok()) return;  // the transport finished the call
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  EVP_DigestFinal_ex(sha.get(), digest, &digest_len);
  resp.set_remaining_bytes(0);
  resp.set_blob(digest, digest_len);
  if (!stream.Send(resp).ok()) return;
  stream.Finish(Status::Ok());
  spdlog::info("sent database snapshot to client ({} bytes) in {} ms", total,
               std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - start)
                   .count());
}

// Server-streaming Snapshot: the single request starts the job.
class SnapshotCall : public grpc::TypedStreamHandler<SnapshotRequest> {
 public:
  SnapshotCall(const ApiContext* ctx, JobThreads* jobs, grpc::TypedStream<SnapshotResponse> stream)
      : ctx_(ctx), jobs_(jobs), stream_(std::move(stream)) {}

  void OnRequest(SnapshotRequest&&) override {
    if (started_) return;
    started_ = true;
    bool ok = jobs_->Start([ctx = ctx_, stream = stream_](const std::atomic<bool>& stopping) {
      StreamSnapshot(ctx, stream, stopping);
    });
    if (!ok) stream_.Finish(api::Err(api::EtcdError::kTooManyRequests));
  }
  void OnHalfClose() override {}
  void OnCancel() override {}  // the job sees stream.IsDone()

 private:
  const ApiContext* const ctx_;
  JobThreads* const jobs_;
  grpc::TypedStream<SnapshotResponse> stream_;
  bool started_ = false;
};

// Runs `job(responder)` on a maintenance thread, or refuses the call when too many run.
template <typename Resp>
void RunJob(JobThreads* jobs, grpc::TypedResponder<Resp> r,
            std::function<void(grpc::TypedResponder<Resp>&)> job) {
  auto responder = std::make_shared<grpc::TypedResponder<Resp>>(std::move(r));
  bool ok =
      jobs->Start([responder, job = std::move(job)](const std::atomic<bool>&) { job(*responder); });
  if (!ok) responder->Fail(api::Err(api::EtcdError::kTooManyRequests));
}

}  // namespace

void RegisterMaintenanceService(grpc::Registry* registry, const ApiContext* ctx, JobThreads* jobs) {
  grpc::AddTypedUnary<StatusRequest, StatusResponse>(
      *registry, "/etcdserverpb.Maintenance/Status",
      [ctx](grpc::CallContext&, StatusRequest&&, grpc::TypedResponder<StatusResponse> r) {
        StatusResponse resp;
        ctx->FillHeader(resp.mutable_header(), ctx->store->acknowledged_rev());
        resp.set_version(std::string(kEtcdServerVersion));
        // The free-list walk is proportional to the free-list records, not to the data; it
        // gives etcd's dbSizeInUse (the file size minus its free pages).
        auto stats = ctx->env->Stats(storage::StatsDetail::kWithFreeList);
        if (stats.ok()) {
          uint64_t size = std::min(stats->map_size_bytes, stats->used_bytes);
          resp.set_dbsize(static_cast<int64_t>(size));
          resp.set_dbsizeinuse(static_cast<int64_t>(size - std::min(size, stats->free_bytes)));
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

  // Defragment pauses this member's writes (the apply thread waits for the storage's writer
  // lock) for the duration of the compacting copy, as etcd's does; reads go on.
  grpc::AddTypedUnary<DefragmentRequest, DefragmentResponse>(
      *registry, "/etcdserverpb.Maintenance/Defragment",
      [ctx, jobs](grpc::CallContext&, DefragmentRequest&&,
                  grpc::TypedResponder<DefragmentResponse> r) {
        RunJob<DefragmentResponse>(jobs, std::move(r), [ctx](auto& responder) {
          auto before = ctx->env->Stats();
          spdlog::info("starting defragment ({} bytes)", before.ok() ? before->used_bytes : 0);
          const auto start = std::chrono::steady_clock::now();
          Status s = ctx->env->Defragment();
          if (!s.ok()) {
            spdlog::warn("failed to defragment: {}", s.ToString());
            responder.Fail(api::ToClientStatus(s));
            return;
          }
          auto after = ctx->env->Stats();
          spdlog::info("finished defragment ({} bytes) in {} ms",
                       after.ok() ? after->used_bytes : 0,
                       std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - start)
                           .count());
          responder.Reply(DefragmentResponse());
        });
      });

  grpc::AddTypedUnary<HashKVRequest, HashKVResponse>(
      *registry, "/etcdserverpb.Maintenance/HashKV",
      [ctx, jobs](grpc::CallContext&, HashKVRequest&& req, grpc::TypedResponder<HashKVResponse> r) {
        RunJob<HashKVResponse>(jobs, std::move(r), [ctx, rev = req.revision()](auto& responder) {
          if (Status s = WaitForAcknowledgedWrites(ctx); !s.ok()) {
            return responder.Fail(api::ToClientStatus(s));
          }
          auto view = ctx->store->Read();
          auto h = view.ok() ? view->HashKV(rev) : Result<mvcc::HashResult>(view.status());
          if (!h.ok()) {
            responder.Fail(api::ToClientStatus(h.status()));
            return;
          }
          HashKVResponse resp;
          ctx->FillHeader(resp.mutable_header(), h->rev);
          resp.set_hash(h->hash);
          resp.set_compact_revision(h->compact_rev);
          responder.Reply(resp);
        });
      });

  grpc::AddTypedUnary<HashRequest, HashResponse>(
      *registry, "/etcdserverpb.Maintenance/Hash",
      [ctx, jobs](grpc::CallContext&, HashRequest&&, grpc::TypedResponder<HashResponse> r) {
        RunJob<HashResponse>(jobs, std::move(r), [ctx](auto& responder) {
          if (Status s = WaitForAcknowledgedWrites(ctx); !s.ok()) {
            return responder.Fail(api::ToClientStatus(s));
          }
          auto view = ctx->store->Read();
          auto h = view.ok() ? mvcc::HashDatabase(*ctx->env, *view)
                             : Result<mvcc::HashResult>(view.status());
          if (!h.ok()) {
            responder.Fail(api::ToClientStatus(h.status()));
            return;
          }
          HashResponse resp;
          ctx->FillHeader(resp.mutable_header(), h->rev);
          resp.set_hash(h->hash);
          responder.Reply(resp);
        });
      });

  grpc::AddTypedStream<SnapshotRequest, SnapshotResponse>(
      *registry, "/etcdserverpb.Maintenance/Snapshot",
      [ctx, jobs](grpc::CallContext&, grpc::TypedStream<SnapshotResponse> stream)
          -> std::unique_ptr<grpc::TypedStreamHandler<SnapshotRequest>> {
        return std::make_unique<SnapshotCall>(ctx, jobs, std::move(stream));
      });
}

}  // namespace etcdpp::server
