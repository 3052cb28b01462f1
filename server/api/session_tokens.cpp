#include "server/api/session_tokens.hpp"

#include "common/crypto.hpp"
#include "server/api/api_context.hpp"

namespace parley {

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

nlohmann::json token_body(const IssuedTokens& t) {
    return {{"account_id", t.session.account_id},
            {"session_id", t.session.id},
            {"access_token", t.access_token},
            {"refresh_token", t.refresh_token},
            {"access_expires_at", t.session.access_expires_at},
            {"refresh_expires_at", t.session.refresh_expires_at}};
}

}  // namespace parley
