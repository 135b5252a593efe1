#include <gtest/gtest.h>

#include "common/lsn.hpp"

namespace livesync {
namespace {

TEST(Lsn, FormatsLikePostgres) {
    EXPECT_EQ(common::format_lsn(0), "0/0");
    EXPECT_EQ(common::format_lsn(0x16B3748), "0/16B3748");
    EXPECT_EQ(common::format_lsn(0x16B374D848ULL), "16/B374D848");
    EXPECT_EQ(common::format_lsn(~0ULL), "FFFFFFFF/FFFFFFFF");
}

TEST(Lsn, ParsesWhatItFormats) {
    for (uint64_t v : {0ULL, 1ULL, 0x16B3748ULL, 0x16B374D848ULL, ~0ULL})
        EXPECT_EQ(common::parse_lsn(common::format_lsn(v)), v);
    EXPECT_EQ(common::parse_lsn("16/b374d848"), 0x16B374D848ULL);
}

TEST(Lsn, RejectsMalformedText) {
    for (const char *bad : {"", "1/", "/1", "g/1", "1/g", "1/123456789", "123456789/1", "1", "1/2/3", " 1/2", "1/2 ",
                            "-1/2", "0x1/2"})
        EXPECT_FALSE(common::parse_lsn(bad).has_value()) << "accepted \"" << bad << "\"";
}

TEST(StreamId, RoundTripsAndOrders) {
    common::StreamId a{23803728, 0}, b{23803728, 1}, c{23803729, 0};
    EXPECT_EQ(common::format_stream_id(b), "23803728-1");
    EXPECT_EQ(common::parse_stream_id("23803728-1"), b);
    EXPECT_TRUE(a < b && b < c && a <= a);
    EXPECT_FALSE(common::parse_stream_id("23803728").has_value());
    EXPECT_FALSE(common::parse_stream_id("x-1").has_value());
    EXPECT_FALSE(common::parse_stream_id("1-").has_value());
}

}  // namespace
}  // namespace livesync
