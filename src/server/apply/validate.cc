#include "server/apply/validate.h"

#include <set>
#include <string>
#include <vector>

#include "mvcc/schema.h"
#include "server/api/errors.h"

namespace etcdpp::apply {
namespace {

using api::Err;
using api::EtcdError;
using etcdserverpb::RequestOp;
using etcdserverpb::TxnRequest;

// etcd's StringAffineComparable: "" sorts after every other string (it means "no end").
int AffineCompare(std::string_view a, std::string_view b) {
  if (a.empty()) return b.empty() ? 0 : 1;
  if (b.empty()) return -1;
  return a < b ? -1 : (a == b ? 0 : 1);
}

// An interval [begin, end) with affine ends, as etcd's adt.Interval.
struct Interval {
  std::string begin;
  std::string end;
};

Interval Point(const std::string& k) { return {k, k + std::string(1, '\0')}; }

// etcd's Interval.Compare(point): the point intersects `iv` iff it is neither wholly left nor
// wholly right of it. Written out as etcd evaluates it, so inverted intervals such as a
// from-key delete's [k, "\0") behave identically (they match no put).
bool Intersects(const Interval& point, const Interval& iv) {
  bool left = AffineCompare(point.begin, iv.begin) < 0 && AffineCompare(point.end, iv.begin) <= 0;
  bool right = AffineCompare(point.begin, iv.end) >= 0;
  return !left && !right;
}

bool AnyIntersects(const std::vector<Interval>& dels, const std::string& key) {
  Interval p = Point(key);
  for (const Interval& iv : dels) {
    if (Intersects(p, iv)) return true;
  }
  return false;
}

// etcd's checkIntervals: puts must be unique along any path and must not fall in a delete
// range of the same level or of a nested txn seen before them.
Status CheckIntervals(const google::protobuf::RepeatedPtrField<RequestOp>& reqs,
                      std::set<std::string>* puts_out, std::vector<Interval>* dels_out) {
  std::vector<Interval> dels;
  for (const RequestOp& req : reqs) {
    if (!req.has_request_delete_range()) continue;
    const auto& d = req.request_delete_range();
    if (!d.range_end().empty()) {
      dels.push_back({d.key(), d.range_end()});
    } else {
      dels.push_back(Point(d.key()));
    }
  }
  std::set<std::string> puts;
  for (const RequestOp& req : reqs) {
    if (!req.has_request_txn()) continue;
    std::set<std::string> puts_then, puts_else;
    std::vector<Interval> dels_then, dels_else;
    ETCDPP_RETURN_IF_ERROR(CheckIntervals(req.request_txn().success(), &puts_then, &dels_then));
    ETCDPP_RETURN_IF_ERROR(CheckIntervals(req.request_txn().failure(), &puts_else, &dels_else));
    for (const std::string& k : puts_then) {
      if (puts.count(k) || AnyIntersects(dels, k)) return Err(EtcdError::kDuplicateKey);
      puts.insert(k);
    }
    for (const std::string& k : puts_else) {
      // The same key in both branches of one nested txn is fine: only one branch runs.
      if (puts.count(k) && !puts_then.count(k)) return Err(EtcdError::kDuplicateKey);
      if (AnyIntersects(dels, k)) return Err(EtcdError::kDuplicateKey);
      puts.insert(k);
    }
    dels.insert(dels.end(), dels_then.begin(), dels_then.end());
    dels.insert(dels.end(), dels_else.begin(), dels_else.end());
  }
  for (const RequestOp& req : reqs) {
    if (!req.has_request_put()) continue;
    const std::string& k = req.request_put().key();
    if (puts.count(k) || AnyIntersects(dels, k)) return Err(EtcdError::kDuplicateKey);
    puts.insert(k);
  }
  if (puts_out != nullptr) *puts_out = std::move(puts);
  if (dels_out != nullptr) *dels_out = std::move(dels);
  return Status::Ok();
}

Status CheckTxnRequest(const TxnRequest& r, int64_t max_txn_ops);

Status CheckRequestOp(const RequestOp& op, int64_t max_txn_ops) {
  switch (op.request_case()) {
    case RequestOp::kRequestRange:
      return ValidateRange(op.request_range());
    case RequestOp::kRequestPut:
      return ValidatePut(op.request_put());
    case RequestOp::kRequestDeleteRange:
      return ValidateDeleteRange(op.request_delete_range());
    case RequestOp::kRequestTxn:
      return CheckTxnRequest(op.request_txn(), max_txn_ops);
    default:
      return Err(EtcdError::kKeyNotFound);
  }
}

Status CheckTxnRequest(const TxnRequest& r, int64_t max_txn_ops) {
  int64_t opc = r.compare_size();
  opc = std::max<int64_t>(opc, r.success_size());
  opc = std::max<int64_t>(opc, r.failure_size());
  if (opc > max_txn_ops) return Err(EtcdError::kTooManyOps);
  for (const auto& c : r.compare()) {
    if (c.key().empty()) return Err(EtcdError::kEmptyKey);
  }
  // As etcd: nested txns are checked against what is left of the limit.
  for (const auto& op : r.success()) ETCDPP_RETURN_IF_ERROR(CheckRequestOp(op, max_txn_ops - opc));
  for (const auto& op : r.failure()) ETCDPP_RETURN_IF_ERROR(CheckRequestOp(op, max_txn_ops - opc));
  return Status::Ok();
}

bool OpsReadOnly(const google::protobuf::RepeatedPtrField<RequestOp>& ops) {
  for (const RequestOp& op : ops) {
    switch (op.request_case()) {
      case RequestOp::kRequestPut:
      case RequestOp::kRequestDeleteRange:
        return false;
      case RequestOp::kRequestTxn:
        if (!IsTxnReadOnly(op.request_txn())) return false;
        break;
      default:
        break;
    }
  }
  return true;
}

}  // namespace

Status ValidateRange(const etcdserverpb::RangeRequest& r) {
  if (r.key().empty()) return Err(EtcdError::kEmptyKey);
  return Status::Ok();
}

Status ValidatePut(const etcdserverpb::PutRequest& r) {
  if (r.key().empty()) return Err(EtcdError::kEmptyKey);
  if (r.ignore_value() && !r.value().empty()) return Err(EtcdError::kValueProvided);
  if (r.ignore_lease() && r.lease() != 0) return Err(EtcdError::kLeaseProvided);
  if (r.key().size() > mvcc::kMaxUserKeyBytes) return Err(EtcdError::kKeyTooLong);
  return Status::Ok();
}

Status ValidateDeleteRange(const etcdserverpb::DeleteRangeRequest& r) {
  if (r.key().empty()) return Err(EtcdError::kEmptyKey);
  return Status::Ok();
}

Status ValidateTxn(const etcdserverpb::TxnRequest& r, int64_t max_txn_ops) {
  ETCDPP_RETURN_IF_ERROR(CheckTxnRequest(r, max_txn_ops));
  ETCDPP_RETURN_IF_ERROR(CheckIntervals(r.success(), nullptr, nullptr));
  ETCDPP_RETURN_IF_ERROR(CheckIntervals(r.failure(), nullptr, nullptr));
  return Status::Ok();
}

bool IsTxnReadOnly(const etcdserverpb::TxnRequest& r) {
  return OpsReadOnly(r.success()) && OpsReadOnly(r.failure());
}

}  // namespace etcdpp::apply
