// ClientRegistry: every open, authenticated WebSocket of the server, by account and session.
//
// The REST rule of api.md (an access token works only while its session has a live socket)
// asks session_has_socket(); the per-account connection cap is enforced by add(); features
// find an account's sockets here to deliver notifications. Owned by the server app, shared by
// the api and features layers; thread-safe (one shared mutex, short critical sections).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "server/features/feature.hpp"

namespace parley {

class ClientRegistry {
  public:
    enum class AddResult { added, reconnected, over_account_cap };

    // Registers an authenticated socket unless its account already has `account_cap` sockets.
    // `reconnected` means the session had a socket before (for the reconnects metric).
    AddResult add(const std::shared_ptr<Client>& client, int account_cap);
    void remove(const Client& client);

    bool session_has_socket(const std::string& session_id) const;
    std::vector<std::shared_ptr<Client>> for_account(const std::string& account_id) const;
    std::vector<std::shared_ptr<Client>> for_session(const std::string& session_id) const;
    std::vector<std::shared_ptr<Client>> all() const;
    std::shared_ptr<Client> find(std::uint64_t client_id) const;
    std::size_t size() const;
    // Forgets that a session ever connected (on logout), so memory follows live sessions.
    void forget_session(const std::string& session_id);

    // Cluster primary: the session has a live socket on an edge, as the edge reported it (at
    // its upgrade and in its once-a-second session check); session_has_socket() counts it until
    // `until`. Expired reports are swept as new ones arrive, so memory follows live sessions.
    void mark_remote_socket(const std::string& session_id,
                            std::chrono::steady_clock::time_point until);

    // Cluster primary: called with the sessions close_session_sockets() ended (logout,
    // password change, account disabled, session revoked), to tell the edges. Set once at
    // start-up, before any socket; unset on a single node.
    void on_sessions_ended(std::function<void(const std::vector<std::string>&)> hook);
    void sessions_ended(const std::vector<std::string>& session_ids) const;

    // Cluster primary: called with every frame a node sends to all sockets of an account
    // (`notification`: only to those subscribed to account:me:notifications), so that the
    // account's sockets on edges get it too. Set once at start-up; unset on a single node.
    using AccountFrameHook =
        std::function<void(const std::string& account_id,
                           const std::shared_ptr<const std::string>& frame, bool notification)>;
    void on_account_frame(AccountFrameHook hook);
    void account_frame(const std::string& account_id,
                       const std::shared_ptr<const std::string>& frame, bool notification) const {
        if (account_frame_) account_frame_(account_id, frame, notification);
    }

  private:
    mutable std::shared_mutex mutex_;
    std::unordered_map<std::uint64_t, std::shared_ptr<Client>> by_id_;
    std::unordered_map<std::string, std::vector<std::uint64_t>> by_account_;
    std::unordered_map<std::string, std::vector<std::uint64_t>> by_session_;
    std::unordered_set<std::string> sessions_seen_;
    std::unordered_map<std::string, std::chrono::steady_clock::time_point> remote_sessions_;
    std::size_t remote_swept_size_ = 0;  // remote_sessions_.size() after the last sweep
    std::function<void(const std::vector<std::string>&)> sessions_ended_;
    AccountFrameHook account_frame_;
};

}  // namespace parley
