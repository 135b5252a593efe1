// Turns a presented token into a session Identity: verifies it (TokenVerifier), then
// reads the role and tenant claims named by the configuration. With no key configured
// only anonymous sessions exist, and only when --allow-anonymous says so.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "sidecar/auth/identity.hpp"
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
    std::variant<Identity, TokenError> authenticate(std::string_view token, int64_t now) const;
    // Role "anonymous", no claims, never expires; only meaningful when allows_anonymous().
    Identity anonymous() const;

private:
    AuthConfig config_;
    TokenVerifier verifier_;
};

// "Bearer <token>" (scheme case-insensitive) → token; anything else → nullopt.
std::optional<std::string> bearer_token(std::string_view authorization_header);

// A claim or column value as the text the tenant check compares: text, uuid, numeric
// and integers by their text form; anything else (null, floats, JSON...) → nullopt.
std::optional<std::string> value_text(const common::Value &value);

}  // namespace livesync::sidecar::auth
