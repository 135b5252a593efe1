// Reading a request header from an lws connection (empty when absent or unreadable).
#pragma once

#include <libwebsockets.h>

#include <string>

namespace livesync::net {

inline std::string request_header(struct lws *wsi, enum lws_token_indexes token) {
    int n = lws_hdr_total_length(wsi, token);
    if (n <= 0) return {};
    std::string out(static_cast<size_t>(n) + 1, '\0');
    if (lws_hdr_copy(wsi, out.data(), n + 1, token) < 0) return {};
    out.resize(static_cast<size_t>(n));
    return out;
}

}  // namespace livesync::net
