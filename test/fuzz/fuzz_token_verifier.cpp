// libFuzzer: a presented JWT against every key kind and a full policy. Nothing but a
// correctly signed token may verify; anything else fails with a TokenError.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sidecar/auth/token_verifier.hpp"

namespace {
const livesync::sidecar::auth::TokenVerifier &verifier() {
    livesync::sidecar::auth::TokenKeys keys;
    keys.hs256_secret = std::string(40, 'k');
    livesync::sidecar::auth::TokenPolicy policy;
    policy.audience = "app";
    policy.issuer = "issuer";
    static const livesync::sidecar::auth::TokenVerifier v(keys, policy);
    return v;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    verifier().verify(std::string_view(reinterpret_cast<const char *>(data), size), 1700000000);
    return 0;
}
