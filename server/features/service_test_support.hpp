// Test support for the services of server/features: a socket that records what it is sent and
// how it was closed, history.db migrated beside a test's current.db, and what current.db says
// of a session (the store forgets revoked sessions, so the file is asked).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/data/store_test_support.hpp"
#include "server/features/feature.hpp"

namespace parley::test {

class RecordingSocket : public Client {
  public:
    RecordingSocket(std::uint64_t id, std::string account, std::string session = "s")
        : id_(id), account_(std::move(account)), session_(std::move(session)) {}
    std::uint64_t id() const override { return id_; }
    const std::string& account_id() const override { return account_; }
    const std::string& session_id() const override { return session_; }
    const std::string& open_path() const override { return session_; }
    void send(std::shared_ptr<const std::string> frame) override {
        frames.push_back(nlohmann::json::parse(*frame));
    }
    void close(std::uint16_t code, std::string) override { closed_with = code; }
    // The frames of `type`, in order.
    std::vector<nlohmann::json> of_type(const std::string& type) const {
        std::vector<nlohmann::json> out;
        for (const auto& f : frames)
            if (f.value("type", "") == type) out.push_back(f);
        return out;
    }
    std::vector<nlohmann::json> frames;
    std::uint16_t closed_with = 0;

  private:
    std::uint64_t id_;
    std::string account_;
    std::string session_;
};

// history.db in `dir`, every migration applied; its path.
inline std::string migrated_history_db(const TempDir& dir) {
    std::string path = dir.file("history.db");
    SqliteDb db(path);
    apply_migrations(db, history_migrations(), "history");
    return path;
}

// Whether current.db at `path` records the session as revoked.
inline bool revoked_in_db(const std::string& path, const std::string& session_id) {
    SqliteDb db(path, SqliteOptions{OpenMode::read_only});
    auto q = db.prepare("SELECT revoked_at IS NOT NULL FROM sessions WHERE id = ?");
    q.bind(1, session_id);
    return q.step() == StepResult::row && q.column_int64(0) == 1;
}

}  // namespace parley::test
