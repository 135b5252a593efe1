#include "sidecar/auth/connection_token.hpp"

#include <libwebsockets.h>

#include "sidecar/auth/authenticator.hpp"

namespace livesync::sidecar::auth {

namespace {
constexpr int kMaxTokenBytes = 16 * 1024;  // as TokenVerifier; longer is refused there
}

std::optional<std::string> connection_token(struct lws *wsi) {
    int n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (n > 0 && n <= kMaxTokenBytes + 64) {
        std::string header(static_cast<size_t>(n) + 1, '\0');
        if (lws_hdr_copy(wsi, header.data(), n + 1, WSI_TOKEN_HTTP_AUTHORIZATION) >= 0) {
            header.resize(static_cast<size_t>(n));
            if (auto token = bearer_token(header)) return token;
            return std::string();  // an Authorization header that is not Bearer: a bad token
        }
    }
    std::string buf(kMaxTokenBytes + 8, '\0');
    const char *value = lws_get_urlarg_by_name(wsi, "token=", buf.data(), static_cast<int>(buf.size()));
    if (value == nullptr) return std::nullopt;
    return std::string(value);
}

}  // namespace livesync::sidecar::auth
