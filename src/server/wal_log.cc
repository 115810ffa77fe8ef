#include "server/wal_log.h"

#include <spdlog/spdlog.h>

#include <cinttypes>
#include <cstdio>

namespace etcdpp::server {
namespace {

std::string EncodeMetadata(MemberId member, ClusterId cluster) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "member=%016" PRIx64 " cluster=%016" PRIx64, member.value(),
                cluster.value());
  return buf;
}

Status DecodeMetadata(const std::string& s, MemberId* member, ClusterId* cluster) {
  uint64_t m = 0, c = 0;
  if (std::sscanf(s.c_str(), "member=%" SCNx64 " cluster=%" SCNx64, &m, &c) != 2) {
    return DataLoss("WAL metadata is not etcdpp's: \"" + s + "\"");
  }
  *member = MemberId(m);
  *cluster = ClusterId(c);
  return Status::Ok();
}

}  // namespace

Status WalLog::Compact(LogIndex index, Term term) {
  ETCDPP_RETURN_IF_ERROR(wal_->SaveSnapshot(wal::SnapshotMarker{index, term}));
  return wal_->ReleaseLockTo(index);
}

Result<OpenedLog> OpenWalLog(const std::string& wal_dir, MemberId member_id,
                             ClusterId cluster_id, LogIndex applied) {
  OpenedLog out;
  if (!wal::Wal::Exists(wal_dir)) {
    ETCDPP_ASSIGN_OR_RETURN(auto w, wal::Wal::Create(wal_dir, EncodeMetadata(member_id, cluster_id)));
    out.log = std::make_unique<WalLog>(std::move(w));
    out.member_id = member_id;
    out.cluster_id = cluster_id;
    out.created = true;
    return out;
  }
  ETCDPP_ASSIGN_OR_RETURN(auto markers, wal::Wal::ValidSnapshotMarkers(wal_dir));
  wal::SnapshotMarker from;
  for (const auto& m : markers) {
    if (m.index <= applied) from = m;
  }
  ETCDPP_ASSIGN_OR_RETURN(auto w, wal::Wal::Open(wal_dir, from));
  ETCDPP_ASSIGN_OR_RETURN(wal::WalContents contents, w->ReadAll());
  ETCDPP_RETURN_IF_ERROR(DecodeMetadata(contents.metadata, &out.member_id, &out.cluster_id));
  out.recovered.hard_state = contents.hard_state;
  out.recovered.last_index = w->last_index();
  out.recovered.entries = std::move(contents.entries);
  spdlog::info("opened WAL {}: {} entries, last index {}, term {}", wal_dir,
               out.recovered.entries.size(), out.recovered.last_index.value(),
               out.recovered.hard_state.term.value());
  out.log = std::make_unique<WalLog>(std::move(w));
  return out;
}

}  // namespace etcdpp::server
