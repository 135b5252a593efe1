// Where Redis is, as both sides take it: the URL and the Sentinel list. Garbage is
// refused with a message naming the bad part.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "common/redis_url.hpp"

using livesync::common::HostPort;
using livesync::common::parse_redis_url;
using livesync::common::parse_sentinel_list;
using livesync::common::valid_primary_name;

TEST(RedisUrl, ParsesHostPortCredentialsAndDb) {
    std::string error;
    auto u = parse_redis_url("redis://app:s3cret@[::1]:7000/2", &error);
    ASSERT_TRUE(u) << error;
    EXPECT_EQ(u->host, "::1");
    EXPECT_EQ(u->port, 7000);
    EXPECT_EQ(u->user, "app");
    EXPECT_EQ(u->password, "s3cret");
    EXPECT_EQ(u->db, 2);
    EXPECT_EQ(u->redacted(), "redis://app:***@[::1]:7000/2");
    EXPECT_FALSE(parse_redis_url("http://x", &error));
    EXPECT_FALSE(parse_redis_url("redis://h:99999", &error));
    EXPECT_NE(error.find("port"), std::string::npos);
}

TEST(RedisUrl, SentinelListParsesHostsPortsAndIpv6) {
    std::string error;
    auto list = parse_sentinel_list("10.0.0.1:26380, sentinel-b ,[::1]:5000", &error);
    ASSERT_TRUE(list) << error;
    ASSERT_EQ(list->size(), 3u);
    EXPECT_EQ((*list)[0], (HostPort{"10.0.0.1", 26380}));
    EXPECT_EQ((*list)[1], (HostPort{"sentinel-b", 26379}));
    EXPECT_EQ((*list)[2], (HostPort{"::1", 5000}));
    auto empty = parse_sentinel_list("", &error);
    ASSERT_TRUE(empty);
    EXPECT_TRUE(empty->empty());
}

TEST(RedisUrl, SentinelListRejectsGarbage) {
    struct Case {
        const char *text;
        const char *says;
    } cases[] = {
        {"a:1,,b:2", "empty entry"},     {"a:1,", "empty entry"},        {"a:0", "port"},
        {"a:x", "port"},                 {"a:1,a:1", "listed twice"},    {"[::1", "unclosed"},
        {":26379", "no host"},           {"redis://a:1", "not host[:port]"}, {"a b:1", "not host[:port]"},
    };
    for (const Case &c : cases) {
        std::string error;
        EXPECT_FALSE(parse_sentinel_list(c.text, &error)) << c.text;
        EXPECT_NE(error.find(c.says), std::string::npos) << c.text << ": " << error;
    }
    std::string many;
    for (int i = 0; i < 17; ++i) many += (i ? ",h" : "h") + std::to_string(i);
    std::string error;
    EXPECT_FALSE(parse_sentinel_list(many, &error));
}

TEST(RedisUrl, RedactedNamesTheSentinelsNotAStaleNode) {
    std::string error;
    auto u = parse_redis_url("redis://:pw@127.0.0.1:6379/1", &error);
    ASSERT_TRUE(u);
    u->sentinels = *parse_sentinel_list("s1:1,s2:2", &error);
    u->primary_name = "main";
    EXPECT_EQ(u->redacted(), "redis://:***@sentinel:main@s1:1,s2:2/1");
}

TEST(RedisUrl, PrimaryNames) {
    EXPECT_TRUE(valid_primary_name("livesync"));
    EXPECT_TRUE(valid_primary_name("my-master_1.a"));
    EXPECT_FALSE(valid_primary_name(""));
    EXPECT_FALSE(valid_primary_name("a b"));
    EXPECT_FALSE(valid_primary_name(std::string(129, 'a')));
}

namespace {

// A file in the temp dir with text and mode, removed with the test.
class SecretFile {
public:
    SecretFile(const std::string &text, mode_t mode = 0600) {
        char name[] = "/tmp/livesync-secret-XXXXXX";
        int fd = mkstemp(name);
        if (fd >= 0) {
            (void)!write(fd, text.data(), text.size());
            close(fd);
        }
        path_ = name;
        chmod(name, mode);
    }
    ~SecretFile() { std::remove(path_.c_str()); }
    const std::string &path() const { return path_; }

private:
    std::string path_;
};

}  // namespace

TEST(SecretFile, IsTheFileWithoutItsLineBreak) {
    std::string error;
    EXPECT_EQ(livesync::common::read_secret_file(SecretFile("s3cret\n").path(), &error), "s3cret");
    EXPECT_EQ(livesync::common::read_secret_file(SecretFile("s3 cr:et@x\r\n").path(), &error), "s3 cr:et@x");
    EXPECT_EQ(livesync::common::read_secret_file(SecretFile("no-newline", 0640).path(), &error), "no-newline");
}

TEST(SecretFile, RefusesWhatIsNotOneSecretNamingTheFileNotTheContent) {
    struct Case {
        std::string text;
        mode_t mode;
        const char *why;
    };
    for (const Case &c : {Case{"", 0600, "is empty"}, Case{"\n", 0600, "is empty"},
                          Case{"two\nlines\n", 0600, "more than one line"},
                          Case{std::string("nul\0byte", 8), 0600, "more than one line"},
                          Case{std::string(5000, 'x'), 0600, "over 4 KiB"},
                          Case{"hunter2", 0644, "accessible by others"},
                          Case{"hunter2", 0602, "accessible by others"}}) {
        SecretFile f(c.text, c.mode);
        std::string error;
        EXPECT_FALSE(livesync::common::read_secret_file(f.path(), &error)) << c.why;
        EXPECT_NE(error.find(c.why), std::string::npos) << error;
        EXPECT_NE(error.find(f.path()), std::string::npos) << error;
        EXPECT_EQ(error.find("hunter2"), std::string::npos) << error;
    }
    std::string error;
    EXPECT_FALSE(livesync::common::read_secret_file("/nonexistent/livesync-secret", &error));
    EXPECT_NE(error.find("/nonexistent/livesync-secret"), std::string::npos);
    EXPECT_FALSE(livesync::common::read_secret_file("/tmp", &error));  // a directory
    EXPECT_FALSE(livesync::common::read_secret_file("", &error));
}
