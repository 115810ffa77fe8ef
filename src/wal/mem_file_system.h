// MemFileSystem: an in-memory FileSystem for tests and the deterministic simulator, with the
// durability rules of Linux made explicit so crashes can be simulated exactly:
//   - every file keeps its current bytes and its durable bytes; File::Sync copies current to
//     durable;
//   - the directory namespace (which name points at which file) has a current and a durable
//     version; SyncDir(dir) makes the entries of `dir` durable;
//   - Crash() throws away everything not durable (or, in kTornSectors mode, keeps a random subset
//     of the unsynced 512-byte sectors and a random one of the two file sizes, the way a power
//     loss can leave a partly written page cache on disk).
// Directories themselves are durable as soon as they are created (the WAL never relies on that).
//
// Faults: FailWrite/FailSync make the n-th next call fail once (a failing write first writes
// half of its bytes, like a short write before ENOSPC/EIO).
//
// Thread safety: all methods may be called from any thread (one mutex). File handles opened
// before a Crash() fail every later call, like handles of a process that died.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "wal/file_system.h"

namespace etcdpp::wal {

class MemFileSystem final : public FileSystem {
 public:
  enum class CrashMode {
    kDropUnsynced,  // only durable bytes and names survive
    kTornSectors,   // each unsynced sector survives or not at random (seeded)
  };

  MemFileSystem() = default;
  ~MemFileSystem() override;

  Result<std::unique_ptr<File>> OpenFile(const std::string& path, OpenMode mode) override;
  Result<std::string> ReadFile(const std::string& path) override;
  Result<std::vector<std::string>> ListDir(const std::string& dir) override;
  Status CreateDirs(const std::string& dir) override;
  bool Exists(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status Remove(const std::string& path) override;
  Status SyncDir(const std::string& dir) override;
  Result<std::unique_ptr<DirLock>> LockDir(const std::string& dir) override;

  // Simulates a power loss. `seed` drives the choices of kTornSectors.
  void Crash(CrashMode mode = CrashMode::kDropUnsynced, uint64_t seed = 0);

  // The n-th (1-based) WriteAt from now fails once with an I/O error after writing half its bytes.
  void FailWrite(int n);
  // The n-th (1-based) File::Sync from now fails once with an I/O error and makes nothing durable.
  void FailSync(int n);

  // Simulates the process dying in the middle of whatever it is doing: the n-th (1-based)
  // mutating call from now (write, sync, truncate, preallocate, create, rename, remove, dir sync)
  // and every later one fail without effect, until Crash().
  void DieAfter(int n);

  // Test helpers that bypass durability: read/overwrite the current bytes of a file.
  Result<std::string> Peek(const std::string& path) { return ReadFile(path); }
  Status Poke(const std::string& path, const std::string& data);
  // Successful File::Sync and File::WriteAt calls so far (for "one write, one fdatasync" tests).
  int sync_count() const;
  int write_count() const;

  struct Inode {
    std::string data;     // what a reader sees now
    std::string durable;  // what survives a crash
  };

 private:
  class MemFile;
  class MemLock;

  // Counts one mutating call for DieAfter; returns an error if the process is "dead".
  // REQUIRES: mu_ held.
  Status MutatingOp(const std::string& what);

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Inode>> names_;          // current namespace
  std::map<std::string, std::shared_ptr<Inode>> durable_names_;  // namespace after a crash
  std::set<std::string> dirs_{".", "/"};
  std::set<std::string> locked_dirs_;
  uint64_t epoch_ = 0;            // bumped by Crash(); stale handles compare against it
  int writes_until_failure_ = 0;  // 0: no failure armed
  int syncs_until_failure_ = 0;
  int sync_count_ = 0;
  int ops_until_death_ = 0;  // 0: not armed
  bool dead_ = false;
  int write_count_ = 0;
};

}  // namespace etcdpp::wal
