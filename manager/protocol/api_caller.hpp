// ApiCaller: who sent a manager API request — the connection, the peer and the key it
// authenticated with (or, over a link, the peer entry it acts as). Built by the listener or
// the link when a request arrives and passed by value or const reference to whatever runs it;
// a plain value, thread-safe to copy.
#pragma once

#include <cstdint>
#include <string>

#include "manager/protocol/api_keys.hpp"

namespace parley {

struct ApiCaller {
    std::uint64_t connection_id = 0;
    std::string peer;  // "tcp:<address>" or "unix:uid=<uid>"
    std::string key_name;
    ApiAccess access = ApiAccess::read;

    std::string actor() const { return key_name + "@" + peer; }
};

}  // namespace parley
