// MediaService against a real current.db, the real stores and files in a temporary data
// directory (the image child is never started: these calls do not reach it): accepting an
// upload (empty body, quota; a failed fsync, through a FaultyFileSystem), who may see a
// content id, the owner's pages, and deleting one's image with its stored files.
#include "server/features/media_service.hpp"

#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "common/crypto.hpp"
#include "server/data/room_store.hpp"
#include "server/data/store_test_support.hpp"
#include "server/process/child_process.hpp"

namespace parley {

namespace {

using test::run;
namespace fs = std::filesystem;

struct Media {
    test::TempCurrentDb db{"media-service"};
    std::string data_dir = db.dir.file("data");
    net::io_context ioc;
    MediaSettings settings;
    DbWriter writer{SqliteDb(db.path), DbSettings{}};
    DbReaderPool readers{db.path, DbSettings{}};
    AccountStore accounts{writer};
    RoomStore rooms{writer, readers, 50};
    MediaStore store{writer};
    ClientRegistry clients;
    net::thread_pool files{1};
    FaultyFileSystem disk;  // no faults unless a test asks
    std::unique_ptr<ChildLauncher> launcher = make_process_launcher();
    ImageprocClient imageproc{ioc.get_executor(), *launcher, ImageprocOptions{{"/bin/false"}}};
    std::unique_ptr<MediaService> service;

    Media() {
        settings.quota_bytes = 1000;
        service =
            std::make_unique<MediaService>(settings, data_dir, store, accounts, readers, imageproc,
                                           clients, files, ioc.get_executor(), disk);
        service->prepare();
        for (const char* name : {"ann", "bob", "cat"})
            REQUIRE(run(ioc, accounts.create_account(Account{name, name, "x", "user", 1})));
    }
    ~Media() {
        files.join();
        writer.stop();
    }
    // A spooled upload body of `bytes` bytes.
    std::string spool(std::size_t bytes) {
        std::string path = service->spool_dir() + "/" + random_id();
        std::ofstream(path) << std::string(bytes, 'x');
        return path;
    }
    // A ready image of `owner` whose stored file exists.
    MediaRecord ready(const std::string& owner, const std::string& content) {
        MediaRecord m;
        m.id = random_id();
        m.owner_id = owner;
        m.upload_bytes = 10;
        m.created_at = m.updated_at = now_ms();
        REQUIRE(*run(ioc, store.create(m, settings.quota_bytes)));
        std::string sha = sha256_hex(content);
        fs::create_directories(fs::path(service->file_path(sha)).parent_path());
        std::ofstream(service->file_path(sha)) << content;
        m.state = "ready";
        m.image_sha256 = sha;
        m.image_bytes = static_cast<std::int64_t>(content.size());
        auto saved = run(ioc, store.update(m));
        REQUIRE(saved);
        return *saved;
    }
};

}  // namespace

TEST_CASE("an upload is refused when empty or over the quota, else kept for processing",
          "[server][media]") {
    Media t;
    CHECK(run(t.ioc, t.service->accept("ann", t.spool(0))).refusal().code ==
          ErrorCode::bad_request);
    CHECK(run(t.ioc, t.service->accept("ann", t.spool(1001))).refusal().code ==
          ErrorCode::quota_exceeded);
    auto kept = run(t.ioc, t.service->accept("ann", t.spool(600)));
    REQUIRE(kept);
    CHECK(kept->state == "processing");
    CHECK(t.store.usage("ann") == 600);
    CHECK(fs::file_size(t.data_dir + "/media/uploads/" + kept->id) == 600);
    // The quota counts the upload while it is processed.
    CHECK(run(t.ioc, t.service->accept("ann", t.spool(600))).refusal().code ==
          ErrorCode::quota_exceeded);
}

TEST_CASE("an upload that cannot be made durable leaves no record and no file", "[server][media]") {
    Media t;
    const std::string uploads = t.data_dir + "/media/uploads";
    auto check_nothing_left = [&] {
        CHECK(t.store.usage("ann") == 0);
        CHECK(t.service->page("ann", std::nullopt, 10)->items.empty());
        CHECK(fs::is_empty(uploads));
    };

    SECTION("the upload's fsync fails") {
        t.disk.fail_fsync(true);
        auto refused = run(t.ioc, t.service->accept("ann", t.spool(600)));
        REQUIRE_FALSE(refused);
        CHECK(refused.refusal().code == ErrorCode::internal);
        CHECK(refused.refusal().message ==
              "the server could not store the upload (Input/output error)");
        CHECK(t.disk.injected() == 1);
        check_nothing_left();
    }
    SECTION("the uploads directory's fsync fails after the rename") {
        t.disk.fail_directory_fsync(true);
        auto refused = run(t.ioc, t.service->accept("ann", t.spool(600)));
        REQUIRE_FALSE(refused);
        CHECK(refused.refusal().code == ErrorCode::internal);
        CHECK(t.disk.injected() == 1);
        check_nothing_left();  // the renamed file went too
    }

    // The quota was given back and the next upload is kept.
    t.disk.fail_fsync(false);
    auto kept = run(t.ioc, t.service->accept("ann", t.spool(900)));
    REQUIRE(kept);
    CHECK(kept->state == "processing");
    CHECK(t.store.usage("ann") == 900);
    CHECK(fs::file_size(uploads + "/" + kept->id) == 900);
}

TEST_CASE("who may see an image: its owner, avatar viewers, and the rooms it was posted in",
          "[server][media]") {
    Media t;
    MediaRecord avatar = t.ready("ann", "avatar bytes");
    MediaRecord posted = t.ready("ann", "posted bytes");
    CHECK(run(t.ioc, t.service->visible("ann", posted.id)));
    CHECK(run(t.ioc, t.service->visible("bob", posted.id)).refusal().code == ErrorCode::not_found);
    CHECK(run(t.ioc, t.service->visible("bob", "no-such-id")).refusal().code ==
          ErrorCode::not_found);

    Profile p{"ann"};
    p.avatar = avatar.id;
    REQUIRE(run(t.ioc, t.accounts.update_profile(p)));
    CHECK(run(t.ioc, t.service->visible("bob", avatar.id)));  // a public profile's avatar
    p.visibility = "private";
    REQUIRE(run(t.ioc, t.accounts.update_profile(p)));
    CHECK_FALSE(run(t.ioc, t.service->visible("bob", avatar.id)));

    Room room{"r1", "group", "t", false, "ann", 1, 0};
    REQUIRE(run(t.ioc, t.rooms.create_room(room, {Member{"r1", "ann", "owner", "ann", "", 1},
                                                  Member{"r1", "bob", "member", "bob", "", 1}})));
    CHECK(run(t.ioc, t.service->visible("bob", avatar.id)));  // shares a room with ann
    CHECK_FALSE(run(t.ioc, t.service->visible("bob", posted.id)));
    Message m;
    m.room_id = "r1";
    m.sender_id = "ann";
    m.client_msg_id = "c1";
    m.media = posted.id;
    m.sent_at = now_ms();
    REQUIRE(run(t.ioc, t.rooms.append(m)));
    CHECK(run(t.ioc, t.service->visible("bob", posted.id)));
    CHECK_FALSE(run(t.ioc, t.service->visible("cat", posted.id)));
    auto bytes = run(t.ioc, t.service->read_stored(posted.id, posted.image_sha256));
    REQUIRE(bytes);
    CHECK(*bytes == "posted bytes");
}

TEST_CASE("the owner's pages and deleting one's image", "[server][media]") {
    Media t;
    MediaRecord first = t.ready("ann", "first");
    MediaRecord second = t.ready("ann", "second");
    MediaRecord shared = t.ready("bob", "first");  // the same bytes: one stored file
    CHECK(t.service->page("ann", std::nullopt, 0).refusal().code == ErrorCode::bad_request);
    auto one = t.service->page("ann", std::nullopt, 1);
    REQUIRE(one);
    REQUIRE(one->items.size() == 1);
    REQUIRE(one->next);
    auto two = t.service->page("ann", one->next, 1);
    REQUIRE(two);
    REQUIRE(two->items.size() == 1);
    CHECK(two->items[0].id != one->items[0].id);
    CHECK_FALSE(two->next);
    CHECK(two->usage_bytes == t.store.usage("ann"));

    CHECK(run(t.ioc, t.service->delete_own("bob", first.id)).refusal().code ==
          ErrorCode::not_found);
    Profile p{"ann"};
    p.avatar = second.id;
    REQUIRE(run(t.ioc, t.accounts.update_profile(p)));
    CHECK(run(t.ioc, t.service->delete_own("bob", second.id)).refusal().code ==
          ErrorCode::forbidden);  // an avatar bob may see, not his
    CHECK(run(t.ioc, t.service->delete_own("ann", second.id)).refusal().code ==
          ErrorCode::conflict);  // ann's avatar

    auto deleted = run(t.ioc, t.service->delete_own("ann", first.id));
    REQUIRE(deleted);
    CHECK(deleted->freed_bytes == 5);
    CHECK(deleted->usage_bytes == t.store.usage("ann"));
    CHECK_FALSE(t.store.get(first.id));
    CHECK(fs::exists(t.service->file_path(first.image_sha256)));  // bob's record names it
    REQUIRE(run(t.ioc, t.service->delete_own("bob", shared.id)));
    CHECK_FALSE(fs::exists(t.service->file_path(first.image_sha256)));
    CHECK(run(t.ioc, t.service->delete_own("ann", first.id)).refusal().code ==
          ErrorCode::not_found);
}

}  // namespace parley
