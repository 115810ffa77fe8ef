#include "grpc/framing.h"

#include <gtest/gtest.h>

namespace etcdpp::grpc {
namespace {

TEST(FramingTest, EncodeWritesFlagAndBigEndianLength) {
  std::string f = EncodeMessage(std::string(258, 'a'));
  ASSERT_EQ(f.size(), 5u + 258);
  EXPECT_EQ(f.substr(0, 5), std::string("\x00\x00\x00\x01\x02", 5));
}

TEST(FramingTest, ReaderReassemblesMessagesFromAnyChunking) {
  std::string stream = EncodeMessage("one") + EncodeMessage("") + EncodeMessage("three!");
  for (size_t chunk = 1; chunk <= stream.size(); ++chunk) {
    MessageReader r(100);
    std::vector<std::string> got;
    for (size_t i = 0; i < stream.size(); i += chunk) {
      ASSERT_TRUE(r.Feed(std::string_view(stream).substr(i, chunk)).ok());
      while (auto m = r.Next()) got.push_back(m->bytes);
    }
    EXPECT_EQ(got, (std::vector<std::string>{"one", "", "three!"})) << "chunk=" << chunk;
    EXPECT_FALSE(r.HasPartial());
  }
}

TEST(FramingTest, ReaderReportsCompressedFlag) {
  std::string f = EncodeMessage("x");
  f[0] = 1;
  MessageReader r(10);
  ASSERT_TRUE(r.Feed(f).ok());
  auto m = r.Next();
  ASSERT_TRUE(m.has_value());
  EXPECT_TRUE(m->compressed);
}

TEST(FramingTest, ReaderRefusesOversizedPrefixWithoutTheBody) {
  MessageReader r(10);
  std::string prefix("\x00\x00\x00\x00\x0b", 5);  // 11 bytes announced
  Status s = r.Feed(prefix);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(r.message_too_large());
  EXPECT_FALSE(r.Next().has_value());
}

TEST(FramingTest, ReaderRefusesOversizedSecondMessageInSameChunk) {
  MessageReader r(10);
  std::string data = EncodeMessage("ok") + std::string("\x00\xff\xff\xff\xff", 5);
  EXPECT_FALSE(r.Feed(data).ok());
}

TEST(FramingTest, TruncatedMessageIsPartial) {
  MessageReader r(100);
  ASSERT_TRUE(r.Feed(EncodeMessage("hello").substr(0, 7)).ok());
  EXPECT_FALSE(r.Next().has_value());
  EXPECT_TRUE(r.HasPartial());
}

TEST(GrpcTimeoutTest, ParsesEveryUnit) {
  using namespace std::chrono;
  EXPECT_EQ(*ParseGrpcTimeout("1H"), hours(1));
  EXPECT_EQ(*ParseGrpcTimeout("2M"), minutes(2));
  EXPECT_EQ(*ParseGrpcTimeout("3S"), seconds(3));
  EXPECT_EQ(*ParseGrpcTimeout("4m"), milliseconds(4));
  EXPECT_EQ(*ParseGrpcTimeout("4989261u"), microseconds(4989261));
  EXPECT_EQ(*ParseGrpcTimeout("99999999n"), nanoseconds(99999999));
}

TEST(GrpcTimeoutTest, HugeValuesAreCappedNotOverflowed) {
  EXPECT_EQ(*ParseGrpcTimeout("99999999H"), std::chrono::nanoseconds(kMaxGrpcTimeout));
  EXPECT_EQ(*ParseGrpcTimeout("99999999S"), std::chrono::seconds(99999999));
  EXPECT_GT(*ParseGrpcTimeout("99999999M"), std::chrono::nanoseconds(0));
}

TEST(GrpcTimeoutTest, RejectsMalformedValues) {
  EXPECT_FALSE(ParseGrpcTimeout(""));
  EXPECT_FALSE(ParseGrpcTimeout("S"));
  EXPECT_FALSE(ParseGrpcTimeout("10"));
  EXPECT_FALSE(ParseGrpcTimeout("10x"));
  EXPECT_FALSE(ParseGrpcTimeout("-1S"));
  EXPECT_FALSE(ParseGrpcTimeout("123456789S"));  // more than 8 digits
}

TEST(PercentEncodingTest, EncodesPerSpec) {
  EXPECT_EQ(PercentEncode("etcdserver: request is too large"), "etcdserver: request is too large");
  EXPECT_EQ(PercentEncode("100%"), "100%25");
  EXPECT_EQ(PercentEncode("a\nb\x7f"), "a%0Ab%7F");
  EXPECT_EQ(PercentEncode("caf\xc3\xa9"), "caf%C3%A9");
}

TEST(PercentEncodingTest, DecodeRoundTripsAndKeepsMalformed) {
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  EXPECT_EQ(PercentDecode(PercentEncode(all)), all);
  EXPECT_EQ(PercentDecode("%zz%4"), "%zz%4");
}

TEST(GzipTest, RoundTripAndLimits) {
  std::string data(10000, 'q');
  std::string gz = GzipCompress(data);
  auto out = GzipDecompress(gz, 10000);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, data);
  EXPECT_EQ(GzipDecompress(gz, 9999).status().code(), Code::kResourceExhausted);
  EXPECT_FALSE(GzipDecompress("not gzip", 100).ok());
  EXPECT_FALSE(GzipDecompress(gz.substr(0, gz.size() / 2), 100000).ok());
}

TEST(Base64Test, RoundTripPaddedAndUnpadded) {
  for (std::string s :
       std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\x00\xff\x10", 3)}) {
    std::string e = Base64Encode(s);
    EXPECT_EQ(*Base64Decode(e), s);
    while (!e.empty() && e.back() == '=') e.pop_back();
    EXPECT_EQ(*Base64Decode(e), s);
  }
  EXPECT_FALSE(Base64Decode("a").ok());
  EXPECT_FALSE(Base64Decode("ab!d").ok());
}

}  // namespace
}  // namespace etcdpp::grpc

namespace etcdpp::grpc {
namespace {

TEST(FramingTest, MessagePrefixMatchesEncodeMessage) {
  std::string m(70000, 'm');
  EXPECT_EQ(MessagePrefix(m.size()) + m, EncodeMessage(m));
  EXPECT_EQ(MessagePrefix(kMaxSendMessageBytes), std::string("\0\x7f\xff\xff\xff", 5));
}

TEST(FramingTest, SendTooLargeIsGrpcGosError) {
  Status s = SendTooLarge(2147483648u);
  EXPECT_EQ(s.code(), Code::kResourceExhausted);
  EXPECT_EQ(s.message(), "grpc: trying to send message larger than max (2147483648 vs. 2147483647)");
}

}  // namespace
}  // namespace etcdpp::grpc
