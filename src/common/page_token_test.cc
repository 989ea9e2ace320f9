// Page tokens are taken back only as written: anything else is INVALID_ARGUMENT.
#include "common/page_token.h"

#include <gtest/gtest.h>

#include "eon/v1/state.pb.h"

namespace eon {
namespace {

using namespace std::string_literals;

TEST(PageToken, OffsetTokensRoundTripAndTheEmptyTokenIsTheFirstPage) {
  EXPECT_EQ(*DecodeOffsetPageToken(""), 0);
  EXPECT_EQ(*DecodeOffsetPageToken(EncodeOffsetPageToken(0)), 0);
  EXPECT_EQ(*DecodeOffsetPageToken(EncodeOffsetPageToken(100)), 100);
  EXPECT_EQ(*DecodeOffsetPageToken(EncodeOffsetPageToken(INT64_MAX)), INT64_MAX);
}

TEST(PageToken, OffsetTokensWithAnythingMoreOrOtherAreRefused) {
  for (const std::string& bad :
       {"5\0junk"s, "5junk"s, "5 "s, " 5"s, "+5"s, "-1"s, "05"s, "0x5"s, "5.0"s, "\0"s, "junk"s,
        "9223372036854775808"s, "-"s}) {
    auto decoded = DecodeOffsetPageToken(bad);
    ASSERT_FALSE(decoded.ok()) << "accepted " << bad.size() << "-byte token";
    EXPECT_EQ(decoded.status().code(), StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(decoded.status().message(), "invalid next_page_token");
  }
}

TEST(PageToken, MessageTokensAreTakenOnlyAsTheirOwnSerialization) {
  eon::v1::HistoryPageToken token;
  token.set_run_id("run-1");
  token.set_next_event_id(42);
  const std::string good = token.SerializeAsString();

  eon::v1::HistoryPageToken decoded;
  ASSERT_TRUE(DecodeMessagePageToken(good, &decoded).ok());
  EXPECT_EQ(decoded.run_id(), "run-1");
  EXPECT_EQ(decoded.next_event_id(), 42);
  ASSERT_TRUE(DecodeMessagePageToken("", &decoded).ok());
  EXPECT_EQ(decoded.next_event_id(), 0) << "the empty token is the first page";

  eon::v1::HistoryPageToken repeated;  // field 2 again after the token: "last one wins" parses
  repeated.set_next_event_id(7);
  for (const std::string& bad :
       {good + "\0junk"s, good + "\0"s, good + "junk", good + repeated.SerializeAsString(),
        good + "\x18\x01"s /* unknown field 3 */, good.substr(0, good.size() - 1), "5\0junk"s,
        "\xff"s}) {
    Status status = DecodeMessagePageToken(bad, &decoded);
    ASSERT_FALSE(status.ok()) << "accepted a " << bad.size() << "-byte token";
    EXPECT_EQ(status.code(), StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(status.message(), "invalid next_page_token");
    EXPECT_EQ(decoded.next_event_id(), 0) << "a refused token leaves the message cleared";
  }
}

}  // namespace
}  // namespace eon
