#include "server/features/feature.hpp"

#include <stdexcept>

namespace parley {

void Client::send_json(const nlohmann::json& message) {
    send(std::make_shared<const std::string>(
        message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
}

void Client::reply_ok(const nlohmann::json& request_id, nlohmann::json extra) {
    extra["type"] = "ok";
    if (!request_id.is_null()) extra["id"] = request_id;
    send_json(extra);
}

void Client::reply_error(const nlohmann::json& request_id, const std::string& code,
                         const std::string& message) {
    nlohmann::json frame{{"type", "error"}, {"error", code}, {"message", message}};
    if (!request_id.is_null()) frame["id"] = request_id;
    send_json(frame);
}

void FeatureTable::add(std::shared_ptr<Feature> feature) {
    for (const auto& type : feature->message_types()) {
        if (find(type)) throw std::logic_error("two features claim message type " + type);
        by_type_.emplace_back(type, feature.get());
    }
    features_.push_back(std::move(feature));
}

Feature* FeatureTable::find(std::string_view type) const {
    for (const auto& [t, f] : by_type_) {
        if (t == type) return f;
    }
    return nullptr;
}

}  // namespace parley
