// Store::Open on a schema-1 store (separate `key` and `keyrev` tables): the store that results
// must answer every read, at every revision, as a store that applied the same changes with
// today's schema.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "mvcc/key_value.h"
#include "mvcc/schema.h"
#include "mvcc/store_test_util.h"

namespace etcdpp::mvcc {
namespace {

using testing::TempStore;

// Writes what schema 1 wrote for a sequence of single-change revisions, straight into LMDB.
class Schema1Writer {
 public:
  explicit Schema1Writer(const std::string& path) {
    storage::EnvOptions o;
    o.path = path;
    o.map_size_bytes = 256ull << 20;
    env_ = std::move(storage::Env::Open(o)).value();
    rev_ = *env_->OpenDbi("rev", storage::DbiKind::kPlain);
    key_ = *env_->OpenDbi("key", storage::DbiKind::kPlain);
    keyrev_ = *env_->OpenDbi("keyrev", storage::DbiKind::kDupFixed);
    meta_ = *env_->OpenDbi("meta", storage::DbiKind::kPlain);
    lease_keys_ = *env_->OpenDbi("lease_keys", storage::DbiKind::kDupSort);
    // Schema 1 had no key_states; see AddStaleKeyState.
    key_states_ = *env_->OpenDbi(kKeyStatesDbName, storage::DbiKind::kDupFixed);
    txn_ = std::move(env_->BeginWrite()).value();
    Check(txn_.Put(meta_, kMetaSchemaVersion, EncodeInt64(1)));
  }

  void Put(const std::string& k, const std::string& v, int64_t lease = 0) {
    KeyValue kv;
    kv.key = k;
    kv.value = v;
    kv.mod_revision = ++current_;
    kv.create_revision = current_;
    kv.version = 1;
    kv.lease = lease;
    auto live = live_.find(k);
    if (live != live_.end()) {
      kv.create_revision = live->second.create_revision;
      kv.version = live->second.version + 1;
      if (live->second.lease != 0) {
        ASSERT_TRUE(txn_.DeleteDup(lease_keys_, EncodeInt64(live->second.lease), k).ok());
      }
    }
    if (lease != 0) Check(txn_.Put(lease_keys_, EncodeInt64(lease), k));
    live_[k] = kv;
    Check(txn_.Put(rev_, EncodeRevisionKey({current_, 0}), EncodeKeyValue(kv)));
    char state[40];
    const int64_t fields[] = {kv.create_revision, current_, 0, kv.version, lease};
    for (int i = 0; i < 5; ++i) PutBigEndian(fields[i], state + 8 * i);
    Check(txn_.Put(key_, k, std::string_view(state, sizeof(state))));
    AddKeyRev(k, false);
  }

  void Delete(const std::string& k) {
    auto live = live_.find(k);
    ASSERT_NE(live, live_.end());
    if (live->second.lease != 0) {
      ASSERT_TRUE(txn_.DeleteDup(lease_keys_, EncodeInt64(live->second.lease), k).ok());
    }
    live_.erase(live);
    KeyValue tombstone;
    tombstone.key = k;
    tombstone.mod_revision = ++current_;
    Check(txn_.Put(rev_, EncodeRevisionKey({current_, 0}), EncodeKeyValue(tombstone)));
    ASSERT_TRUE(txn_.Delete(key_, k).ok());
    AddKeyRev(k, true);
  }

  // A leftover of a migration that crashed half-way: a key_states table with stale content.
  void AddStaleKeyState(const std::string& k) {
    KeyState st;
    st.rev = {1, 0};
    st.create_revision = 1;
    st.version = 1;
    Check(txn_.Put(key_states_, k, EncodeKeyState(st)));
  }

  // Commits and closes the environment.
  void Finish() {
    Check(txn_.Put(meta_, kMetaCurrentRevision, EncodeInt64(current_)));
    Check(txn_.Commit());
    env_.reset();
  }

 private:
  static void Check(const Status& s) { ASSERT_TRUE(s.ok()) << s.ToString(); }
  static void PutBigEndian(int64_t v, char* out) {
    for (int i = 7; i >= 0; --i, v >>= 8) out[i] = static_cast<char>(v & 0xff);
  }
  void AddKeyRev(const std::string& k, bool tombstone) {
    char entry[17];
    EncodeRevisionKey({current_, 0}, entry);
    entry[16] = tombstone ? 1 : 0;
    Check(txn_.Put(keyrev_, k, std::string_view(entry, sizeof(entry))));
  }

  std::unique_ptr<storage::Env> env_;
  storage::Dbi rev_, key_, keyrev_, meta_, lease_keys_, key_states_;
  storage::WriteTxn txn_;
  int64_t current_ = kInitialRevision;
  std::map<std::string, KeyValue> live_;
};

std::string Describe(const RangeResult& r) {
  std::string out = "count " + std::to_string(r.count) + ":";
  for (const KeyValue& kv : r.kvs) {
    out += " " + kv.key + "=" + kv.value + "/c" + std::to_string(kv.create_revision) + "/m" +
           std::to_string(kv.mod_revision) + "/v" + std::to_string(kv.version) + "/l" +
           std::to_string(kv.lease);
  }
  return out;
}

// Every key at every revision, the lease index and HashKV agree.
void ExpectSameStores(Store& migrated, Store& reference) {
  ASSERT_EQ(migrated.current_rev(), reference.current_rev());
  auto a = migrated.Read();
  auto b = reference.Read();
  ASSERT_TRUE(a.ok() && b.ok());
  for (int64_t rev = std::max<int64_t>(1, reference.compact_rev()); rev <= reference.current_rev();
       ++rev) {
    RangeOptions all;
    all.rev = rev;
    const std::string_view zero("\0", 1);  // from the smallest key to the end
    auto got = a->Range(zero, zero, all);
    auto want = b->Range(zero, zero, all);
    ASSERT_TRUE(got.ok() && want.ok());
    EXPECT_EQ(Describe(*got), Describe(*want)) << "at revision " << rev;
  }
  for (int64_t lease : {7, 8}) {
    EXPECT_EQ(*a->KeysWithLease(LeaseId(lease)), *b->KeysWithLease(LeaseId(lease)));
  }
  EXPECT_EQ(a->HashKV(0)->hash, b->HashKV(0)->hash);
}

Result<std::unique_ptr<storage::Env>> OpenReadOnly(const std::string& path) {
  storage::EnvOptions o;
  o.path = path;
  o.read_only = true;
  return storage::Env::Open(o);
}

TEST(SchemaMigrationTest, MigratedStoreReadsLikeOneWrittenWithTheNewSchema) {
  TempStore reference;
  TempStore migrated(256ull << 20, /*open=*/false);
  Schema1Writer old(migrated.dir() + "/db");
  auto both_put = [&](const std::string& k, const std::string& v, int64_t lease = 0) {
    old.Put(k, v, lease);
    reference.Put(k, v, lease);
  };
  auto both_delete = [&](const std::string& k) {
    old.Delete(k);
    reference.Delete(k);
  };
  both_put("a", "1");
  both_put("b", "1", 7);
  both_put("a", "2");
  both_delete("a");
  both_put("c", "x", 8);
  both_put("a", "3");
  both_put("b", "2");
  both_put("c", "y", 7);
  both_delete("b");
  old.AddStaleKeyState("zz");
  old.Finish();
  migrated.Reopen();
  ExpectSameStores(migrated.store(), reference.store());

  // Writes, deletes and compaction go on from the migrated state.
  for (TempStore* s : {&migrated, &reference}) {
    s->Put("a", "4");
    s->Delete("c");
    ASSERT_TRUE(s->Compact(11).ok());
    s->Put("b", "3");
  }
  ExpectSameStores(migrated.store(), reference.store());
  // Reopening does not migrate again.
  migrated.Reopen();
  ExpectSameStores(migrated.store(), reference.store());
}

TEST(SchemaMigrationTest, LargeStoreMigratesInSeveralTransactionsAndDropsTheOldTables) {
  TempStore migrated(256ull << 20, /*open=*/false);
  const std::string path = migrated.dir() + "/db";
  Schema1Writer old(path);
  constexpr int kKeys = 1001, kPutsPerKey = 101;  // more entries than one migration batch
  for (int round = 0; round < kPutsPerKey; ++round) {
    for (int k = 0; k < kKeys; ++k) old.Put("key" + std::to_string(k), std::to_string(round));
  }
  old.Delete("key0");
  old.Finish();
  migrated.Reopen();

  auto latest = migrated.Range("key", "kez");
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->count, kKeys - 1);
  EXPECT_EQ(latest->kvs.front().key, "key1");
  EXPECT_EQ(latest->kvs.front().value, std::to_string(kPutsPerKey - 1));
  EXPECT_EQ(latest->kvs.front().version, kPutsPerKey);
  EXPECT_EQ(latest->kvs.front().create_revision, 3);
  RangeOptions before_delete;
  before_delete.rev = migrated.store().current_rev() - 1;
  auto key0 = migrated.Range("key0", {}, before_delete);
  ASSERT_TRUE(key0.ok());
  ASSERT_EQ(key0->kvs.size(), 1u);
  EXPECT_EQ(key0->kvs[0].version, kPutsPerKey);
  RangeOptions early;
  early.rev = 2 + kKeys + 5;  // second round, key 5
  auto key5 = migrated.Range("key5", {}, early);
  ASSERT_TRUE(key5.ok());
  ASSERT_EQ(key5->kvs.size(), 1u);
  EXPECT_EQ(key5->kvs[0].value, "1");
  EXPECT_EQ(key5->kvs[0].version, 2);

  // The old tables are gone from the file.
  migrated.Close();
  auto env = OpenReadOnly(path);
  ASSERT_TRUE(env.ok());
  EXPECT_EQ((*env)->OpenDbi("key", storage::DbiKind::kPlain).status().code(), Code::kNotFound);
  EXPECT_EQ((*env)->OpenDbi("keyrev", storage::DbiKind::kDupFixed).status().code(),
            Code::kNotFound);
  EXPECT_TRUE(Store::Open(env->get()).ok());
}

TEST(SchemaMigrationTest, ReadOnlyOpenOfASchema1StoreExplainsWhatToDo) {
  TempStore dir;
  const std::string path = dir.dir() + "/old";
  Schema1Writer old(path);
  old.Put("a", "1");
  old.Finish();
  auto env = OpenReadOnly(path);
  ASSERT_TRUE(env.ok());
  auto store = Store::Open(env->get());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("schema version 1"), std::string::npos)
      << store.status().ToString();
}

}  // namespace
}  // namespace etcdpp::mvcc
