// Parsing of the Redis URLs both sides take (GUC livesync.redis_url, livesyncd --redis):
//   redis://[[user]:password@]host[:port][/db]
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace livesync::common {

struct RedisUrl {
    std::string host = "127.0.0.1";
    int port = 6379;
    std::string user;      // empty: AUTH with the password only
    std::string password;  // empty: no AUTH
    int db = 0;

    // The URL with the password replaced by "***", safe to log.
    std::string redacted() const;
};

// Returns nullopt and a message naming the wrong part for anything else.
std::optional<RedisUrl> parse_redis_url(std::string_view text, std::string *error);

}  // namespace livesync::common
