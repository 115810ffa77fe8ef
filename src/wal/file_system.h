// FileSystem: the small slice of file-system behaviour the WAL and the snapshotter need, behind an
// interface so tests can swap in MemFileSystem (mem_file_system.h) and inject faults: failing
// writes, failing fsyncs, and crashes that lose everything not yet made durable.
//
// The contract mirrors POSIX on Linux, including what is durable when:
//   - File::WriteAt data and file size changes are durable only after File::Sync returns OK.
//   - Creating, renaming or removing a directory entry is durable only after SyncDir on the
//     parent directory returns OK.
// Production uses PosixFileSystem() (pwrite, fdatasync, fallocate, rename, fsync of the dir fd).
//
// Thread safety: a FileSystem may be shared between threads; a File belongs to one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/status.h"

namespace etcdpp::wal {

class File {
 public:
  virtual ~File() = default;

  // Writes all of `data` at `offset`, growing the file if needed. A failure may leave any prefix
  // of `data` written.
  virtual Status WriteAt(uint64_t offset, std::string_view data) = 0;
  // Makes all data written so far, and the file size, durable (fdatasync).
  virtual Status Sync() = 0;
  // Sets the file size to `size_bytes`; bytes past the old end read as zeros.
  virtual Status Truncate(uint64_t size_bytes) = 0;
  // Reserves disk space so the file is at least `size_bytes` long and reads as zeros past the
  // data written so far. Falls back to Truncate where the file system has no fallocate.
  virtual Status Preallocate(uint64_t size_bytes) = 0;
  virtual Result<uint64_t> Size() = 0;
};

// An exclusive advisory lock, released when the object is destroyed.
class DirLock {
 public:
  virtual ~DirLock() = default;
};

enum class OpenMode {
  kCreateExclusive,  // the file must not exist yet
  kExisting,         // the file must exist
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  virtual Result<std::unique_ptr<File>> OpenFile(const std::string& path, OpenMode mode) = 0;
  // Returns the whole content of the file.
  virtual Result<std::string> ReadFile(const std::string& path) = 0;
  // Like ReadFile, but may leave out a suffix of the file that is known to read as zeros
  // (space reserved by Preallocate and never written), so that scanning a mostly empty 64 MiB
  // segment does not read 64 MiB. Everything that was ever written is included.
  virtual Result<std::string> ReadFileData(const std::string& path) { return ReadFile(path); }
  // Returns the names (not paths) of the entries in `dir`, sorted, without "." and "..".
  virtual Result<std::vector<std::string>> ListDir(const std::string& dir) = 0;
  // Creates `dir` and missing parents; OK if it already exists.
  virtual Status CreateDirs(const std::string& dir) = 0;
  virtual bool Exists(const std::string& path) = 0;
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  virtual Status Remove(const std::string& path) = 0;
  // Makes creations, renames and removals of entries in `dir` durable (fsync on the directory).
  virtual Status SyncDir(const std::string& dir) = 0;
  // Takes an exclusive lock on `dir` so that two processes cannot write one WAL. Fails with
  // kUnavailable if another holder has it.
  virtual Result<std::unique_ptr<DirLock>> LockDir(const std::string& dir) = 0;
};

// The real file system. The returned object is a process-wide singleton; never null.
FileSystem* PosixFileSystem();

// Path helpers: "a" + "b" → "a/b"; parent of "a/b/c" → "a/b" (of "c" → ".").
std::string JoinPath(std::string_view dir, std::string_view name);
std::string ParentDir(std::string_view path);

}  // namespace etcdpp::wal
