#include "server/api/errors.h"

#include <array>
#include <string>

#include "mvcc/errors.h"
#include "storage/errors.h"

namespace etcdpp::api {
namespace {

struct Entry {
  Code code;
  std::string_view message;
};

constexpr std::array kTable = {
#define ETCDPP_ETCD_ERROR_ENTRY_(name, code, message) Entry{Code::code, message},
    ETCDPP_ETCD_ERRORS(ETCDPP_ETCD_ERROR_ENTRY_)
#undef ETCDPP_ETCD_ERROR_ENTRY_
};

const Entry& Lookup(EtcdError e) { return kTable[static_cast<size_t>(e)]; }

bool IsEtcdMessage(const Status& s) {
  for (const Entry& e : kTable) {
    if (e.code == s.code() && e.message == s.message()) return true;
  }
  return false;
}

}  // namespace

Status Err(EtcdError e) { return Status(Lookup(e).code, std::string(Lookup(e).message)); }
Code ErrCode(EtcdError e) { return Lookup(e).code; }
std::string_view ErrMessage(EtcdError e) { return Lookup(e).message; }

bool Is(const Status& s, EtcdError e) {
  return s.code() == Lookup(e).code && s.message() == Lookup(e).message;
}

bool IsClientError(const Status& s) { return !s.ok() && IsEtcdMessage(s); }

Status ToClientStatus(const Status& s) {
  if (s.ok()) return s;
  if (mvcc::IsCompacted(s)) return Err(EtcdError::kCompacted);
  if (mvcc::IsFutureRev(s)) return Err(EtcdError::kFutureRev);
  if (mvcc::IsKeyTooLong(s)) return Err(EtcdError::kKeyTooLong);
  if (mvcc::IsWalkBudget(s)) return s;  // for the caller to read elsewhere, never a client's
  if (storage::IsMapFull(s)) return Err(EtcdError::kNoSpace);
  if (IsEtcdMessage(s)) return s;
  return Status(Code::kUnknown, s.message());
}

}  // namespace etcdpp::api
