// auth/: who a client is and what it may do. This part checks JWTs (libjwt): the
// signature against the configured key for the token's algorithm — HS256, RS256 or
// ES256, never `none`, never a key of one kind used as another (algorithm confusion) —
// then exp, nbf, aud and iss with a small clock skew. It yields the token's claims.
#pragma once

#include "common/filter_tree.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace livesync::sidecar::auth {

struct TokenKeys {
    std::string hs256_secret;      // shared secret
    std::string rs256_public_pem;  // RSA public key, PEM
    std::string es256_public_pem;  // P-256 public key, PEM
    bool any() const { return !hs256_secret.empty() || !rs256_public_pem.empty() || !es256_public_pem.empty(); }
};

struct TokenPolicy {
    std::string audience;  // required "aud" (string or array member) when set
    std::string issuer;    // required "iss" when set
    int leeway_seconds = 30;
    bool require_exp = true;
};

struct VerifiedToken {
    common::Claims claims;
    std::string subject;     // "sub", empty when absent
    int64_t expires_at = 0;  // "exp", 0 when absent
};

struct TokenError {
    std::string code;     // "invalid_token" | "token_expired" | "token_not_yet_valid" | "wrong_audience" | "wrong_issuer"
    std::string message;  // says what was wrong, never echoes the token
};

class TokenVerifier {
public:
    TokenVerifier(TokenKeys keys, TokenPolicy policy) : keys_(std::move(keys)), policy_(std::move(policy)) {}
    bool configured() const { return keys_.any(); }
    std::variant<VerifiedToken, TokenError> verify(std::string_view token, int64_t now_unix) const;

private:
    TokenKeys keys_;
    TokenPolicy policy_;
};

// Parses a JSON object of claims (as the token carries them) into typed values:
// strings, integers, floats, booleans and null; arrays and objects as JSON text.
bool parse_claims_json(std::string_view json, common::Claims &out, std::string *error);

}  // namespace livesync::sidecar::auth
