// TLS contexts of the manager API: the listener's (server certificate, and client certificates
// required and verified against the configured CA: mutual TLS between managers) and a client's
// (its own certificate, the CA that the server's certificate must chain to). TLS 1.3 only: both
// ends are Parley managers or the CLI, so there is no old client to accommodate, and 1.3 has
// only forward-secret AEAD suites. Loaded once at start-up; a bad file is one message naming
// the key and the file. The contexts are read-only afterwards and shared by every connection.
#pragma once

#include <memory>
#include <string>

#include "common/net.hpp"
#include "manager/settings/manager_config.hpp"

namespace parley {

using ManagerTlsStream = beast::ssl_stream<beast::tcp_stream>;

// Null with `error` set when a file is missing or invalid. Never logs key material.
std::unique_ptr<net::ssl::context> make_manager_server_tls(const ManagerTls& tls,
                                                           std::string& error);
std::unique_ptr<net::ssl::context> make_manager_client_tls(const std::string& certificate_file,
                                                           const std::string& private_key_file,
                                                           const std::string& ca_file,
                                                           std::string& error);

// The peer certificate's subject common name, or "" (after a completed handshake).
std::string peer_common_name(ManagerTlsStream& stream);

}  // namespace parley
