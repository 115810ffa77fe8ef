#include "storage/env.h"

#include <gtest/gtest.h>
#include <lmdb.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <thread>

#include "storage/errors.h"

namespace etcdpp::storage {
namespace {

class EnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/etcdpp_storage_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Env> OpenEnv(uint64_t map_size = 64 << 20, bool read_only = false) {
    EnvOptions o;
    o.path = dir_ + "/db";
    o.map_size_bytes = map_size;
    o.read_only = read_only;
    auto env = Env::Open(o);
    EXPECT_TRUE(env.ok()) << env.status().ToString();
    return env.ok() ? std::move(env).value() : nullptr;
  }

  std::string dir_;
};

TEST_F(EnvTest, UsesEtcdFileNameWithoutSubdir) {
  auto env = OpenEnv();
  ASSERT_TRUE(env);
  EXPECT_TRUE(std::filesystem::is_regular_file(dir_ + "/db"));
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/db-lock"));
}

TEST_F(EnvTest, PutGetDeleteCommitAndAbort) {
  auto env = OpenEnv();
  auto dbi = env->OpenDbi("t", DbiKind::kPlain);
  ASSERT_TRUE(dbi.ok());
  {
    auto w = env->BeginWrite();
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(w->Put(*dbi, "a", "1").ok());
    ASSERT_TRUE(w->Put(*dbi, "b", "2").ok());
    ASSERT_TRUE(w->Commit().ok());
  }
  {
    auto w = env->BeginWrite();
    ASSERT_TRUE(w->Put(*dbi, "c", "3").ok());
    auto del = w->Delete(*dbi, "a");
    ASSERT_TRUE(del.ok());
    EXPECT_TRUE(*del);
    auto del2 = w->Delete(*dbi, "zz");
    EXPECT_FALSE(*del2);
    // Destroyed without Commit(): aborted.
  }
  auto r = env->BeginRead();
  ASSERT_TRUE(r.ok());
  auto a = r->Get(*dbi, "a");
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(a->has_value());
  EXPECT_EQ(**a, "1");
  EXPECT_FALSE(r->Get(*dbi, "c")->has_value());
  EXPECT_EQ(*r->Count(*dbi), 2u);
}

TEST_F(EnvTest, ReaderSnapshotIsIsolatedFromLaterCommitsAndMovesAcrossThreads) {
  auto env = OpenEnv();
  auto dbi = *env->OpenDbi("t", DbiKind::kPlain);
  {
    auto w = env->BeginWrite();
    ASSERT_TRUE(w->Put(dbi, "k", "old").ok());
    ASSERT_TRUE(w->Commit().ok());
  }
  auto r = env->BeginRead();
  ASSERT_TRUE(r.ok());
  ReadTxn snapshot = std::move(r).value();
  {
    // The writer is not blocked by the open reader.
    auto w = env->BeginWrite();
    ASSERT_TRUE(w->Put(dbi, "k", "new").ok());
    ASSERT_TRUE(w->Commit().ok());
  }
  std::string seen;
  std::thread t([&] { seen = std::string(**snapshot.Get(dbi, "k")); });  // MDB_NOTLS
  t.join();
  EXPECT_EQ(seen, "old");
  auto r2 = env->BeginRead();
  EXPECT_EQ(**r2->Get(dbi, "k"), "new");
}

TEST_F(EnvTest, CursorWalksPlainAndDupSortedDatabases) {
  auto env = OpenEnv();
  auto plain = *env->OpenDbi("p", DbiKind::kPlain);
  auto dup = *env->OpenDbi("d", DbiKind::kDupFixed);
  {
    auto w = env->BeginWrite();
    for (std::string k : {"a", "b", "d"}) ASSERT_TRUE(w->Put(plain, k, "v" + k).ok());
    for (std::string v : {"3", "1", "2"}) ASSERT_TRUE(w->Put(dup, "x", v).ok());
    ASSERT_TRUE(w->Put(dup, "x", "2").ok());  // already present: no-op
    ASSERT_TRUE(w->Put(dup, "y", "9").ok());
    ASSERT_TRUE(w->Commit().ok());
  }
  auto r = env->BeginRead().value();
  {
    auto c = r.OpenCursor(plain).value();
    ASSERT_TRUE(*c.SeekGE("c"));
    EXPECT_EQ(c.key(), "d");
    EXPECT_EQ(c.value(), "vd");
    EXPECT_FALSE(*c.Next());
    ASSERT_TRUE(*c.SeekExact("a"));
    EXPECT_FALSE(*c.SeekExact("c"));
    ASSERT_TRUE(*c.Last());
    EXPECT_EQ(c.key(), "d");
  }
  {
    auto c = r.OpenCursor(dup).value();
    ASSERT_TRUE(*c.SeekExact("x"));
    EXPECT_EQ(c.value(), "1");
    EXPECT_EQ(*c.DupCount(), 3u);
    std::string probe = "x";
    ASSERT_TRUE(*c.SeekDupGE(probe, "15"));
    probe = "?";  // key() must not alias the argument
    EXPECT_EQ(c.key(), "x");
    EXPECT_EQ(c.value(), "2");
    EXPECT_FALSE(*c.SeekDupGE("x", "4"));
    ASSERT_TRUE(*c.SeekExact("x"));
    ASSERT_TRUE(*c.LastDup());
    EXPECT_EQ(c.key(), "x");
    EXPECT_EQ(c.value(), "3");
    ASSERT_TRUE(*c.PrevDup());
    EXPECT_EQ(c.value(), "2");
    ASSERT_TRUE(*c.NextKey());
    EXPECT_EQ(c.key(), "y");
    EXPECT_FALSE(*c.NextKey());
  }
}

TEST_F(EnvTest, PutLastFillsPagesWithOrderedKeysAndPlacesOthersLikePut) {
  auto env = OpenEnv();
  auto by_put = *env->OpenDbi("put", DbiKind::kPlain);
  auto by_last = *env->OpenDbi("last", DbiKind::kPlain);
  const std::string value(600, 'v');
  auto key = [](int i) {
    char k[16];
    std::snprintf(k, sizeof(k), "%08d", i);
    return std::string(k);
  };
  auto used_after = [&](Dbi dbi, auto put) {
    const uint64_t before = env->Stats()->used_bytes;
    for (int t = 0; t < 20; ++t) {  // the apply thread's pattern: many commits of a few each
      auto w = env->BeginWrite();
      for (int i = t * 20; i < (t + 1) * 20; ++i) EXPECT_TRUE(put(*w, dbi, key(i)).ok());
      EXPECT_TRUE(w->Commit().ok());
    }
    return env->Stats()->used_bytes - before;
  };
  // The same ordered keys through Put: pages split in half and stay half empty.
  const uint64_t with_put = used_after(by_put, [&](WriteTxn& w, Dbi d, const std::string& k) {
    return w.Put(d, k, value);
  });
  const uint64_t with_last = used_after(by_last, [&](WriteTxn& w, Dbi d, const std::string& k) {
    return w.PutLast(d, k, value);
  });
  EXPECT_LT(with_last * 100, with_put * 85) << with_last << " vs " << with_put;

  // A key that is not past the last one still lands in its place; an existing one is replaced.
  auto w = env->BeginWrite();
  ASSERT_TRUE(w->PutLast(by_last, "00000100x", "between").ok());
  ASSERT_TRUE(w->PutLast(by_last, key(7), "replaced").ok());
  ASSERT_TRUE(w->PutLast(by_last, "zzz", "end").ok());
  ASSERT_TRUE(w->Commit().ok());
  auto r = env->BeginRead().value();
  EXPECT_EQ(r.Get(by_last, "00000100x")->value_or(""), "between");
  EXPECT_EQ(r.Get(by_last, key(7))->value_or(""), "replaced");
  EXPECT_EQ(r.Get(by_last, key(399))->value_or(""), value);
  auto c = r.OpenCursor(by_last).value();
  ASSERT_TRUE(*c.Last());
  EXPECT_EQ(c.key(), "zzz");
  EXPECT_EQ(*r.Count(by_last), 402u);
}

TEST_F(EnvTest, MapFullIsADistinctStatus) {
  auto env = OpenEnv(/*map_size=*/256 << 10);
  auto dbi = *env->OpenDbi("t", DbiKind::kPlain);
  auto w = env->BeginWrite();
  Status last;
  std::string value(4000, 'x');
  for (int i = 0; i < 1000 && last.ok(); ++i) {
    last = w->Put(dbi, "key" + std::to_string(i), value);
  }
  ASSERT_FALSE(last.ok());
  EXPECT_TRUE(IsMapFull(last)) << last.ToString();
  EXPECT_EQ(last.code(), Code::kResourceExhausted);
  EXPECT_FALSE(IsMapFull(Internal("other")));
}

TEST_F(EnvTest, OpeningGarbageIsDataLoss) {
  {
    FILE* f = fopen((dir_ + "/db").c_str(), "w");
    std::string junk(16384, 'j');
    fwrite(junk.data(), 1, junk.size(), f);
    fclose(f);
  }
  EnvOptions o;
  o.path = dir_ + "/db";
  auto env = Env::Open(o);
  ASSERT_FALSE(env.ok());
  EXPECT_EQ(env.status().code(), Code::kDataLoss) << env.status().ToString();
}

TEST_F(EnvTest, CompactCopyHoldsTheDataAndIsSmaller) {
  auto env = OpenEnv();
  auto dbi = *env->OpenDbi("t", DbiKind::kPlain);
  std::string value(1000, 'v');
  {
    auto w = env->BeginWrite();
    for (int i = 0; i < 2000; ++i) ASSERT_TRUE(w->Put(dbi, "k" + std::to_string(i), value).ok());
    ASSERT_TRUE(w->Commit().ok());
  }
  {
    auto w = env->BeginWrite();
    for (int i = 0; i < 1990; ++i) ASSERT_TRUE(w->Delete(dbi, "k" + std::to_string(i)).ok());
    ASSERT_TRUE(w->Commit().ok());
  }
  auto before = env->Stats(StatsDetail::kWithFreeList);
  ASSERT_TRUE(before.ok());
  // Most of the deleted data's pages are now free.
  EXPECT_GT(before->free_bytes, before->used_bytes / 2);
  EXPECT_LE(before->free_bytes, before->used_bytes);
  ASSERT_TRUE(env->CopyCompact(dir_ + "/copy").ok());
  EXPECT_FALSE(env->CopyCompact(dir_ + "/copy").ok()) << "must not overwrite";
  EXPECT_LT(std::filesystem::file_size(dir_ + "/copy"), std::filesystem::file_size(dir_ + "/db"));
  EnvOptions o;
  o.path = dir_ + "/copy";
  auto copy = Env::Open(o);
  ASSERT_TRUE(copy.ok());
  auto cdbi = *(*copy)->OpenDbi("t", DbiKind::kPlain);
  auto r = (*copy)->BeginRead().value();
  EXPECT_EQ(*r.Count(cdbi), 10u);
  EXPECT_EQ(**r.Get(cdbi, "k1999"), value);
  auto stats = (*copy)->Stats(StatsDetail::kWithFreeList);
  ASSERT_TRUE(stats.ok());
  EXPECT_GT(stats->used_bytes, 0u);
  EXPECT_LT(stats->free_bytes, stats->used_bytes / 4);
}

TEST_F(EnvTest, ReadOnlyEnvCannotCreateDatabases) {
  {
    auto env = OpenEnv();
    ASSERT_TRUE(env->OpenDbi("exists", DbiKind::kPlain).ok());
  }
  auto env = OpenEnv(64 << 20, /*read_only=*/true);
  ASSERT_TRUE(env);
  EXPECT_TRUE(env->OpenDbi("exists", DbiKind::kPlain).ok());
  auto missing = env->OpenDbi("missing", DbiKind::kPlain);
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
}

TEST_F(EnvTest, DropDbiDeletesTheLastOpenedSubDatabaseOnlyAndKeepsOtherHandles) {
  {
    auto env = OpenEnv();
    Dbi kept = *env->OpenDbi("kept", DbiKind::kPlain);
    Dbi dropped = *env->OpenDbi("dropped", DbiKind::kDupFixed);
    {
      auto w = env->BeginWrite();
      ASSERT_TRUE(w->Put(kept, "a", "1").ok());
      ASSERT_TRUE(w->Put(dropped, "a", "12345678").ok());
      ASSERT_TRUE(w->Put(dropped, "a", "23456789").ok());
      ASSERT_TRUE(w->Commit().ok());
    }
    EXPECT_EQ(env->DropDbi("kept").code(), Code::kFailedPrecondition);
    ASSERT_TRUE(env->DropDbi("dropped").ok());
    ASSERT_EQ(env->OpenedDbis().size(), 1u);
    EXPECT_EQ(env->OpenedDbis()[0].name, "kept");
    // A sub-database opened afterwards, and Defragment, keep every handle working.
    Dbi later = *env->OpenDbi("later", DbiKind::kPlain);
    ASSERT_TRUE(env->Defragment().ok());
    auto w = env->BeginWrite();
    ASSERT_TRUE(w->Put(later, "b", "2").ok());
    EXPECT_EQ(**w->Get(kept, "a"), "1");
    ASSERT_TRUE(w->Commit().ok());
  }
  auto env = OpenEnv(64 << 20, /*read_only=*/true);
  EXPECT_EQ(env->OpenDbi("dropped", DbiKind::kDupFixed).status().code(), Code::kNotFound);
  EXPECT_TRUE(env->OpenDbi("kept", DbiKind::kPlain).ok());
  EXPECT_TRUE(env->OpenDbi("later", DbiKind::kPlain).ok());
}

// Fills `dbi` with `n` keys of 1 kB and deletes all but the last `keep`: most pages become free.
void FillAndDeleteMost(Env* env, Dbi dbi, int n, int keep) {
  std::string value(1000, 'v');
  {
    auto w = env->BeginWrite();
    for (int i = 0; i < n; ++i) ASSERT_TRUE(w->Put(dbi, "k" + std::to_string(i), value).ok());
    ASSERT_TRUE(w->Commit().ok());
  }
  auto w = env->BeginWrite();
  for (int i = 0; i < n - keep; ++i) ASSERT_TRUE(w->Delete(dbi, "k" + std::to_string(i)).ok());
  ASSERT_TRUE(w->Commit().ok());
}

TEST_F(EnvTest, DefragmentShrinksTheFileKeepsDataAndHandles) {
  auto env = OpenEnv();
  auto plain = *env->OpenDbi("t", DbiKind::kPlain);
  auto dups = *env->OpenDbi("d", DbiKind::kDupSort);
  FillAndDeleteMost(env.get(), plain, 3000, 10);
  {
    auto w = env->BeginWrite();
    ASSERT_TRUE(w->Put(dups, "x", "1").ok());
    ASSERT_TRUE(w->Put(dups, "x", "2").ok());
    ASSERT_TRUE(w->Commit().ok());
  }
  auto before = *env->Stats(StatsDetail::kWithFreeList);
  ASSERT_TRUE(env->Defragment().ok());
  auto after = *env->Stats(StatsDetail::kWithFreeList);
  EXPECT_LT(after.used_bytes * 4, before.used_bytes);
  EXPECT_LT(after.free_bytes, after.used_bytes / 4);
  EXPECT_LT(std::filesystem::file_size(dir_ + "/db"), before.used_bytes / 4);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/db.tmp"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/db.tmp-lock"));

  // The handles opened before the swap work on the new environment, for reads and writes.
  {
    auto r = env->BeginRead().value();
    EXPECT_EQ(*r.Count(plain), 10u);
    EXPECT_TRUE(r.Get(plain, "k2999")->has_value());
    EXPECT_EQ(*r.Count(dups), 2u);
  }
  {
    auto w = env->BeginWrite();
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(w->Put(plain, "after", "defrag").ok());
    ASSERT_TRUE(w->Commit().ok());
  }
  // And the renamed file is what a restart opens.
  env.reset();
  env = OpenEnv();
  auto reopened = *env->OpenDbi("t", DbiKind::kPlain);
  auto r = env->BeginRead().value();
  EXPECT_EQ(*r.Count(reopened), 11u);
  EXPECT_EQ(**r.Get(reopened, "after"), "defrag");
}

TEST_F(EnvTest, ReadersOfTheOldFileFinishUndisturbedAcrossDefragment) {
  auto env = OpenEnv();
  auto dbi = *env->OpenDbi("t", DbiKind::kPlain);
  FillAndDeleteMost(env.get(), dbi, 1000, 5);
  auto old_reader = env->BeginRead().value();
  auto cursor = old_reader.OpenCursor(dbi).value();
  ASSERT_TRUE(*cursor.First());
  ASSERT_TRUE(env->Defragment().ok());
  {
    auto w = env->BeginWrite();
    ASSERT_TRUE(w->Put(dbi, "new", "x").ok());
    ASSERT_TRUE(w->Commit().ok());
  }
  // The old snapshot still reads its own state through the old (renamed-over) file.
  int n = 1;
  while (*cursor.Next()) ++n;
  EXPECT_EQ(n, 5);
  EXPECT_FALSE(old_reader.Get(dbi, "new")->has_value());
  // A second defragmentation while the first old environment is still held is fine too.
  ASSERT_TRUE(env->Defragment().ok());
  auto fresh = env->BeginRead().value();
  EXPECT_EQ(*fresh.Count(dbi), 6u);
  // The old reader moves to another thread and ends there (MDB_NOTLS); the old environment
  // closes with it.
  std::thread([c = std::move(cursor), t = std::move(old_reader)]() mutable {
    EXPECT_TRUE(*c.First());
  }).join();
}

TEST_F(EnvTest, DefragmentWaitsForTheWriterAndLosesNoCommit) {
  auto env = OpenEnv();
  auto dbi = *env->OpenDbi("t", DbiKind::kPlain);
  FillAndDeleteMost(env.get(), dbi, 500, 5);
  auto w = env->BeginWrite();
  ASSERT_TRUE(w->Put(dbi, "in-flight", "1").ok());
  std::thread defrag([&] { EXPECT_TRUE(env->Defragment().ok()); });
  // Whenever the defragmentation copies, it is after this commit: the writer lock orders them.
  ASSERT_TRUE(w->Commit().ok());
  defrag.join();
  for (int i = 0; i < 50; ++i) {
    auto w2 = env->BeginWrite();
    ASSERT_TRUE(w2->Put(dbi, "later" + std::to_string(i), "2").ok());
    ASSERT_TRUE(w2->Commit().ok());
  }
  env.reset();
  env = OpenEnv();
  auto reopened = *env->OpenDbi("t", DbiKind::kPlain);
  auto r = env->BeginRead().value();
  EXPECT_TRUE(r.Get(reopened, "in-flight")->has_value());
  EXPECT_EQ(*r.Count(reopened), 56u);
}

TEST_F(EnvTest, LeftoverOfAnInterruptedDefragmentIsRemovedAndTheDataKept) {
  {
    auto env = OpenEnv();
    auto dbi = *env->OpenDbi("t", DbiKind::kPlain);
    auto w = env->BeginWrite();
    ASSERT_TRUE(w->Put(dbi, "a", "1").ok());
    ASSERT_TRUE(w->Commit().ok());
    // A crash in the middle of the copy: a partial temp file next to an intact data file.
    ASSERT_TRUE(env->CopyCompact(dir_ + "/db.tmp").ok());
    std::filesystem::resize_file(dir_ + "/db.tmp", 4096);
  }
  auto env = OpenEnv();
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/db.tmp"));
  auto dbi = *env->OpenDbi("t", DbiKind::kPlain);
  auto r = env->BeginRead().value();
  EXPECT_EQ(**r.Get(dbi, "a"), "1");
  // And a later defragmentation is not disturbed by such leftovers.
  r = ReadTxn();
  ASSERT_TRUE(env->CopyCompact(dir_ + "/db.tmp").ok());
  EXPECT_TRUE(env->Defragment().ok());
}

TEST_F(EnvTest, OpenedDbisListsEverySubDatabaseOnce) {
  auto env = OpenEnv();
  ASSERT_TRUE(env->OpenDbi("b", DbiKind::kPlain).ok());
  ASSERT_TRUE(env->OpenDbi("a", DbiKind::kDupSort).ok());
  ASSERT_TRUE(env->OpenDbi("b", DbiKind::kPlain).ok());
  auto dbis = env->OpenedDbis();
  ASSERT_EQ(dbis.size(), 2u);
  EXPECT_EQ(dbis[0].name, "b");
  EXPECT_EQ(dbis[1].name, "a");
  EXPECT_EQ(dbis[1].dbi.kind, DbiKind::kDupSort);
}

}  // namespace
}  // namespace etcdpp::storage
