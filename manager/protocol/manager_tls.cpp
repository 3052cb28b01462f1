#include "manager/protocol/manager_tls.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/file_util.hpp"

namespace parley {

namespace {

bool common_setup(net::ssl::context& ctx, const std::string& cert, const std::string& key,
                  const std::string& ca, const char* cert_key, const char* key_key,
                  const char* ca_key, std::string& error) {
    if (!readable(cert, cert_key, error) || !readable(key, key_key, error) ||
        !readable(ca, ca_key, error)) {
        return false;
    }
    SSL_CTX* native = ctx.native_handle();
    boost::system::error_code ec;
    ctx.set_options(net::ssl::context::default_workarounds | net::ssl::context::no_compression, ec);
    SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION);
    if (ec || SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION) != 1) {
        error = "cannot set up the TLS context (OpenSSL rejected TLS 1.3)";
        return false;
    }
    // No passphrase prompt: nobody would answer it.
    ctx.set_password_callback(
        [](std::size_t, net::ssl::context::password_purpose) { return std::string(); }, ec);
    ctx.use_certificate_chain_file(cert, ec);
    if (ec) {
        error = fmt::format("{} '{}' is not a valid PEM certificate chain: {}", cert_key, cert,
                            ec.message());
        return false;
    }
    ctx.use_private_key_file(key, net::ssl::context::pem, ec);
    if (ec) {
        error = fmt::format("{} '{}' is not a valid unencrypted PEM private key: {}", key_key, key,
                            ec.message());
        return false;
    }
    if (SSL_CTX_check_private_key(native) != 1) {
        error = fmt::format("{} '{}' does not match the certificate in '{}'", key_key, key, cert);
        return false;
    }
    ctx.load_verify_file(ca, ec);
    if (ec) {
        error = fmt::format("{} '{}' is not a valid PEM CA file: {}", ca_key, ca, ec.message());
        return false;
    }
    ctx.set_verify_mode(net::ssl::verify_peer | net::ssl::verify_fail_if_no_peer_cert, ec);
    return !ec;
}

}  // namespace

std::unique_ptr<net::ssl::context> make_manager_server_tls(const ManagerTls& tls,
                                                           std::string& error) {
    auto ctx = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
    if (!common_setup(*ctx, tls.certificate_file, tls.private_key_file, tls.ca_file,
                      "manager.tls.certificate_file", "manager.tls.private_key_file",
                      "manager.tls.ca_file", error)) {
        return nullptr;
    }
    // Tells clients which CAs we accept, so one holding several certificates picks the right one.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls.ca_file.c_str())) {
        SSL_CTX_set_client_CA_list(ctx->native_handle(), names);
    }
    return ctx;
}

std::unique_ptr<net::ssl::context> make_manager_client_tls(const std::string& certificate_file,
                                                           const std::string& private_key_file,
                                                           const std::string& ca_file,
                                                           std::string& error) {
    auto ctx = std::make_unique<net::ssl::context>(net::ssl::context::tls_client);
    if (!common_setup(*ctx, certificate_file, private_key_file, ca_file, "--cert", "--cert-key",
                      "--ca", error)) {
        return nullptr;
    }
    return ctx;
}

std::string peer_common_name(ManagerTlsStream& stream) {
    X509* cert = SSL_get0_peer_certificate(stream.native_handle());
    if (!cert) return {};
    char buf[256] = {};
    int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
    if (n <= 0) return {};
    std::string cn(buf, static_cast<std::size_t>(n));
    // It goes into log lines: keep it printable.
    for (char& c : cn) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    }
    return cn;
}

}  // namespace parley
