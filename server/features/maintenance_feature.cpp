#include "server/features/maintenance_feature.hpp"

#include <spdlog/spdlog.h>

namespace parley {

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
    auto frame = std::make_shared<const std::string>(event.dump());
    auto clients = clients_.all();
    spdlog::info("maintenance notice {} sent to {} sockets", event.dump(), clients.size());
    for (const auto& c : clients)
        c->send(frame);
}

}  // namespace parley
