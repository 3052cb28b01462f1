#include "server/server_config.hpp"

#include <boost/asio/ip/address.hpp>

#include "common/mode_config.hpp"

namespace parley {

void ServerConfig::describe(ConfigSchema& schema) {
    describe_common_keys(schema, *this,
                         "Data directory: databases in db/, media in media/. Only one server may "
                         "run on a directory at a time.");

    schema.section("server", "The public HTTP + WebSocket listener.");
    schema.bind("listen", listen_address, "Address to listen on (IPv4 or IPv6 literal).",
                [](const std::string& v) -> std::string {
                    boost::system::error_code ec;
                    boost::asio::ip::make_address(v, ec);
                    return ec ? "not an IP address: '" + v + "'" : "";
                });
    schema.bind("port", port, "TCP port (0 picks a free port; the log says which).", 0, 65535);
    schema.bind("threads", threads, "Network threads; 0 means one per core.", 0, 256);
    schema.bind("shutdown_timeout_ms", shutdown_timeout_ms,
                "On SIGTERM, how long in-flight requests may take before the server exits anyway.",
                100, 600'000);

    schema.section("http", "Limits on every HTTP connection.");
    schema.bind("header_limit_bytes", http.header_limit_bytes,
                "Largest request header block accepted.", 1024, 1024 * 1024);
    schema.bind("body_limit_bytes", http.body_limit_bytes,
                "Largest JSON request body accepted (413 too_large beyond it).", 1024,
                64 * 1024 * 1024);
    schema.bind("read_timeout_ms", http.read_timeout_ms,
                "Time allowed to receive a whole request once it has started.", 100, 600'000);
    schema.bind("idle_timeout_ms", http.idle_timeout_ms,
                "Keep-alive connections idle this long are closed.", 100, 3'600'000);
    schema.bind("write_timeout_ms", http.write_timeout_ms,
                "Time allowed to send a response to a slow client.", 100, 600'000);
    schema.bind("max_connections", http.max_connections,
                "Open connections (HTTP and WebSocket) beyond which new ones are refused.", 1,
                1'000'000);

    schema.section("tls", "Optional TLS on the public listener (OpenSSL).");
    schema.bind("enabled", tls.enabled, "Serve HTTPS / WSS instead of plain HTTP.");
    schema.bind("certificate_file", tls.certificate_file, "PEM certificate chain.");
    schema.bind("private_key_file", tls.private_key_file, "PEM private key.");
}

std::string ServerConfig::validate() const {
    if (tls.enabled && (tls.certificate_file.empty() || tls.private_key_file.empty())) {
        return "tls.enabled is true but tls.certificate_file or tls.private_key_file is empty";
    }
    return {};
}

}  // namespace parley
