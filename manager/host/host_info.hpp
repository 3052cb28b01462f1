// HostInfo: the host figures of system.info — uptime (/proc/uptime), load averages
// (/proc/loadavg), memory (/proc/meminfo) and file-system usage (statvfs of configured paths).
// The parsers take the file text, so tests feed them fixed inputs; read_host_info() reads the
// real files under `proc_root` ("/proc"). A part that cannot be read carries an error string
// instead of failing the whole answer. Stateless and thread-safe; blocking (small reads).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace parley {

struct LoadAverages {
    double one = 0, five = 0, fifteen = 0;
};

struct MemoryInfo {
    std::uint64_t total_bytes = 0;
    std::uint64_t free_bytes = 0;
    std::uint64_t available_bytes = 0;
    std::uint64_t swap_total_bytes = 0;
    std::uint64_t swap_free_bytes = 0;
};

struct DiskUsage {
    std::string path;
    std::uint64_t total_bytes = 0;
    std::uint64_t free_bytes = 0;       // free blocks, including those reserved for root
    std::uint64_t available_bytes = 0;  // free to unprivileged users
    std::string error;                  // set when statvfs failed
};

std::optional<double> parse_uptime(std::string_view text);
std::optional<LoadAverages> parse_loadavg(std::string_view text);
// Needs MemTotal and MemFree; MemAvailable falls back to MemFree on very old kernels.
std::optional<MemoryInfo> parse_meminfo(std::string_view text);
DiskUsage disk_usage(const std::string& path);

// {"uptime_s", "load": [1, 5, 15], "memory": {...}, "disks": [...]} with an "<part>_error"
// string in place of a part that could not be read.
nlohmann::json read_host_info(const std::vector<std::string>& disk_paths,
                              const std::string& proc_root = "/proc");

}  // namespace parley
