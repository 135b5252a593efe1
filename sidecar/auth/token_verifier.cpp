#include "token_verifier.hpp"

#include <jwt.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdlib>
#include <memory>

namespace livesync::sidecar::auth {

namespace {

struct JwtDeleter {
    void operator()(jwt_t *j) const { jwt_free(j); }
};
using JwtPtr = std::unique_ptr<jwt_t, JwtDeleter>;

constexpr size_t kMaxTokenBytes = 16 * 1024;

TokenError error(const char *code, std::string message) { return TokenError{code, std::move(message)}; }

const common::Value *claim(const common::Claims &claims, const char *name) {
    auto it = claims.find(name);
    return it == claims.end() ? nullptr : &it->second;
}

std::optional<int64_t> numeric_claim(const common::Claims &claims, const char *name, bool *malformed) {
    const common::Value *v = claim(claims, name);
    if (v == nullptr || v->kind == common::Value::Kind::Null) return std::nullopt;
    if (v->kind == common::Value::Kind::Int) return v->i;
    if (v->kind == common::Value::Kind::Float) return static_cast<int64_t>(v->f);
    *malformed = true;
    return std::nullopt;
}

bool audience_matches(const common::Value &aud, const std::string &wanted) {
    if (aud.kind == common::Value::Kind::Text) return aud.s == wanted;
    if (aud.kind != common::Value::Kind::Json) return false;
    rapidjson::Document doc;
    doc.Parse(aud.s.data(), aud.s.size());
    if (doc.HasParseError() || !doc.IsArray()) return false;
    for (const auto &item : doc.GetArray())
        if (item.IsString() && wanted == std::string_view(item.GetString(), item.GetStringLength())) return true;
    return false;
}

}  // namespace

bool parse_claims_json(std::string_view json, common::Claims &out, std::string *err) {
    rapidjson::Document doc;
    doc.Parse(json.data(), json.size());
    if (doc.HasParseError() || !doc.IsObject()) {
        *err = "token claims are not a JSON object";
        return false;
    }
    for (const auto &m : doc.GetObject()) {
        common::Value v;
        const auto &j = m.value;
        if (j.IsNull()) v.kind = common::Value::Kind::Null;
        else if (j.IsBool()) { v.kind = common::Value::Kind::Bool; v.b = j.GetBool(); }
        else if (j.IsInt64()) { v.kind = common::Value::Kind::Int; v.i = j.GetInt64(); }
        else if (j.IsNumber()) { v.kind = common::Value::Kind::Float; v.f = j.GetDouble(); }
        else if (j.IsString()) { v.kind = common::Value::Kind::Text; v.s.assign(j.GetString(), j.GetStringLength()); }
        else {
            rapidjson::StringBuffer buf;
            rapidjson::Writer<rapidjson::StringBuffer> writer(buf);
            j.Accept(writer);
            v.kind = common::Value::Kind::Json;
            v.s.assign(buf.GetString(), buf.GetSize());
        }
        out[std::string(m.name.GetString(), m.name.GetStringLength())] = std::move(v);
    }
    return true;
}

std::variant<VerifiedToken, TokenError> TokenVerifier::verify(std::string_view token, int64_t now) const {
    if (!configured()) return error("invalid_token", "no token key is configured");
    if (token.empty()) return error("invalid_token", "the token is empty");
    if (token.size() > kMaxTokenBytes) return error("invalid_token", "the token is larger than 16 KiB");
    std::string text(token);

    // Try each configured key; accept a result only when the algorithm the token
    // claims is the one that key is for. An HS256 token "signed" with our RSA public
    // key as its secret therefore fails, as does alg "none".
    const struct {
        const std::string &key;
        jwt_alg_t alg;
    } candidates[] = {{keys_.hs256_secret, JWT_ALG_HS256},
                      {keys_.rs256_public_pem, JWT_ALG_RS256},
                      {keys_.es256_public_pem, JWT_ALG_ES256}};
    JwtPtr decoded;
    for (const auto &c : candidates) {
        if (c.key.empty()) continue;
        jwt_t *raw = nullptr;
        int rc = jwt_decode(&raw, text.c_str(), reinterpret_cast<const unsigned char *>(c.key.data()),
                            static_cast<int>(c.key.size()));
        JwtPtr candidate(raw);
        if (rc == 0 && candidate && jwt_get_alg(candidate.get()) == c.alg) {
            decoded = std::move(candidate);
            break;
        }
    }
    if (!decoded) return error("invalid_token", "the token's signature does not verify with a configured key and algorithm");

    VerifiedToken result;
    std::unique_ptr<char, decltype(&std::free)> grants(jwt_get_grants_json(decoded.get(), nullptr), &std::free);
    std::string parse_error;
    if (!grants || !parse_claims_json(grants.get(), result.claims, &parse_error))
        return error("invalid_token", "the token's claims cannot be read");

    bool malformed = false;
    auto exp = numeric_claim(result.claims, "exp", &malformed);
    auto nbf = numeric_claim(result.claims, "nbf", &malformed);
    if (malformed) return error("invalid_token", "exp and nbf must be numbers");
    if (!exp && policy_.require_exp) return error("invalid_token", "the token has no exp claim");
    if (exp && now > *exp + policy_.leeway_seconds) return error("token_expired", "the token has expired");
    if (nbf && now + policy_.leeway_seconds < *nbf) return error("token_not_yet_valid", "the token is not valid yet");
    if (!policy_.audience.empty()) {
        const common::Value *aud = claim(result.claims, "aud");
        if (aud == nullptr || !audience_matches(*aud, policy_.audience))
            return error("wrong_audience", "the token is not meant for this audience");
    }
    if (!policy_.issuer.empty()) {
        const common::Value *iss = claim(result.claims, "iss");
        if (iss == nullptr || iss->kind != common::Value::Kind::Text || iss->s != policy_.issuer)
            return error("wrong_issuer", "the token was not issued by the configured issuer");
    }
    result.expires_at = exp.value_or(0);
    if (const common::Value *sub = claim(result.claims, "sub"); sub && sub->kind == common::Value::Kind::Text)
        result.subject = sub->s;
    return result;
}

}  // namespace livesync::sidecar::auth
