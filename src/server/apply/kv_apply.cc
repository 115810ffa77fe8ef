#include "server/apply/kv_apply.h"

#include <algorithm>
#include <string>

#include "base/check.h"
#include "server/api/errors.h"
#include "server/apply/validate.h"

namespace etcdpp::apply {
namespace {

using api::Err;
using api::EtcdError;
using etcdserverpb::Compare;
using etcdserverpb::RangeRequest;
using etcdserverpb::RequestOp;
using etcdserverpb::TxnRequest;
using etcdserverpb::TxnResponse;
using Ops = google::protobuf::RepeatedPtrField<RequestOp>;

// What requests read through: a snapshot, or the open write transaction (which sees its own
// earlier writes). rev()/first_rev() are etcd's ReadView.Rev()/FirstRev().
class Reader {
 public:
  virtual ~Reader() = default;
  virtual Result<mvcc::RangeResult> Range(std::string_view key, std::string_view end,
                                          const mvcc::RangeOptions& opts) const = 0;
  virtual Result<int64_t> RangeEach(std::string_view key, std::string_view end,
                                    const mvcc::RangeOptions& opts,
                                    const mvcc::KvVisitor& visit) const = 0;
  // The header revision of a range read (etcd's RangeResult.Rev).
  virtual int64_t range_rev() const = 0;
  virtual int64_t rev() const = 0;
  virtual int64_t first_rev() const = 0;
};

// Reads a snapshot; with a walk budget (> 0), every range it reads gives up past it.
class ViewReader : public Reader {
 public:
  ViewReader(const mvcc::ReadView& v, int64_t walk_budget = 0) : v_(v), walk_budget_(walk_budget) {}
  Result<mvcc::RangeResult> Range(std::string_view key, std::string_view end,
                                  const mvcc::RangeOptions& opts) const override {
    return v_.Range(key, end, Budgeted(opts));
  }
  Result<int64_t> RangeEach(std::string_view key, std::string_view end,
                            const mvcc::RangeOptions& opts,
                            const mvcc::KvVisitor& visit) const override {
    return v_.RangeEach(key, end, Budgeted(opts), visit);
  }
  int64_t range_rev() const override { return v_.rev(); }
  int64_t rev() const override { return v_.rev(); }
  int64_t first_rev() const override { return v_.compact_rev(); }

 private:
  mvcc::RangeOptions Budgeted(mvcc::RangeOptions opts) const {
    if (walk_budget_ > 0) opts.walk_budget = walk_budget_;
    return opts;
  }

  const mvcc::ReadView& v_;
  const int64_t walk_budget_;
};

class TxnReader : public Reader {
 public:
  TxnReader(const mvcc::TxnWrite& t, int64_t compact_rev) : t_(t), compact_rev_(compact_rev) {}
  Result<mvcc::RangeResult> Range(std::string_view key, std::string_view end,
                                  const mvcc::RangeOptions& opts) const override {
    return t_.Range(key, end, opts);
  }
  Result<int64_t> RangeEach(std::string_view key, std::string_view end,
                            const mvcc::RangeOptions& opts,
                            const mvcc::KvVisitor& visit) const override {
    return t_.RangeEach(key, end, opts, visit);
  }
  int64_t range_rev() const override { return t_.rev() + (t_.has_changes() ? 1 : 0); }
  int64_t rev() const override { return t_.rev(); }
  int64_t first_rev() const override { return compact_rev_; }

 private:
  const mvcc::TxnWrite& t_;
  int64_t compact_rev_;
};

template <typename Kv>  // mvcc::KeyValue or mvcc::KeyValueView
void ToProto(const Kv& kv, bool with_value, mvccpb::KeyValue* out) {
  out->set_key(kv.key.data(), kv.key.size());
  out->set_create_revision(kv.create_revision);
  out->set_mod_revision(kv.mod_revision);
  out->set_version(kv.version);
  if (with_value) out->set_value(kv.value.data(), kv.value.size());
  out->set_lease(kv.lease);
}

// The common case of RangeImpl — no sorting, no filtering — streamed from the snapshot straight
// into the response, without an intermediate copy of every value.
Result<etcdserverpb::RangeResponse> RangeStreamed(const Reader& reader, const RangeRequest& r) {
  etcdserverpb::RangeResponse resp;
  mvcc::RangeOptions opts;
  opts.limit = r.limit() > 0 ? r.limit() + 1 : r.limit();
  opts.rev = r.revision();
  opts.count_only = r.count_only();
  opts.keys_only = r.keys_only();
  auto count = reader.RangeEach(r.key(), r.range_end(), opts, [&](const mvcc::KeyValueView& kv) {
    ToProto(kv, !r.keys_only(), resp.add_kvs());
  });
  if (!count.ok()) return api::ToClientStatus(count.status());
  if (r.limit() > 0 && resp.kvs_size() > r.limit()) {
    resp.mutable_kvs()->RemoveLast();
    resp.set_more(true);
  }
  resp.mutable_header()->set_revision(reader.range_rev());
  resp.set_count(*count);
  return resp;
}

// etcd's applierV3backend.Range.
Result<etcdserverpb::RangeResponse> RangeImpl(const Reader& reader, const RangeRequest& r) {
  const bool sorted = r.sort_order() != RangeRequest::NONE || r.sort_target() != RangeRequest::KEY;
  const bool filtered = r.min_mod_revision() != 0 || r.max_mod_revision() != 0 ||
                        r.min_create_revision() != 0 || r.max_create_revision() != 0;
  if (!sorted && !filtered) return RangeStreamed(reader, r);
  int64_t limit = r.limit();
  // Sorting and filtering need every key; the limit is applied afterwards.
  if (r.sort_order() != RangeRequest::NONE || r.min_mod_revision() != 0 ||
      r.max_mod_revision() != 0 || r.min_create_revision() != 0 || r.max_create_revision() != 0) {
    limit = 0;
  }
  // One more than asked tells whether there are more.
  if (limit > 0) ++limit;
  mvcc::RangeOptions opts;
  opts.limit = limit;
  opts.rev = r.revision();
  opts.count_only = r.count_only();
  // Sorting by value needs the values even when they are not returned.
  opts.keys_only = r.keys_only() && r.sort_target() != RangeRequest::VALUE;
  auto rr = reader.Range(r.key(), r.range_end(), opts);
  if (!rr.ok()) return api::ToClientStatus(rr.status());
  std::vector<mvcc::KeyValue>& kvs = rr->kvs;

  auto prune = [&](auto drop) {
    kvs.erase(std::remove_if(kvs.begin(), kvs.end(), drop), kvs.end());
  };
  if (r.max_mod_revision() != 0) {
    prune([&](const mvcc::KeyValue& kv) { return kv.mod_revision > r.max_mod_revision(); });
  }
  if (r.min_mod_revision() != 0) {
    prune([&](const mvcc::KeyValue& kv) { return kv.mod_revision < r.min_mod_revision(); });
  }
  if (r.max_create_revision() != 0) {
    prune([&](const mvcc::KeyValue& kv) { return kv.create_revision > r.max_create_revision(); });
  }
  if (r.min_create_revision() != 0) {
    prune([&](const mvcc::KeyValue& kv) { return kv.create_revision < r.min_create_revision(); });
  }

  auto order = r.sort_order();
  // etcd: a sort target other than the key with no order means ascending.
  if (r.sort_target() != RangeRequest::KEY && order == RangeRequest::NONE) {
    order = RangeRequest::ASCEND;
  }
  if (order == RangeRequest::ASCEND || order == RangeRequest::DESCEND) {
    auto less = [&](const mvcc::KeyValue& a, const mvcc::KeyValue& b) {
      switch (r.sort_target()) {
        case RangeRequest::VERSION:
          return a.version < b.version;
        case RangeRequest::CREATE:
          return a.create_revision < b.create_revision;
        case RangeRequest::MOD:
          return a.mod_revision < b.mod_revision;
        case RangeRequest::VALUE:
          return a.value < b.value;
        default:
          return a.key < b.key;
      }
    };
    // Stable, so ties stay in key order (Go's sort.Sort is stable on the ≤ 12-element inputs
    // etcd's own tests use; beyond that its tie order is unspecified).
    if (order == RangeRequest::ASCEND) {
      std::stable_sort(kvs.begin(), kvs.end(), less);
    } else {
      std::stable_sort(
          kvs.begin(), kvs.end(),
          [&](const mvcc::KeyValue& a, const mvcc::KeyValue& b) { return less(b, a); });
    }
  }

  etcdserverpb::RangeResponse resp;
  if (r.limit() > 0 && static_cast<int64_t>(kvs.size()) > r.limit()) {
    kvs.resize(static_cast<size_t>(r.limit()));
    resp.set_more(true);
  }
  resp.mutable_header()->set_revision(rr->rev);
  resp.set_count(rr->count);
  resp.mutable_kvs()->Reserve(static_cast<int>(kvs.size()));
  for (const mvcc::KeyValue& kv : kvs) ToProto(kv, !r.keys_only(), resp.add_kvs());
  return resp;
}

Result<std::optional<mvcc::KeyValue>> GetOne(const Reader& reader, const std::string& key) {
  auto rr = reader.Range(key, {}, {});
  if (!rr.ok()) return rr.status();
  if (rr->kvs.empty()) return std::optional<mvcc::KeyValue>();
  return std::optional<mvcc::KeyValue>(std::move(rr->kvs[0]));
}

// etcd's applierV3backend.Put on an open transaction (lease already checked).
Result<etcdserverpb::PutResponse> PutInTxn(mvcc::TxnWrite& t, const Reader& reader,
                                           const etcdserverpb::PutRequest& p) {
  etcdserverpb::PutResponse resp;
  resp.mutable_header();
  std::string_view value = p.value();
  int64_t lease = p.lease();
  std::optional<mvcc::KeyValue> prev;
  if (p.ignore_value() || p.ignore_lease() || p.prev_kv()) {
    ETCDPP_ASSIGN_OR_RETURN(prev, GetOne(reader, p.key()));
  }
  if ((p.ignore_value() || p.ignore_lease()) && !prev.has_value()) {
    return Err(EtcdError::kKeyNotFound);
  }
  if (p.ignore_value()) value = prev->value;
  if (p.ignore_lease()) lease = prev->lease;
  if (p.prev_kv() && prev.has_value()) ToProto(*prev, true, resp.mutable_prev_kv());
  ETCDPP_ASSIGN_OR_RETURN(int64_t rev, t.Put(p.key(), value, LeaseId(lease)));
  resp.mutable_header()->set_revision(rev);
  return resp;
}

// etcd's applierV3backend.DeleteRange on an open transaction.
Result<etcdserverpb::DeleteRangeResponse> DeleteInTxn(mvcc::TxnWrite& t, const Reader& reader,
                                                      const etcdserverpb::DeleteRangeRequest& d) {
  etcdserverpb::DeleteRangeResponse resp;
  resp.mutable_header();
  if (d.prev_kv()) {
    auto rr = reader.Range(d.key(), d.range_end(), {});
    if (!rr.ok()) return rr.status();
    for (const mvcc::KeyValue& kv : rr->kvs) ToProto(kv, true, resp.add_prev_kvs());
  }
  ETCDPP_ASSIGN_OR_RETURN(mvcc::DeleteResult dr, t.DeleteRange(d.key(), d.range_end()));
  resp.set_deleted(dr.deleted);
  resp.mutable_header()->set_revision(dr.rev);
  return resp;
}

int CompareInt(int64_t a, int64_t b) { return a < b ? -1 : (a > b ? 1 : 0); }

// etcd's compareKV: a target whose union field is of another kind compares against 0 / "".
bool CompareKv(const Compare& c, const mvcc::KeyValue& kv) {
  int result = 0;
  switch (c.target()) {
    case Compare::VALUE: {
      std::string_view v;
      if (c.target_union_case() == Compare::kValue) v = c.value();
      int cmp = std::string_view(kv.value).compare(v);
      result = cmp < 0 ? -1 : (cmp > 0 ? 1 : 0);
      break;
    }
    case Compare::CREATE:
      result =
          CompareInt(kv.create_revision,
                     c.target_union_case() == Compare::kCreateRevision ? c.create_revision() : 0);
      break;
    case Compare::MOD:
      result = CompareInt(kv.mod_revision,
                          c.target_union_case() == Compare::kModRevision ? c.mod_revision() : 0);
      break;
    case Compare::VERSION:
      result = CompareInt(kv.version, c.target_union_case() == Compare::kVersion ? c.version() : 0);
      break;
    case Compare::LEASE:
      result = CompareInt(kv.lease, c.target_union_case() == Compare::kLease ? c.lease() : 0);
      break;
    default:
      break;
  }
  switch (c.result()) {
    case Compare::EQUAL:
      return result == 0;
    case Compare::NOT_EQUAL:
      return result != 0;
    case Compare::GREATER:
      return result > 0;
    case Compare::LESS:
      return result < 0;
    default:
      return true;
  }
}

// etcd's applyCompare: every key in the range must satisfy the compare; a missing key compares
// as an all-zero KeyValue, except that a VALUE compare on a missing key is false.
bool ApplyCompare(const Reader& reader, const Compare& c) {
  auto rr = reader.Range(c.key(), c.range_end(), {});
  if (!rr.ok()) return false;
  if (rr->kvs.empty()) {
    if (c.target() == Compare::VALUE) return false;
    return CompareKv(c, mvcc::KeyValue{});
  }
  for (const mvcc::KeyValue& kv : rr->kvs) {
    if (!CompareKv(c, kv)) return false;
  }
  return true;
}

// The branch taken by the txn and every nested txn on the taken path, in pre-order — all
// decided before any write, as etcd's compareToPath does.
void CompareToPath(const Reader& reader, const TxnRequest& r, std::vector<bool>* path) {
  bool ok = true;
  for (const Compare& c : r.compare()) {
    if (!ApplyCompare(reader, c)) {
      ok = false;
      break;
    }
  }
  path->push_back(ok);
  for (const RequestOp& op : ok ? r.success() : r.failure()) {
    if (op.has_request_txn()) CompareToPath(reader, op.request_txn(), path);
  }
}

template <typename Fn>
Status CheckRequests(const TxnRequest& r, const std::vector<bool>& path, size_t* pos, Fn check) {
  bool ok = path[(*pos)++];
  for (const RequestOp& op : ok ? r.success() : r.failure()) {
    if (op.has_request_txn()) {
      ETCDPP_RETURN_IF_ERROR(CheckRequests(op.request_txn(), path, pos, check));
      continue;
    }
    ETCDPP_RETURN_IF_ERROR(check(op));
  }
  return Status::Ok();
}

void NewTxnResp(const TxnRequest& r, const std::vector<bool>& path, size_t* pos,
                TxnResponse* resp) {
  bool ok = path[(*pos)++];
  resp->set_succeeded(ok);
  resp->mutable_header();
  for (const RequestOp& op : ok ? r.success() : r.failure()) {
    auto* out = resp->add_responses();
    switch (op.request_case()) {
      case RequestOp::kRequestRange:
        out->mutable_response_range();
        break;
      case RequestOp::kRequestPut:
        out->mutable_response_put();
        break;
      case RequestOp::kRequestDeleteRange:
        out->mutable_response_delete_range();
        break;
      case RequestOp::kRequestTxn:
        NewTxnResp(op.request_txn(), path, pos, out->mutable_response_txn());
        break;
      default:
        break;
    }
  }
}

// Runs the ops of the taken branches. `t` is null for a read-only txn on a snapshot.
Status ApplyTxnOps(mvcc::TxnWrite* t, const Reader& reader, const TxnRequest& r,
                   const std::vector<bool>& path, size_t* pos, TxnResponse* resp) {
  bool ok = path[(*pos)++];
  const Ops& ops = ok ? r.success() : r.failure();
  for (int i = 0; i < ops.size(); ++i) {
    const RequestOp& op = ops[i];
    auto* out = resp->mutable_responses(i);
    switch (op.request_case()) {
      case RequestOp::kRequestRange: {
        ETCDPP_ASSIGN_OR_RETURN(*out->mutable_response_range(),
                                RangeImpl(reader, op.request_range()));
        break;
      }
      case RequestOp::kRequestPut: {
        CHECK(t != nullptr) << "put in a read-only txn";
        ETCDPP_ASSIGN_OR_RETURN(*out->mutable_response_put(),
                                PutInTxn(*t, reader, op.request_put()));
        break;
      }
      case RequestOp::kRequestDeleteRange: {
        CHECK(t != nullptr) << "delete in a read-only txn";
        ETCDPP_ASSIGN_OR_RETURN(*out->mutable_response_delete_range(),
                                DeleteInTxn(*t, reader, op.request_delete_range()));
        break;
      }
      case RequestOp::kRequestTxn:
        ETCDPP_RETURN_IF_ERROR(
            ApplyTxnOps(t, reader, op.request_txn(), path, pos, out->mutable_response_txn()));
        break;
      default:
        break;
    }
  }
  return Status::Ok();
}

// etcd's applierV3backend.Txn up to the writes: decides the path and runs the pre-checks.
// Returns the response skeleton or the client error.
Result<TxnResponse> PrepareTxn(const Reader& reader, const TxnRequest& r, bool is_write,
                               const std::function<bool(LeaseId)>& lease_exists,
                               std::vector<bool>* path) {
  CompareToPath(reader, r, path);
  if (is_write) {
    size_t pos = 0;
    ETCDPP_RETURN_IF_ERROR(CheckRequests(r, *path, &pos, [&](const RequestOp& op) -> Status {
      if (!op.has_request_put()) return Status::Ok();
      const auto& p = op.request_put();
      if (p.ignore_value() || p.ignore_lease()) {
        auto prev = GetOne(reader, p.key());
        if (!prev.ok()) return api::ToClientStatus(prev.status());
        if (!prev->has_value()) return Err(EtcdError::kKeyNotFound);
      }
      if (p.lease() != 0 && !(lease_exists && lease_exists(LeaseId(p.lease())))) {
        return Err(EtcdError::kLeaseNotFound);
      }
      return Status::Ok();
    }));
  }
  size_t pos = 0;
  ETCDPP_RETURN_IF_ERROR(CheckRequests(r, *path, &pos, [&](const RequestOp& op) -> Status {
    if (!op.has_request_range()) return Status::Ok();
    int64_t rev = op.request_range().revision();
    if (rev == 0) return Status::Ok();
    if (rev > reader.rev()) return Err(EtcdError::kFutureRev);
    if (rev < reader.first_rev()) return Err(EtcdError::kCompacted);
    return Status::Ok();
  }));
  TxnResponse resp;
  pos = 0;
  NewTxnResp(r, *path, &pos, &resp);
  return resp;
}

void AppendEvents(std::vector<mvcc::Event>&& from, std::vector<mvcc::Event>* to) {
  if (to == nullptr) return;
  if (to->empty()) {
    *to = std::move(from);
  } else {
    to->insert(to->end(), std::make_move_iterator(from.begin()),
               std::make_move_iterator(from.end()));
  }
}

}  // namespace

void FillHeader(const HeaderFields& h, etcdserverpb::ResponseHeader* header) {
  header->set_cluster_id(h.cluster_id.value());
  header->set_member_id(h.member_id.value());
  header->set_raft_term(h.raft_term.value());
}

Result<etcdserverpb::PutResponse> KvApplier::ApplyPut(mvcc::WriteBatch& batch,
                                                      const etcdserverpb::PutRequest& r,
                                                      std::vector<mvcc::Event>* events) const {
  if (r.lease() != 0 && !(hooks_.lease_exists && hooks_.lease_exists(LeaseId(r.lease())))) {
    return Err(EtcdError::kLeaseNotFound);
  }
  mvcc::TxnWrite t = batch.BeginTxn();
  TxnReader reader(t, batch.compact_rev());
  auto resp = PutInTxn(t, reader, r);
  AppendEvents(t.End(), events);
  return resp;
}

Result<etcdserverpb::DeleteRangeResponse> KvApplier::ApplyDeleteRange(
    mvcc::WriteBatch& batch, const etcdserverpb::DeleteRangeRequest& r,
    std::vector<mvcc::Event>* events) const {
  mvcc::TxnWrite t = batch.BeginTxn();
  TxnReader reader(t, batch.compact_rev());
  auto resp = DeleteInTxn(t, reader, r);
  AppendEvents(t.End(), events);
  return resp;
}

Result<etcdserverpb::TxnResponse> KvApplier::ApplyTxn(mvcc::WriteBatch& batch,
                                                      const etcdserverpb::TxnRequest& r,
                                                      std::vector<mvcc::Event>* events) const {
  mvcc::TxnWrite t = batch.BeginTxn();
  TxnReader reader(t, batch.compact_rev());
  std::vector<bool> path;
  auto resp = PrepareTxn(reader, r, !IsTxnReadOnly(r), hooks_.lease_exists, &path);
  if (!resp.ok()) {
    t.End();
    return resp.status();
  }
  size_t pos = 0;
  Status s = ApplyTxnOps(&t, reader, r, path, &pos, &*resp);
  int64_t rev = t.rev() + (t.has_changes() ? 1 : 0);
  AppendEvents(t.End(), events);
  // The pre-checks rule out client errors here (etcd panics on them); what remains are
  // storage failures that doom the batch.
  if (!s.ok()) return s;
  resp->mutable_header()->set_revision(rev);
  return resp;
}

Result<etcdserverpb::RangeResponse> KvApplier::ApplyRange(
    mvcc::WriteBatch& batch, const etcdserverpb::RangeRequest& r) const {
  mvcc::TxnWrite t = batch.BeginTxn();
  auto resp = RangeImpl(TxnReader(t, batch.compact_rev()), r);
  t.End();
  return resp;
}

Result<etcdserverpb::CompactionResponse> KvApplier::ApplyCompaction(
    mvcc::WriteBatch& batch, const etcdserverpb::CompactionRequest& r) const {
  Status s = batch.Compact(r.revision());
  if (!s.ok()) return api::ToClientStatus(s);
  etcdserverpb::CompactionResponse resp;
  resp.mutable_header()->set_revision(batch.rev());
  return resp;
}

Result<etcdserverpb::RangeResponse> KvApplier::Range(const mvcc::ReadView& view,
                                                     const etcdserverpb::RangeRequest& r,
                                                     int64_t walk_budget) const {
  return RangeImpl(ViewReader(view, walk_budget), r);
}

Result<etcdserverpb::TxnResponse> KvApplier::ReadOnlyTxn(const mvcc::ReadView& view,
                                                         const etcdserverpb::TxnRequest& r,
                                                         int64_t walk_budget) const {
  CHECK(IsTxnReadOnly(r)) << "ReadOnlyTxn with writes";
  ViewReader reader(view, walk_budget);
  std::vector<bool> path;
  ETCDPP_ASSIGN_OR_RETURN(TxnResponse resp,
                          PrepareTxn(reader, r, /*is_write=*/false, hooks_.lease_exists, &path));
  size_t pos = 0;
  ETCDPP_RETURN_IF_ERROR(ApplyTxnOps(nullptr, reader, r, path, &pos, &resp));
  resp.mutable_header()->set_revision(view.rev());
  return resp;
}

}  // namespace etcdpp::apply
