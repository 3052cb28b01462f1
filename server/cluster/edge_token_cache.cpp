#include "server/cluster/edge_token_cache.hpp"

#include <algorithm>

#include "common/crypto.hpp"

namespace parley {

namespace {
std::string hash_of(std::string_view token) {
    auto digest = sha256(token);
    return std::string(reinterpret_cast<const char*>(digest.data()), digest.size());
}
}  // namespace

EdgeTokenCache::EdgeTokenCache(std::size_t capacity, std::chrono::milliseconds ttl)
    : capacity_(std::max<std::size_t>(capacity, 1)), ttl_(ttl) {}

std::optional<EdgeTokenCache::Entry> EdgeTokenCache::find(std::string_view token) {
    const std::string hash = hash_of(token);
    std::lock_guard lock(mutex_);
    auto it = by_hash_.find(hash);
    if (it == by_hash_.end()) return std::nullopt;
    if (it->second.expires <= std::chrono::steady_clock::now()) {
        by_hash_.erase(it);
        return std::nullopt;
    }
    return it->second.entry;
}

void EdgeTokenCache::put(std::string_view token, Entry entry) {
    std::string hash = hash_of(token);
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex_);
    if (auto it = by_hash_.find(hash); it != by_hash_.end()) {
        it->second = Slot{std::move(entry), now + ttl_};
        return;
    }
    if (by_hash_.size() >= capacity_) {
        std::erase_if(by_hash_, [now](const auto& kv) { return kv.second.expires <= now; });
        while (by_hash_.size() >= capacity_ && !order_.empty()) {
            by_hash_.erase(order_.front());
            order_.pop_front();
        }
    }
    // The order list names each cached hash once, and evicted ones until this trims them.
    if (order_.size() > 2 * capacity_) {
        std::erase_if(order_, [this](const std::string& h) { return !by_hash_.contains(h); });
    }
    by_hash_.emplace(hash, Slot{std::move(entry), now + ttl_});
    order_.push_back(std::move(hash));
}

void EdgeTokenCache::evict_session(const std::string& session_id) {
    std::lock_guard lock(mutex_);
    std::erase_if(by_hash_, [&session_id](const auto& kv) {
        return kv.second.entry.session_id == session_id;
    });
}

std::size_t EdgeTokenCache::size() const {
    std::lock_guard lock(mutex_);
    return by_hash_.size();
}

}  // namespace parley
