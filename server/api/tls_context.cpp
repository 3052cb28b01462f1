#include "server/api/tls_context.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include "common/file_util.hpp"

namespace parley {

namespace {

// Mozilla's "intermediate" TLS 1.2 list minus the DHE suites (they would need DH parameters):
// ECDHE only, so every session is forward secret, and AEAD only. TLS 1.3 keeps OpenSSL's
// defaults, which are all AEAD.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// Whether a PEM key file is passphrase-protected (only to explain a load failure).
bool looks_encrypted(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::string head(4096, '\0');
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<std::size_t>(in.gcount()));
    return head.find("ENCRYPTED") != std::string::npos;
}

bool is_key_mismatch(const boost::system::error_code& ec) {
    if (ec.category() != net::error::get_ssl_category()) return false;
    auto code = static_cast<unsigned long>(ec.value());
    return ERR_GET_LIB(code) == ERR_LIB_X509 && ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH;
}

std::string mismatch_message(const TlsSettings& settings) {
    return fmt::format(
        "tls.private_key_file '{}' does not match the certificate in tls.certificate_file '{}'",
        settings.private_key_file, settings.certificate_file);
}

std::string asn1_time(const ASN1_TIME* t) {
    BIO* bio = BIO_new(BIO_s_mem());
    if (!bio) return "?";
    std::string out = "?";
    if (ASN1_TIME_print(bio, t) == 1) {
        char* data = nullptr;
        long n = BIO_get_mem_data(bio, &data);
        if (n > 0) out.assign(data, static_cast<std::size_t>(n));
    }
    BIO_free(bio);
    return out;
}

std::string subject_of(X509* cert) {
    char buf[256];
    if (!X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf)) return "?";
    return buf;
}

}  // namespace

std::unique_ptr<net::ssl::context> load_tls_context(const TlsSettings& settings,
                                                    std::string& error) {
    const std::string& cert_path = settings.certificate_file;
    const std::string& key_path = settings.private_key_file;
    if (!readable(cert_path, "tls.certificate_file", error) ||
        !readable(key_path, "tls.private_key_file", error)) {
        return nullptr;
    }

    auto ctx = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
    SSL_CTX* native = ctx->native_handle();
    ERR_clear_error();
    boost::system::error_code ec;
    ctx->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                         net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                         net::ssl::context::no_tlsv1_1 | net::ssl::context::no_compression |
                         net::ssl::context::single_dh_use,
                     ec);
    // Client-initiated renegotiation costs the server a handshake per request: refuse it.
    SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION);
    if (ec || SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) {
        error = "cannot set up the TLS context (OpenSSL rejected the protocol or cipher settings)";
        return nullptr;
    }
    // A passphrase prompt would block start-up on a terminal that nobody watches: no callback
    // that can answer, so an encrypted key fails to load and is reported as such.
    ctx->set_password_callback(
        [](std::size_t, net::ssl::context::password_purpose) { return std::string(); }, ec);

    ctx->use_certificate_chain_file(cert_path, ec);
    if (ec) {
        error = fmt::format("tls.certificate_file '{}' is not a valid PEM certificate chain: {}",
                            cert_path, ec.message());
        return nullptr;
    }
    ctx->use_private_key_file(key_path, net::ssl::context::pem, ec);
    if (ec && is_key_mismatch(ec)) {
        // OpenSSL checks the pair while loading the key: the key is valid, the pair is not.
        error = mismatch_message(settings);
        return nullptr;
    }
    if (ec) {
        error = fmt::format("tls.private_key_file '{}' is not a valid PEM private key: {}{}",
                            key_path, ec.message(),
                            looks_encrypted(key_path)
                                ? " (it is passphrase-protected; store it unencrypted, readable "
                                  "only by the service user)"
                                : "");
        return nullptr;
    }
    if (SSL_CTX_check_private_key(native) != 1) {
        error = mismatch_message(settings);
        return nullptr;
    }
    ERR_clear_error();

    // An expired certificate does not stop start-up: whether to trust it is the clients' call,
    // and a restart after a missed renewal should not take the service down for those that
    // still accept it. It is said loudly instead.
    if (X509* cert = SSL_CTX_get0_certificate(native)) {
        const ASN1_TIME* not_after = X509_get0_notAfter(cert);
        const ASN1_TIME* not_before = X509_get0_notBefore(cert);
        std::string subject = subject_of(cert);
        if (X509_cmp_current_time(not_after) <= 0) {
            spdlog::warn("tls: certificate {} ({}) expired on {}", cert_path, subject,
                         asn1_time(not_after));
        } else if (X509_cmp_current_time(not_before) >= 0) {
            spdlog::warn("tls: certificate {} ({}) is not valid before {}", cert_path, subject,
                         asn1_time(not_before));
        } else {
            spdlog::info("tls: certificate {} ({}) valid until {}", cert_path, subject,
                         asn1_time(not_after));
        }
    }
    return ctx;
}

}  // namespace parley

