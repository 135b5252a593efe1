#include "sidecar/auth/authenticator.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <cctype>

#include "sidecar/rules/access.hpp"

namespace livesync::sidecar::auth {

Authenticator::Authenticator(AuthConfig config)
    : config_(std::move(config)), verifier_(config_.keys, config_.policy) {}

std::variant<rules::Identity, TokenError> Authenticator::authenticate(std::string_view token, int64_t now) const {
    if (!verifier_.configured())
        return TokenError{"invalid_token", "this sidecar accepts no tokens (no key is configured)"};
    auto verified = verifier_.verify(token, now);
    if (auto *err = std::get_if<TokenError>(&verified)) return *err;
    auto &v = std::get<VerifiedToken>(verified);
    rules::Identity id;
    id.subject = v.subject;
    id.expires_at = v.expires_at;
    id.close_at = v.expires_at == 0 ? 0 : v.expires_at + config_.policy.leeway_seconds;
    if (auto it = v.claims.find(config_.role_claim); it != v.claims.end() && it->second.kind == common::Value::Kind::Text)
        id.role = it->second.s;
    if (auto it = v.claims.find(config_.tenant_claim); it != v.claims.end()) id.tenant = rules::value_text(it->second);
    id.claims = std::move(v.claims);
    return id;
}

rules::Identity Authenticator::anonymous() const {
    rules::Identity id;
    id.anonymous = true;
    id.role = kAnonymousRole;
    return id;
}

std::optional<std::string> bearer_token(std::string_view header) {
    while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
    constexpr std::string_view kScheme = "bearer ";
    if (header.size() <= kScheme.size()) return std::nullopt;
    for (size_t i = 0; i < kScheme.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(header[i])) != kScheme[i]) return std::nullopt;
    header.remove_prefix(kScheme.size());
    while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
    while (!header.empty() && header.back() == ' ') header.remove_suffix(1);
    if (header.empty()) return std::nullopt;
    return std::string(header);
}

bool token_matches(const std::string &configured, std::string_view authorization) {
    if (configured.empty()) return false;
    auto presented = bearer_token(authorization);
    if (!presented) return false;
    unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char *>(configured.data()), configured.size(), a);
    SHA256(reinterpret_cast<const unsigned char *>(presented->data()), presented->size(), b);
    return CRYPTO_memcmp(a, b, sizeof a) == 0;
}


}  // namespace livesync::sidecar::auth
