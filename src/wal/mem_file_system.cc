#include "wal/mem_file_system.h"

#include <algorithm>
#include <random>

namespace etcdpp::wal {
namespace {
// The unit of a torn write: the smallest block a disk writes atomically.
constexpr size_t kSectorBytes = 512;
}  // namespace

class MemFileSystem::MemFile final : public File {
 public:
  MemFile(MemFileSystem* fs, std::shared_ptr<Inode> inode, std::string path, uint64_t epoch)
      : fs_(fs), inode_(std::move(inode)), path_(std::move(path)), epoch_(epoch) {}

  Status WriteAt(uint64_t offset, std::string_view data) override {
    std::lock_guard<std::mutex> l(fs_->mu_);
    ETCDPP_RETURN_IF_ERROR(Alive());
    ETCDPP_RETURN_IF_ERROR(fs_->MutatingOp("pwrite " + path_));
    bool fail = false;
    if (fs_->writes_until_failure_ > 0 && --fs_->writes_until_failure_ == 0) {
      fail = true;
      data = data.substr(0, data.size() / 2);
    }
    std::string& d = inode_->data;
    if (d.size() < offset + data.size()) d.resize(offset + data.size(), '\0');
    std::copy(data.begin(), data.end(), d.begin() + static_cast<std::ptrdiff_t>(offset));
    if (fail) return IoError("pwrite " + path_ + ": injected I/O error");
    ++fs_->write_count_;
    return Status::Ok();
  }

  Status Sync() override {
    std::lock_guard<std::mutex> l(fs_->mu_);
    ETCDPP_RETURN_IF_ERROR(Alive());
    ETCDPP_RETURN_IF_ERROR(fs_->MutatingOp("fdatasync " + path_));
    if (fs_->syncs_until_failure_ > 0 && --fs_->syncs_until_failure_ == 0) {
      return IoError("fdatasync " + path_ + ": injected I/O error");
    }
    ++fs_->sync_count_;
    inode_->durable = inode_->data;
    return Status::Ok();
  }

  Status Truncate(uint64_t size_bytes) override {
    std::lock_guard<std::mutex> l(fs_->mu_);
    ETCDPP_RETURN_IF_ERROR(Alive());
    ETCDPP_RETURN_IF_ERROR(fs_->MutatingOp("ftruncate " + path_));
    inode_->data.resize(size_bytes, '\0');
    return Status::Ok();
  }

  Status Preallocate(uint64_t size_bytes) override {
    std::lock_guard<std::mutex> l(fs_->mu_);
    ETCDPP_RETURN_IF_ERROR(Alive());
    ETCDPP_RETURN_IF_ERROR(fs_->MutatingOp("fallocate " + path_));
    if (inode_->data.size() < size_bytes) inode_->data.resize(size_bytes, '\0');
    return Status::Ok();
  }

  Result<uint64_t> Size() override {
    std::lock_guard<std::mutex> l(fs_->mu_);
    ETCDPP_RETURN_IF_ERROR(Alive());
    return static_cast<uint64_t>(inode_->data.size());
  }

 private:
  // REQUIRES: fs_->mu_ held.
  Status Alive() const {
    if (epoch_ != fs_->epoch_) return IoError(path_ + ": file handle from before a crash");
    return Status::Ok();
  }

  MemFileSystem* fs_;
  std::shared_ptr<Inode> inode_;
  std::string path_;
  uint64_t epoch_;
};

class MemFileSystem::MemLock final : public DirLock {
 public:
  MemLock(MemFileSystem* fs, std::string dir) : fs_(fs), dir_(std::move(dir)) {}
  ~MemLock() override {
    std::lock_guard<std::mutex> l(fs_->mu_);
    fs_->locked_dirs_.erase(dir_);
  }

 private:
  MemFileSystem* fs_;
  std::string dir_;
};

MemFileSystem::~MemFileSystem() = default;

Result<std::unique_ptr<File>> MemFileSystem::OpenFile(const std::string& path, OpenMode mode) {
  std::lock_guard<std::mutex> l(mu_);
  if (!dirs_.count(ParentDir(path))) return NotFound("open " + path + ": no such directory");
  auto it = names_.find(path);
  if (mode == OpenMode::kCreateExclusive) {
    ETCDPP_RETURN_IF_ERROR(MutatingOp("open " + path));
    if (it != names_.end()) return Status(Code::kAlreadyExists, "open " + path + ": exists");
    it = names_.emplace(path, std::make_shared<Inode>()).first;
  } else if (it == names_.end()) {
    return NotFound("open " + path + ": no such file");
  }
  return std::unique_ptr<File>(new MemFile(this, it->second, path, epoch_));
}

Result<std::string> MemFileSystem::ReadFile(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = names_.find(path);
  if (it == names_.end()) return NotFound("open " + path + ": no such file");
  return it->second->data;
}

Result<std::vector<std::string>> MemFileSystem::ListDir(const std::string& dir) {
  std::lock_guard<std::mutex> l(mu_);
  if (!dirs_.count(dir)) return NotFound("opendir " + dir + ": no such directory");
  std::vector<std::string> out;
  for (const auto& [path, inode] : names_) {
    if (ParentDir(path) == dir) out.push_back(path.substr(path.rfind('/') + 1));
  }
  for (const auto& d : dirs_) {
    if (d != dir && d != "/" && d != "." && ParentDir(d) == dir) {
      out.push_back(d.substr(d.rfind('/') + 1));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

Status MemFileSystem::CreateDirs(const std::string& dir) {
  std::lock_guard<std::mutex> l(mu_);
  ETCDPP_RETURN_IF_ERROR(MutatingOp("mkdir " + dir));
  std::string d = dir;
  while (!dirs_.count(d)) {
    if (names_.count(d)) return FailedPrecondition(d + " exists and is not a directory");
    dirs_.insert(d);
    d = ParentDir(d);
  }
  return Status::Ok();
}

bool MemFileSystem::Exists(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  return names_.count(path) > 0 || dirs_.count(path) > 0;
}

Status MemFileSystem::Rename(const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> l(mu_);
  ETCDPP_RETURN_IF_ERROR(MutatingOp("rename " + from));
  auto it = names_.find(from);
  if (it != names_.end()) {
    names_[to] = it->second;
    names_.erase(from);
    return Status::Ok();
  }
  if (dirs_.count(from)) {
    // Directory rename (used by Wal::Create): move the directory and everything below it.
    if (dirs_.count(to)) {
      for (const auto& [p, inode] : names_) {
        if (ParentDir(p) == to) return FailedPrecondition("rename " + from + ": target not empty");
      }
    }
    std::string prefix = from + "/";
    std::map<std::string, std::shared_ptr<Inode>> moved;
    for (auto i = names_.begin(); i != names_.end();) {
      if (i->first.rfind(prefix, 0) == 0) {
        moved[to + "/" + i->first.substr(prefix.size())] = i->second;
        i = names_.erase(i);
      } else {
        ++i;
      }
    }
    names_.insert(moved.begin(), moved.end());
    // Directory durability is not modelled: the moved entries become durable under the new name
    // with the same durable status they had (a simplification; see the class comment).
    std::map<std::string, std::shared_ptr<Inode>> moved_durable;
    for (auto i = durable_names_.begin(); i != durable_names_.end();) {
      if (i->first.rfind(prefix, 0) == 0) {
        moved_durable[to + "/" + i->first.substr(prefix.size())] = i->second;
        i = durable_names_.erase(i);
      } else {
        ++i;
      }
    }
    durable_names_.insert(moved_durable.begin(), moved_durable.end());
    std::set<std::string> new_dirs;
    for (auto i = dirs_.begin(); i != dirs_.end();) {
      if (*i == from || i->rfind(prefix, 0) == 0) {
        new_dirs.insert(to + i->substr(from.size()));
        i = dirs_.erase(i);
      } else {
        ++i;
      }
    }
    dirs_.insert(new_dirs.begin(), new_dirs.end());
    return Status::Ok();
  }
  return NotFound("rename " + from + ": no such file");
}

Status MemFileSystem::Remove(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  ETCDPP_RETURN_IF_ERROR(MutatingOp("unlink " + path));
  if (names_.erase(path) == 0) return NotFound("unlink " + path + ": no such file");
  return Status::Ok();
}

Status MemFileSystem::SyncDir(const std::string& dir) {
  std::lock_guard<std::mutex> l(mu_);
  ETCDPP_RETURN_IF_ERROR(MutatingOp("fsync " + dir));
  if (!dirs_.count(dir)) return NotFound("open " + dir + ": no such directory");
  for (auto i = durable_names_.begin(); i != durable_names_.end();) {
    i = ParentDir(i->first) == dir ? durable_names_.erase(i) : std::next(i);
  }
  for (const auto& [path, inode] : names_) {
    if (ParentDir(path) == dir) durable_names_[path] = inode;
  }
  return Status::Ok();
}

Result<std::unique_ptr<DirLock>> MemFileSystem::LockDir(const std::string& dir) {
  std::lock_guard<std::mutex> l(mu_);
  if (!dirs_.count(dir)) return NotFound("open " + dir + ": no such directory");
  if (!locked_dirs_.insert(dir).second) return Unavailable("flock " + dir + ": already locked");
  return std::unique_ptr<DirLock>(new MemLock(this, dir));
}

void MemFileSystem::Crash(CrashMode mode, uint64_t seed) {
  std::lock_guard<std::mutex> l(mu_);
  std::mt19937_64 rng(seed);
  ++epoch_;
  locked_dirs_.clear();  // the process holding the locks is gone
  names_ = durable_names_;
  std::set<Inode*> done;
  for (auto& [path, inode] : names_) {
    if (!done.insert(inode.get()).second) continue;
    if (mode == CrashMode::kDropUnsynced) {
      inode->data = inode->durable;
      continue;
    }
    std::string result = (rng() & 1) ? inode->data : inode->durable;  // the size that survives
    for (size_t off = 0; off < result.size(); off += kSectorBytes) {
      size_t n = std::min(kSectorBytes, result.size() - off);
      const std::string& from = (rng() & 1) ? inode->data : inode->durable;
      for (size_t i = 0; i < n; ++i) result[off + i] = off + i < from.size() ? from[off + i] : '\0';
    }
    inode->data = result;
    inode->durable = result;
  }
  for (auto& [path, inode] : names_) inode->durable = inode->data;
  durable_names_ = names_;
  writes_until_failure_ = 0;
  syncs_until_failure_ = 0;
  ops_until_death_ = 0;
  dead_ = false;
}

void MemFileSystem::DieAfter(int n) {
  std::lock_guard<std::mutex> l(mu_);
  ops_until_death_ = n;
}

Status MemFileSystem::MutatingOp(const std::string& what) {
  if (!dead_ && ops_until_death_ > 0 && --ops_until_death_ == 0) dead_ = true;
  if (dead_) return IoError(what + ": the process died (simulated)");
  return Status::Ok();
}

void MemFileSystem::FailWrite(int n) {
  std::lock_guard<std::mutex> l(mu_);
  writes_until_failure_ = n;
}

void MemFileSystem::FailSync(int n) {
  std::lock_guard<std::mutex> l(mu_);
  syncs_until_failure_ = n;
}

Status MemFileSystem::Poke(const std::string& path, const std::string& data) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = names_.find(path);
  if (it == names_.end()) return NotFound(path);
  it->second->data = data;
  it->second->durable = data;
  return Status::Ok();
}

int MemFileSystem::sync_count() const {
  std::lock_guard<std::mutex> l(mu_);
  return sync_count_;
}

int MemFileSystem::write_count() const {
  std::lock_guard<std::mutex> l(mu_);
  return write_count_;
}

}  // namespace etcdpp::wal
