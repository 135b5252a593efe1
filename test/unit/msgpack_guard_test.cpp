#include "common/change_batch.hpp"
#include "common/msgpack_guard.hpp"

#include <gtest/gtest.h>
#include <msgpack.h>

#include <string>

namespace livesync::common {
namespace {

std::string bytes(std::initializer_list<unsigned char> b) { return std::string(b.begin(), b.end()); }

TEST(MsgpackGuard, RefusesContainersClaimingMoreElementsThanBytes) {
    std::string error;
    // array32 claiming 2^32-1 elements, then nothing: msgpack-c would try to allocate ~100 GiB.
    EXPECT_FALSE(msgpack_sizes_plausible(bytes({0xdd, 0xff, 0xff, 0xff, 0xff}), 64, &error));
    EXPECT_NE(error.find("claims more elements"), std::string::npos) << error;
    // map32 claiming 2^31 pairs inside a small array.
    EXPECT_FALSE(msgpack_sizes_plausible(bytes({0x92, 0x01, 0xdf, 0x80, 0x00, 0x00, 0x00, 0xc0}), 64, &error));
    // str32 longer than the data.
    EXPECT_FALSE(msgpack_sizes_plausible(bytes({0xdb, 0x00, 0x10, 0x00, 0x00, 'a'}), 64, &error));
    EXPECT_NE(error.find("beyond the end"), std::string::npos) << error;
    EXPECT_FALSE(msgpack_sizes_plausible(bytes({0xc1}), 64, &error));
    EXPECT_FALSE(msgpack_sizes_plausible(bytes({0x92, 0x01}), 64, &error));  // truncated
}

TEST(MsgpackGuard, RefusesNestingBeyondTheLimit) {
    std::string deep(40, static_cast<char>(0x91));
    deep += static_cast<char>(0x01);
    std::string error;
    EXPECT_TRUE(msgpack_sizes_plausible(deep, 64, &error)) << error;
    EXPECT_FALSE(msgpack_sizes_plausible(deep, 32, &error));
    EXPECT_NE(error.find("nested deeper than 32 levels"), std::string::npos) << error;
}

TEST(MsgpackGuard, AcceptsEveryKindOfValue) {
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 9);
    msgpack_pack_str_with_body(&pk, "a", 1); msgpack_pack_int64(&pk, -1234567890123LL);
    msgpack_pack_str_with_body(&pk, "b", 1); msgpack_pack_double(&pk, 2.5);
    msgpack_pack_str_with_body(&pk, "c", 1); msgpack_pack_float(&pk, 1.5f);
    msgpack_pack_str_with_body(&pk, "d", 1); msgpack_pack_nil(&pk);
    msgpack_pack_str_with_body(&pk, "e", 1); msgpack_pack_bin_with_body(&pk, "\x00\x01", 2);
    msgpack_pack_str_with_body(&pk, "f", 1); msgpack_pack_ext_with_body(&pk, "12.5", 4, 1);
    std::string long_text(70000, 'x');
    msgpack_pack_str_with_body(&pk, "g", 1); msgpack_pack_str_with_body(&pk, long_text.data(), long_text.size());
    msgpack_pack_str_with_body(&pk, "h", 1); msgpack_pack_array(&pk, 3);
    msgpack_pack_true(&pk); msgpack_pack_false(&pk); msgpack_pack_uint64(&pk, UINT64_MAX);
    msgpack_timestamp ts{1700000000, 123};
    msgpack_pack_str_with_body(&pk, "i", 1); msgpack_pack_timestamp(&pk, &ts);
    std::string error;
    EXPECT_TRUE(msgpack_sizes_plausible(std::string_view(buf.data, buf.size), 64, &error)) << error;
    msgpack_sbuffer_destroy(&buf);
}

TEST(MsgpackGuard, DecodeBatchRejectsTheFuzzerFindingWithAMessage) {
    std::string error;
    EXPECT_FALSE(decode_batch(bytes({0x92, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff}), &error).has_value());
    EXPECT_NE(error.find("claims more elements"), std::string::npos) << error;
    EXPECT_FALSE(decode_change(bytes({0xdf, 0x7f, 0xff, 0xff, 0xff}), &error).has_value());
}

}  // namespace
}  // namespace livesync::common

#include "sidecar/protocol/client_frame.hpp"

namespace livesync::protocol {
namespace {

// Regressions from the fuzzers (test/fuzz/findings): each must come back as a bad_msgpack
// or bad_request error frame, not a crash or a huge allocation.
TEST(MsgpackClientFuzzFindings, HugeArrayHeaderAndEmptyStringAreRefusedCleanly) {
    const std::string huge_array("\x85\xdd\xdd\x8b\x84\x86\x8b\x84\x79\x22", 10);
    EXPECT_TRUE(std::holds_alternative<FrameError>(parse_client_msgpack(huge_array)));
    // A map with an empty str key and an empty str value (msgpack-c's null pointer).
    const std::string empty_strings("\x81\xa0\xa0", 3);
    EXPECT_TRUE(std::holds_alternative<FrameError>(parse_client_msgpack(empty_strings)));
    const std::string finding("\x86\xa0\xa0\xfe\xfe\xff\xff\xff\x00\x36\x65\x22\x7d", 13);
    EXPECT_TRUE(std::holds_alternative<FrameError>(parse_client_msgpack(finding)));
}

}  // namespace
}  // namespace livesync::protocol
