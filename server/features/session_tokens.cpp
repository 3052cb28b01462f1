#include "server/features/session_tokens.hpp"

#include "common/crypto.hpp"

namespace parley {

std::string token_hash(std::string_view token) {
    auto digest = sha256(token);
    return std::string(reinterpret_cast<const char*>(digest.data()), digest.size());
}

void close_session_sockets(ClientRegistry& clients, const std::vector<std::string>& session_ids,
                           const char* reason) {
    for (const auto& id : session_ids) {
        for (auto& client : clients.for_session(id))
            client->close(kSessionEndedCloseCode, reason);
        clients.forget_session(id);
    }
    clients.sessions_ended(session_ids);
}

IssuedTokens issue_tokens(const AuthSettings& auth, Session base) {
    IssuedTokens t;
    t.access_token = random_token();
    t.refresh_token = random_token();
    std::int64_t now = now_ms();
    base.access_hash = token_hash(t.access_token);
    base.refresh_hash = token_hash(t.refresh_token);
    base.created_at = base.created_at ? base.created_at : now;
    base.access_expires_at = now + std::int64_t(auth.access_ttl_s) * 1000;
    base.refresh_expires_at = now + std::int64_t(auth.refresh_ttl_s) * 1000;
    t.session = std::move(base);
    return t;
}

awaitable<DbResult<IssuedTokens>> open_session(AccountStore& accounts, const AuthSettings& auth,
                                               const std::string& account_id) {
    Session base;
    base.id = random_id();
    base.account_id = account_id;
    IssuedTokens tokens = issue_tokens(auth, base);
    auto created = co_await accounts.create_session(tokens.session);
    if (!created) co_return created.error();
    co_return tokens;
}

nlohmann::json token_body(const IssuedTokens& t) {
    return {{"account_id", t.session.account_id},
            {"session_id", t.session.id},
            {"access_token", t.access_token},
            {"refresh_token", t.refresh_token},
            {"access_expires_at", t.session.access_expires_at},
            {"refresh_expires_at", t.session.refresh_expires_at}};
}

}  // namespace parley
