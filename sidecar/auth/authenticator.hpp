// Turns a presented token into a session Identity: verifies it (TokenVerifier), then
// reads the role and tenant claims named by the configuration. With no key configured
// only anonymous sessions exist, and only when --allow-anonymous says so.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "sidecar/rules/identity.hpp"
#include "sidecar/auth/token_verifier.hpp"

namespace livesync::sidecar::auth {

inline constexpr const char *kAnonymousRole = "anonymous";

struct AuthConfig {
    TokenKeys keys;
    TokenPolicy policy;
    std::string tenant_claim = "tenant";
    std::string role_claim = "role";
    std::string channels_claim = "channels";  // notify channels the token may listen to
    bool allow_anonymous = false;
    int hello_timeout_seconds = 10;  // an unauthenticated connection must say hello by then
};

class Authenticator {
public:
    explicit Authenticator(AuthConfig config);

    bool verifies_tokens() const { return verifier_.configured(); }
    bool allows_anonymous() const { return config_.allow_anonymous; }
    const AuthConfig &config() const { return config_; }

    // Verifies the token at now (unix seconds). Errors never echo the token.
    std::variant<rules::Identity, TokenError> authenticate(std::string_view token, int64_t now) const;
    // Role "anonymous", no claims, never expires; only meaningful when allows_anonymous().
    rules::Identity anonymous() const;

private:
    AuthConfig config_;
    TokenVerifier verifier_;
};

// "Bearer <token>" (scheme case-insensitive) → token; anything else → nullopt.
std::optional<std::string> bearer_token(std::string_view authorization_header);

// True when authorization is "Bearer <configured>" (the admin and presence tokens).
// Compares SHA-256 digests with CRYPTO_memcmp, so neither the token's bytes nor its
// length leak through timing.
bool token_matches(const std::string &configured, std::string_view authorization);

}  // namespace livesync::sidecar::auth
