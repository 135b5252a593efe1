#include "tools/livesyncctl/dev_token.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <charconv>

#include "common/change_batch.hpp"

namespace livesync::ctl {

namespace {

std::string base64url(const std::string &in) {
    static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
        for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
    }
    if (i + 1 == in.size()) {
        uint32_t v = uint8_t(in[i]) << 16;
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
    } else if (i + 2 == in.size()) {
        uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += kAlphabet[(v >> 6) & 63];
    }
    return out;  // no padding (RFC 7515)
}

bool valid_claim_name(const std::string &name) {
    if (name.empty() || name == "exp" || name == "iat" || name == "nbf") return false;
    for (unsigned char c : name)
        if (c < 0x21 || c > 0x7e) return false;
    return true;
}

}  // namespace

std::string token_usage() {
    return "  token --sub SUB [--role ROLE] [--tenant T] [--channels A,B] [--claim NAME=VALUE ...]\n"
           "        [--ttl SECONDS] [--secret S]\n"
           "                             print an HS256 token for livesyncd's --jwt-hs256-secret\n"
           "                             (--secret or LIVESYNC_JWT_SECRET; development only;\n"
           "                             default ttl 3600); needs no sidecar\n";
}

std::variant<TokenRequest, TokenError> parse_token_args(const std::vector<std::string> &args, const char *env_secret) {
    TokenRequest r;
    if (env_secret) r.secret = env_secret;
    std::optional<std::string> sub, role, tenant;
    std::vector<std::pair<std::string, std::string>> extra;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string &a = args[i];
        if (i + 1 >= args.size()) return TokenError{"token: " + a + (a.rfind("--", 0) == 0 ? " needs a value" : ": unexpected")};
        const std::string &v = args[++i];
        if (a == "--secret") r.secret = v;
        else if (a == "--sub") sub = v;
        else if (a == "--role") role = v;
        else if (a == "--tenant") tenant = v;
        else if (a == "--channels") {
            size_t start = 0;
            while (true) {
                size_t comma = v.find(',', start);
                std::string ch = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
                if (ch.empty()) return TokenError{"token: --channels takes names (or prefix* patterns) separated by commas"};
                r.channels.push_back(ch);
                if (comma == std::string::npos) break;
                start = comma + 1;
            }
        } else if (a == "--ttl") {
            int64_t ttl = 0;
            auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), ttl);
            if (v.empty() || ec != std::errc() || end != v.data() + v.size() || ttl < 1 || ttl > 366 * 86400)
                return TokenError{"token: --ttl must be a number of seconds from 1 to 31622400, not \"" + v + "\""};
            r.ttl_seconds = ttl;
        } else if (a == "--claim") {
            auto eq = v.find('=');
            std::string name = v.substr(0, eq);
            if (eq == std::string::npos || !valid_claim_name(name))
                return TokenError{"token: --claim must be NAME=VALUE (NAME not exp, iat or nbf), not \"" + v + "\""};
            extra.emplace_back(name, v.substr(eq + 1));
        } else {
            return TokenError{"token: unknown option \"" + a + "\""};
        }
    }
    if (!sub || sub->empty()) return TokenError{"token: --sub is required (the user the token is for)"};
    if (r.secret.size() < 32)
        return TokenError{"token: the secret (--secret or LIVESYNC_JWT_SECRET) must be livesyncd's --jwt-hs256-secret, "
                          "at least 32 bytes"};
    r.claims.emplace_back("sub", *sub);
    if (role) r.claims.emplace_back("role", *role);
    if (tenant) r.claims.emplace_back("tenant", *tenant);
    for (auto &c : extra) r.claims.push_back(std::move(c));
    return r;
}

std::string mint_token(const TokenRequest &r, int64_t now) {
    std::string payload = "{";
    for (const auto &[name, value] : r.claims) {
        common::append_json_string(payload, name);
        payload += ':';
        common::append_json_string(payload, value);
        payload += ',';
    }
    if (!r.channels.empty()) {
        payload += "\"channels\":[";
        for (size_t i = 0; i < r.channels.size(); ++i) {
            if (i) payload += ',';
            common::append_json_string(payload, r.channels[i]);
        }
        payload += "],";
    }
    payload += "\"iat\":" + std::to_string(now) + ",\"exp\":" + std::to_string(now + r.ttl_seconds) + "}";
    std::string signing_input = base64url(R"({"alg":"HS256","typ":"JWT"})") + "." + base64url(payload);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), r.secret.data(), static_cast<int>(r.secret.size()),
         reinterpret_cast<const unsigned char *>(signing_input.data()), signing_input.size(), mac, &mac_len);
    return signing_input + "." + base64url(std::string(reinterpret_cast<char *>(mac), mac_len));
}

}  // namespace livesync::ctl
