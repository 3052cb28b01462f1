#include "manager/backup/media_manifest.hpp"

#include <algorithm>
#include <filesystem>

namespace parley {

namespace {

bool lower_hex(const std::string& s) {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

bool valid_media_entry(const std::string& sha256, const std::string& ext) {
    return sha256.size() == 64 && lower_hex(sha256) && !ext.empty() && ext.size() <= 8 &&
           std::all_of(ext.begin(), ext.end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z'); });
}

std::vector<MediaEntry> list_media(const std::string& dir, std::string& error) {
    namespace fs = std::filesystem;
    std::vector<MediaEntry> out;
    std::error_code ec;
    if (!fs::exists(dir, ec)) return out;
    for (fs::directory_iterator top(dir, ec), end; !ec && top != end; top.increment(ec)) {
        const std::string prefix = top->path().filename().string();
        if (prefix.size() != 2 || !lower_hex(prefix) || !top->is_directory(ec)) continue;
        for (fs::directory_iterator it(top->path(), ec); !ec && it != end; it.increment(ec)) {
            const std::string name = it->path().filename().string();
            const std::size_t dot = name.find('.');
            if (dot != 64) continue;
            MediaEntry entry{name.substr(0, 64), name.substr(65), 0};
            if (!valid_media_entry(entry.sha256, entry.ext) || !entry.sha256.starts_with(prefix))
                continue;
            if (!it->is_regular_file(ec)) continue;
            entry.size = static_cast<std::int64_t>(it->file_size(ec));
            if (ec) break;
            out.push_back(std::move(entry));
        }
    }
    if (ec) {
        error = "cannot list " + dir + ": " + ec.message();
        return {};
    }
    std::sort(out.begin(), out.end(),
              [](const MediaEntry& a, const MediaEntry& b) { return a.sha256 < b.sha256; });
    return out;
}

}  // namespace parley
