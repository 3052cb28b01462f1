#include "manager/protocol/api_keys.hpp"

#include "common/crypto.hpp"

namespace parley {

namespace {

std::string digest_from_hex(const std::string& hex) {
    std::string out;
    out.reserve(hex.size() / 2);
    auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        out.push_back(static_cast<char>((nibble(hex[i]) << 4) | nibble(hex[i + 1])));
    }
    return out;
}

}  // namespace

ApiKeyRing::ApiKeyRing(const std::vector<ManagerApiKey>& keys) {
    for (const auto& key : keys) {
        keys_.push_back(Entry{
            digest_from_hex(key.sha256),
            ApiKeyIdentity{key.name, key.access == "admin" ? ApiAccess::admin : ApiAccess::read}});
    }
}

std::optional<ApiKeyIdentity> ApiKeyRing::authenticate(std::string_view presented) const {
    if (presented.empty()) return std::nullopt;
    Sha256Digest digest = sha256(presented);
    std::string_view digest_view(reinterpret_cast<const char*>(digest.data()), digest.size());
    const Entry* match = nullptr;
    for (const auto& entry : keys_) {
        // Every entry is compared, also after a match.
        if (constant_time_equal(digest_view, entry.digest) && !match) match = &entry;
    }
    if (!match) return std::nullopt;
    return match->identity;
}

}  // namespace parley
