// Test support for the stores of server/data: a current.db in a temporary directory with every
// migration applied, and a way to run one of a store's coroutines to completion.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "common/crypto.hpp"
#include "server/data/db_writer.hpp"
#include "server/db/migrations.hpp"

namespace parley::test {

struct TempCurrentDb {
    std::filesystem::path dir;
    std::string path;
    explicit TempCurrentDb(const std::string& name) {
        dir = std::filesystem::temp_directory_path() / ("parley-" + name + "-" + random_id());
        std::filesystem::create_directories(dir);
        path = (dir / "current.db").string();
        SqliteDb db(path);
        apply_migrations(db, current_migrations(), "current");
    }
    ~TempCurrentDb() { std::filesystem::remove_all(dir); }
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
