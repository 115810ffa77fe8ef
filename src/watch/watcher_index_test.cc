#include "watch/watcher_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

namespace etcdpp::watch {
namespace {

struct W {
  int id;
  KeyRange range;
};

std::set<int> MatchIds(const WatcherIndex<W>& idx, std::string_view key) {
  std::set<int> out;
  idx.Match(key, [&](W* w) { EXPECT_TRUE(out.insert(w->id).second) << "matched twice"; });
  return out;
}

KeyRange Single(std::string k) { return KeyRange{std::move(k), "", false}; }
KeyRange Range(std::string k, std::string e) { return KeyRange{std::move(k), std::move(e), false}; }
KeyRange FromKey(std::string k) { return KeyRange{std::move(k), "", true}; }

TEST(WatcherIndexTest, WorkedExampleFromHeader) {
  W w1{1, Range("a", "c")}, w2{2, Range("b", "d")}, w3{3, Range("b", "d")}, w4{4, FromKey("e")},
      w5{5, Single("b")};
  WatcherIndex<W> idx;
  for (W* w : {&w1, &w2, &w3, &w4, &w5}) idx.Add(w->range, w);
  EXPECT_EQ(idx.size(), 5u);
  EXPECT_EQ(idx.range_nodes(), 3u);  // w2 and w3 share a node
  EXPECT_EQ(MatchIds(idx, "b"), (std::set<int>{1, 2, 3, 5}));
  EXPECT_EQ(MatchIds(idx, "a"), (std::set<int>{1}));
  EXPECT_EQ(MatchIds(idx, "c"), (std::set<int>{2, 3}));
  EXPECT_EQ(MatchIds(idx, "d"), (std::set<int>{}));
  EXPECT_EQ(MatchIds(idx, "zzz"), (std::set<int>{4}));
  EXPECT_EQ(MatchIds(idx, std::string(1, '\0')), (std::set<int>{}));
  EXPECT_TRUE(idx.Remove(w2.range, &w2));
  EXPECT_FALSE(idx.Remove(w2.range, &w2));
  EXPECT_EQ(MatchIds(idx, "c"), (std::set<int>{3}));
  EXPECT_TRUE(idx.Remove(w3.range, &w3));
  EXPECT_EQ(idx.range_nodes(), 2u);
  EXPECT_TRUE(idx.Remove(w5.range, &w5));
  EXPECT_EQ(MatchIds(idx, "b"), (std::set<int>{1}));
}

// Random ranges, keys, inserts and removals against a brute-force scan.
TEST(WatcherIndexTest, MatchesBruteForce) {
  std::mt19937 rng(7);
  auto rand_key = [&] {
    std::string k;
    int n = 1 + rng() % 3;
    for (int i = 0; i < n; ++i) k.push_back(static_cast<char>('a' + rng() % 6));
    return k;
  };
  std::vector<std::unique_ptr<W>> all;
  std::vector<W*> live;
  WatcherIndex<W> idx;
  for (int step = 0; step < 4000; ++step) {
    int op = rng() % 10;
    if (op < 5 || live.empty()) {
      auto w = std::make_unique<W>();
      w->id = static_cast<int>(all.size());
      int kind = rng() % 3;
      std::string a = rand_key();
      if (kind == 0) {
        w->range = Single(a);
      } else if (kind == 1) {
        std::string b = rand_key();
        if (a == b) b.push_back('a');
        if (b < a) std::swap(a, b);
        w->range = Range(a, b);
      } else {
        w->range = FromKey(a);
      }
      idx.Add(w->range, w.get());
      live.push_back(w.get());
      all.push_back(std::move(w));
    } else if (op < 7) {
      size_t i = rng() % live.size();
      ASSERT_TRUE(idx.Remove(live[i]->range, live[i]));
      live.erase(live.begin() + static_cast<long>(i));
    } else {
      std::string k = rand_key();
      std::set<int> want;
      for (W* w : live) {
        if (w->range.Contains(k)) want.insert(w->id);
      }
      ASSERT_EQ(MatchIds(idx, k), want) << "key " << k << " step " << step;
    }
  }
  EXPECT_EQ(idx.size(), live.size());
  size_t n = 0;
  idx.ForEach([&](W*) { ++n; });
  EXPECT_EQ(n, live.size());
}

TEST(WatcherIndexTest, TreeStaysShallowForSortedInserts) {
  std::vector<std::unique_ptr<W>> ws;
  WatcherIndex<W> idx;
  for (int i = 0; i < 20000; ++i) {
    char buf[32];
    snprintf(buf, sizeof(buf), "/registry/%08d/", i);
    ws.push_back(std::make_unique<W>(W{i, Range(buf, std::string(buf) + "\xff")}));
    idx.Add(ws.back()->range, ws.back().get());
  }
  // A treap's expected height is about 3·log2(n) ≈ 43 for 20,000 nodes; a degenerate list
  // would be 20,000.
  EXPECT_LT(idx.height(), 80u);
  EXPECT_EQ(MatchIds(idx, "/registry/00012345/pod"), (std::set<int>{12345}));
}

}  // namespace
}  // namespace etcdpp::watch
