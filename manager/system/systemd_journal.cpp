#include "manager/system/systemd_journal.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

#include <systemd/sd-journal.h>

namespace parley {

namespace {

struct JournalCloser {
    void operator()(sd_journal* journal) const { sd_journal_close(journal); }
};

std::string errno_text(int negative_errno) {
    return std::strerror(-negative_errno);
}

}  // namespace

JournalLines SystemdJournal::last_lines(const std::string& unit, std::size_t count) {
    JournalLines out;
    if (unit.empty()) {
        out.error = "no unit given";
        return out;
    }
    count = std::min(count, kMaxLines);

    sd_journal* raw = nullptr;
    int r = directory_.empty() ? sd_journal_open(&raw, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM)
                               : sd_journal_open_directory(&raw, directory_.c_str(), 0);
    if (r < 0) {
        out.error = "cannot open the journal: " + errno_text(r);
        return out;
    }
    std::unique_ptr<sd_journal, JournalCloser> journal(raw);

    // sd-journal skips files it may not read without failing, so "nothing opened" is the only
    // sign that we lack permission (or that there is no journal at all).
    std::uint64_t usage = 0;
    if (sd_journal_get_usage(journal.get(), &usage) < 0 || usage == 0) {
        out.error = directory_.empty()
                        ? "no readable journal files (is this user in the systemd-journal group?)"
                        : "no readable journal files in " + directory_;
        return out;
    }

    std::string match = "_SYSTEMD_UNIT=" + unit;
    if ((r = sd_journal_add_match(journal.get(), match.data(), match.size())) < 0) {
        out.error = "bad journal match for " + unit + ": " + errno_text(r);
        return out;
    }
    if ((r = sd_journal_seek_tail(journal.get())) < 0) {
        out.error = "cannot seek the journal: " + errno_text(r);
        return out;
    }

    constexpr std::string_view kPrefix = "MESSAGE=";
    while (out.lines.size() < count) {
        r = sd_journal_previous(journal.get());
        if (r < 0) {
            out.error = "cannot read the journal: " + errno_text(r);
            break;
        }
        if (r == 0) break;
        JournalLine line;
        sd_journal_get_realtime_usec(journal.get(), &line.realtime_usec);
        const void* data = nullptr;
        std::size_t length = 0;
        if (sd_journal_get_data(journal.get(), "MESSAGE", &data, &length) >= 0) {
            std::string_view field(static_cast<const char*>(data), length);
            if (field.starts_with(kPrefix)) field.remove_prefix(kPrefix.size());
            line.message.assign(field);
        }
        out.lines.push_back(std::move(line));
    }
    std::reverse(out.lines.begin(), out.lines.end());
    return out;
}

}  // namespace parley
