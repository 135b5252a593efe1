#include "sidecar/auth/token_verifier.hpp"

#include <gtest/gtest.h>
#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>
#include <string>

namespace livesync::sidecar::auth {
namespace {

constexpr int64_t kNow = 1800000000;
const std::string kSecret = "a-shared-secret-of-at-least-32-bytes!!";

struct KeyPair {
    std::string private_pem, public_pem;
};

std::string bio_string(BIO *bio) {
    char *data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<size_t>(len));
}

// Fresh keys per test run: no private key lives in the repository.
KeyPair generate(bool rsa) {
    EVP_PKEY *key = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
    BIO *priv = BIO_new(BIO_s_mem()), *pub = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(priv, key, nullptr, nullptr, 0, nullptr, nullptr);
    PEM_write_bio_PUBKEY(pub, key);
    KeyPair pair{bio_string(priv), bio_string(pub)};
    BIO_free(priv);
    BIO_free(pub);
    EVP_PKEY_free(key);
    return pair;
}

const KeyPair &rsa_keys() {
    static KeyPair keys = generate(true);
    return keys;
}
const KeyPair &ec_keys() {
    static KeyPair keys = generate(false);
    return keys;
}

std::string sign(jwt_alg_t alg, const std::string &key, const std::string &claims_json) {
    jwt_t *jwt = nullptr;
    jwt_new(&jwt);
    jwt_add_grants_json(jwt, claims_json.c_str());
    jwt_set_alg(jwt, alg, alg == JWT_ALG_NONE ? nullptr : reinterpret_cast<const unsigned char *>(key.data()),
                alg == JWT_ALG_NONE ? 0 : static_cast<int>(key.size()));
    char *encoded = jwt_encode_str(jwt);
    std::string token = encoded ? encoded : "";
    free(encoded);
    jwt_free(jwt);
    return token;
}

std::string claims(const std::string &extra = "") {
    return R"({"sub":"user-7","tenant":"acme","role":"member","aud":"livesync","iss":"https://auth.example",)"
           R"("exp":)" + std::to_string(kNow + 600) + (extra.empty() ? "" : "," + extra) + "}";
}

TokenVerifier verifier(TokenPolicy policy = {"livesync", "https://auth.example", 30, true}) {
    return TokenVerifier(TokenKeys{kSecret, rsa_keys().public_pem, ec_keys().public_pem}, policy);
}

std::string error_code(const std::variant<VerifiedToken, TokenError> &r) {
    return std::holds_alternative<TokenError>(r) ? std::get<TokenError>(r).code : "ok";
}

TEST(TokenVerifier, AcceptsValidTokensOfEachAlgorithmAndReturnsClaims) {
    for (auto [alg, key] : {std::pair{JWT_ALG_HS256, kSecret}, std::pair{JWT_ALG_RS256, rsa_keys().private_pem},
                            std::pair{JWT_ALG_ES256, ec_keys().private_pem}}) {
        auto result = verifier().verify(sign(alg, key, claims(R"("level":3,"admin":false,"groups":["a","b"])")), kNow);
        ASSERT_EQ(error_code(result), "ok") << jwt_alg_str(alg);
        const auto &token = std::get<VerifiedToken>(result);
        EXPECT_EQ(token.subject, "user-7");
        EXPECT_EQ(token.expires_at, kNow + 600);
        EXPECT_EQ(token.claims.at("tenant").s, "acme");
        EXPECT_EQ(token.claims.at("level").i, 3);
        EXPECT_EQ(token.claims.at("admin").kind, common::Value::Kind::Bool);
        EXPECT_EQ(token.claims.at("groups").s, R"(["a","b"])");
    }
}

TEST(TokenVerifier, RejectsExpiredAndNotYetValidBeyondLeeway) {
    auto expired = sign(JWT_ALG_HS256, kSecret, R"({"sub":"u","aud":"livesync","iss":"https://auth.example","exp":)" +
                                                    std::to_string(kNow - 31) + "}");
    EXPECT_EQ(error_code(verifier().verify(expired, kNow)), "token_expired");
    auto within_skew = sign(JWT_ALG_HS256, kSecret, R"({"sub":"u","aud":"livesync","iss":"https://auth.example","exp":)" +
                                                        std::to_string(kNow - 5) + "}");
    EXPECT_EQ(error_code(verifier().verify(within_skew, kNow)), "ok");
    auto future = sign(JWT_ALG_HS256, kSecret, claims(R"("nbf":)" + std::to_string(kNow + 120)));
    EXPECT_EQ(error_code(verifier().verify(future, kNow)), "token_not_yet_valid");
}

TEST(TokenVerifier, RejectsWrongAudienceIssuerAndMissingExp) {
    auto other_aud = sign(JWT_ALG_HS256, kSecret, R"({"sub":"u","aud":["billing"],"iss":"https://auth.example","exp":)" +
                                                      std::to_string(kNow + 60) + "}");
    EXPECT_EQ(error_code(verifier().verify(other_aud, kNow)), "wrong_audience");
    auto listed_aud = sign(JWT_ALG_HS256, kSecret, R"({"sub":"u","aud":["billing","livesync"],"iss":"https://auth.example","exp":)" +
                                                       std::to_string(kNow + 60) + "}");
    EXPECT_EQ(error_code(verifier().verify(listed_aud, kNow)), "ok");
    auto other_iss = sign(JWT_ALG_HS256, kSecret, R"({"sub":"u","aud":"livesync","iss":"https://evil.example","exp":)" +
                                                      std::to_string(kNow + 60) + "}");
    EXPECT_EQ(error_code(verifier().verify(other_iss, kNow)), "wrong_issuer");
    auto no_exp = sign(JWT_ALG_HS256, kSecret, R"({"sub":"u","aud":"livesync","iss":"https://auth.example"})");
    EXPECT_EQ(error_code(verifier().verify(no_exp, kNow)), "invalid_token");
}

TEST(TokenVerifier, RejectsWrongKeyTamperingAndAlgNone) {
    EXPECT_EQ(error_code(verifier().verify(sign(JWT_ALG_HS256, "some-other-secret-32-bytes-long!!!", claims()), kNow)),
              "invalid_token");
    EXPECT_EQ(error_code(verifier().verify(sign(JWT_ALG_RS256, generate(true).private_pem, claims()), kNow)),
              "invalid_token");
    std::string token = sign(JWT_ALG_HS256, kSecret, claims());
    // Flip one character of the payload: the signature no longer matches.
    size_t dot = token.find('.');
    token[dot + 5] = token[dot + 5] == 'A' ? 'B' : 'A';
    EXPECT_EQ(error_code(verifier().verify(token, kNow)), "invalid_token");
    EXPECT_EQ(error_code(verifier().verify(sign(JWT_ALG_NONE, "", claims()), kNow)), "invalid_token");
    EXPECT_EQ(error_code(verifier().verify("not.a.token", kNow)), "invalid_token");
    EXPECT_EQ(error_code(verifier().verify("", kNow)), "invalid_token");
    EXPECT_EQ(error_code(verifier().verify(std::string(20000, 'a'), kNow)), "invalid_token");
}

TEST(TokenVerifier, RejectsAlgorithmConfusionWithThePublicKeyAsHmacSecret) {
    // An attacker who knows our RSA public key signs HS256 with it as the secret.
    std::string forged = sign(JWT_ALG_HS256, rsa_keys().public_pem, claims(R"("level":9)"));
    ASSERT_NE(forged.find('.'), std::string::npos);
    TokenVerifier rsa_only(TokenKeys{"", rsa_keys().public_pem, ""}, TokenPolicy{"livesync", "", 30, true});
    EXPECT_EQ(error_code(rsa_only.verify(forged, kNow)), "invalid_token");
    // The same claims properly signed are accepted, so the rejection above is the algorithm's.
    EXPECT_EQ(error_code(rsa_only.verify(sign(JWT_ALG_RS256, rsa_keys().private_pem, claims(R"("level":9)")), kNow)), "ok");
}

TEST(TokenVerifier, UnconfiguredVerifierRefusesEverything) {
    TokenVerifier none(TokenKeys{}, TokenPolicy{});
    EXPECT_FALSE(none.configured());
    EXPECT_EQ(error_code(none.verify(sign(JWT_ALG_HS256, kSecret, claims()), kNow)), "invalid_token");
}

TEST(TokenVerifier, ClaimsParserRejectsNonObjects) {
    common::Claims out;
    std::string error;
    EXPECT_FALSE(parse_claims_json("[1,2]", out, &error));
    EXPECT_FALSE(parse_claims_json("{bad", out, &error));
    EXPECT_NE(error.find("not a JSON object"), std::string::npos);
}

}  // namespace
}  // namespace livesync::sidecar::auth
