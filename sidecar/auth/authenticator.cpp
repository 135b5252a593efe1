#include "sidecar/auth/authenticator.hpp"

#include <cctype>

namespace livesync::sidecar::auth {

Authenticator::Authenticator(AuthConfig config)
    : config_(std::move(config)), verifier_(config_.keys, config_.policy) {}

std::variant<Identity, TokenError> Authenticator::authenticate(std::string_view token, int64_t now) const {
    if (!verifier_.configured())
        return TokenError{"invalid_token", "this sidecar accepts no tokens (no key is configured)"};
    auto verified = verifier_.verify(token, now);
    if (auto *err = std::get_if<TokenError>(&verified)) return *err;
    auto &v = std::get<VerifiedToken>(verified);
    Identity id;
    id.subject = v.subject;
    id.expires_at = v.expires_at;
    id.close_at = v.expires_at == 0 ? 0 : v.expires_at + config_.policy.leeway_seconds;
    if (auto it = v.claims.find(config_.role_claim); it != v.claims.end() && it->second.kind == common::Value::Kind::Text)
        id.role = it->second.s;
    if (auto it = v.claims.find(config_.tenant_claim); it != v.claims.end()) id.tenant = value_text(it->second);
    id.claims = std::move(v.claims);
    return id;
}

Identity Authenticator::anonymous() const {
    Identity id;
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

std::optional<std::string> value_text(const common::Value &v) {
    switch (v.kind) {
        case common::Value::Kind::Text:
        case common::Value::Kind::Uuid:
        case common::Value::Kind::Numeric:
        case common::Value::Kind::OtherText: return v.s;
        case common::Value::Kind::Int: return std::to_string(v.i);
        case common::Value::Kind::UInt: return std::to_string(v.u);
        default: return std::nullopt;
    }
}

}  // namespace livesync::sidecar::auth
