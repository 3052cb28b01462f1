// Test support for the stores of server/data: a current.db in a temporary directory with every
// migration applied, and a way to run one of a store's coroutines to completion.
#pragma once

#include <optional>
#include <string>

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
