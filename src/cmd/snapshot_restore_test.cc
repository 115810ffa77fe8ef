#include "cmd/snapshot_restore.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "mvcc/store.h"
#include "server/membership.h"
#include "server/wal_log.h"
#include "storage/env.h"

namespace etcdpp::cmd {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::string Sha256(const std::string& bytes) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(bytes.data(), bytes.size(), d, &n, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(d), n);
}

class SnapshotRestoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/etcdpp_restore_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // A source member's database: three keys, a compaction, applied index 57.
    storage::EnvOptions o;
    o.path = dir_ + "/source.db";
    auto env = storage::Env::Open(o).value();
    auto store = mvcc::Store::Open(env.get()).value();
    auto b = store->Write().value();
    for (const char* k : {"a", "b", "c"}) {
      mvcc::TxnWrite t = b.BeginTxn();
      ASSERT_TRUE(t.Put(k, std::string("value-") + k, LeaseId(0)).ok());
      t.End();
    }
    b.SetConsistentIndex(LogIndex(57), Term(3));
    ASSERT_TRUE(b.Commit().ok());
    // What the Snapshot RPC streams: the compacted copy, then its SHA-256.
    ASSERT_TRUE(env->CopyCompact(dir_ + "/copy.db").ok());
    std::string db = ReadFile(dir_ + "/copy.db");
    WriteFile(dir_ + "/snap.db", db + Sha256(db));
  }
  void TearDown() override { fs::remove_all(dir_); }

  RestoreOptions Options() {
    RestoreOptions o;
    o.snapshot_path = dir_ + "/snap.db";
    o.data_dir = dir_ + "/restored";
    o.name = "m1";
    o.initial_cluster = "m1=http://127.0.0.1:2380";
    o.initial_advertise_peer_urls = "http://127.0.0.1:2380";
    return o;
  }

  std::string dir_;
};

TEST_F(SnapshotRestoreTest, MakesADataDirWithTheKeysANewLogAndTheFlagsIds) {
  ASSERT_TRUE(RestoreSnapshot(Options()).ok());
  const std::string member = dir_ + "/restored/member";
  EXPECT_TRUE(fs::is_regular_file(member + "/snap/db"));
  EXPECT_TRUE(fs::is_directory(member + "/wal"));
  EXPECT_EQ(fs::status(dir_ + "/restored").permissions() & fs::perms::all, fs::perms::owner_all);

  storage::EnvOptions o;
  o.path = member + "/snap/db";
  auto env = storage::Env::Open(o).value();
  auto store = mvcc::Store::Open(env.get()).value();
  EXPECT_EQ(store->current_rev(), 4);
  EXPECT_EQ(store->consistent_index(), LogIndex(0)) << "a restored member starts a new log";
  auto r = store->Read().value().Range("a", "z", {}).value();
  ASSERT_EQ(r.kvs.size(), 3u);
  EXPECT_EQ(r.kvs[2].value, "value-c");

  auto log = server::OpenWalLog(member + "/wal", MemberId(1), ClusterId(1), LogIndex(0));
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_FALSE(log->created);
  auto members = server::ParseInitialCluster("m1=http://127.0.0.1:2380", "etcd-cluster").value();
  EXPECT_EQ(log->member_id, members[0].id);
  EXPECT_EQ(log->cluster_id, server::ComputeClusterId({members[0].id}));
}

TEST_F(SnapshotRestoreTest, RefusesAnExistingDataDir) {
  fs::create_directories(dir_ + "/restored");
  Status s = RestoreSnapshot(Options());
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("exists"), std::string::npos) << s.message();
}

TEST_F(SnapshotRestoreTest, ACorruptSnapshotFailsTheHashCheckAndLeavesNothing) {
  std::string bytes = ReadFile(dir_ + "/snap.db");
  bytes[100] ^= 1;
  WriteFile(dir_ + "/snap.db", bytes);
  Status s = RestoreSnapshot(Options());
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("expected sha256"), std::string::npos) << s.message();
  EXPECT_FALSE(fs::exists(dir_ + "/restored"));
}

TEST_F(SnapshotRestoreTest, AFileWithoutHashNeedsSkipHashCheck) {
  RestoreOptions o = Options();
  o.snapshot_path = dir_ + "/copy.db";
  Status s = RestoreSnapshot(o);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("--skip-hash-check"), std::string::npos) << s.message();
  o.skip_hash_check = true;
  EXPECT_TRUE(RestoreSnapshot(o).ok());
}

TEST_F(SnapshotRestoreTest, ABoltOrGarbageFileIsRejected) {
  std::string junk(4096 * 4, 'j');
  WriteFile(dir_ + "/junk.db", junk + Sha256(junk));
  RestoreOptions o = Options();
  o.snapshot_path = dir_ + "/junk.db";
  Status s = RestoreSnapshot(o);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("not an etcdpp database"), std::string::npos) << s.message();
  EXPECT_FALSE(fs::exists(dir_ + "/restored"));
}

TEST_F(SnapshotRestoreTest, TheNameMustBeInTheClusterWithItsPeerUrls) {
  RestoreOptions o = Options();
  o.name = "m2";
  EXPECT_NE(RestoreSnapshot(o).message().find("couldn't find local name"), std::string::npos);
  o = Options();
  o.initial_advertise_peer_urls = "http://127.0.0.1:9999";
  EXPECT_NE(RestoreSnapshot(o).message().find("missing from --initial-advertise-peer-urls"),
            std::string::npos);
}

}  // namespace
}  // namespace etcdpp::cmd
