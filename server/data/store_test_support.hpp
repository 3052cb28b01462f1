// Test support for the stores of server/data: a current.db in a temporary directory with every
// migration applied, and a way to run one of a store's coroutines to completion.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <utility>

#include "common/test_support.hpp"
#include "server/data/db_writer.hpp"
#include "server/db/migrations.hpp"

namespace parley::test {

struct TempCurrentDb {
    TempDir dir;
    std::string path;
    explicit TempCurrentDb(const std::string& name) : dir(name), path(dir.file("current.db")) {
        SqliteDb db(path);
        apply_migrations(db, current_migrations(), "current");
    }
    // Adds accounts for the rooms and members a test makes: `(id, username)` pairs, role user.
    void add_accounts(std::initializer_list<std::pair<const char*, const char*>> accounts) const {
        SqliteDb db(path);
        auto st = db.prepare(
            "INSERT INTO accounts(id, username, password_hash, role, created_at) VALUES "
            "(?, ?, 'x', 'user', 0)");
        for (const auto& [id, username] : accounts) {
            st.bind(1, id).bind(2, username);
            st.run();
            st.reset();
        }
    }
};

// Runs `task` on `ioc` until it is done and returns its value.
template <class T>
T run(net::io_context& ioc, awaitable<T> task) {
    std::optional<T> out;
    net::co_spawn(
        ioc, [&]() -> awaitable<void> { out.emplace(co_await std::move(task)); }, net::detached);
    ioc.run();
    ioc.restart();
    return std::move(*out);
}

}  // namespace parley::test
