// Wal: the raft write-ahead log, the source of durability of etcdpp (DESIGN §4).
//
// On disk a WAL is a directory of segment files named like etcd's, "%016x-%016x.wal" =
// (segment sequence number, index of the first entry the segment may hold). Each segment is
// pre-allocated (64 MiB by default) and holds framed, checksummed, chained records (record.h;
// docs/file-formats.md). Every segment starts with a segment header, the metadata, the latest
// HardState and the latest snapshot marker, so older segments can be deleted after a snapshot.
//
// Typical life (the raft thread of the server):
//   Create(dir, metadata)                 first start: a fresh WAL, ready for Save
//   Open(dir, snapshot_marker); ReadAll() restart: replay entries after the snapshot
//   Save(hard_state, entries)             every raft Ready: one write + one fdatasync
//   SaveSnapshot(marker); ReleaseLockTo(index)   after a raft snapshot is persisted
//   Close()
//
// Ordering contract (what callers may rely on):
//   - When Save returns OK and the batch has entries, or changes term or vote, every record of
//     the batch is durable (written and fdatasync'ed). Only then may the caller acknowledge the
//     writes or send messages that depend on them (raft thesis §3.8). A commit-only HardState
//     change is written but synced with the next batch, like etcd's raft.MustSync: a lost commit
//     index is learned again from the leader.
//   - Save appends in order; entries with an index ≤ a previously saved entry replace it and
//     every later one (a new leader overwriting an uncommitted suffix, raft §5.3). ReadAll
//     returns the log after these replacements.
//   - Errors are sticky: after a failed write, fsync or segment cut, every later Save, Sync and
//     SaveSnapshot returns that same error. The process must restart and recover from disk; we
//     never retry an fsync whose failure may have dropped dirty pages (the "fsyncgate" lesson).
//
// Recovery rules (ReadAll):
//   - A damaged tail of the last segment (a partial record, a zeroed sector, or a last record
//     that fails its checksum with nothing valid after it) is an interrupted write: it is
//     truncated, the rest of the segment re-zeroed and synced, and a warning logged.
//   - Any other damage (a bad record followed by a valid one, a bad record in an older segment,
//     a missing segment, a gap in entry indices, a broken chain between segments, conflicting
//     metadata) fails with kDataLoss and a message naming the file and byte offset.
//
// Thread safety: not thread-safe; one thread (the raft thread) owns a Wal. Only one Wal (in any
// process) may have a directory open: Create/Open take an exclusive lock on it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/status.h"
#include "raft/types.h"
#include "wal/file_system.h"
#include "wal/record.h"

namespace etcdpp::wal {

// etcd's SegmentSizeBytes: big enough that cuts are rare, small enough to delete old log quickly.
inline constexpr uint64_t kDefaultSegmentSizeBytes = 64ull << 20;

struct WalOptions {
  FileSystem* fs = PosixFileSystem();  // not owned; must outlive the Wal
  // A segment is cut when the next batch would not fit. A batch larger than a whole segment is
  // still written in one piece (the segment grows past this size).
  uint64_t segment_size_bytes = kDefaultSegmentSizeBytes;
  // Zeros written ahead of the records, this many bytes at a time (0: none). A pre-allocated
  // range is "unwritten" to ext4 and XFS: an fdatasync after writing into it must also commit
  // the journal transaction that marks it written. Zero-filling a chunk first lets one such
  // commit cover the chunk, so the fdatasyncs of the records written into it flush only their
  // data. On the bench VM an 8 KiB record's write + fdatasync took ~125 instead of ~185 µs
  // (45 instead of 70 µs of CPU); records smaller than a page gain nothing (most of their
  // fdatasyncs land in a page converted already). 1 MiB: one journal commit per 128 batches of
  // 8 KiB, and the chunk's own flush stays short.
  uint64_t zero_ahead_bytes = 1 << 20;
  // Called (on the Wal's thread) after every fdatasync of the tail segment with its duration,
  // and after every record write with its size: the hooks for etcd's
  // etcd_disk_wal_fsync_duration_seconds and etcd_disk_wal_write_bytes_total. May be empty.
  std::function<void(std::chrono::nanoseconds)> on_fsync;
  std::function<void(uint64_t bytes)> on_write;
};

// What ReadAll recovers.
struct WalContents {
  std::string metadata;              // as given to Create
  raft::HardState hard_state;        // the last one saved (empty if none)
  std::vector<raft::Entry> entries;  // entries after the snapshot given to Open, contiguous
};

class Wal {
 public:
  // Creates a WAL in `dir` (made if missing; must hold no .wal files) with the first segment
  // "0000000000000000-0000000000000000.wal" holding `metadata` and a snapshot marker {0, 0}.
  // Built in "<dir>.tmp" and renamed, so a crash never leaves a half-made WAL behind.
  // The returned Wal is ready for Save (no ReadAll needed). Errors: kAlreadyExists if `dir`
  // holds a WAL; I/O errors.
  static Result<std::unique_ptr<Wal>> Create(const std::string& dir, std::string_view metadata,
                                             const WalOptions& options = {});

  // Opens an existing WAL to replay it from `from` (the snapshot the state machine was restored
  // from; {0, 0} for none). Nothing is read yet: call ReadAll next. Errors: kNotFound if there is
  // no WAL or no segment covers from.index; kDataLoss for a gap in segment sequence numbers;
  // kUnavailable if another process has the directory locked.
  static Result<std::unique_ptr<Wal>> Open(const std::string& dir, SnapshotMarker from,
                                           const WalOptions& options = {});

  // Returns the snapshot markers recorded in the WAL at `dir` whose index is ≤ the commit index
  // of the last HardState, oldest first ({0, 0} from the first segment included if still there).
  // Read-only: takes no lock and repairs nothing (a torn tail just ends the scan). Use it with
  // Snapshotter::LoadNewestAvailable on restart: a crash between Snapshotter::Save and
  // Wal::SaveSnapshot leaves a snap file the WAL does not know, which must not be opened from.
  // Errors: kNotFound if there is no WAL; kDataLoss for corruption before the last segment's tail.
  static Result<std::vector<SnapshotMarker>> ValidSnapshotMarkers(const std::string& dir,
                                                                  const WalOptions& options = {});

  // Returns true iff `dir` holds at least one .wal file.
  static bool Exists(const std::string& dir, FileSystem* fs = PosixFileSystem());

  ~Wal();  // closes (syncing pending bytes) if Close was not called; errors are only logged
  Wal(const Wal&) = delete;
  Wal& operator=(const Wal&) = delete;

  // Reads every segment from the one covering `from`, applies the recovery rules above, and
  // leaves the Wal ready for Save at the end of the valid data. May be called once, after Open.
  // Errors: kDataLoss (corruption, with file and offset); kNotFound if from.index > 0 and no
  // snapshot marker with that index is in the WAL; kDataLoss if one is, with another term.
  Result<WalContents> ReadAll();

  // Appends `entries` and then `hard_state` (skipped if empty or unchanged) in one write, then
  // fdatasyncs once (see the ordering contract for the commit-only exception). Cuts a new
  // segment first if the batch would not fit in the current one.
  // REQUIRES: entries have consecutive indexes; entries[0].index ≤ last_index() + 1; each entry's
  // data is below kMaxRecordPayloadBytes.
  // Errors: kInvalidArgument if the requirement does not hold (nothing written, not sticky);
  // kFailedPrecondition before ReadAll/after Close; the sticky error after any I/O failure.
  Status Save(const raft::HardState& hard_state, std::span<const raft::Entry> entries);

  // Records that a raft snapshot at `marker` is durable elsewhere (the snap file and the state
  // machine), then fdatasyncs. Call after Snapshotter::Save, before ReleaseLockTo.
  Status SaveSnapshot(SnapshotMarker marker);

  // fdatasyncs anything written but not yet synced (commit-only HardState changes).
  Status Sync();

  // Deletes every segment that holds only entries below `index`, keeping the segment that covers
  // `index` and all later ones. Call with the index of a snapshot already passed to SaveSnapshot
  // so a later Open from that snapshot still finds its segment. The last segment is never removed.
  // Errors are returned but not sticky (they cost disk space, not durability).
  Status ReleaseLockTo(LogIndex index);

  // Syncs pending bytes and releases the directory lock. Later calls fail with
  // kFailedPrecondition. Returns the sticky error if there is one.
  Status Close();

  // Index of the last entry in the log (or of the newest snapshot marker, if larger).
  LogIndex last_index() const { return last_index_; }
  // OK, or the first I/O error that stopped the WAL.
  const Status& sticky_error() const { return sticky_; }
  // The directory this WAL lives in.
  const std::string& dir() const { return dir_; }

 private:
  struct SegmentName {
    uint64_t seq;
    LogIndex first_index;
    std::string file;  // name without directory
  };

  Wal(std::string dir, const WalOptions& options);
  static Result<std::vector<SegmentName>> ListSegments(FileSystem* fs, const std::string& dir);
  Status CutSegment();
  // Writes a new segment file (header, metadata, hard state, snapshot marker) via a temp name.
  Status WriteNewSegment(const std::string& dir, uint64_t seq, LogIndex first_index,
                         uint64_t prev_chain, std::unique_ptr<File>* file, uint64_t* tail,
                         uint64_t* chain);
  Status Fail(Status s);  // records a sticky error and returns it
  Status SyncTail();      // fdatasyncs the tail; times it, reports it, warns when slow
  Status WriteTail(std::string_view bytes);  // writes at tail_offset_ (no offset update)
  Status CheckWritable() const;

  std::string dir_;
  WalOptions options_;
  std::unique_ptr<DirLock> lock_;
  std::vector<SegmentName> segments_;  // every segment in the directory, by seq
  size_t read_from_ = 0;               // index in segments_ where ReadAll starts
  SnapshotMarker from_;

  enum class State { kOpened, kWritable, kClosed };
  State state_ = State::kOpened;
  Status sticky_;

  // Write position (valid in kWritable).
  std::unique_ptr<File> tail_;  // the last segment
  uint64_t tail_offset_ = 0;    // where the next record goes
  uint64_t zeroed_to_ = 0;      // the tail holds records or zeros up to here (zero_ahead_bytes)
  // End of the records a fresh segment starts with; a tail that holds nothing past it is never
  // cut (cutting it would not make room). 0 once the tail holds an entry.
  uint64_t tail_header_end_ = 0;
  uint64_t chain_ = 0;     // checksum of the last record written
  bool unsynced_ = false;  // bytes written since the last fdatasync
  LogIndex last_index_;
  std::string metadata_;
  std::string zeros_;  // zero_ahead_bytes of zeros, allocated on first use
  raft::HardState hard_state_;
  SnapshotMarker snapshot_;  // newest marker in the log
  // Reused encoding buffer of Save: grows to the largest batch, which the raft layer bounds (its
  // max bytes per Ready); kept so a Save does not allocate.
  std::string buffer_;
};

// Builds the etcd-style segment file name "%016x-%016x.wal".
std::string SegmentFileName(uint64_t seq, LogIndex first_index);

}  // namespace etcdpp::wal
