#include "sidecar/net/tls_files.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>


#include <memory>

namespace livesync::net {

namespace {

std::string openssl_reason() {
    unsigned long code = ERR_peek_last_error();
    ERR_clear_error();
    if (code == 0) return "unknown OpenSSL error";
    const char *reason = ERR_reason_error_string(code);
    return reason ? reason : "unknown OpenSSL error";
}

}  // namespace

std::string check_tls_files(const std::string &cert_path, const std::string &key_path) {
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
    if (!ctx) return "cannot create an OpenSSL context: " + openssl_reason();
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert_path.c_str()) != 1)
        return "--tls-cert " + cert_path + " is not a readable PEM certificate: " + openssl_reason();
    // No passphrase prompt: an encrypted key fails here instead of waiting on a terminal.
    pem_password_cb *no_passphrase = [](char *, int, int, void *) { return 0; };
    std::unique_ptr<BIO, decltype(&BIO_free)> in(BIO_new_file(key_path.c_str(), "r"), BIO_free);
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
        in ? PEM_read_bio_PrivateKey(in.get(), nullptr, no_passphrase, nullptr) : nullptr, EVP_PKEY_free);
    if (!key) return "--tls-key " + key_path + " is not a readable PEM private key: " + openssl_reason();
    if (X509_check_private_key(SSL_CTX_get0_certificate(ctx.get()), key.get()) != 1)
        return "--tls-key " + key_path + " does not match the certificate in " + cert_path;
    return "";
}

}  // namespace livesync::net
