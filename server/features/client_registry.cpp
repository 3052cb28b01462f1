#include "server/features/client_registry.hpp"

#include <algorithm>
#include <mutex>

namespace parley {

namespace {
void erase_id(std::unordered_map<std::string, std::vector<std::uint64_t>>& index,
              const std::string& key, std::uint64_t id) {
    auto it = index.find(key);
    if (it == index.end()) return;
    std::erase(it->second, id);
    if (it->second.empty()) index.erase(it);
}
}  // namespace

ClientRegistry::AddResult ClientRegistry::add(const std::shared_ptr<Client>& client,
                                              int account_cap) {
    std::unique_lock lock(mutex_);
    auto& account = by_account_[client->account_id()];
    if (static_cast<int>(account.size()) >= account_cap) {
        if (account.empty()) by_account_.erase(client->account_id());
        return AddResult::over_account_cap;
    }
    account.push_back(client->id());
    by_session_[client->session_id()].push_back(client->id());
    by_id_[client->id()] = client;
    bool seen = !sessions_seen_.insert(client->session_id()).second;
    return seen ? AddResult::reconnected : AddResult::added;
}

void ClientRegistry::remove(const Client& client) {
    std::unique_lock lock(mutex_);
    if (by_id_.erase(client.id()) == 0) return;
    erase_id(by_account_, client.account_id(), client.id());
    erase_id(by_session_, client.session_id(), client.id());
}

bool ClientRegistry::session_has_socket(const std::string& session_id) const {
    std::shared_lock lock(mutex_);
    if (by_session_.contains(session_id)) return true;
    if (remote_sessions_.empty()) return false;  // a single node stops here
    auto it = remote_sessions_.find(session_id);
    return it != remote_sessions_.end() && it->second > std::chrono::steady_clock::now();
}

void ClientRegistry::mark_remote_socket(const std::string& session_id,
                                        std::chrono::steady_clock::time_point until) {
    std::unique_lock lock(mutex_);
    auto& entry = remote_sessions_[session_id];
    entry = std::max(entry, until);
    if (remote_sessions_.size() > 2 * remote_swept_size_ + 64) {
        const auto now = std::chrono::steady_clock::now();
        std::erase_if(remote_sessions_, [now](const auto& kv) { return kv.second <= now; });
        remote_swept_size_ = remote_sessions_.size();
    }
}

std::vector<std::shared_ptr<Client>> ClientRegistry::for_account(
    const std::string& account_id) const {
    std::shared_lock lock(mutex_);
    std::vector<std::shared_ptr<Client>> out;
    if (auto it = by_account_.find(account_id); it != by_account_.end()) {
        for (auto id : it->second)
            out.push_back(by_id_.at(id));
    }
    return out;
}

std::vector<std::shared_ptr<Client>> ClientRegistry::for_session(
    const std::string& session_id) const {
    std::shared_lock lock(mutex_);
    std::vector<std::shared_ptr<Client>> out;
    if (auto it = by_session_.find(session_id); it != by_session_.end()) {
        for (auto id : it->second)
            out.push_back(by_id_.at(id));
    }
    return out;
}

std::vector<std::shared_ptr<Client>> ClientRegistry::all() const {
    std::shared_lock lock(mutex_);
    std::vector<std::shared_ptr<Client>> out;
    out.reserve(by_id_.size());
    for (const auto& [id, c] : by_id_)
        out.push_back(c);
    return out;
}

std::shared_ptr<Client> ClientRegistry::find(std::uint64_t client_id) const {
    std::shared_lock lock(mutex_);
    auto it = by_id_.find(client_id);
    return it == by_id_.end() ? nullptr : it->second;
}

std::size_t ClientRegistry::size() const {
    std::shared_lock lock(mutex_);
    return by_id_.size();
}

void ClientRegistry::forget_session(const std::string& session_id) {
    std::unique_lock lock(mutex_);
    sessions_seen_.erase(session_id);
    remote_sessions_.erase(session_id);
}

void ClientRegistry::on_sessions_ended(std::function<void(const std::vector<std::string>&)> hook) {
    sessions_ended_ = std::move(hook);
}

void ClientRegistry::on_account_frame(AccountFrameHook hook) {
    account_frame_ = std::move(hook);
}

void ClientRegistry::sessions_ended(const std::vector<std::string>& session_ids) const {
    if (sessions_ended_ && !session_ids.empty()) sessions_ended_(session_ids);
}

}  // namespace parley
