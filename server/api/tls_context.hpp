// TLS on the public listener: the server's OpenSSL context and the stream types built on it.
//
// load_tls_context() reads the certificate chain and private key named by the `[tls]` keys once,
// at start-up, into a tls_server context (TLS 1.2 minimum, no compression, no renegotiation,
// forward-secret AEAD cipher suites) and checks that the key matches the certificate; any
// problem is reported as one message naming the key and the file, so the server can refuse to
// start instead of serving half-configured. The context is owned by the server app, must
// outlive every connection, and is read-only once loaded: OpenSSL allows one context to be
// shared by streams on every network thread.
#pragma once

#include <memory>
#include <string>
#include <variant>

#include "common/net.hpp"
#include "server/settings/server_config.hpp"

namespace parley {

// One TLS connection. Beast's ssl_stream keeps the OpenSSL stream behind a pointer, so unlike a
// tcp_stream it may be moved (the WebSocket upgrade moves it, session state and all).
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// A connection leaving the HTTP server for a WebSocket: a plain socket (a tcp_stream is never
// moved, see HttpServer) or the TLS stream, which cannot be reduced to its socket.
using UpgradedStream = std::variant<tcp::socket, TlsStream>;

// Builds the server context from `settings`; on failure returns null and sets `error` to a
// message naming the offending key and file. Never logs key material.
std::unique_ptr<net::ssl::context> load_tls_context(const TlsSettings& settings,
                                                    std::string& error);

}  // namespace parley
