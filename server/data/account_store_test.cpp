// AccountStore::change_role, the command line's role change (--make-admin, --drop-admin): the
// name is found without regard to case, a bot keeps its role, and nothing changes for a name
// no account has.
#include "server/data/account_store.hpp"

#include <catch2/catch.hpp>

#include "server/data/store_test_support.hpp"

namespace parley {

namespace {

std::string role_of(const std::string& path, const std::string& id) {
    SqliteDb db(path, SqliteOptions{OpenMode::read_only});
    auto st = db.prepare("SELECT role FROM accounts WHERE id = ?");
    st.bind(1, id);
    REQUIRE(st.step() == StepResult::row);
    return st.column_text(0);
}

}  // namespace

TEST_CASE("the command line's role change: any case, never a bot, nothing for no account",
          "[server][store]") {
    test::TempCurrentDb t("account-role");
    t.add_accounts({{"r", "Root"}, {"b", "helper"}});
    {
        SqliteDb db(t.path);
        db.exec("UPDATE accounts SET role = 'bot' WHERE id = 'b'");
    }
    SqliteDb db(t.path);
    auto made = AccountStore::change_role(db, "ROOT", "admin");
    CHECK(made.status == AccountStore::RoleChange::Status::changed);
    CHECK((made.account.id == "r" && made.account.username == "Root" &&
           made.account.role == "user"));  // as it was
    CHECK(role_of(t.path, "r") == "admin");
    auto dropped = AccountStore::change_role(db, "root", "user");
    CHECK((dropped.status == AccountStore::RoleChange::Status::changed &&
           dropped.account.role == "admin"));
    CHECK(role_of(t.path, "r") == "user");

    auto bot = AccountStore::change_role(db, "helper", "admin");
    CHECK(bot.status == AccountStore::RoleChange::Status::refused_bot);
    CHECK(role_of(t.path, "b") == "bot");

    auto nobody = AccountStore::change_role(db, "nobody", "admin");
    CHECK(nobody.status == AccountStore::RoleChange::Status::no_account);
    // The refusals left no transaction open: the connection writes on.
    CHECK(AccountStore::change_role(db, "Root", "admin").status ==
          AccountStore::RoleChange::Status::changed);
}

}  // namespace parley
