// ApiKeyRing: the API keys the manager accepts, as configured ([[manager.api_keys]]: a name,
// the SHA-256 hex of the key, an access level). authenticate() hashes the presented key and
// compares it with every configured digest in constant time (common/crypto.hpp), without
// stopping at a match, so neither the position of a match nor the first differing byte shows
// in the timing. Keys are never stored or logged in the clear. Built once at start-up;
// read-only afterwards, so safe to use from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "manager/settings/manager_config.hpp"

namespace parley {

enum class ApiAccess { read, admin };

struct ApiKeyIdentity {
    std::string name;
    ApiAccess access = ApiAccess::read;
};

class ApiKeyRing {
  public:
    explicit ApiKeyRing(const std::vector<ManagerApiKey>& keys);

    // The key's identity when `presented` is one of the configured keys.
    std::optional<ApiKeyIdentity> authenticate(std::string_view presented) const;
    bool empty() const { return keys_.empty(); }

  private:
    struct Entry {
        std::string digest;  // 32 raw bytes
        ApiKeyIdentity identity;
    };
    std::vector<Entry> keys_;
};

}  // namespace parley
