// ProfileService: the profile component — one's own profile (read, and a partial update of
// name, text, visibility and avatar) and another account's, with the private-profile rule: a
// private profile is visible only to its owner and to accounts that share a room with it. That
// rule is the one place that looks at both profiles and chat membership (a read of `members`
// on the reader pool). Answers Outcomes (server/features/outcome.hpp). Owned by the server app;
// thread-safe.
#pragma once

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "server/data/account_store.hpp"
#include "server/data/db_readers.hpp"
#include "server/features/outcome.hpp"

namespace parley {

// A profile and the account it belongs to.
struct ProfileView {
    Profile profile;
    Account account;
};

class ProfileService {
  public:
    ProfileService(AccountStore& accounts, DbReaderPool& readers);

    Outcome<ProfileView> own(const Account& account) const;
    // {name, text, visibility, avatar}: only the fields given change; an unknown field is
    // refused.
    awaitable<Outcome<ProfileView>> update_own(const Account& account, const nlohmann::json& body);
    // `owner`'s profile as `viewer` may see it; not_found for a private one it may not.
    awaitable<Outcome<ProfileView>> view(const std::string& viewer, const std::string& owner);

    // Whether an account may use a content id as its avatar: empty when it may, else why not.
    // Set by the server app (it sees the media component); unset, any id is accepted.
    std::function<std::string(const std::string& account_id, const std::string& content_id)>
        avatar_check;

  private:
    AccountStore& accounts_;
    DbReaderPool& readers_;
};

}  // namespace parley
