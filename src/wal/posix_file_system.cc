// The production FileSystem: thin wrappers over POSIX calls that turn errno into Status values
// naming the path and the call that failed.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "wal/file_system.h"

namespace etcdpp::wal {
namespace {

Status ErrnoStatus(std::string_view call, const std::string& path, int err) {
  std::string msg = std::string(call) + " " + path + ": " + std::strerror(err);
  if (err == ENOENT) return NotFound(std::move(msg));
  if (err == EEXIST) return Status(Code::kAlreadyExists, std::move(msg));
  if (err == ENOSPC || err == EDQUOT) return ResourceExhausted(std::move(msg));
  if (err == EWOULDBLOCK) return Unavailable(std::move(msg));
  return IoError(std::move(msg));
}

// Closes an fd on scope exit.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int fd_;
};

class PosixFile final : public File {
 public:
  PosixFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixFile() override { ::close(fd_); }

  Status WriteAt(uint64_t offset, std::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::pwrite(fd_, data.data(), data.size(), static_cast<off_t>(offset));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("pwrite", path_, errno);
      }
      data.remove_prefix(static_cast<size_t>(n));
      offset += static_cast<uint64_t>(n);
    }
    return Status::Ok();
  }

  Status Sync() override {
    if (::fdatasync(fd_) != 0) return ErrnoStatus("fdatasync", path_, errno);
    return Status::Ok();
  }

  Status Truncate(uint64_t size_bytes) override {
    if (::ftruncate(fd_, static_cast<off_t>(size_bytes)) != 0) {
      return ErrnoStatus("ftruncate", path_, errno);
    }
    return Status::Ok();
  }

  Status Preallocate(uint64_t size_bytes) override {
    // Mode 0 extends the file size too, so later fdatasyncs of in-place writes need no size
    // update in the inode (the reason etcd pre-allocates segments the same way).
    if (::fallocate(fd_, 0, 0, static_cast<off_t>(size_bytes)) == 0) return Status::Ok();
    int err = errno;
    if (err != EOPNOTSUPP && err != ENOSYS && err != EINVAL) {
      return ErrnoStatus("fallocate", path_, err);
    }
    // Not supported here (e.g. tmpfs on old kernels, some FUSE): a sparse extension still
    // gives the zeroed tail the record reader relies on.
    ETCDPP_ASSIGN_OR_RETURN(uint64_t size, Size());
    if (size >= size_bytes) return Status::Ok();
    return Truncate(size_bytes);
  }

  Result<uint64_t> Size() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return ErrnoStatus("fstat", path_, errno);
    return static_cast<uint64_t>(st.st_size);
  }

 private:
  int fd_;
  std::string path_;
};

class PosixDirLock final : public DirLock {
 public:
  explicit PosixDirLock(int fd) : fd_(fd) {}
  ~PosixDirLock() override { ::close(fd_); }  // closing drops the flock

 private:
  int fd_;
};

class PosixFs final : public FileSystem {
 public:
  Result<std::unique_ptr<File>> OpenFile(const std::string& path, OpenMode mode) override {
    int flags = O_RDWR | O_CLOEXEC;
    if (mode == OpenMode::kCreateExclusive) flags |= O_CREAT | O_EXCL;
    int fd = ::open(path.c_str(), flags, 0600);
    if (fd < 0) return ErrnoStatus("open", path, errno);
    return std::unique_ptr<File>(new PosixFile(fd, path));
  }

  Result<std::string> ReadFile(const std::string& path) override {
    return Read(path, /*data_regions_only=*/false);
  }

  Result<std::string> ReadFileData(const std::string& path) override {
    return Read(path, /*data_regions_only=*/true);
  }

  Result<std::vector<std::string>> ListDir(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return ErrnoStatus("opendir", dir, errno);
    std::vector<std::string> names;
    errno = 0;
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(std::move(name));
    }
    int err = errno;
    ::closedir(d);
    if (err != 0) return ErrnoStatus("readdir", dir, err);
    std::sort(names.begin(), names.end());
    return names;
  }

  Status CreateDirs(const std::string& dir) override {
    if (dir.empty() || dir == "." || dir == "/") return Status::Ok();
    struct stat st;
    if (::stat(dir.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) return Status::Ok();
      return FailedPrecondition(dir + " exists and is not a directory");
    }
    ETCDPP_RETURN_IF_ERROR(CreateDirs(ParentDir(dir)));
    // 0700 like etcd's data dirs: the WAL holds every key and value.
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return ErrnoStatus("mkdir", dir, errno);
    }
    return Status::Ok();
  }

  bool Exists(const std::string& path) override {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
  }

  Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return ErrnoStatus("rename", from, errno);
    return Status::Ok();
  }

  Status Remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return ErrnoStatus("unlink", path, errno);
    return Status::Ok();
  }

  Status SyncDir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("open", dir, errno);
    FdCloser closer(fd);
    if (::fsync(fd) != 0) return ErrnoStatus("fsync", dir, errno);
    return Status::Ok();
  }

  Result<std::unique_ptr<DirLock>> LockDir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("open", dir, errno);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      ::close(fd);
      return ErrnoStatus("flock (is another etcdpp using this WAL?)", dir, err);
    }
    return std::unique_ptr<DirLock>(new PosixDirLock(fd));
  }

 private:
  // The whole file, or (data_regions_only) the file up to the end of its last data region:
  // pre-allocated, never written space is a hole to SEEK_DATA/SEEK_HOLE on ext4, xfs and tmpfs;
  // file systems without support report the whole file as data, which just means reading all of
  // it. A file that shrinks meanwhile yields what is there.
  static Result<std::string> Read(const std::string& path, bool data_regions_only) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("open", path, errno);
    FdCloser closer(fd);
    struct stat st;
    if (::fstat(fd, &st) != 0) return ErrnoStatus("fstat", path, errno);
    off_t end = st.st_size;
    if (data_regions_only) {
      end = 0;
      off_t off = 0;
      while (off < st.st_size) {
        off_t data = ::lseek(fd, off, SEEK_DATA);
        if (data < 0) {
          if (errno != ENXIO) end = st.st_size;  // ENXIO: no data after `off`
          break;
        }
        off_t hole = ::lseek(fd, data, SEEK_HOLE);
        if (hole < 0) {
          end = st.st_size;
          break;
        }
        end = std::min<off_t>(hole, st.st_size);
        off = hole;
      }
    }
    std::string out(static_cast<size_t>(end), '\0');
    size_t done = 0;
    while (done < out.size()) {
      ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("pread", path, errno);
      }
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    out.resize(done);
    return out;
  }
};

}  // namespace

FileSystem* PosixFileSystem() {
  static PosixFs* fs = new PosixFs();  // never destroyed: may be used during static teardown
  return fs;
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  std::string out(dir);
  if (!out.empty() && out.back() != '/') out.push_back('/');
  out.append(name);
  return out;
}

std::string ParentDir(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

}  // namespace etcdpp::wal
