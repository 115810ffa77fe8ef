#include "peer/codec.h"

#include <gtest/gtest.h>

namespace etcdpp::peer {
namespace {

raft::Message FullMessage() {
  raft::Message m;
  m.type = raft::MessageType::kApp;
  m.to = MemberId(0x8e9e05c52164694dULL);
  m.from = MemberId(2);
  m.term = Term(7);
  m.log_term = Term(6);
  m.index = LogIndex(100);
  m.commit = LogIndex(99);
  m.reject = true;
  m.reject_hint = LogIndex(42);
  m.context = std::string("ctx\0x", 5);
  m.entries.push_back(raft::Entry{Term(6), LogIndex(101), raft::EntryType::kNormal, "put"});
  m.entries.push_back(raft::Entry{Term(7), LogIndex(102), raft::EntryType::kConfChangeV2, ""});
  raft::Snapshot s;
  s.data = "image";
  s.metadata.index = LogIndex(50);
  s.metadata.term = Term(3);
  s.metadata.conf_state.voters = {MemberId(1), MemberId(2)};
  s.metadata.conf_state.learners = {MemberId(3)};
  s.metadata.conf_state.auto_leave = true;
  m.snapshot = s;
  return m;
}

std::string Payload(const raft::Message& m) {
  std::string frame;
  AppendMessageFrame(m, &frame);
  EXPECT_EQ(FrameLength(frame), frame.size() - kFrameHeaderBytes);
  return frame.substr(kFrameHeaderBytes);
}

TEST(CodecTest, MessageRoundTrips) {
  raft::Message m = FullMessage();
  auto back = DecodeMessage(Payload(m));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, m);

  raft::Message empty;
  empty.type = raft::MessageType::kHeartbeat;
  auto back2 = DecodeMessage(Payload(empty));
  ASSERT_TRUE(back2.ok());
  EXPECT_EQ(*back2, empty);
}

TEST(CodecTest, HelloRoundTrips) {
  Hello h{ClusterId(0xcdf818194e3a8c32ULL),
          MemberId(1),
          MemberId(2),
          {"https://127.0.0.1:2379", "http://localhost:2379"}};
  std::string frame;
  AppendHelloFrame(h, &frame);
  auto back = DecodeHello(std::string_view(frame).substr(kFrameHeaderBytes));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, h);
}

TEST(CodecTest, HelloWithoutMagicIsRejected) {
  Hello h{ClusterId(1), MemberId(1), MemberId(2), {}};
  std::string frame;
  AppendHelloFrame(h, &frame);
  frame[kFrameHeaderBytes] = 'X';
  EXPECT_FALSE(DecodeHello(std::string_view(frame).substr(kFrameHeaderBytes)).ok());
}

TEST(CodecTest, EveryTruncationIsRejected) {
  std::string p = Payload(FullMessage());
  for (size_t n = 0; n < p.size(); ++n) {
    EXPECT_FALSE(DecodeMessage(std::string_view(p).substr(0, n)).ok()) << "length " << n;
  }
}

TEST(CodecTest, TrailingBytesAreRejected) {
  std::string p = Payload(FullMessage()) + "x";
  auto r = DecodeMessage(p);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("trailing"), std::string::npos);
}

TEST(CodecTest, UnknownMessageTypeIsRejected) {
  std::string p = Payload(FullMessage());
  p[0] = static_cast<char>(200);
  EXPECT_FALSE(DecodeMessage(p).ok());
}

TEST(CodecTest, UnknownEntryTypeIsRejected) {
  raft::Message m;
  m.type = raft::MessageType::kApp;
  m.entries.push_back(raft::Entry{Term(1), LogIndex(1), raft::EntryType::kNormal, "a"});
  std::string p = Payload(m);
  // The entry type byte precedes the data (length 1, "a") at the end of the entries, followed by
  // the snapshot flag.
  ASSERT_EQ(p[p.size() - 1], '\0');
  ASSERT_EQ(p[p.size() - 2], 'a');
  p[p.size() - 4] = 9;
  EXPECT_FALSE(DecodeMessage(p).ok());
}

TEST(CodecTest, ForgedEntryCountIsRejectedWithoutAllocating) {
  raft::Message m;
  m.type = raft::MessageType::kApp;
  std::string p = Payload(m);
  // Replace the entry count (second to last byte, before the snapshot flag) by a huge varint.
  p.resize(p.size() - 2);
  p += std::string("\xff\xff\xff\xff\x0f", 5);
  p.push_back('\0');
  EXPECT_FALSE(DecodeMessage(p).ok());
}

TEST(CodecTest, BadSnapshotFlagIsRejected) {
  raft::Message m;
  std::string p = Payload(m);
  p.back() = 2;
  EXPECT_FALSE(DecodeMessage(p).ok());
}

TEST(CodecTest, LeaseFramesRoundTrip) {
  std::string frame;
  AppendLeaseRenewFrame(LeaseRenew{77, 0x1234567890abcdefLL}, &frame);
  std::string_view p = std::string_view(frame).substr(kFrameHeaderBytes);
  ASSERT_EQ(KindOf(p), FrameKind::kLeaseRenew);
  auto renew = DecodeLeaseRenew(p);
  ASSERT_TRUE(renew.ok());
  EXPECT_EQ(*renew, (LeaseRenew{77, 0x1234567890abcdefLL}));

  frame.clear();
  LeaseRenewResult res{78, LeaseRenewOutcome::kRenewed, 60};
  AppendLeaseRenewResultFrame(res, &frame);
  p = std::string_view(frame).substr(kFrameHeaderBytes);
  ASSERT_EQ(KindOf(p), FrameKind::kLeaseRenewResult);
  auto back = DecodeLeaseRenewResult(p);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, res);
  // Truncated, and an unknown outcome.
  EXPECT_FALSE(DecodeLeaseRenewResult(p.substr(0, p.size() - 1)).ok());
  std::string bad(p);
  bad[2] = 9;
  EXPECT_FALSE(DecodeLeaseRenewResult(bad).ok());
  // A raft message is never mistaken for a lease frame.
  std::string m;
  AppendMessageFrame(raft::Message{}, &m);
  EXPECT_EQ(KindOf(std::string_view(m).substr(kFrameHeaderBytes)), FrameKind::kRaftMessage);
}

}  // namespace
}  // namespace etcdpp::peer
