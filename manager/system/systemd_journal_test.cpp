// SystemdJournal where no journal can be read: the answer is an empty list with a reason.
// (Reading real entries needs journal files, which this build cannot write without journald.)
#include "manager/system/systemd_journal.hpp"

#include <cstdlib>
#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

namespace parley {

namespace fs = std::filesystem;

TEST_CASE("an empty journal directory is an error, not an exception", "[journal]") {
    std::string pattern = (fs::temp_directory_path() / "parley-journal-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    SystemdJournal journal(pattern);
    auto result = journal.last_lines("parley-server.service", 50);
    CHECK(result.lines.empty());
    CHECK(result.error == "no readable journal files in " + pattern);
    fs::remove_all(pattern);
}

TEST_CASE("a missing journal directory is an error", "[journal]") {
    SystemdJournal journal("/nonexistent/parley/journal");
    auto result = journal.last_lines("parley-server.service", 50);
    CHECK(result.lines.empty());
    CHECK_FALSE(result.error.empty());
}

TEST_CASE("an empty unit name is refused", "[journal]") {
    SystemdJournal journal;
    auto result = journal.last_lines("", 50);
    CHECK(result.lines.empty());
    CHECK(result.error == "no unit given");
}

TEST_CASE("the system journal never throws", "[journal]") {
    SystemdJournal journal;
    JournalLines result;
    REQUIRE_NOTHROW(result = journal.last_lines("parley-server.service", 5));
    CHECK(result.lines.size() <= 5);
    if (!result.ok()) CHECK(result.lines.empty());
}

}  // namespace parley
