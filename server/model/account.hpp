// Plain types of the account component: accounts, sessions and profiles. Values only; the
// stores in server/data own the authoritative copies.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace parley {

struct Account {
    std::string id;
    std::string username;
    std::string password_hash;  // argon2id PHC string; never leaves the server
    std::string role = "user";  // "user" | "admin" | "bot"
    std::int64_t created_at = 0;
    std::int64_t disabled_at = 0;  // Unix ms an admin disabled it; 0 while enabled
};

// A login. Tokens are never stored: only their SHA-256 (raw 32 bytes).
struct Session {
    std::string id;
    std::string account_id;
    std::string access_hash;
    std::string refresh_hash;
    std::string previous_refresh_hash;  // the rotated-away token: presenting it again is reuse
    std::int64_t created_at = 0;
    std::int64_t access_expires_at = 0;
    std::int64_t refresh_expires_at = 0;
    bool revoked = false;
};

struct Profile {
    std::string account_id;
    std::string name;
    std::string text;
    std::string visibility = "public";  // "public" | "private"
    std::optional<std::string> avatar;  // content id of a processed image
    std::int64_t updated_at = 0;
};

// Unix milliseconds now.
std::int64_t now_ms();

// Username rules: 3 to 32 characters from [A-Za-z0-9_.-], starting with a letter or digit.
// Returns the problem, or empty when valid.
std::string check_username(const std::string& name);
// Password rules: 8 to 1024 bytes.
std::string check_password(const std::string& password);

}  // namespace parley
