#include "server/features/feature.hpp"

#include "common/json_text.hpp"

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

void Client::reply_sent(const nlohmann::json& request_id, const std::string& room_id,
                        std::int64_t seq, std::int64_t sent_at, bool duplicate) {
    // The keys in the order nlohmann's object keeps, so the bytes are what reply_ok writes.
    std::string out;
    out.reserve(96 + room_id.size());
    out += "{\"duplicate\":";
    out += duplicate ? "true" : "false";
    if (!request_id.is_null()) {
        out += ",\"id\":";
        if (request_id.is_string()) {
            append_json_string(out, request_id.get_ref<const std::string&>());
        } else {
            out += request_id.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        }
    }
    append_json_field(out, "room_id", room_id);
    append_json_field(out, "sent_at", sent_at);
    append_json_field(out, "seq", seq);
    append_json_field(out, "type", "ok");
    out += '}';
    send(std::make_shared<const std::string>(std::move(out)));
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
