#include "sidecar/auth/ownership.hpp"

namespace livesync::sidecar::auth {

namespace {

constexpr std::string_view kUserPrefix = "user:";
constexpr std::string_view kNoTenant = "*";
constexpr char kHex[] = "0123456789ABCDEF";

bool unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~' || c == '@';
}

void append_encoded(std::string &out, std::string_view text) {
    for (unsigned char c : text) {
        if (unreserved(c)) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 0xF];
        }
    }
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

std::string client_owner(const rules::Identity &identity, const std::string &address) {
    if (identity.anonymous) return "anonymous:" + address;
    std::string out(kUserPrefix);
    if (identity.tenant) append_encoded(out, *identity.tenant);
    else out += kNoTenant;
    out += ':';
    append_encoded(out, identity.subject);
    return out;
}

std::string legacy_client_owner(std::string_view owner) {
    if (owner.substr(0, kUserPrefix.size()) != kUserPrefix) return std::string(owner);
    auto colon = owner.find(':', kUserPrefix.size());
    if (colon == std::string_view::npos) return std::string(owner);
    std::string_view encoded = owner.substr(colon + 1);
    std::string sub = "sub:";
    for (size_t i = 0; i < encoded.size(); ++i) {
        if (encoded[i] != '%') {
            sub += encoded[i];
            continue;
        }
        int hi = i + 2 < encoded.size() ? hex_value(encoded[i + 1]) : -1;
        int lo = hi >= 0 ? hex_value(encoded[i + 2]) : -1;
        if (lo < 0) return std::string(owner);  // not written by client_owner()
        sub += static_cast<char>(hi << 4 | lo);
        i += 2;
    }
    return sub;
}

}  // namespace livesync::sidecar::auth
