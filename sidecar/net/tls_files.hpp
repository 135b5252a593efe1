// livesyncd's certificate and key (--tls-cert, --tls-key): checked with OpenSSL before
// lws gets them, at start and on every SIGHUP, so a bad file stops the start with a
// clear message, and a bad reload keeps serving the old certificate.
#pragma once

#include <string>

namespace livesync::net {

// "" when cert is a readable PEM certificate (chain) and key the PEM private key that
// matches it; otherwise what is wrong, naming the file.
std::string check_tls_files(const std::string &cert_path, const std::string &key_path);

}  // namespace livesync::net
