// Where livesync finds Redis, as both sides take it: a URL (GUC livesync.redis_url,
// livesyncd --redis)
//   redis://[[user]:password@]host[:port][/db]
// whose password is better kept in a file (read_secret_file below): a URL is logged by
// Postgres when the setting changes and shown by ps on livesyncd's command line.
// and, with Sentinel, a Sentinel list and the primary's name (livesync.redis_sentinels +
// livesync.redis_primary_name, livesyncd --redis-sentinels + --redis-primary-name): the
// Sentinels name the node, the URL still gives the user, password and database.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace livesync::common {

struct HostPort {
    std::string host;
    int port = 0;
    bool operator==(const HostPort &o) const { return host == o.host && port == o.port; }
};

// Which node a connection must reach: the primary (it writes), or any node that holds
// the data (it only reads: the stream and the config copies may come from a replica).
enum class RedisRole { Primary, Any };

struct RedisUrl {
    std::string host = "127.0.0.1";
    int port = 6379;
    std::string user;      // empty: AUTH with the password only
    std::string password;  // empty: no AUTH
    int db = 0;
    // Non-empty: ask these Sentinels where the primary named primary_name is, and
    // connect there instead of host:port (every reconnect asks again).
    std::vector<HostPort> sentinels;
    std::string primary_name;
    // Primary: refuse a node whose ROLE is not master (a demoted primary, or a replica
    // a stale Sentinel answer pointed at).
    RedisRole role = RedisRole::Primary;

    // The URL with the password replaced by "***", safe to log.
    std::string redacted() const;
};

inline constexpr int kDefaultSentinelPort = 26379;

// Returns nullopt and a message naming the wrong part for anything else.
std::optional<RedisUrl> parse_redis_url(std::string_view text, std::string *error);

// A secret kept in a file rather than in a setting that is logged or shown by ps (the
// Redis password: livesync.redis_password_file, livesyncd --redis-password-file; the
// presence token: --presence-token-file): the file's bytes without one trailing line
// break. nullopt and *error (naming the file, never its content) when it cannot be
// read, is empty, is over 4 KiB, holds a line break or NUL inside, or is readable or
// writable by others (like libpq's passfile: chmod 600, or 640 for a group).
std::optional<std::string> read_secret_file(const std::string &path, std::string *error);

// "host[:port][,host[:port]...]" (IPv6 as [addr]:port; port default 26379), at most 16
// entries, no duplicates. Empty text: an empty list (no Sentinel). Returns nullopt and a
// message naming the bad entry for anything else.
std::optional<std::vector<HostPort>> parse_sentinel_list(std::string_view text, std::string *error);

// A primary name as Sentinel takes it: 1-128 characters of [A-Za-z0-9._-].
bool valid_primary_name(std::string_view name);

}  // namespace livesync::common
