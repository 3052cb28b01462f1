// MediaStore: an owner's list pages newest first without gaps or repeats, the count of
// records naming each stored file follows creation, processing and deletion, and a deletion
// is written through (a reload no longer has it).
#include "server/data/media_store.hpp"

#include <filesystem>
#include <optional>
#include <set>

#include <catch2/catch.hpp>

#include "common/crypto.hpp"
#include "server/data/store_test_support.hpp"

namespace parley {

namespace {

struct TempDb : test::TempCurrentDb {
    TempDb() : TempCurrentDb("media-store") {
        SqliteDb db(path);
        db.exec(
            "INSERT INTO accounts(id, username, password_hash, role, created_at) VALUES "
            "('a', 'alice', 'x', 'user', 0), ('b', 'bob', 'x', 'user', 0)");
    }
};

using test::run;

MediaRecord record(std::string id, std::string owner, std::int64_t at) {
    MediaRecord m;
    m.id = std::move(id);
    m.owner_id = std::move(owner);
    m.upload_bytes = 100;
    m.created_at = m.updated_at = at;
    return m;
}

MediaRecord ready(MediaRecord m, std::string image_sha, std::string thumb_sha) {
    m.state = "ready";
    m.image_sha256 = std::move(image_sha);
    m.image_bytes = 70;
    m.thumb_sha256 = std::move(thumb_sha);
    m.thumb_bytes = 7;
    return m;
}

}  // namespace

TEST_CASE("media cursors name a place in the list, and nothing else parses", "[server][media]") {
    auto p = MediaPosition::parse(MediaPosition{1700000000123, "Ab_-9"}.cursor());
    REQUIRE(p);
    CHECK(p->created_at == 1700000000123);
    CHECK(p->id == "Ab_-9");
    for (const char* bad : {"", ".", "12", "12.", ".abc", "x1.abc", "1x.abc", "-5.abc"})
        CHECK_FALSE(MediaPosition::parse(bad));
}

TEST_CASE("an owner's media pages newest first; deletion frees quota and file names",
          "[server][media]") {
    TempDb t;
    net::io_context ioc;
    DbWriter writer(SqliteDb(t.path), DbSettings{});
    {
        MediaStore store(writer);
        // Five of alice's, two with the same created_at (ordered by id), one of bob's.
        for (auto [id, at] : {std::pair{"m1", 10}, {"m2", 20}, {"m3", 20}, {"m4", 30}, {"m5", 40}})
            REQUIRE(run(ioc, store.create(record(id, "a", at), 1 << 20)));
        REQUIRE(run(ioc, store.create(record("other", "b", 25), 1 << 20)));

        std::vector<std::string> seen;
        std::optional<MediaPosition> after;
        int pages = 0;
        for (bool more = true; more; ++pages) {
            auto page = store.owned_by("a", after, 2, more);
            REQUIRE_FALSE(page.empty());
            for (const auto& m : page)
                seen.push_back(m.id);
            after = MediaPosition{page.back().created_at, page.back().id};
        }
        CHECK(pages == 3);
        CHECK(seen == std::vector<std::string>{"m5", "m4", "m3", "m2", "m1"});
        bool more = true;
        CHECK(store.owned_by("b", std::nullopt, 10, more).size() == 1);
        CHECK_FALSE(more);

        // Two records of the same content name the same file.
        REQUIRE(run(ioc, store.update(ready(*store.get("m1"), "img", "thumb1"))));
        REQUIRE(run(ioc, store.update(ready(*store.get("other"), "img", "thumb2"))));
        CHECK(store.references("img"));
        CHECK(store.usage("a") == 4 * 100 + 77);

        auto gone = run(ioc, store.remove("m1"));
        REQUIRE(gone);
        CHECK(*gone);
        CHECK(store.references("img"));  // still bob's
        CHECK_FALSE(store.references("thumb1"));
        CHECK(store.usage("a") == 4 * 100);
        auto again = run(ioc, store.remove("m1"));
        REQUIRE(again);
        CHECK_FALSE(*again);

        REQUIRE(run(ioc, store.remove("other")));
        CHECK_FALSE(store.references("img"));
    }
    // Written through: a store loaded afresh has neither, and counts the rest.
    MediaStore reloaded(writer);
    {
        SqliteDb db(t.path, SqliteOptions{OpenMode::read_only});
        reloaded.load(db);
    }
    CHECK_FALSE(reloaded.get("m1"));
    CHECK_FALSE(reloaded.get("other"));
    CHECK(reloaded.usage("a") == 4 * 100);
    writer.stop();
}

}  // namespace parley
