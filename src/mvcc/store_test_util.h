// Test helpers shared by the mvcc tests: a store in a fresh temporary directory, and one-line
// write helpers that apply each call as its own revision in its own committed batch.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "mvcc/store.h"
#include "storage/env.h"

namespace etcdpp::mvcc::testing {

class TempStore {
 public:
  // Unless `open`, the directory stays empty until Reopen().
  explicit TempStore(uint64_t map_size = 256ull << 20, bool open = true) {
    // tmpfs when available: commits fsync, and tests must not depend on disk speed.
    std::string base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string tmpl = base + "/etcdpp_mvcc_XXXXXX";
    CHECK(mkdtemp(tmpl.data()) != nullptr);
    dir_ = tmpl.c_str();
    map_size_ = map_size;
    if (open) Reopen();
  }
  ~TempStore() {
    Close();
    std::filesystem::remove_all(dir_);
  }

  void Close() {
    store_.reset();
    env_.reset();
  }
  void Reopen() {
    Close();
    storage::EnvOptions o;
    o.path = dir_ + "/db";
    o.map_size_bytes = map_size_;
    auto env = storage::Env::Open(o);
    CHECK(env.ok()) << env.status().ToString();
    env_ = std::move(env).value();
    auto store = Store::Open(env_.get());
    CHECK(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }

  Store& store() { return *store_; }
  const std::string& dir() const { return dir_; }

  // Each helper is one write transaction in one committed batch.
  int64_t Put(std::string_view k, std::string_view v, int64_t lease = 0) {
    auto b = store_->Write();
    CHECK(b.ok());
    TxnWrite t = b->BeginTxn();
    auto rev = t.Put(k, v, LeaseId(lease));
    CHECK(rev.ok()) << rev.status().ToString();
    t.End();
    CHECK(b->Commit().ok());
    return *rev;
  }
  DeleteResult Delete(std::string_view k, std::string_view end = {}) {
    auto b = store_->Write();
    CHECK(b.ok());
    TxnWrite t = b->BeginTxn();
    auto r = t.DeleteRange(k, end);
    CHECK(r.ok()) << r.status().ToString();
    t.End();
    CHECK(b->Commit().ok());
    return *r;
  }
  Status Compact(int64_t rev, bool finish = true) {
    auto b = store_->Write();
    CHECK(b.ok());
    Status s = b->Compact(rev);
    if (s.ok() && finish) {
      auto done = b->CompactStep(SIZE_MAX);
      CHECK(done.ok() && *done);
    }
    CHECK(b->Commit().ok());
    return s;
  }
  Result<RangeResult> Range(std::string_view k, std::string_view end = {}, RangeOptions opts = {}) {
    auto v = store_->Read();
    CHECK(v.ok());
    return v->Range(k, end, opts);
  }

 private:
  std::string dir_;
  uint64_t map_size_;
  std::unique_ptr<storage::Env> env_;
  std::unique_ptr<Store> store_;
};

}  // namespace etcdpp::mvcc::testing
