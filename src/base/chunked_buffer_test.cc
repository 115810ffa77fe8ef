#include "base/chunked_buffer.h"

#include <gtest/gtest.h>

namespace etcdpp {
namespace {

TEST(ChunkedBufferTest, AppendsSpillIntoFullChunksInOrder) {
  ChunkedBuffer b(4);
  b.Append("ab");
  b.Append("cdefghij");
  b.Append("");
  b.Append("k");
  EXPECT_EQ(b.size(), 11u);
  EXPECT_EQ(b.ToString(), "abcdefghijk");
  ASSERT_EQ(b.chunks().size(), 3u);
  EXPECT_EQ(b.chunks()[0], "abcd");
  EXPECT_EQ(b.chunks()[1], "efgh");
  EXPECT_EQ(b.chunks()[2], "ijk");
}

TEST(ChunkedBufferTest, OverwriteAcrossAChunkBoundary) {
  ChunkedBuffer b(4);
  b.Append("0123456789");
  b.Overwrite(2, "ABCD");
  EXPECT_EQ(b.ToString(), "01ABCD6789");
  b.Overwrite(0, "x");
  b.Overwrite(9, "y");
  EXPECT_EQ(b.ToString(), "x1ABCD678y");
  EXPECT_DEATH(b.Overwrite(8, "abc"), "");
}

TEST(ChunkedBufferTest, TruncateDropsChunksAndKeepsAppending) {
  ChunkedBuffer b(4);
  b.Append("0123456789");
  b.Truncate(5);
  EXPECT_EQ(b.ToString(), "01234");
  EXPECT_EQ(b.chunks().size(), 2u);
  b.Append("abcdef");
  EXPECT_EQ(b.ToString(), "01234abcdef");
  b.Truncate(4);
  EXPECT_EQ(b.chunks().size(), 1u);
  b.Truncate(0);
  EXPECT_TRUE(b.empty());
  EXPECT_TRUE(b.chunks().empty());
  b.Append("z");
  EXPECT_EQ(b.ToString(), "z");
}

TEST(ChunkedBufferTest, ReleaseHandsOverTheChunks) {
  ChunkedBuffer b(3);
  b.Append("abcdefg");
  std::vector<std::string> chunks = std::move(b).Release();
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[2], "g");
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move): Release leaves it empty
}

}  // namespace
}  // namespace etcdpp
