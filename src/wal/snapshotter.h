// Snapshotter: raft snapshot files "<snap-dir>/%016x-%016x.snap" (term, index), named like
// etcd's so operators recognise them. Each file holds one raft::Snapshot (metadata and the
// opaque data) with a checksum over the whole file; the format is in docs/file-formats.md.
//
// Save writes "<name>.tmp", fsyncs it, renames it into place and fsyncs the directory, so a
// file with the real name is always complete. LoadNewest walks the files newest first and skips
// (renaming to "<name>.broken", with a warning) any that fail to decode or verify, like etcd.
//
// Ordering contract with the WAL: Snapshotter::Save, then Wal::SaveSnapshot(marker), then
// Wal::ReleaseLockTo(index). On restart, load the snapshot, then Wal::Open from its marker.
//
// Thread safety: not thread-safe; one owner thread (the raft thread).
#pragma once

#include <span>
#include <string>

#include "base/result.h"
#include "raft/types.h"
#include "wal/file_system.h"
#include "wal/record.h"

namespace etcdpp::wal {

// Encoding of a whole snap file (exposed for tests and the snapshot tools).
std::string EncodeSnapshotFile(const raft::Snapshot& snap);
// Errors: kDataLoss naming what is wrong (magic, version, length, checksum, payload).
Result<raft::Snapshot> DecodeSnapshotFile(std::string_view bytes);

// "%016x-%016x.snap" of (term, index).
std::string SnapshotFileName(Term term, LogIndex index);

class Snapshotter {
 public:
  // `dir` is created on the first Save if missing. `fs` is not owned and must outlive this.
  explicit Snapshotter(std::string dir, FileSystem* fs = PosixFileSystem())
      : dir_(std::move(dir)), fs_(fs) {}

  // Durably writes `snap` as <term>-<index>.snap. An empty snapshot (index 0) is a no-op.
  Status Save(const raft::Snapshot& snap);

  // Returns the newest snapshot that decodes and verifies. Broken files are renamed to
  // "<name>.broken" and skipped. Errors: kNotFound if there is none.
  Result<raft::Snapshot> LoadNewest();

  // Like LoadNewest, but only considers snapshots whose (index, term) is in `markers` (the ones
  // the WAL recorded), so the snapshot and the WAL always agree.
  Result<raft::Snapshot> LoadNewestAvailable(std::span<const SnapshotMarker> markers);

  // Loads one file by name (no directory). Errors: kNotFound, kDataLoss.
  Result<raft::Snapshot> Load(const std::string& name);

  // Deletes all but the newest `keep` snap files (etcd's --max-snapshots, default 5), so the
  // directory does not grow without bound. REQUIRES: keep ≥ 1. `.broken` files are left for the
  // operator.
  Status Purge(size_t keep);

  const std::string& dir() const { return dir_; }

 private:
  Result<raft::Snapshot> LoadNewestMatching(std::span<const SnapshotMarker>* markers);
  // Names of the snap files, newest first.
  Result<std::vector<std::string>> SnapNames();

  std::string dir_;
  FileSystem* fs_;
};

}  // namespace etcdpp::wal
