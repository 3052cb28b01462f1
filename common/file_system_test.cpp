// The file-system seam: the real implementation writes and renames durably, and
// FaultyFileSystem fails exactly where a test asks (a disk that fills, an fsync that fails).
#include "common/file_system.hpp"

#include <fcntl.h>

#include <string>

#include <catch2/catch.hpp>

#include "common/file_util.hpp"
#include "common/test_support.hpp"

namespace parley {

TEST_CASE("the real file system writes, fsyncs, renames and unlinks", "[file_system]") {
    test::TempDir dir("file-system");
    FileSystem& files = real_file_system();
    std::error_code ec;
    int fd = files.open(dir.file("a.tmp"), O_WRONLY | O_CREAT | O_EXCL, 0600, ec);
    REQUIRE(fd >= 0);
    CHECK_FALSE(files.write_all(fd, "hello", 5));
    CHECK_FALSE(files.fsync(fd));
    CHECK_FALSE(files.close(fd));
    CHECK_FALSE(files.rename(dir.file("a.tmp"), dir.file("a")));
    CHECK_FALSE(files.fsync_directory(dir.path().string()));
    std::string content;
    CHECK_FALSE(read_file(dir.file("a"), content));
    CHECK(content == "hello");
    CHECK_FALSE(files.unlink(dir.file("a")));
    CHECK(files.unlink(dir.file("a")) == std::errc::no_such_file_or_directory);

    CHECK(files.open(dir.file("missing/b"), O_WRONLY | O_CREAT, 0600, ec) < 0);
    CHECK(ec == std::errc::no_such_file_or_directory);
    CHECK(files.rename(dir.file("nothing"), dir.file("b")) == std::errc::no_such_file_or_directory);
}

TEST_CASE("FaultyFileSystem fills the disk and fails fsync on demand", "[file_system]") {
    test::TempDir dir("file-system");
    FaultyFileSystem files;
    std::error_code ec;
    int fd = files.open(dir.file("f"), O_WRONLY | O_CREAT, 0600, ec);
    REQUIRE(fd >= 0);

    files.fill_disk_after(8);
    CHECK_FALSE(files.write_all(fd, "12345", 5));
    // The write that crosses the line writes what fits, then fails as write(2) would.
    CHECK(files.write_all(fd, "67890", 5) == std::errc::no_space_on_device);
    CHECK(files.write_all(fd, "x", 1) == std::errc::no_space_on_device);
    CHECK(files.injected() == 2);
    files.fill_disk_after(-1);
    CHECK_FALSE(files.write_all(fd, "!", 1));

    files.fail_fsync(true);
    CHECK(files.fsync(fd) == std::errc::io_error);
    CHECK_FALSE(files.fsync_directory(dir.path().string()));
    files.fail_fsync(true, true);
    CHECK(files.fsync_directory(dir.path().string()) == std::errc::io_error);
    files.fail_fsync(false);
    files.fail_directory_fsync(true);
    CHECK_FALSE(files.fsync(fd));
    CHECK(files.fsync_directory(dir.path().string()) == std::errc::io_error);
    files.fail_directory_fsync(false);
    CHECK_FALSE(files.fsync_directory(dir.path().string()));
    CHECK_FALSE(files.close(fd));

    std::string content;
    CHECK_FALSE(read_file(dir.file("f"), content));
    CHECK(content == "12345678!");
}

}  // namespace parley
