#include "server/model/account.hpp"

#include <chrono>

namespace parley {

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string check_username(const std::string& name) {
    if (name.size() < 3 || name.size() > 32) return "username must be 3 to 32 characters";
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-';
        if (!ok) return "username may only contain letters, digits, '_', '.' and '-'";
    }
    char first = name.front();
    if (first == '_' || first == '.' || first == '-')
        return "username must start with a letter or digit";
    return {};
}

std::string check_password(const std::string& password) {
    if (password.size() < 8) return "password must be at least 8 characters";
    if (password.size() > 1024) return "password must be at most 1024 bytes";
    return {};
}

}  // namespace parley
