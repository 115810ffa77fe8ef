#include "wal/snapshotter.h"

#include <spdlog/spdlog.h>
#include <xxhash.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>

namespace etcdpp::wal {
namespace {

constexpr uint64_t kSnapMagic = 0x4e53707064637465ULL;  // "etcdppSN" little-endian
constexpr uint32_t kSnapVersion = 1;
constexpr size_t kSnapHeaderBytes = 24;  // magic, version, reserved, payload length
constexpr size_t kSnapTrailerBytes = 8;  // XXH64 of everything before it
// A snap file holds raft metadata plus the v2-store-sized data etcd keeps there; the MVCC state
// lives in LMDB. 1 GiB rejects a corrupt length without refusing any real file.
constexpr uint64_t kMaxSnapPayloadBytes = 1ull << 30;
// Bound on ids per ConfState list: far above any cluster size etcd supports (it warns above 7).
constexpr uint32_t kMaxConfIds = 1u << 16;
constexpr std::string_view kSnapSuffix = ".snap";

void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// Reads little-endian numbers from a byte range, remembering whether it ran short.
class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  uint64_t U64() { return Get(8); }
  uint32_t U32() { return static_cast<uint32_t>(Get(4)); }
  uint8_t U8() { return static_cast<uint8_t>(Get(1)); }
  std::string_view Rest() {
    auto r = b_;
    b_ = {};
    return r;
  }
  bool short_read() const { return short_; }
  size_t left() const { return b_.size(); }

 private:
  uint64_t Get(int n) {
    if (b_.size() < static_cast<size_t>(n)) {
      short_ = true;
      b_ = {};
      return 0;
    }
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b_[i]);
    b_.remove_prefix(n);
    return v;
  }
  std::string_view b_;
  bool short_ = false;
};

void PutIds(std::string* out, const std::vector<raft::NodeId>& ids) {
  PutU32(out, static_cast<uint32_t>(ids.size()));
  for (auto id : ids) PutU64(out, id.value());
}

bool GetIds(Reader* r, std::vector<raft::NodeId>* ids) {
  uint32_t n = r->U32();
  if (r->short_read() || n > kMaxConfIds || n > r->left() / 8) return false;
  for (uint32_t i = 0; i < n; ++i) ids->push_back(raft::NodeId(r->U64()));
  return !r->short_read();
}

}  // namespace

std::string SnapshotFileName(Term term, LogIndex index) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64 "-%016" PRIx64 ".snap", term.value(),
                index.value());
  return buf;
}

std::string EncodeSnapshotFile(const raft::Snapshot& snap) {
  std::string payload;
  const auto& m = snap.metadata;
  PutU64(&payload, m.index.value());
  PutU64(&payload, m.term.value());
  payload.push_back(m.conf_state.auto_leave ? 1 : 0);
  PutIds(&payload, m.conf_state.voters);
  PutIds(&payload, m.conf_state.learners);
  PutIds(&payload, m.conf_state.voters_outgoing);
  PutIds(&payload, m.conf_state.learners_next);
  payload.append(snap.data);

  std::string out;
  out.reserve(kSnapHeaderBytes + payload.size() + kSnapTrailerBytes);
  PutU64(&out, kSnapMagic);
  PutU32(&out, kSnapVersion);
  PutU32(&out, 0);
  PutU64(&out, payload.size());
  out.append(payload);
  PutU64(&out, XXH64(out.data(), out.size(), 0));
  return out;
}

Result<raft::Snapshot> DecodeSnapshotFile(std::string_view bytes) {
  if (bytes.size() < kSnapHeaderBytes + kSnapTrailerBytes) {
    return DataLoss("snap file too short (" + std::to_string(bytes.size()) + " bytes)");
  }
  Reader h(bytes);
  if (h.U64() != kSnapMagic) return DataLoss("snap file has a bad magic number");
  uint32_t version = h.U32();
  if (version != kSnapVersion) {
    return DataLoss("snap file format version " + std::to_string(version) + " not supported");
  }
  h.U32();
  uint64_t len = h.U64();
  if (len > kMaxSnapPayloadBytes || len != bytes.size() - kSnapHeaderBytes - kSnapTrailerBytes) {
    return DataLoss("snap file payload length " + std::to_string(len) + " does not match size " +
                    std::to_string(bytes.size()));
  }
  const size_t body = kSnapHeaderBytes + len;
  Reader t(bytes.substr(body));
  if (XXH64(bytes.data(), body, 0) != t.U64()) return DataLoss("snap file checksum mismatch");

  Reader r(bytes.substr(kSnapHeaderBytes, len));
  raft::Snapshot snap;
  snap.metadata.index = LogIndex(r.U64());
  snap.metadata.term = Term(r.U64());
  uint8_t auto_leave = r.U8();
  auto& cs = snap.metadata.conf_state;
  cs.auto_leave = auto_leave == 1;
  if (r.short_read() || auto_leave > 1 || !GetIds(&r, &cs.voters) || !GetIds(&r, &cs.learners) ||
      !GetIds(&r, &cs.voters_outgoing) || !GetIds(&r, &cs.learners_next)) {
    return DataLoss("snap file payload is malformed");
  }
  snap.data.assign(r.Rest());
  return snap;
}

Status Snapshotter::Save(const raft::Snapshot& snap) {
  if (snap.empty()) return Status::Ok();
  ETCDPP_RETURN_IF_ERROR(fs_->CreateDirs(dir_));
  const std::string path =
      JoinPath(dir_, SnapshotFileName(snap.metadata.term, snap.metadata.index));
  const std::string tmp = path + ".tmp";
  if (fs_->Exists(tmp)) ETCDPP_RETURN_IF_ERROR(fs_->Remove(tmp));
  std::string bytes = EncodeSnapshotFile(snap);
  {
    ETCDPP_ASSIGN_OR_RETURN(std::unique_ptr<File> f,
                            fs_->OpenFile(tmp, OpenMode::kCreateExclusive));
    ETCDPP_RETURN_IF_ERROR(f->WriteAt(0, bytes));
    ETCDPP_RETURN_IF_ERROR(f->Sync());
  }
  ETCDPP_RETURN_IF_ERROR(fs_->Rename(tmp, path));
  return fs_->SyncDir(dir_);
}

Result<raft::Snapshot> Snapshotter::Load(const std::string& name) {
  const std::string path = JoinPath(dir_, name);
  ETCDPP_ASSIGN_OR_RETURN(std::string bytes, fs_->ReadFile(path));
  auto snap = DecodeSnapshotFile(bytes);
  if (!snap.ok()) return DataLoss("snap: " + path + ": " + snap.status().message());
  if (SnapshotFileName(snap->metadata.term, snap->metadata.index) != name) {
    return DataLoss("snap: " + path + ": holds snapshot term " +
                    std::to_string(snap->metadata.term.value()) + " index " +
                    std::to_string(snap->metadata.index.value()) + ", not what its name says");
  }
  return snap;
}

Result<raft::Snapshot> Snapshotter::LoadNewest() { return LoadNewestMatching(nullptr); }

Result<raft::Snapshot> Snapshotter::LoadNewestAvailable(std::span<const SnapshotMarker> markers) {
  return LoadNewestMatching(&markers);
}

Result<std::vector<std::string>> Snapshotter::SnapNames() {
  ETCDPP_ASSIGN_OR_RETURN(std::vector<std::string> names, fs_->ListDir(dir_));
  std::vector<std::string> snaps;
  for (auto& n : names) {
    if (n.size() == 33 + kSnapSuffix.size() && n.ends_with(kSnapSuffix)) snaps.push_back(n);
  }
  // Fixed-width hex of (term, index): name order is snapshot order.
  std::sort(snaps.rbegin(), snaps.rend());
  return snaps;
}

Status Snapshotter::Purge(size_t keep) {
  CHECK(keep >= 1);
  auto snaps = SnapNames();
  if (!snaps.ok()) return snaps.status().code() == Code::kNotFound ? Status::Ok() : snaps.status();
  if (snaps->size() <= keep) return Status::Ok();
  for (size_t i = keep; i < snaps->size(); ++i) {
    ETCDPP_RETURN_IF_ERROR(fs_->Remove(JoinPath(dir_, (*snaps)[i])));
  }
  return fs_->SyncDir(dir_);
}

Result<raft::Snapshot> Snapshotter::LoadNewestMatching(std::span<const SnapshotMarker>* markers) {
  auto listed = SnapNames();
  if (!listed.ok()) {
    if (listed.status().code() == Code::kNotFound) return NotFound("snap: no snapshot in " + dir_);
    return listed.status();
  }
  const std::vector<std::string>& snaps = *listed;
  for (const auto& n : snaps) {
    auto snap = Load(n);
    if (!snap.ok()) {
      if (snap.status().code() != Code::kDataLoss) return snap.status();
      const std::string path = JoinPath(dir_, n);
      spdlog::warn("{}; renaming it to {}.broken and trying an older snapshot",
                   snap.status().message(), n);
      Status s = fs_->Rename(path, path + ".broken");
      if (!s.ok()) spdlog::warn("snap: rename of {} failed: {}", path, s.ToString());
      continue;
    }
    if (markers != nullptr) {
      SnapshotMarker m{snap->metadata.index, snap->metadata.term};
      if (std::find(markers->begin(), markers->end(), m) == markers->end()) continue;
    }
    return snap;
  }
  return NotFound("snap: no available snapshot in " + dir_);
}

}  // namespace etcdpp::wal
