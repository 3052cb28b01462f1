// The /proc parsers behind system.info, on fixed inputs, and statvfs on real paths.
#include "manager/host/host_info.hpp"

#include <catch2/catch.hpp>

namespace parley {

TEST_CASE("uptime and load averages are parsed", "[manager][host]") {
    CHECK(parse_uptime("12345.67 54321.00\n") == Approx(12345.67));
    CHECK_FALSE(parse_uptime(""));
    CHECK_FALSE(parse_uptime("abc 1"));
    auto load = parse_loadavg("0.52 1.25 2.00 3/456 7890\n");
    REQUIRE(load);
    CHECK(load->one == Approx(0.52));
    CHECK(load->five == Approx(1.25));
    CHECK(load->fifteen == Approx(2.0));
    CHECK_FALSE(parse_loadavg("0.5 1.0"));
    CHECK_FALSE(parse_loadavg("x y z"));
}

TEST_CASE("meminfo is parsed into bytes", "[manager][host]") {
    auto mem = parse_meminfo(
        "MemTotal:       16318412 kB\nMemFree:         1024 kB\nMemAvailable:    8000000 kB\n"
        "Buffers:          1 kB\nSwapTotal:       2048 kB\nSwapFree:        1024 "
        "kB\nHugePages_Total:  0\n");
    REQUIRE(mem);
    CHECK(mem->total_bytes == 16318412ull * 1024);
    CHECK(mem->free_bytes == 1024ull * 1024);
    CHECK(mem->available_bytes == 8000000ull * 1024);
    CHECK(mem->swap_total_bytes == 2048ull * 1024);
    CHECK(mem->swap_free_bytes == 1024ull * 1024);

    auto old_kernel = parse_meminfo("MemTotal: 100 kB\nMemFree: 40 kB\n");
    REQUIRE(old_kernel);
    CHECK(old_kernel->available_bytes == 40 * 1024);
    CHECK_FALSE(parse_meminfo("MemFree: 40 kB\n"));
    CHECK_FALSE(parse_meminfo("garbage"));
}

TEST_CASE("disk usage comes from statvfs, with an error per path", "[manager][host]") {
    DiskUsage root = disk_usage("/");
    CHECK(root.error.empty());
    CHECK(root.total_bytes > 0);
    CHECK(root.free_bytes >= root.available_bytes);
    DiskUsage missing = disk_usage("/no/such/dir");
    CHECK_FALSE(missing.error.empty());

    auto info = read_host_info({"/"});
    CHECK(info.contains("uptime_s"));
    CHECK(info["load"].size() == 3);
    CHECK(info["memory"]["total_bytes"].get<std::uint64_t>() > 0);
    auto broken = read_host_info({}, "/no/such/proc");
    CHECK(broken.contains("uptime_error"));
    CHECK(broken.contains("load_error"));
    CHECK(broken.contains("memory_error"));
    CHECK(broken["disks"].empty());
}

}  // namespace parley
