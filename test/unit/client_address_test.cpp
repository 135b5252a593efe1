#include "sidecar/net/client_address.hpp"

#include <gtest/gtest.h>

using livesync::net::canonical_address;
using livesync::net::TrustedProxies;

namespace {

TrustedProxies parse(const char *list) {
    std::string error;
    auto t = TrustedProxies::parse(list, &error);
    EXPECT_TRUE(t.has_value()) << error;
    return t.value_or(TrustedProxies{});
}

std::string parse_error(const char *list) {
    std::string error;
    auto t = TrustedProxies::parse(list, &error);
    EXPECT_FALSE(t.has_value()) << list;
    return error;
}

}  // namespace

TEST(TrustedProxies, ParsesCidrsAndSingleAddresses) {
    TrustedProxies t = parse("10.0.0.0/8, 127.0.0.1 ,::1,fd00::/8");
    EXPECT_TRUE(t.contains("10.200.3.4"));
    EXPECT_TRUE(t.contains("127.0.0.1"));
    EXPECT_FALSE(t.contains("127.0.0.2"));
    EXPECT_TRUE(t.contains("::1"));
    EXPECT_TRUE(t.contains("fd12::5"));
    EXPECT_FALSE(t.contains("fe80::1"));
    EXPECT_FALSE(t.contains("11.0.0.1"));
    EXPECT_TRUE(t.contains("::ffff:10.1.1.1"));  // IPv4-mapped counts as IPv4
    EXPECT_FALSE(t.contains("not-an-address"));
}

TEST(TrustedProxies, PrefixKeepsOnlyTheNetworkBits) {
    TrustedProxies t = parse("192.168.1.77/24,0.0.0.0/0");
    EXPECT_TRUE(t.contains("192.168.1.1"));
    EXPECT_TRUE(t.contains("8.8.8.8"));
    EXPECT_FALSE(t.contains("::2"));  // an IPv4 /0 is not every IPv6 address
    TrustedProxies odd = parse("10.128.0.0/9");
    EXPECT_TRUE(odd.contains("10.200.0.1"));
    EXPECT_FALSE(odd.contains("10.100.0.1"));
}

TEST(TrustedProxies, EmptyListTrustsNobody) {
    TrustedProxies t = parse("");
    EXPECT_TRUE(t.empty());
    EXPECT_EQ(t.client_address("127.0.0.1", "1.2.3.4"), "127.0.0.1");
}

TEST(TrustedProxies, RejectsGarbageWithTheEntryNamed) {
    EXPECT_NE(parse_error("10.0.0.0/8,banana").find("\"banana\""), std::string::npos);
    EXPECT_NE(parse_error("10.0.0.0/33").find("prefix length"), std::string::npos);
    EXPECT_NE(parse_error("::1/129").find("prefix length"), std::string::npos);
    EXPECT_NE(parse_error("10.0.0.0/").find("prefix length"), std::string::npos);
    EXPECT_NE(parse_error("10.0.0.0/8x").find("prefix length"), std::string::npos);
    EXPECT_NE(parse_error("10.0.0.0/8,,127.0.0.1").find("is empty"), std::string::npos);
    EXPECT_NE(parse_error("10.0.0.0/8,").find("is empty"), std::string::npos);
    EXPECT_NE(parse_error("1.2.3.4:80").find("not an IP"), std::string::npos);
    EXPECT_NE(parse_error("300.1.1.1").find("not an IP"), std::string::npos);
}

TEST(TrustedProxies, ForwardedForIsBelievedOnlyFromATrustedPeer) {
    TrustedProxies t = parse("127.0.0.1");
    EXPECT_EQ(t.client_address("127.0.0.1", "203.0.113.9"), "203.0.113.9");
    EXPECT_EQ(t.client_address("192.0.2.1", "203.0.113.9"), "192.0.2.1");
    EXPECT_EQ(t.client_address("127.0.0.1", ""), "127.0.0.1");
}

TEST(TrustedProxies, WalksFromTheRightPastTrustedHops) {
    TrustedProxies t = parse("127.0.0.1,10.0.0.0/8");
    // A client wrote a fake first entry; the proxies appended what they saw.
    EXPECT_EQ(t.client_address("127.0.0.1", "6.6.6.6, 203.0.113.9, 10.0.0.5"), "203.0.113.9");
    // Every hop trusted: the leftmost is the client.
    EXPECT_EQ(t.client_address("127.0.0.1", "10.0.0.7,10.0.0.5"), "10.0.0.7");
}

TEST(TrustedProxies, MalformedHopStopsAtTheLastVouchedAddress) {
    TrustedProxies t = parse("127.0.0.1,10.0.0.0/8");
    EXPECT_EQ(t.client_address("127.0.0.1", "garbage"), "127.0.0.1");
    EXPECT_EQ(t.client_address("127.0.0.1", "203.0.113.9, junk, 10.0.0.5"), "10.0.0.5");
    EXPECT_EQ(t.client_address("127.0.0.1", "1.2.3.4:5678"), "127.0.0.1");
    EXPECT_EQ(t.client_address("127.0.0.1", ","), "127.0.0.1");
}

TEST(TrustedProxies, AddressesComeOutCanonical) {
    TrustedProxies t = parse("::1");
    EXPECT_EQ(t.client_address("::1", "2001:DB8:0:0::1"), "2001:db8::1");
    EXPECT_EQ(t.client_address("::1", "::ffff:198.51.100.2"), "198.51.100.2");
    EXPECT_EQ(canonical_address("::ffff:127.0.0.1").value_or(""), "127.0.0.1");
    EXPECT_FALSE(canonical_address("").has_value());
}
