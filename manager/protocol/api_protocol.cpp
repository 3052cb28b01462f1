#include "manager/protocol/api_protocol.hpp"

#include "common/json_limits.hpp"

namespace parley {

const char* api_error_code_name(ApiErrorCode code) {
    switch (code) {
        case ApiErrorCode::bad_request:
            return "bad_request";
        case ApiErrorCode::unauthorized:
            return "unauthorized";
        case ApiErrorCode::forbidden:
            return "forbidden";
        case ApiErrorCode::not_found:
            return "not_found";
        case ApiErrorCode::rate_limited:
            return "rate_limited";
        case ApiErrorCode::unavailable:
            return "unavailable";
        case ApiErrorCode::failed:
            return "failed";
        case ApiErrorCode::timeout:
            return "timeout";
        case ApiErrorCode::internal:
            return "internal";
    }
    return "internal";
}

namespace {

// Ids are echoed and logged: keep them small and simple.
constexpr std::size_t kMaxIdLength = 128;

bool valid_id(const json& id) {
    if (id.is_number_integer()) return true;
    return id.is_string() && !id.get_ref<const std::string&>().empty() &&
           id.get_ref<const std::string&>().size() <= kMaxIdLength;
}

}  // namespace

json parse_message(std::string_view payload) {
    // JSON text never holds a raw NUL byte (strings escape it), so the first one ends the text.
    const std::size_t nul = payload.find('\0');
    json doc = parse_json_bounded(payload.substr(0, nul));
    if (nul == std::string_view::npos) return doc;
    if (!doc.is_object()) return json(json::value_t::discarded);
    auto params = doc.find("params");
    if (params == doc.end() || !params->is_object() || params->contains("data")) {
        return json(json::value_t::discarded);
    }
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(payload.data() + nul + 1);
    (*params)["data"] =
        json::binary_t(std::vector<std::uint8_t>(bytes, bytes + payload.size() - nul - 1));
    return doc;
}

std::optional<ApiRequest> parse_request(std::string_view payload, ApiError& error, json& id) {
    id = nullptr;
    error = ApiError{ApiErrorCode::bad_request, "", nullptr};
    json doc = parse_message(payload);
    if (doc.is_discarded()) {
        error.message = "the frame is not valid JSON";
        return std::nullopt;
    }
    if (!doc.is_object()) {
        error.message = "a request must be a JSON object";
        return std::nullopt;
    }
    auto it = doc.find("id");
    if (it == doc.end() || !valid_id(*it)) {
        error.message = "a request needs an \"id\": an integer or a string of 1 to 128 characters";
        return std::nullopt;
    }
    id = *it;
    auto method = doc.find("method");
    if (method == doc.end() || !method->is_string() ||
        method->get_ref<const std::string&>().empty()) {
        error.message = "a request needs a \"method\" string";
        return std::nullopt;
    }
    ApiRequest request;
    auto target = doc.find("target");
    if (target != doc.end() && !target->is_null()) {
        if (!target->is_string() || target->get_ref<const std::string&>().empty() ||
            target->get_ref<const std::string&>().size() > kMaxManagerNameLength) {
            error.message = "\"target\" must be a manager name (1 to 64 characters)";
            return std::nullopt;
        }
        request.target = target->get<std::string>();
    }
    auto via = doc.find("via");
    if (via != doc.end() && !via->is_null()) {
        if (!via->is_array() || via->size() > kMaxVia) {
            error.message = "\"via\" must be an array of at most 16 manager names";
            return std::nullopt;
        }
        for (const auto& hop : *via) {
            if (!hop.is_string() || hop.get_ref<const std::string&>().empty() ||
                hop.get_ref<const std::string&>().size() > kMaxManagerNameLength) {
                error.message = "\"via\" must hold manager names (1 to 64 characters)";
                return std::nullopt;
            }
            request.via.push_back(hop.get<std::string>());
        }
    }
    request.id = id;
    request.method = method->get<std::string>();
    auto params = doc.find("params");
    if (params == doc.end() || params->is_null()) {
        request.params = json::object();
    } else if (params->is_object()) {
        request.params = std::move(*params);
    } else {
        error.message = "\"params\" must be an object";
        return std::nullopt;
    }
    return request;
}

json forwarded_request(const ApiRequest& request, const json& new_id, const std::string& self) {
    json via = json::array();
    for (const auto& hop : request.via)
        via.push_back(hop);
    via.push_back(self);
    json out{{"id", new_id},
             {"method", request.method},
             {"params", request.params},
             {"via", std::move(via)}};
    // An empty target is "this manager", which a parser refuses to read as a name.
    if (!request.target.empty()) out["target"] = request.target;
    return out;
}

json make_ok(const json& id, json result) {
    return json{{"id", id}, {"ok", true}, {"result", std::move(result)}};
}

json make_error(const json& id, const ApiError& error) {
    json err{{"code", api_error_code_name(error.code)}, {"message", error.message}};
    if (!error.details.is_null()) err["details"] = error.details;
    return json{{"id", id}, {"ok", false}, {"error", std::move(err)}};
}

json make_error(const json& id, ApiErrorCode code, std::string message) {
    return make_error(id, ApiError{code, std::move(message), nullptr});
}

std::string serialize(const json& message) {
    auto params = message.is_object() ? message.find("params") : message.end();
    if (params == message.end() || !params->is_object()) {
        return message.dump(-1, ' ', false, json::error_handler_t::replace);
    }
    auto data = params->find("data");
    if (data == params->end() || !data->is_binary()) {
        return message.dump(-1, ' ', false, json::error_handler_t::replace);
    }
    // The attachment goes after the JSON text and a NUL, as raw bytes (no base64).
    json head = json::object();
    for (const auto& [key, value] : message.items()) {
        if (key != "params") head[key] = value;
    }
    json head_params = json::object();
    for (const auto& [key, value] : params->items()) {
        if (key != "data") head_params[key] = value;
    }
    head["params"] = std::move(head_params);
    std::string text = head.dump(-1, ' ', false, json::error_handler_t::replace);
    const auto& bytes = data->get_binary();
    text.reserve(text.size() + 1 + bytes.size());
    text.push_back('\0');
    text.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return text;
}

std::string id_for_log(const json& id) {
    if (id.is_null()) return "-";
    std::string text = id.dump(-1, ' ', true, json::error_handler_t::replace);
    if (text.size() > kMaxIdLength + 2) text.resize(kMaxIdLength + 2);
    return text;
}

}  // namespace parley
