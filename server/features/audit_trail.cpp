#include "server/features/audit_trail.hpp"

#include <spdlog/spdlog.h>

#include "common/offload.hpp"
#include "server/model/account.hpp"

namespace parley {

awaitable<void> audit_by_account(net::thread_pool& pool, AuditLog& audit,
                                 const std::string& account, const std::string& action,
                                 const nlohmann::json& detail) {
    auto job = [&audit, account, action, detail]() noexcept {
        try {
            audit.record(now_ms(), "account:" + account, action, detail);
        } catch (const std::exception& e) {
            spdlog::error("admin: cannot write the audit row of {} by account {}: {}", action,
                          account, e.what());
        }
        return 0;
    };
    co_await offload(pool, std::move(job));
}

}  // namespace parley
