#include "server/features/profile_service.hpp"

#include "common/utf8.hpp"
#include "server/features/request_fields.hpp"

namespace parley {

namespace {

Refusal bad_request(std::string message) {
    return Refusal{ErrorCode::bad_request, std::move(message)};
}

}  // namespace

ProfileService::ProfileService(AccountStore& accounts, DbReaderPool& readers)
    : accounts_(accounts), readers_(readers) {}

Outcome<ProfileView> ProfileService::own(const Account& account) const {
    auto p = accounts_.profile(account.id);
    if (!p) return Refusal{ErrorCode::not_found, "no profile"};
    return ProfileView{std::move(*p), account};
}

awaitable<Outcome<ProfileView>> ProfileService::update_own(const Account& account,
                                                           const nlohmann::json& j) {
    Profile p = accounts_.profile(account.id).value_or(Profile{account.id});
    for (const auto& [key, value] : j.items()) {
        if (key != "name" && key != "text" && key != "visibility" && key != "avatar") {
            co_return bad_request("unknown profile field \"" + key + "\"");
        }
    }
    if (j.contains("name")) {
        auto v = string_field(j, "name");
        if (!v || utf8_code_points(*v) > 64) {
            co_return bad_request("name must be a string of at most 64 characters");
        }
        p.name = *v;
    }
    if (j.contains("text")) {
        auto v = string_field(j, "text");
        if (!v || utf8_code_points(*v) > 1000) {
            co_return bad_request("text must be a string of at most 1000 characters");
        }
        p.text = *v;
    }
    if (j.contains("visibility")) {
        auto v = string_field(j, "visibility");
        if (!v || (*v != "public" && *v != "private")) {
            co_return bad_request("visibility must be \"public\" or \"private\"");
        }
        p.visibility = *v;
    }
    if (j.contains("avatar")) {
        if (j["avatar"].is_null()) {
            p.avatar.reset();
        } else {
            auto v = string_field(j, "avatar");
            if (!v || v->empty() || v->size() > 128) {
                co_return bad_request("avatar must be a content id or null");
            }
            if (avatar_check) {
                if (auto problem = avatar_check(account.id, *v); !problem.empty()) {
                    co_return bad_request(problem);
                }
            }
            p.avatar = *v;
        }
    }
    p.updated_at = now_ms();
    auto saved = co_await accounts_.update_profile(p);
    if (!saved) co_return db_refusal(saved.error(), "profile update");
    co_return ProfileView{std::move(*saved), account};
}

awaitable<Outcome<ProfileView>> ProfileService::view(const std::string& viewer,
                                                     const std::string& owner) {
    auto account = accounts_.account_by_id(owner);
    auto p = accounts_.profile(owner);
    if (!account || !p) co_return Refusal{ErrorCode::not_found, "no such profile"};
    if (p->visibility == "private" && owner != viewer) {
        auto query = [viewer, owner](SqliteDb& db) {
            auto q = db.cached(
                "SELECT 1 FROM members a JOIN members b ON a.room_id = b.room_id "
                "WHERE a.account_id = ? AND b.account_id = ? LIMIT 1");
            q->bind(1, viewer).bind(2, owner);
            return q->step() == StepResult::row;
        };
        auto shared = co_await readers_.read(std::move(query));
        if (!shared) co_return db_refusal(shared.error(), "profile read");
        if (!*shared) co_return Refusal{ErrorCode::not_found, "no such profile"};
    }
    co_return ProfileView{std::move(*p), std::move(*account)};
}

}  // namespace parley
