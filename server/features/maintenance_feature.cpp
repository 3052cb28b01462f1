#include "server/features/maintenance_feature.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "server/model/account.hpp"

namespace parley {

MaintenanceFeature::MaintenanceFeature(ClientRegistry& clients, net::any_io_executor executor,
                                       std::chrono::milliseconds expiry_slack)
    : clients_(clients),
      expiry_(std::make_unique<net::steady_timer>(std::move(executor))),
      expiry_slack_(expiry_slack) {}

void MaintenanceFeature::stop() {
    std::lock_guard lock(mutex_);
    if (expiry_) expiry_->cancel();
}

void MaintenanceFeature::arm_expiry(std::int64_t at_ms) {
    if (!expiry_) return;
    std::int64_t wait = at_ms - now_ms() + expiry_slack_.count();
    expiry_->expires_after(std::chrono::milliseconds(std::max<std::int64_t>(wait, 0)));
    expiry_->async_wait([this, at_ms](const boost::system::error_code& ec) {
        if (ec) return;  // re-armed or cancelled
        bool still;
        {
            std::lock_guard lock(mutex_);
            still = notice_.is_object() && notice_.value("at", std::int64_t{0}) == at_ms;
        }
        if (!still) return;
        spdlog::warn("maintenance notice for {} expired: its time passed and no manager cleared it",
                     at_ms);
        set(nullptr);
    });
}

nlohmann::json MaintenanceFeature::event_for(const nlohmann::json& maintenance) {
    nlohmann::json event{{"type", "maintenance"}, {"at", nullptr}};
    if (maintenance.is_object() && maintenance.contains("at") && maintenance["at"].is_number()) {
        event["at"] = maintenance["at"];
        event["action"] = maintenance.value("action", std::string("restart"));
    }
    return event;
}

nlohmann::json MaintenanceFeature::current() const {
    std::lock_guard lock(mutex_);
    return event_for(notice_);
}

void MaintenanceFeature::on_open(const std::shared_ptr<Client>& client) {
    std::lock_guard lock(mutex_);
    if (notice_.is_null()) return;
    client->send_json(event_for(notice_));
}

void MaintenanceFeature::set(const nlohmann::json& maintenance) {
    nlohmann::json event = event_for(maintenance);
    nlohmann::json notice = event["at"].is_null()
                                ? nlohmann::json()
                                : nlohmann::json{{"at", event["at"]}, {"action", event["action"]}};
    std::lock_guard lock(mutex_);
    if (notice == notice_) return;
    notice_ = notice;
    if (expiry_) {
        expiry_->cancel();
        if (notice_.is_object()) arm_expiry(notice_["at"].get<std::int64_t>());
    }
    auto frame = std::make_shared<const std::string>(event.dump());
    auto clients = clients_.all();
    spdlog::info("maintenance notice {} sent to {} sockets", event.dump(), clients.size());
    for (const auto& c : clients)
        c->send(frame);
}

}  // namespace parley
