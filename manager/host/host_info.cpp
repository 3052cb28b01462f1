#include "manager/host/host_info.hpp"

#include <sys/statvfs.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "common/file_util.hpp"

namespace parley {

namespace {

std::optional<double> parse_double(std::string_view token) {
    // std::from_chars for double is in libstdc++ 11+, locale-independent.
    double value = 0;
    auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), value);
    if (ec != std::errc() || ptr != token.data() + token.size()) return std::nullopt;
    return value;
}

std::vector<std::string_view> split_ws(std::string_view text) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n'))
            ++i;
        std::size_t start = i;
        while (i < text.size() && text[i] != ' ' && text[i] != '\t' && text[i] != '\n')
            ++i;
        if (i > start) out.push_back(text.substr(start, i - start));
    }
    return out;
}

}  // namespace

std::optional<double> parse_uptime(std::string_view text) {
    auto tokens = split_ws(text);
    if (tokens.empty()) return std::nullopt;
    return parse_double(tokens[0]);
}

std::optional<LoadAverages> parse_loadavg(std::string_view text) {
    auto tokens = split_ws(text);
    if (tokens.size() < 3) return std::nullopt;
    auto a = parse_double(tokens[0]), b = parse_double(tokens[1]), c = parse_double(tokens[2]);
    if (!a || !b || !c) return std::nullopt;
    return LoadAverages{*a, *b, *c};
}

std::optional<MemoryInfo> parse_meminfo(std::string_view text) {
    MemoryInfo info;
    bool total = false, free = false, available = false;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        std::string_view name = line.substr(0, colon);
        auto tokens = split_ws(line.substr(colon + 1));
        if (tokens.empty()) continue;
        std::uint64_t value = 0;
        auto [ptr, ec] =
            std::from_chars(tokens[0].data(), tokens[0].data() + tokens[0].size(), value);
        if (ec != std::errc() || ptr != tokens[0].data() + tokens[0].size()) continue;
        // Values are in kB (kibibytes, despite the unit's name) when a unit is given.
        if (tokens.size() > 1 && tokens[1] == "kB") value *= 1024;
        if (name == "MemTotal") {
            info.total_bytes = value;
            total = true;
        } else if (name == "MemFree") {
            info.free_bytes = value;
            free = true;
        } else if (name == "MemAvailable") {
            info.available_bytes = value;
            available = true;
        } else if (name == "SwapTotal") {
            info.swap_total_bytes = value;
        } else if (name == "SwapFree") {
            info.swap_free_bytes = value;
        }
    }
    if (!total || !free) return std::nullopt;
    if (!available) info.available_bytes = info.free_bytes;
    return info;
}

DiskUsage disk_usage(const std::string& path) {
    DiskUsage usage;
    usage.path = path;
    struct statvfs st {};
    if (::statvfs(path.c_str(), &st) != 0) {
        usage.error = std::strerror(errno);
        return usage;
    }
    const std::uint64_t unit = st.f_frsize ? st.f_frsize : st.f_bsize;
    usage.total_bytes = static_cast<std::uint64_t>(st.f_blocks) * unit;
    usage.free_bytes = static_cast<std::uint64_t>(st.f_bfree) * unit;
    usage.available_bytes = static_cast<std::uint64_t>(st.f_bavail) * unit;
    return usage;
}

nlohmann::json read_host_info(const std::vector<std::string>& disk_paths,
                              const std::string& proc_root) {
    nlohmann::json out = nlohmann::json::object();
    std::string text;
    if (auto ec = read_file(proc_root + "/uptime", text)) {
        out["uptime_error"] = ec.message();
    } else if (auto uptime = parse_uptime(text)) {
        out["uptime_s"] = *uptime;
    } else {
        out["uptime_error"] = "cannot parse " + proc_root + "/uptime";
    }
    if (auto ec = read_file(proc_root + "/loadavg", text)) {
        out["load_error"] = ec.message();
    } else if (auto load = parse_loadavg(text)) {
        out["load"] = {load->one, load->five, load->fifteen};
    } else {
        out["load_error"] = "cannot parse " + proc_root + "/loadavg";
    }
    if (auto ec = read_file(proc_root + "/meminfo", text)) {
        out["memory_error"] = ec.message();
    } else if (auto mem = parse_meminfo(text)) {
        out["memory"] = {{"total_bytes", mem->total_bytes},
                         {"free_bytes", mem->free_bytes},
                         {"available_bytes", mem->available_bytes},
                         {"swap_total_bytes", mem->swap_total_bytes},
                         {"swap_free_bytes", mem->swap_free_bytes}};
    } else {
        out["memory_error"] = "cannot parse " + proc_root + "/meminfo";
    }
    nlohmann::json disks = nlohmann::json::array();
    for (const auto& path : disk_paths) {
        DiskUsage d = disk_usage(path);
        if (!d.error.empty()) {
            disks.push_back({{"path", d.path}, {"error", d.error}});
        } else {
            disks.push_back({{"path", d.path},
                             {"total_bytes", d.total_bytes},
                             {"free_bytes", d.free_bytes},
                             {"available_bytes", d.available_bytes}});
        }
    }
    out["disks"] = std::move(disks);
    return out;
}

}  // namespace parley
