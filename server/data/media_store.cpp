#include "server/data/media_store.hpp"

#include <algorithm>
#include <charconv>

namespace parley {

std::optional<MediaPosition> MediaPosition::parse(std::string_view cursor) {
    auto dot = cursor.find('.');
    if (dot == std::string_view::npos || dot == 0 || dot + 1 == cursor.size()) return std::nullopt;
    MediaPosition p;
    auto [end, ec] = std::from_chars(cursor.data(), cursor.data() + dot, p.created_at);
    if (ec != std::errc() || end != cursor.data() + dot || p.created_at < 0) return std::nullopt;
    p.id = std::string(cursor.substr(dot + 1));
    return p;
}

namespace {

constexpr const char* kColumns =
    "id, owner_id, state, upload_bytes, format, image_sha256, image_bytes, width, height, "
    "thumb_sha256, thumb_bytes, thumb_width, thumb_height, error, message, created_at, "
    "updated_at";

std::string text_or_empty(const Statement& st, int col) {
    return st.column_is_null(col) ? std::string() : st.column_text(col);
}

MediaRecord read_record(const Statement& st) {
    MediaRecord m;
    m.id = st.column_text(0);
    m.owner_id = st.column_text(1);
    m.state = st.column_text(2);
    m.upload_bytes = st.column_int64(3);
    m.format = st.column_text(4);
    m.image_sha256 = text_or_empty(st, 5);
    m.image_bytes = st.column_int64(6);
    m.width = static_cast<int>(st.column_int64(7));
    m.height = static_cast<int>(st.column_int64(8));
    m.thumb_sha256 = text_or_empty(st, 9);
    m.thumb_bytes = st.column_int64(10);
    m.thumb_width = static_cast<int>(st.column_int64(11));
    m.thumb_height = static_cast<int>(st.column_int64(12));
    m.error = text_or_empty(st, 13);
    m.message = text_or_empty(st, 14);
    m.created_at = st.column_int64(15);
    m.updated_at = st.column_int64(16);
    return m;
}

void bind_text_or_null(Statement& st, int index, const std::string& s) {
    if (s.empty()) {
        st.bind_null(index);
    } else {
        st.bind(index, s);
    }
}

// Binds every column in kColumns order.
void bind_record(Statement& st, const MediaRecord& m) {
    st.bind(1, m.id).bind(2, m.owner_id).bind(3, m.state).bind(4, m.upload_bytes);
    st.bind(5, m.format);
    bind_text_or_null(st, 6, m.image_sha256);
    st.bind(7, m.image_bytes).bind(8, m.width).bind(9, m.height);
    bind_text_or_null(st, 10, m.thumb_sha256);
    st.bind(11, m.thumb_bytes).bind(12, m.thumb_width).bind(13, m.thumb_height);
    bind_text_or_null(st, 14, m.error);
    bind_text_or_null(st, 15, m.message);
    st.bind(16, m.created_at).bind(17, m.updated_at);
}

}  // namespace

MediaStore::MediaStore(DbWriter& writer) : writer_(writer) {}

void MediaStore::load(SqliteDb& db) {
    std::lock_guard lock(mutex_);
    auto st = db.prepare(std::string("SELECT ") + kColumns + " FROM media");
    while (st.step() == StepResult::row) {
        MediaRecord m = read_record(st);
        count_files(m, +1);
        records_[m.id] = std::move(m);
    }
}

void MediaStore::count_files(const MediaRecord& m, int delta) {
    for (const std::string* sha : {&m.image_sha256, &m.thumb_sha256}) {
        if (sha->empty()) continue;
        if ((file_refs_[*sha] += delta) <= 0) file_refs_.erase(*sha);
    }
}

bool MediaStore::references(const std::string& sha256) const {
    std::lock_guard lock(mutex_);
    return file_refs_.contains(sha256);
}

std::vector<MediaRecord> MediaStore::owned_by(const std::string& owner_id,
                                              const std::optional<MediaPosition>& after,
                                              std::size_t limit, bool& more) const {
    // Newest first: a later created_at, then a greater id, comes first.
    auto newer = [](std::int64_t at_a, const std::string& id_a, std::int64_t at_b,
                    const std::string& id_b) { return at_a != at_b ? at_a > at_b : id_a > id_b; };
    std::vector<MediaRecord> out;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [id, m] : records_) {
            if (m.owner_id != owner_id) continue;
            if (after && !newer(after->created_at, after->id, m.created_at, m.id)) continue;
            out.push_back(m);
        }
    }
    std::sort(out.begin(), out.end(), [&](const MediaRecord& a, const MediaRecord& b) {
        return newer(a.created_at, a.id, b.created_at, b.id);
    });
    more = out.size() > limit;
    if (more) out.resize(limit);
    return out;
}

std::optional<MediaRecord> MediaStore::get(const std::string& id) const {
    std::lock_guard lock(mutex_);
    auto it = records_.find(id);
    if (it == records_.end()) return std::nullopt;
    return it->second;
}

std::vector<MediaRecord> MediaStore::in_state(const std::string& state) const {
    std::lock_guard lock(mutex_);
    std::vector<MediaRecord> out;
    for (const auto& [id, m] : records_) {
        if (m.state == state) out.push_back(m);
    }
    return out;
}

std::int64_t MediaStore::usage(const std::string& owner_id) const {
    std::lock_guard lock(mutex_);
    std::int64_t total = 0;
    for (const auto& [id, m] : records_) {
        if (m.owner_id == owner_id) total += m.quota_bytes();
    }
    if (auto it = reserved_.find(owner_id); it != reserved_.end()) total += it->second;
    return total;
}

awaitable<DbResult<bool>> MediaStore::create(MediaRecord record, std::int64_t quota_bytes) {
    std::int64_t bytes = record.quota_bytes();
    {
        // usage() takes the lock itself; compute inline here to hold it across check + reserve.
        std::lock_guard lock(mutex_);
        std::int64_t used = 0;
        for (const auto& [id, m] : records_) {
            if (m.owner_id == record.owner_id) used += m.quota_bytes();
        }
        used += reserved_[record.owner_id];
        if (used + bytes > quota_bytes) co_return false;
        reserved_[record.owner_id] += bytes;
    }
    auto job = [record](SqliteDb& db) {
        auto ins = db.cached(std::string("INSERT INTO media(") + kColumns +
                             ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
        bind_record(*ins, record);
        ins->run();
        return true;
    };
    auto result = co_await writer_.write(std::move(job));
    std::lock_guard lock(mutex_);
    if ((reserved_[record.owner_id] -= bytes) == 0) reserved_.erase(record.owner_id);
    if (!result) co_return result.error();
    count_files(record, +1);
    records_[record.id] = record;
    co_return true;
}

awaitable<DbResult<MediaRecord>> MediaStore::update(MediaRecord record) {
    auto job = [record](SqliteDb& db) {
        auto up = db.cached(std::string("REPLACE INTO media(") + kColumns +
                            ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
        bind_record(*up, record);
        up->run();
        return true;
    };
    auto result = co_await writer_.write(std::move(job));
    if (!result) co_return result.error();
    std::lock_guard lock(mutex_);
    auto& slot = records_[record.id];
    count_files(slot, -1);
    count_files(record, +1);
    slot = record;
    co_return record;
}

awaitable<DbResult<bool>> MediaStore::remove(const std::string& id) {
    auto job = [id](SqliteDb& db) {
        auto del = db.cached("DELETE FROM media WHERE id = ?");
        del->bind(1, id);
        del->run();
        return db.changes() > 0;
    };
    auto result = co_await writer_.write(std::move(job));
    if (!result) co_return result.error();
    std::lock_guard lock(mutex_);
    if (auto it = records_.find(id); it != records_.end()) {
        count_files(it->second, -1);
        records_.erase(it);
    }
    co_return *result;
}

}  // namespace parley
