// `livesyncctl token`: mints an HS256 JWT with livesyncd's shared secret, for development
// and tests (production tokens come from the application's own issuer). Pure except for
// the clock the caller passes, so parsing and minting are unit-tested.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace livesync::ctl {

struct TokenRequest {
    std::string secret;                                    // --secret or LIVESYNC_JWT_SECRET, >= 32 bytes
    std::vector<std::pair<std::string, std::string>> claims;  // string claims, in order (sub first)
    std::vector<std::string> channels;                     // --channels a,b: an array claim
    int64_t ttl_seconds = 3600;
};

struct TokenError {
    std::string message;
};

// args: what follows "token". env_secret: LIVESYNC_JWT_SECRET, or nullptr.
std::variant<TokenRequest, TokenError> parse_token_args(const std::vector<std::string> &args, const char *env_secret);

// header.payload.signature, with iat = now and exp = now + ttl.
std::string mint_token(const TokenRequest &request, int64_t now_unix);

std::string token_usage();

}  // namespace livesync::ctl
