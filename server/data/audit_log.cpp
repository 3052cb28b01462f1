#include "server/data/audit_log.hpp"

namespace parley {

AuditLog::AuditLog(const std::string& path, const SqliteOptions& options) : db_(path, options) {}

void AuditLog::record(std::int64_t at_ms, const std::string& actor, const std::string& action,
                      const nlohmann::json& detail) {
    std::lock_guard lock(mutex_);
    auto st = db_.cached("INSERT INTO audit_log(at, actor, action, detail) VALUES (?, ?, ?, ?)");
    st->bind(1, at_ms).bind(2, actor).bind(3, action);
    st->bind(4, detail.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    st->run();
}

std::int64_t AuditLog::prune(std::int64_t before_ms) {
    std::lock_guard lock(mutex_);
    auto st = db_.cached("DELETE FROM audit_log WHERE at < ?");
    st->bind(1, before_ms);
    st->run();
    return db_.changes();
}

std::vector<AuditRow> AuditLog::recent(std::size_t limit) {
    std::lock_guard lock(mutex_);
    auto st =
        db_.cached("SELECT at, actor, action, detail FROM audit_log ORDER BY id DESC LIMIT ?");
    st->bind(1, static_cast<std::int64_t>(limit));
    std::vector<AuditRow> out;
    while (st->step() == StepResult::row) {
        out.push_back(
            {st->column_int64(0), st->column_text(1), st->column_text(2), st->column_text(3)});
    }
    st->reset();
    return out;
}

}  // namespace parley
