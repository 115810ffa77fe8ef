#include "wal/wal.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>

namespace etcdpp::wal {
namespace {

constexpr std::string_view kWalSuffix = ".wal";
constexpr std::string_view kTmpSuffix = ".tmp";
constexpr size_t kHardStatePayloadBytes = 24;
constexpr size_t kSnapshotPayloadBytes = 16;

// Parses "%016x-%016x.wal"; returns false for any other name.
bool ParseSegmentName(std::string_view name, uint64_t* seq, uint64_t* index) {
  if (name.size() != 16 + 1 + 16 + kWalSuffix.size()) return false;
  if (name.substr(33) != kWalSuffix || name[16] != '-') return false;
  auto hex = [](std::string_view s, uint64_t* out) {
    uint64_t v = 0;
    for (char c : s) {
      int d;
      if (c >= '0' && c <= '9') {
        d = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        d = c - 'a' + 10;
      } else {
        return false;
      }
      v = (v << 4) | static_cast<uint64_t>(d);
    }
    *out = v;
    return true;
  };
  return hex(name.substr(0, 16), seq) && hex(name.substr(17, 16), index);
}

std::string At(const std::string& path, uint64_t offset) {
  return path + " at byte offset " + std::to_string(offset);
}

}  // namespace

std::string SegmentFileName(uint64_t seq, LogIndex first_index) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64 "-%016" PRIx64 ".wal", seq, first_index.value());
  return buf;
}

Wal::Wal(std::string dir, const WalOptions& options) : dir_(std::move(dir)), options_(options) {
  CHECK(options_.fs != nullptr);
}

Wal::~Wal() {
  if (state_ != State::kClosed) {
    Status s = Close();
    if (!s.ok()) spdlog::error("wal: closing {} failed: {}", dir_, s.ToString());
  }
}

bool Wal::Exists(const std::string& dir, FileSystem* fs) {
  auto names = fs->ListDir(dir);
  if (!names.ok()) return false;
  for (const auto& n : *names) {
    uint64_t seq, index;
    if (ParseSegmentName(n, &seq, &index)) return true;
  }
  return false;
}

Result<std::vector<Wal::SegmentName>> Wal::ListSegments(FileSystem* fs, const std::string& dir) {
  ETCDPP_ASSIGN_OR_RETURN(std::vector<std::string> names, fs->ListDir(dir));
  std::vector<SegmentName> out;
  for (auto& n : names) {
    uint64_t seq, index;
    if (ParseSegmentName(n, &seq, &index)) out.push_back({seq, LogIndex(index), n});
  }
  std::sort(out.begin(), out.end(),
            [](const SegmentName& a, const SegmentName& b) { return a.seq < b.seq; });
  for (size_t i = 1; i < out.size(); ++i) {
    if (out[i].seq != out[i - 1].seq + 1) {
      return DataLoss("wal: missing segment in " + dir + ": " + out[i].file + " follows " +
                      out[i - 1].file);
    }
    // first_index may go down from one segment to the next: a new leader can overwrite entries
    // below the index a segment was named after (raft §5.3).
  }
  return out;
}

Result<std::unique_ptr<Wal>> Wal::Create(const std::string& dir_in, std::string_view metadata,
                                         const WalOptions& options) {
  FileSystem* fs = options.fs;
  std::string dir = dir_in;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (Exists(dir, fs)) return Status(Code::kAlreadyExists, "wal: " + dir + " already holds a WAL");

  // Build in "<dir>.tmp" and rename, so a crash mid-way never leaves a WAL without its first
  // segment header and metadata (which Open would refuse).
  std::string tmp_dir = dir + std::string(kTmpSuffix);
  if (fs->Exists(tmp_dir)) {
    ETCDPP_ASSIGN_OR_RETURN(std::vector<std::string> leftovers, fs->ListDir(tmp_dir));
    for (const auto& n : leftovers) ETCDPP_RETURN_IF_ERROR(fs->Remove(JoinPath(tmp_dir, n)));
  }
  ETCDPP_RETURN_IF_ERROR(fs->CreateDirs(tmp_dir));

  std::unique_ptr<Wal> wal(new Wal(dir, options));
  wal->metadata_ = std::string(metadata);
  uint64_t tail = 0, chain = 0;
  ETCDPP_RETURN_IF_ERROR(
      wal->WriteNewSegment(tmp_dir, 0, LogIndex(0), 0, &wal->tail_, &tail, &chain));
  ETCDPP_RETURN_IF_ERROR(fs->SyncDir(tmp_dir));
  ETCDPP_RETURN_IF_ERROR(fs->CreateDirs(ParentDir(dir)));
  ETCDPP_RETURN_IF_ERROR(fs->Rename(tmp_dir, dir));
  ETCDPP_RETURN_IF_ERROR(fs->SyncDir(ParentDir(dir)));
  ETCDPP_ASSIGN_OR_RETURN(wal->lock_, fs->LockDir(dir));
  wal->segments_.push_back({0, LogIndex(0), SegmentFileName(0, LogIndex(0))});
  // The handle still names the file under "<dir>.tmp"; reopen it under its final path.
  ETCDPP_ASSIGN_OR_RETURN(wal->tail_,
                          fs->OpenFile(JoinPath(dir, wal->segments_[0].file), OpenMode::kExisting));

  wal->tail_offset_ = tail;
  wal->zeroed_to_ = tail;
  wal->tail_header_end_ = tail;
  wal->chain_ = chain;
  wal->state_ = State::kWritable;
  return wal;
}

Result<std::unique_ptr<Wal>> Wal::Open(const std::string& dir_in, SnapshotMarker from,
                                       const WalOptions& options) {
  std::string dir = dir_in;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  std::unique_ptr<Wal> wal(new Wal(dir, options));
  ETCDPP_ASSIGN_OR_RETURN(wal->lock_, options.fs->LockDir(dir));
  ETCDPP_ASSIGN_OR_RETURN(wal->segments_, ListSegments(options.fs, dir));
  if (wal->segments_.empty()) return NotFound("wal: no .wal files in " + dir);
  // Start at the last segment whose first index is ≤ the snapshot index. When that segment was
  // cut the log ended just below its first index, so every entry above the snapshot that is still
  // part of the log was written into it or a later segment; earlier copies were superseded.
  bool found = false;
  for (size_t i = 0; i < wal->segments_.size(); ++i) {
    if (wal->segments_[i].first_index <= from.index) {
      wal->read_from_ = i;
      found = true;
    }
  }
  if (!found) {
    return NotFound("wal: no segment in " + dir + " covers snapshot index " +
                    std::to_string(from.index.value()) + " (first is " + wal->segments_[0].file +
                    ")");
  }
  wal->from_ = from;
  return wal;
}

Result<std::vector<SnapshotMarker>> Wal::ValidSnapshotMarkers(const std::string& dir,
                                                              const WalOptions& options) {
  ETCDPP_ASSIGN_OR_RETURN(std::vector<SegmentName> segments, ListSegments(options.fs, dir));
  if (segments.empty()) return NotFound("wal: no .wal files in " + dir);
  std::vector<SnapshotMarker> markers;
  raft::HardState hs;
  for (size_t i = 0; i < segments.size(); ++i) {
    const std::string path = JoinPath(dir, segments[i].file);
    ETCDPP_ASSIGN_OR_RETURN(std::string bytes, options.fs->ReadFileData(path));
    SegmentScan scan = ScanRecords(bytes);
    const bool is_last = i + 1 == segments.size();
    if (scan.bad && (!is_last || !scan.torn)) {
      return DataLoss("wal: " + At(path, scan.end_offset) + ": " + scan.reason);
    }
    for (const RecordView& rec : scan.records) {
      if (rec.type == RecordType::kSnapshot) {
        auto m = DecodeSnapshotMarker(rec.payload);
        if (!m.ok()) return DataLoss("wal: " + At(path, rec.offset) + ": " + m.status().message());
        // Segment openings repeat the latest marker; keep each once.
        if (std::find(markers.begin(), markers.end(), *m) == markers.end()) markers.push_back(*m);
      } else if (rec.type == RecordType::kHardState) {
        auto h = DecodeHardState(rec.payload);
        if (!h.ok()) return DataLoss("wal: " + At(path, rec.offset) + ": " + h.status().message());
        hs = *h;
      }
    }
  }
  // A marker above the commit index cannot be a snapshot of committed state (etcd applies the
  // same filter in wal.ValidSnapshotEntries).
  std::erase_if(markers, [&](const SnapshotMarker& m) { return m.index > hs.commit; });
  return markers;
}

Result<WalContents> Wal::ReadAll() {
  if (state_ != State::kOpened) return FailedPrecondition("wal: ReadAll after Open only, once");
  FileSystem* fs = options_.fs;
  WalContents out;
  bool have_metadata = false;
  bool found_snapshot = false;
  uint64_t last = 0;        // index of the last entry (or snapshot marker) seen
  uint64_t prev_chain = 0;  // chain value at the end of the previous segment
  const uint64_t from = from_.index.value();
  uint64_t tail_end = 0, tail_chain = 0;
  bool tail_torn = false;
  std::string torn_reason;
  bool tail_has_records_after_header = false;

  for (size_t i = read_from_; i < segments_.size(); ++i) {
    const SegmentName& seg = segments_[i];
    const std::string path = JoinPath(dir_, seg.file);
    const bool is_last = i + 1 == segments_.size();
    ETCDPP_ASSIGN_OR_RETURN(std::string bytes, fs->ReadFileData(path));
    SegmentScan scan = ScanRecords(bytes);

    if (scan.records.empty() || scan.records[0].type != RecordType::kSegmentHeader) {
      return DataLoss("wal: " + At(path, 0) + ": no valid segment header" +
                      (scan.bad ? " (" + scan.reason + ")" : ""));
    }
    auto header = DecodeSegmentHeader(scan.records[0].payload);
    if (!header.ok()) return DataLoss("wal: " + At(path, 0) + ": " + header.status().message());
    if (header->seq != seg.seq || header->first_index != seg.first_index) {
      return DataLoss("wal: " + At(path, 0) + ": header says segment " +
                      SegmentFileName(header->seq, header->first_index) + ", name disagrees");
    }
    // Every segment is created complete (temp name, fsync, rename), so its opening block —
    // header, metadata, [hard state], snapshot marker — can only be missing through damage.
    const auto& recs = scan.records;
    const bool opening_complete = recs.size() >= 3 && recs[1].type == RecordType::kMetadata &&
                                  (recs[2].type == RecordType::kSnapshot ||
                                   (recs.size() >= 4 && recs[2].type == RecordType::kHardState &&
                                    recs[3].type == RecordType::kSnapshot));
    if (!opening_complete) {
      uint64_t off = recs.size() > 1 ? recs[1].offset : scan.end_offset;
      return DataLoss("wal: " + At(path, off) +
                      ": segment does not start with metadata and a snapshot marker" +
                      (scan.bad ? " (" + scan.reason + ")" : ""));
    }
    if (i == read_from_) {
      last = seg.first_index.value() > 0 ? seg.first_index.value() - 1 : 0;
    } else {
      if (header->prev_chain != prev_chain) {
        return DataLoss("wal: " + At(path, 0) +
                        ": checksum chain broken; the previous segment lost records at its end");
      }
      if (seg.first_index.value() != last + 1) {
        return DataLoss("wal: " + At(path, 0) + ": segment starts at index " +
                        std::to_string(seg.first_index.value()) +
                        " but the previous segment ends at index " + std::to_string(last));
      }
    }
    if (scan.bad && (!is_last || !scan.torn)) {
      return DataLoss("wal: " + At(path, scan.end_offset) + ": " + scan.reason +
                      (is_last ? " (followed by valid records, so not a torn write)"
                               : " (not in the last segment)"));
    }

    for (size_t r = 1; r < scan.records.size(); ++r) {
      const RecordView& rec = scan.records[r];
      auto bad = [&](const std::string& why) {
        return DataLoss("wal: " + At(path, rec.offset) + ": " + why);
      };
      switch (rec.type) {
        case RecordType::kSegmentHeader:
          return bad("second segment header in one segment");
        case RecordType::kMetadata:
          if (have_metadata && out.metadata != rec.payload) return bad("metadata conflict");
          out.metadata.assign(rec.payload);
          have_metadata = true;
          break;
        case RecordType::kEntry: {
          auto e = DecodeEntry(rec.payload);
          if (!e.ok()) return bad(e.status().message());
          uint64_t idx = e->index.value();
          if (idx == 0 || idx > last + 1) {
            return bad("gap in the log: entry " + std::to_string(idx) + " follows index " +
                       std::to_string(last));
          }
          if (idx > from) {
            // Entries from `idx` on are replaced (a new leader overwrote an uncommitted suffix).
            size_t keep = static_cast<size_t>(idx - from - 1);
            CHECK(keep <= out.entries.size()) << "keep=" << keep << " have=" << out.entries.size();
            out.entries.resize(keep);
            out.entries.push_back(std::move(e).value());
          } else {
            out.entries.clear();
          }
          last = idx;
          break;
        }
        case RecordType::kHardState: {
          auto hs = DecodeHardState(rec.payload);
          if (!hs.ok()) return bad(hs.status().message());
          out.hard_state = *hs;
          break;
        }
        case RecordType::kSnapshot: {
          auto m = DecodeSnapshotMarker(rec.payload);
          if (!m.ok()) return bad(m.status().message());
          if (m->index == from_.index) {
            if (m->term != from_.term) {
              return bad("snapshot marker at index " + std::to_string(from) + " has term " +
                         std::to_string(m->term.value()) + ", expected " +
                         std::to_string(from_.term.value()));
            }
            found_snapshot = true;
          }
          if (m->index.value() > last) {
            // The log continues after this snapshot (a restored or snapshot-installed member).
            if (last >= from && m->index.value() > from) {
              return bad("entries " + std::to_string(last + 1) + ".." +
                         std::to_string(m->index.value()) + " exist only in snapshot " +
                         std::to_string(m->index.value()) + "; open from that snapshot");
            }
            last = m->index.value();
          }
          snapshot_ = *m;
          break;
        }
      }
    }
    prev_chain = scan.chain;
    if (is_last) {
      tail_end = scan.end_offset;
      tail_chain = scan.chain;
      tail_torn = scan.bad;
      torn_reason = scan.reason;
      tail_has_records_after_header = false;
      for (size_t r = 1; r < scan.records.size(); ++r) {
        RecordType t = scan.records[r].type;
        if (t == RecordType::kEntry) tail_has_records_after_header = true;
      }
    }
  }
  if (from > 0 && !found_snapshot) {
    return NotFound("wal: no snapshot marker for index " + std::to_string(from) + " in " + dir_);
  }

  // Become writable at the end of the valid data of the last segment.
  const std::string tail_path = JoinPath(dir_, segments_.back().file);
  ETCDPP_ASSIGN_OR_RETURN(tail_, fs->OpenFile(tail_path, OpenMode::kExisting));
  if (tail_torn) {
    ETCDPP_ASSIGN_OR_RETURN(uint64_t size, tail_->Size());
    spdlog::warn("wal: {}: {}; truncating the torn tail ({} bytes) left by an interrupted write",
                 At(tail_path, tail_end), torn_reason, size - tail_end);
    // Truncate, then re-extend with zeros: the reader relies on the tail after the last record
    // being zero, and stale bytes could otherwise look like a damaged record later.
    ETCDPP_RETURN_IF_ERROR(tail_->Truncate(tail_end));
    ETCDPP_RETURN_IF_ERROR(tail_->Preallocate(std::max(size, options_.segment_size_bytes)));
    ETCDPP_RETURN_IF_ERROR(tail_->Sync());
  }
  tail_offset_ = tail_end;
  zeroed_to_ = tail_end;
  chain_ = tail_chain;
  // The segment header block ends before the first entry; an entry-less tail is never cut.
  tail_header_end_ = tail_has_records_after_header ? 0 : tail_end;
  last_index_ = LogIndex(last);
  metadata_ = out.metadata;
  hard_state_ = out.hard_state;
  state_ = State::kWritable;
  return out;
}

Status Wal::CheckWritable() const {
  if (!sticky_.ok()) return sticky_;
  if (state_ == State::kOpened)
    return FailedPrecondition("wal: ReadAll must succeed before writes");
  if (state_ == State::kClosed) return FailedPrecondition("wal: closed");
  return Status::Ok();
}

Status Wal::SyncTail() {
  // etcd warns about an fdatasync slower than this (wal.warnSyncDuration): the disk, not raft,
  // is then what makes leaders lose their lease.
  constexpr auto kSlowSync = std::chrono::seconds(1);
  auto start = std::chrono::steady_clock::now();
  Status s = tail_->Sync();
  auto took = std::chrono::steady_clock::now() - start;
  if (took > kSlowSync) {
    spdlog::warn("wal: {}: slow fdatasync took {} ms (expected < 1000 ms)", dir_,
                 std::chrono::duration_cast<std::chrono::milliseconds>(took).count());
  }
  if (options_.on_fsync) {
    options_.on_fsync(std::chrono::duration_cast<std::chrono::nanoseconds>(took));
  }
  return s;
}

Status Wal::WriteTail(std::string_view bytes) {
  const uint64_t end = tail_offset_ + bytes.size();
  zeroed_to_ = std::max(zeroed_to_, tail_offset_);
  if (options_.zero_ahead_bytes > 0 && end > zeroed_to_ && end < options_.segment_size_bytes) {
    // Zeros from the end of these records to a chunk past it, inside the pre-allocated segment;
    // the reader already treats an all-zero rest of a segment as its clean end.
    const uint64_t zero_end =
        std::min(options_.segment_size_bytes, end + options_.zero_ahead_bytes);
    if (zeros_.size() < zero_end - end) zeros_.resize(zero_end - end, '\0');
    Status z = tail_->WriteAt(end, std::string_view(zeros_.data(), zero_end - end));
    if (!z.ok()) return z;
    zeroed_to_ = zero_end;
  }
  Status s = tail_->WriteAt(tail_offset_, bytes);
  if (s.ok() && options_.on_write) options_.on_write(bytes.size());
  return s;
}

Status Wal::Fail(Status s) {
  CHECK(!s.ok());
  if (sticky_.ok()) {
    sticky_ = s;
    spdlog::error("wal: {}: write path stopped by an I/O error: {}", dir_, s.ToString());
  }
  return sticky_;
}

Status Wal::WriteNewSegment(const std::string& dir, uint64_t seq, LogIndex first_index,
                            uint64_t prev_chain, std::unique_ptr<File>* file, uint64_t* tail,
                            uint64_t* chain) {
  FileSystem* fs = options_.fs;
  const std::string name = SegmentFileName(seq, first_index);
  const std::string final_path = JoinPath(dir, name);
  const std::string tmp_path = final_path + std::string(kTmpSuffix);
  if (fs->Exists(tmp_path)) ETCDPP_RETURN_IF_ERROR(fs->Remove(tmp_path));
  ETCDPP_ASSIGN_OR_RETURN(std::unique_ptr<File> f,
                          fs->OpenFile(tmp_path, OpenMode::kCreateExclusive));
  ETCDPP_RETURN_IF_ERROR(f->Preallocate(options_.segment_size_bytes));
  std::string buf;
  uint64_t c =
      AppendRecord(&buf, RecordType::kSegmentHeader,
                   EncodeSegmentHeader({seq, first_index, prev_chain}), kSegmentHeaderSeed);
  c = AppendRecord(&buf, RecordType::kMetadata, metadata_, c);
  if (!hard_state_.empty()) {
    c = AppendRecord(&buf, RecordType::kHardState, EncodeHardState(hard_state_), c);
  }
  c = AppendRecord(&buf, RecordType::kSnapshot, EncodeSnapshotMarker(snapshot_), c);
  ETCDPP_RETURN_IF_ERROR(f->WriteAt(0, buf));
  ETCDPP_RETURN_IF_ERROR(f->Sync());
  // Only a complete, synced segment gets its real name; dir sync makes the name durable before
  // any entry is written into it.
  ETCDPP_RETURN_IF_ERROR(fs->Rename(tmp_path, final_path));
  ETCDPP_RETURN_IF_ERROR(fs->SyncDir(dir));
  // Reopen under the final name so later I/O errors name the file an operator will find.
  ETCDPP_ASSIGN_OR_RETURN(f, fs->OpenFile(final_path, OpenMode::kExisting));
  *file = std::move(f);
  *tail = buf.size();
  *chain = c;
  return Status::Ok();
}

Status Wal::CutSegment() {
  if (unsynced_) {
    Status s = SyncTail();
    if (!s.ok()) return Fail(s);
    unsynced_ = false;
  }
  const uint64_t seq = segments_.back().seq + 1;
  const LogIndex first = last_index_.next();
  std::unique_ptr<File> file;
  uint64_t tail = 0, chain = 0;
  Status s = WriteNewSegment(dir_, seq, first, chain_, &file, &tail, &chain);
  if (!s.ok()) return Fail(s);
  tail_ = std::move(file);
  tail_offset_ = tail;
  zeroed_to_ = tail;
  tail_header_end_ = tail;
  chain_ = chain;
  segments_.push_back({seq, first, SegmentFileName(seq, first)});
  spdlog::info("wal: {}: cut segment {}", dir_, segments_.back().file);
  return Status::Ok();
}

Status Wal::Save(const raft::HardState& hard_state, std::span<const raft::Entry> entries) {
  ETCDPP_RETURN_IF_ERROR(CheckWritable());
  if (!entries.empty()) {
    const uint64_t first = entries[0].index.value();
    if (first == 0 || first > last_index_.value() + 1) {
      return InvalidArgument("wal: entry " + std::to_string(first) + " would leave a gap after " +
                             std::to_string(last_index_.value()));
    }
    for (size_t i = 1; i < entries.size(); ++i) {
      if (entries[i].index.value() != first + i) {
        return InvalidArgument("wal: entries to save are not consecutive");
      }
    }
    for (const auto& e : entries) {
      if (EntryPayloadSize(e) > kMaxRecordPayloadBytes) {
        return InvalidArgument("wal: entry " + std::to_string(e.index.value()) + " of " +
                               std::to_string(e.data.size()) + " bytes exceeds the record limit");
      }
    }
  }
  const bool hs_changed = !hard_state.empty() && hard_state != hard_state_;
  if (entries.empty() && !hs_changed) return Status::Ok();
  // etcd's raft.MustSync: entries, a new term or a vote must be durable before any message
  // depending on them is sent; a commit index alone may be lost and re-learned.
  const bool must_sync =
      !entries.empty() ||
      (hs_changed && (hard_state.term != hard_state_.term || hard_state.vote != hard_state_.vote));

  size_t bytes = hs_changed ? RecordSize(kHardStatePayloadBytes) : 0;
  for (const auto& e : entries) bytes += RecordSize(EntryPayloadSize(e));
  if (tail_offset_ + bytes > options_.segment_size_bytes && tail_offset_ > tail_header_end_) {
    ETCDPP_RETURN_IF_ERROR(CutSegment());
  }

  buffer_.clear();
  buffer_.reserve(bytes);
  uint64_t chain = chain_;
  for (const auto& e : entries)
    chain = AppendRecord(&buffer_, RecordType::kEntry, EncodeEntry(e), chain);
  if (hs_changed) {
    chain = AppendRecord(&buffer_, RecordType::kHardState, EncodeHardState(hard_state), chain);
  }
  CHECK_EQ(buffer_.size(), bytes);
  Status s = WriteTail(buffer_);
  if (!s.ok()) return Fail(s);
  unsynced_ = true;
  tail_offset_ += bytes;
  chain_ = chain;
  if (must_sync) {
    s = SyncTail();
    if (!s.ok()) return Fail(s);
    unsynced_ = false;
  }
  if (!entries.empty()) {
    last_index_ = entries.back().index;
    tail_header_end_ = 0;  // the tail now holds entries and may be cut
  }
  if (hs_changed) hard_state_ = hard_state;
  return Status::Ok();
}

Status Wal::SaveSnapshot(SnapshotMarker marker) {
  ETCDPP_RETURN_IF_ERROR(CheckWritable());
  const size_t bytes = RecordSize(kSnapshotPayloadBytes);
  if (tail_offset_ + bytes > options_.segment_size_bytes && tail_offset_ > tail_header_end_) {
    ETCDPP_RETURN_IF_ERROR(CutSegment());
  }
  buffer_.clear();
  uint64_t chain =
      AppendRecord(&buffer_, RecordType::kSnapshot, EncodeSnapshotMarker(marker), chain_);
  Status s = WriteTail(buffer_);
  if (!s.ok()) return Fail(s);
  unsynced_ = true;
  tail_offset_ += bytes;
  chain_ = chain;
  s = SyncTail();
  if (!s.ok()) return Fail(s);
  unsynced_ = false;
  snapshot_ = marker;
  if (marker.index > last_index_) last_index_ = marker.index;
  return Status::Ok();
}

Status Wal::Sync() {
  ETCDPP_RETURN_IF_ERROR(CheckWritable());
  if (!unsynced_) return Status::Ok();
  Status s = SyncTail();
  if (!s.ok()) return Fail(s);
  unsynced_ = false;
  return Status::Ok();
}

Status Wal::ReleaseLockTo(LogIndex index) {
  if (state_ != State::kWritable) return FailedPrecondition("wal: not open for writing");
  size_t keep_from = 0;
  for (size_t i = 0; i < segments_.size(); ++i) {
    if (segments_[i].first_index <= index) keep_from = i;
  }
  if (keep_from == 0) return Status::Ok();
  for (size_t i = 0; i < keep_from; ++i) {
    Status s = options_.fs->Remove(JoinPath(dir_, segments_[i].file));
    if (!s.ok() && s.code() != Code::kNotFound) {
      segments_.erase(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(i));
      return s;
    }
    spdlog::info("wal: {}: removed segment {} (below index {})", dir_, segments_[i].file,
                 index.value());
  }
  segments_.erase(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(keep_from));
  read_from_ = 0;
  return options_.fs->SyncDir(dir_);
}

Status Wal::Close() {
  if (state_ == State::kClosed) return FailedPrecondition("wal: already closed");
  Status result = sticky_;
  if (result.ok() && state_ == State::kWritable && unsynced_) {
    result = SyncTail();
    if (!result.ok()) result = Fail(result);
    unsynced_ = false;
  }
  tail_.reset();
  lock_.reset();
  state_ = State::kClosed;
  return result;
}

}  // namespace etcdpp::wal
