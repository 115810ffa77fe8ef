#include "cmd/snapshot_restore.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <sstream>

#include "base/ids.h"
#include "mvcc/store.h"
#include "server/membership.h"
#include "server/wal_log.h"
#include "storage/env.h"

namespace etcdpp::cmd {
namespace {

// etcdctl's test for the digest the Snapshot RPC appends: it makes the file 512·n + 32 bytes.
constexpr size_t kShaBytes = 32;
constexpr size_t kShaAlignment = 512;
// Copy buffer for the database file.
constexpr size_t kCopyChunkBytes = 1 << 20;

std::string Hex(const unsigned char* p, size_t n) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[p[i] >> 4]);
    out.push_back(kDigits[p[i] & 15]);
  }
  return out;
}

std::vector<std::string> SplitUrls(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Status Errno(const std::string& what) { return IoError(what + ": " + strerror(errno)); }

Status FsyncPath(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return Errno("open " + path);
  int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? Status::Ok() : Errno("fsync " + path);
}

// Copies the first `size` bytes of `src` to the new file `dest` (fsynced) and returns their
// SHA-256 in `digest`.
Status CopyPrefix(int src, uint64_t size, const std::string& dest, unsigned char* digest) {
  int out = ::open(dest.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (out < 0) return Errno("create " + dest);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> sha(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(sha.get(), EVP_sha256(), nullptr);
  std::vector<char> buf(kCopyChunkBytes);
  Status s;
  uint64_t done = 0;
  while (s.ok() && done < size) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - done));
    ssize_t n = ::read(src, buf.data(), want);
    if (n <= 0) {
      s = n < 0 ? Errno("read snapshot") : DataLoss("snapshot file ended early");
      break;
    }
    EVP_DigestUpdate(sha.get(), buf.data(), static_cast<size_t>(n));
    for (ssize_t off = 0; off < n;) {
      ssize_t w = ::write(out, buf.data() + off, static_cast<size_t>(n - off));
      if (w < 0) {
        s = Errno("write " + dest);
        break;
      }
      off += w;
    }
    done += static_cast<uint64_t>(n);
  }
  if (s.ok() && ::fsync(out) != 0) s = Errno("fsync " + dest);
  ::close(out);
  unsigned int len = 0;
  EVP_DigestFinal_ex(sha.get(), digest, &len);
  return s;
}

// The restored database starts a new log: its applied index goes back to 0 (the new WAL's
// first entry is index 1), keeping every key, revision and lease.
Status ResetAppliedIndex(const std::string& db_path) {
  storage::EnvOptions env_options;
  env_options.path = db_path;
  auto env = storage::Env::Open(env_options);
  if (!env.ok()) {
    return DataLoss(
        "the snapshot is not an etcdpp database (etcd's bolt snapshots cannot be "
        "restored by etcdpp): " +
        env.status().message());
  }
  auto store = mvcc::Store::Open(env->get());
  if (!store.ok())
    return DataLoss("the snapshot holds no etcdpp store: " + store.status().message());
  ETCDPP_ASSIGN_OR_RETURN(mvcc::WriteBatch batch, (*store)->Write());
  batch.SetConsistentIndex(LogIndex(0), Term(0));
  ETCDPP_RETURN_IF_ERROR(batch.Commit());
  return (*env)->Sync();
}

Status Restore(const RestoreOptions& o, const std::string& data_dir, const std::string& wal_dir) {
  ETCDPP_ASSIGN_OR_RETURN(auto members,
                          server::ParseInitialCluster(o.initial_cluster, o.initial_cluster_token));
  auto self = std::find_if(members.begin(), members.end(),
                           [&](const server::Member& m) { return m.name == o.name; });
  if (self == members.end()) {
    return InvalidArgument("couldn't find local name \"" + o.name +
                           "\" in the initial cluster configuration");
  }
  std::vector<std::string> cluster_urls = self->peer_urls;
  std::sort(cluster_urls.begin(), cluster_urls.end());
  if (cluster_urls != SplitUrls(o.initial_advertise_peer_urls)) {
    return InvalidArgument(
        "--initial-cluster has " + o.name + "=" + cluster_urls.front() +
        " but missing from --initial-advertise-peer-urls=" + o.initial_advertise_peer_urls);
  }

  int src = ::open(o.snapshot_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (src < 0) return Errno("open " + o.snapshot_path);
  struct stat st;
  if (::fstat(src, &st) != 0) {
    ::close(src);
    return Errno("stat " + o.snapshot_path);
  }
  uint64_t size = static_cast<uint64_t>(st.st_size);
  bool has_hash = size % kShaAlignment == kShaBytes;
  if (!has_hash && !o.skip_hash_check) {
    ::close(src);
    return InvalidArgument("snapshot missing hash but --skip-hash-check=false");
  }
  uint64_t db_size = has_hash ? size - kShaBytes : size;
  unsigned char expected[kShaBytes] = {};
  if (has_hash && ::pread(src, expected, kShaBytes, static_cast<off_t>(db_size)) !=
                      static_cast<ssize_t>(kShaBytes)) {
    ::close(src);
    return Errno("read the snapshot's sha256");
  }

  const std::string snap_dir = data_dir + "/member/snap";
  std::error_code ec;
  std::filesystem::create_directories(snap_dir, ec);
  if (ec) {
    ::close(src);
    return IoError("cannot create " + snap_dir + ": " + ec.message());
  }
  ::chmod(data_dir.c_str(), 0700);
  ::chmod((data_dir + "/member").c_str(), 0700);
  ::chmod(snap_dir.c_str(), 0700);
  const std::string db_path = snap_dir + "/db";
  unsigned char got[EVP_MAX_MD_SIZE];
  Status s = CopyPrefix(src, db_size, db_path, got);
  ::close(src);
  ETCDPP_RETURN_IF_ERROR(s);
  if (has_hash && !o.skip_hash_check && std::memcmp(expected, got, kShaBytes) != 0) {
    return DataLoss("expected sha256 " + Hex(expected, kShaBytes) + ", got " + Hex(got, kShaBytes));
  }
  ETCDPP_RETURN_IF_ERROR(ResetAppliedIndex(db_path));

  std::vector<MemberId> ids;
  for (const server::Member& m : members) ids.push_back(m.id);
  ETCDPP_ASSIGN_OR_RETURN(
      server::OpenedLog log,
      server::OpenWalLog(wal_dir, self->id, server::ComputeClusterId(ids), LogIndex(0)));
  log.log.reset();
  ETCDPP_RETURN_IF_ERROR(FsyncPath(snap_dir, O_RDONLY | O_DIRECTORY));
  ETCDPP_RETURN_IF_ERROR(FsyncPath(data_dir + "/member", O_RDONLY | O_DIRECTORY));
  return FsyncPath(data_dir, O_RDONLY | O_DIRECTORY);
}

}  // namespace

Status RestoreSnapshot(const RestoreOptions& o) {
  const std::string data_dir = o.data_dir.empty() ? o.name + ".etcd" : o.data_dir;
  const std::string wal_dir = o.wal_dir.empty() ? data_dir + "/member/wal" : o.wal_dir;
  if (std::filesystem::exists(data_dir)) {
    return FailedPrecondition("data-dir \"" + data_dir + "\" exists");
  }
  if (std::filesystem::exists(wal_dir)) {
    return FailedPrecondition("wal-dir \"" + wal_dir + "\" exists");
  }
  Status s = Restore(o, data_dir, wal_dir);
  if (!s.ok()) {
    // Leave nothing half-made behind: the next attempt must not find the dirs "existing".
    std::error_code ec;
    std::filesystem::remove_all(data_dir, ec);
    if (!o.wal_dir.empty()) std::filesystem::remove_all(wal_dir, ec);
  }
  return s;
}

int RunSnapshotCommand(const std::vector<std::string>& args) {
  CLI::App app("Manages etcdpp node snapshots (save them with `etcdctl snapshot save`)",
               "etcdpp snapshot");
  app.require_subcommand(1);
  RestoreOptions o;
  CLI::App* restore = app.add_subcommand(
      "restore", "Restores an etcdpp member snapshot to an etcdpp data directory");
  restore->add_option("filename", o.snapshot_path, "the snapshot file")->required();
  restore->add_option("--data-dir", o.data_dir,
                      "Path to the data directory (default: <name>.etcd)");
  restore->add_option("--wal-dir", o.wal_dir, "Path to the WAL directory (default: data dir)");
  restore->add_option("--name", o.name, "Human-readable name for this member")
      ->capture_default_str();
  restore
      ->add_option("--initial-cluster", o.initial_cluster,
                   "Initial cluster configuration for restore bootstrap")
      ->capture_default_str();
  restore
      ->add_option("--initial-cluster-token", o.initial_cluster_token,
                   "Initial cluster token for the etcd cluster during restore bootstrap")
      ->capture_default_str();
  restore
      ->add_option("--initial-advertise-peer-urls", o.initial_advertise_peer_urls,
                   "List of this member's peer URLs to advertise to the rest of the cluster")
      ->capture_default_str();
  restore->add_flag(
      "--skip-hash-check", o.skip_hash_check,
      "Ignore snapshot integrity hash value (required if copied from data directory)");
  std::vector<std::string> argv_rev(args.rbegin(), args.rend());
  try {
    app.parse(argv_rev);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  Status s = RestoreSnapshot(o);
  if (!s.ok()) {
    std::fprintf(stderr, "Error: %s\n", s.message().c_str());
    return 1;
  }
  std::printf("restored snapshot %s into data-dir %s\n", o.snapshot_path.c_str(),
              (o.data_dir.empty() ? o.name + ".etcd" : o.data_dir).c_str());
  return 0;
}

}  // namespace etcdpp::cmd
