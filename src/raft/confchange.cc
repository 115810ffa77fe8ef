#include "raft/confchange.h"

#include <algorithm>

#include "base/check.h"
#include "base/varint.h"

namespace etcdpp::raft {

namespace {

ConfChangeResult Copy(const ProgressTracker& t) { return {t.config, t.progress}; }

}  // namespace

Result<ConfChangeResult> Changer::EnterJoint(bool auto_leave,
                                             const std::vector<ConfChangeSingle>& changes) const {
  ConfChangeResult r = Copy(tracker_);
  if (r.config.voters.joint()) return InvalidArgument("raft: config is already joint");
  if (r.config.voters.incoming.empty()) {
    return InvalidArgument("raft: can't make a zero-voter config joint");
  }
  r.config.voters.outgoing = r.config.voters.incoming;
  ETCDPP_RETURN_IF_ERROR(Apply(&r, changes));
  r.config.auto_leave = auto_leave;
  ETCDPP_RETURN_IF_ERROR(Check(r));
  return r;
}

Result<ConfChangeResult> Changer::LeaveJoint() const {
  ConfChangeResult r = Copy(tracker_);
  if (!r.config.voters.joint()) return InvalidArgument("raft: can't leave a non-joint config");
  for (NodeId id : r.config.learners_next) {
    r.config.learners.insert(id);
    auto it = r.progress.find(id);
    CHECK(it != r.progress.end());
    it->second.is_learner = true;
  }
  r.config.learners_next.clear();
  for (NodeId id : r.config.voters.outgoing.ids()) {
    if (!r.config.voters.incoming.contains(id) && r.config.learners.count(id) == 0) {
      r.progress.erase(id);
    }
  }
  r.config.voters.outgoing = MajorityConfig();
  r.config.auto_leave = false;
  ETCDPP_RETURN_IF_ERROR(Check(r));
  return r;
}

Result<ConfChangeResult> Changer::Simple(const std::vector<ConfChangeSingle>& changes) const {
  ConfChangeResult r = Copy(tracker_);
  if (r.config.voters.joint()) {
    return InvalidArgument("raft: can't apply simple config change in joint config");
  }
  ETCDPP_RETURN_IF_ERROR(Apply(&r, changes));
  // Thesis §4.1: changing one voter at a time keeps any two majorities overlapping.
  const auto& before = tracker_.config.voters.incoming.ids();
  const auto& after = r.config.voters.incoming.ids();
  size_t diff = 0;
  for (NodeId id : before) diff += after.count(id) == 0;
  for (NodeId id : after) diff += before.count(id) == 0;
  if (diff > 1) {
    return InvalidArgument("raft: more than one voter changed without entering joint config");
  }
  ETCDPP_RETURN_IF_ERROR(Check(r));
  return r;
}

Status Changer::Apply(ConfChangeResult* r, const std::vector<ConfChangeSingle>& changes) const {
  for (const ConfChangeSingle& cc : changes) {
    if (cc.node_id == kNoNode) continue;  // etcd uses node 0 for no-op changes
    switch (cc.type) {
      case ConfChangeType::kAddNode:
        MakeVoter(r, cc.node_id);
        break;
      case ConfChangeType::kAddLearnerNode:
        MakeLearner(r, cc.node_id);
        break;
      case ConfChangeType::kRemoveNode:
        Remove(r, cc.node_id);
        break;
      case ConfChangeType::kUpdateNode:
        break;
    }
  }
  if (r->config.voters.incoming.empty()) return InvalidArgument("raft: removed all voters");
  return Status::Ok();
}

void Changer::InitProgress(ConfChangeResult* r, NodeId id, bool learner) const {
  if (learner) {
    r->config.learners.insert(id);
  } else {
    r->config.voters.incoming.mutable_ids().insert(id);
  }
  Progress pr(std::max<uint64_t>(last_index_, 1), tracker_.max_inflight(),
              tracker_.max_inflight_bytes());
  pr.is_learner = learner;
  // A new member counts as active so a leader does not step down (check-quorum) before the
  // newcomer had a chance to answer.
  pr.recent_active = true;
  r->progress.insert_or_assign(id, std::move(pr));
}

void Changer::MakeVoter(ConfChangeResult* r, NodeId id) const {
  auto it = r->progress.find(id);
  if (it == r->progress.end()) {
    InitProgress(r, id, /*learner=*/false);
    return;
  }
  it->second.is_learner = false;
  r->config.learners.erase(id);
  r->config.learners_next.erase(id);
  r->config.voters.incoming.mutable_ids().insert(id);
}

void Changer::MakeLearner(ConfChangeResult* r, NodeId id) const {
  auto it = r->progress.find(id);
  if (it == r->progress.end()) {
    InitProgress(r, id, /*learner=*/true);
    return;
  }
  if (it->second.is_learner) return;
  Progress pr = it->second;
  Remove(r, id);
  r->progress.insert_or_assign(id, std::move(pr));
  // A voter of the outgoing half cannot be a learner yet: it becomes one when joint is left.
  if (r->config.voters.outgoing.contains(id)) {
    r->config.learners_next.insert(id);
  } else {
    r->progress.at(id).is_learner = true;
    r->config.learners.insert(id);
  }
}

void Changer::Remove(ConfChangeResult* r, NodeId id) const {
  if (r->progress.count(id) == 0) return;
  r->config.voters.incoming.mutable_ids().erase(id);
  r->config.learners.erase(id);
  r->config.learners_next.erase(id);
  // Still a voter of the outgoing half: its progress is needed until joint is left.
  if (!r->config.voters.outgoing.contains(id)) r->progress.erase(id);
}

Status Changer::Check(const ConfChangeResult& r) const {
  const TrackerConfig& c = r.config;
  for (NodeId id : c.voters.Ids()) {
    if (r.progress.count(id) == 0) return Internal("raft: no progress for voter");
  }
  for (NodeId id : c.learners) {
    if (r.progress.count(id) == 0) return Internal("raft: no progress for learner");
    if (c.voters.outgoing.contains(id) || c.voters.incoming.contains(id)) {
      return Internal("raft: node is a learner and a voter");
    }
    if (!r.progress.at(id).is_learner) return Internal("raft: learner progress not marked");
  }
  for (NodeId id : c.learners_next) {
    if (!c.voters.outgoing.contains(id)) return Internal("raft: learner_next not outgoing");
    if (r.progress.at(id).is_learner) return Internal("raft: learner_next marked learner");
  }
  if (!c.voters.joint()) {
    if (!c.learners_next.empty()) return Internal("raft: learners_next outside joint config");
    if (c.auto_leave) return Internal("raft: auto_leave outside joint config");
  }
  return Status::Ok();
}

ConfChangeResult RestoreConfState(const ConfState& cs, uint64_t last_index, size_t max_inflight,
                                  uint64_t max_inflight_bytes) {
  ConfChangeResult r;
  auto add = [&](NodeId id, bool learner) {
    if (r.progress.count(id)) return;
    Progress pr(std::max<uint64_t>(last_index, 1), max_inflight, max_inflight_bytes);
    pr.is_learner = learner;
    pr.recent_active = true;
    r.progress.emplace(id, std::move(pr));
  };
  for (NodeId id : cs.voters) {
    r.config.voters.incoming.mutable_ids().insert(id);
    add(id, false);
  }
  for (NodeId id : cs.voters_outgoing) {
    r.config.voters.outgoing.mutable_ids().insert(id);
    add(id, false);
  }
  for (NodeId id : cs.learners) {
    r.config.learners.insert(id);
    add(id, true);
  }
  for (NodeId id : cs.learners_next) r.config.learners_next.insert(id);
  r.config.auto_leave = cs.auto_leave && !cs.voters_outgoing.empty();
  return r;
}

bool ConfChangeLeavesJoint(const ConfChangeV2& cc) {
  return cc.changes.empty() && cc.transition == ConfChangeTransition::kAuto;
}

bool ConfChangeEntersJoint(const ConfChangeV2& cc, bool* auto_leave) {
  // A single change in auto mode is a simple change; anything else is joint.
  if (cc.transition != ConfChangeTransition::kAuto || cc.changes.size() > 1) {
    *auto_leave = cc.transition != ConfChangeTransition::kJointExplicit;
    return true;
  }
  *auto_leave = false;
  return false;
}

namespace {

constexpr uint8_t kConfChangeV2Version = 1;
// Bounds a decoded change list so a corrupt entry cannot make us allocate without limit.
constexpr uint64_t kMaxChangesPerConfChange = 1024;

}  // namespace

std::string EncodeConfChangeV2(const ConfChangeV2& cc) {
  std::string out;
  out.push_back(static_cast<char>(kConfChangeV2Version));
  out.push_back(static_cast<char>(cc.transition));
  PutVarint(cc.changes.size(), &out);
  for (const auto& c : cc.changes) {
    out.push_back(static_cast<char>(c.type));
    PutVarint(c.node_id.value(), &out);
  }
  PutVarint(cc.context.size(), &out);
  out += cc.context;
  return out;
}

Result<ConfChangeV2> DecodeConfChangeV2(std::string_view in) {
  auto bad = [](const char* why) {
    return DataLoss(std::string("raft: bad ConfChangeV2: ") + why);
  };
  if (in.size() < 2) return bad("short");
  if (static_cast<uint8_t>(in[0]) != kConfChangeV2Version) return bad("unknown version");
  ConfChangeV2 cc;
  const auto tr = static_cast<uint8_t>(in[1]);
  if (tr > static_cast<uint8_t>(ConfChangeTransition::kJointExplicit)) return bad("transition");
  cc.transition = static_cast<ConfChangeTransition>(tr);
  in.remove_prefix(2);
  uint64_t n = 0;
  if (!GetVarint(&in, &n) || n > kMaxChangesPerConfChange) return bad("change count");
  for (uint64_t i = 0; i < n; ++i) {
    if (in.empty()) return bad("truncated change");
    const auto type = static_cast<uint8_t>(in[0]);
    if (type > static_cast<uint8_t>(ConfChangeType::kAddLearnerNode)) return bad("change type");
    in.remove_prefix(1);
    uint64_t id = 0;
    if (!GetVarint(&in, &id)) return bad("node id");
    cc.changes.push_back({static_cast<ConfChangeType>(type), NodeId(id)});
  }
  uint64_t len = 0;
  if (!GetVarint(&in, &len) || len != in.size()) return bad("context length");
  cc.context = std::string(in);
  return cc;
}

}  // namespace etcdpp::raft
