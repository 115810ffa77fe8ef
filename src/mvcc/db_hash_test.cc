// HashDatabase, and the store across Env::Defragment: the data, the revisions and both hashes
// (HashKV and the whole-database hash) are unchanged while the file shrinks.
#include "mvcc/db_hash.h"

#include <gtest/gtest.h>

#include <string>

#include "mvcc/store_test_util.h"

namespace etcdpp::mvcc {
namespace {

using testing::TempStore;

uint32_t WholeHash(Store& store) {
  auto view = store.Read();
  EXPECT_TRUE(view.ok());
  auto h = HashDatabase(*store.env(), *view);
  EXPECT_TRUE(h.ok()) << h.status().ToString();
  return h.ok() ? h->hash : 0;
}

uint32_t KvHash(Store& store, int64_t rev = 0) {
  auto view = store.Read();
  EXPECT_TRUE(view.ok());
  auto h = view->HashKV(rev);
  EXPECT_TRUE(h.ok()) << h.status().ToString();
  return h.ok() ? h->hash : 0;
}

std::vector<std::string> Dump(TempStore& s) {
  std::vector<std::string> out;
  auto r = s.Range("", std::string(1, '\0'));
  EXPECT_TRUE(r.ok());
  for (const KeyValue& kv : r->kvs) {
    out.push_back(kv.key + "=" + kv.value + "@" + std::to_string(kv.create_revision) + "/" +
                  std::to_string(kv.mod_revision) + "/" + std::to_string(kv.version));
  }
  return out;
}

TEST(DbHashTest, IgnoresTheAppliedIndexButNotTheData) {
  TempStore s;
  s.Put("a", "1");
  uint32_t h = WholeHash(s.store());
  {
    auto b = s.store().Write();
    ASSERT_TRUE(b.ok());
    b->SetConsistentIndex(LogIndex(42), Term(7));
    ASSERT_TRUE(b->Commit().ok());
  }
  EXPECT_EQ(WholeHash(s.store()), h);
  s.Put("a", "2");
  EXPECT_NE(WholeHash(s.store()), h);
}

TEST(DbHashTest, EqualOnStoresWithEqualDataAndStableAcrossRestart) {
  TempStore a, b;
  for (TempStore* s : {&a, &b}) {
    s->Put("x", "1");
    s->Put("y", "2");
    s->Delete("x");
  }
  EXPECT_EQ(WholeHash(a.store()), WholeHash(b.store()));
  EXPECT_EQ(KvHash(a.store()), KvHash(b.store()));
  uint32_t before = WholeHash(a.store());
  a.Reopen();
  EXPECT_EQ(WholeHash(a.store()), before);
}

TEST(DefragmentTest, ShrinksTheFileAndKeepsDataRevisionsAndHashes) {
  TempStore s;
  const std::string value(2000, 'v');
  for (int i = 0; i < 3000; ++i) s.Put("k" + std::to_string(i), value);
  for (int i = 0; i < 3000; ++i) {
    if (i % 10 != 0) s.Delete("k" + std::to_string(i));
  }
  int64_t rev = s.Put("marker", "m");
  ASSERT_TRUE(s.Compact(rev).ok());
  auto before = s.store().env()->Stats(storage::StatsDetail::kWithFreeList);
  ASSERT_TRUE(before.ok());
  std::vector<std::string> data = Dump(s);
  uint32_t kv_hash = KvHash(s.store());
  uint32_t whole = WholeHash(s.store());
  ASSERT_EQ(data.size(), 301u);

  ASSERT_TRUE(s.store().env()->Defragment().ok());

  auto after = s.store().env()->Stats(storage::StatsDetail::kWithFreeList);
  ASSERT_TRUE(after.ok());
  EXPECT_LT(after->used_bytes * 3, before->used_bytes)
      << before->used_bytes << " -> " << after->used_bytes;
  EXPECT_EQ(s.store().current_rev(), rev);
  EXPECT_EQ(s.store().compact_rev(), rev);
  EXPECT_EQ(Dump(s), data);
  EXPECT_EQ(KvHash(s.store()), kv_hash);
  EXPECT_EQ(WholeHash(s.store()), whole);
  // Writes go on at the next revision, and all of it survives a restart.
  EXPECT_EQ(s.Put("after", "defrag"), rev + 1);
  uint32_t kv_hash_after = KvHash(s.store());
  EXPECT_NE(kv_hash_after, kv_hash);
  s.Reopen();
  EXPECT_EQ(s.store().current_rev(), rev + 1);
  EXPECT_EQ(KvHash(s.store(), rev + 1), kv_hash_after);
  EXPECT_EQ(Dump(s).size(), 302u);
}

TEST(DefragmentTest, AReadViewOpenAcrossDefragmentKeepsItsSnapshot) {
  TempStore s;
  for (int i = 0; i < 200; ++i) s.Put("k" + std::to_string(i), std::string(500, 'x'));
  auto view = s.store().Read();
  ASSERT_TRUE(view.ok());
  ASSERT_TRUE(s.store().env()->Defragment().ok());
  s.Delete("k", "l");
  auto old = view->Range("k", "l", {});
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->count, 200);
  EXPECT_EQ(s.Range("k", "l")->count, 0);
}

}  // namespace
}  // namespace etcdpp::mvcc
