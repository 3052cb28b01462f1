#include "common/imageproc_protocol.hpp"

#include <nlohmann/json.hpp>

namespace parley {

namespace {

using json = nlohmann::json;

bool valid_path(const std::string& p) {
    if (p.empty() || p.size() > 4096 || p.front() != '/') return false;
    if (p.find('\0') != std::string::npos) return false;
    // No parent references: the child writes only where it is told, literally.
    std::size_t i = 0;
    while (i <= p.size()) {
        std::size_t j = p.find('/', i);
        if (j == std::string::npos) j = p.size();
        if (p.compare(i, j - i, "..") == 0 && j - i == 2) return false;
        i = j + 1;
    }
    return true;
}

bool get_int(const json& j, const char* key, std::int64_t min, std::int64_t max, std::int64_t& out,
             std::string& error) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number_integer()) {
        error = std::string(key) + " must be an integer";
        return false;
    }
    std::int64_t v = it->is_number_unsigned() && it->get<std::uint64_t>() > 0x7fffffffffffffffull
                         ? max + 1
                         : it->get<std::int64_t>();
    if (v < min || v > max) {
        error = std::string(key) + " is out of range";
        return false;
    }
    out = v;
    return true;
}

bool get_string(const json& j, const char* key, std::size_t max, std::string& out,
                std::string& error) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string()) {
        error = std::string(key) + " must be a string";
        return false;
    }
    const auto& s = it->get_ref<const std::string&>();
    if (s.size() > max) {
        error = std::string(key) + " is too long";
        return false;
    }
    out = s;
    return true;
}

std::optional<json> parse_object(std::string_view payload, std::string& error) {
    auto j = json::parse(payload, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        error = "payload is not a JSON object";
        return std::nullopt;
    }
    return j;
}

bool get_id(const json& j, std::uint64_t& out, std::string& error) {
    auto it = j.find("id");
    if (it == j.end() || !it->is_number_unsigned()) {
        error = "id must be a non-negative integer";
        return false;
    }
    out = it->get<std::uint64_t>();
    return true;
}

}  // namespace

std::string encode_image_request(const ImageRequest& r) {
    json j{{"id", r.id},
           {"op", "process"},
           {"input", r.input},
           {"output", r.output},
           {"thumbnail", r.thumbnail},
           {"max_side", r.max_side},
           {"thumb_side", r.thumb_side},
           {"min_side", r.min_side},
           {"quality", r.quality},
           {"max_pixels", r.max_pixels}};
    return j.dump();
}

std::string encode_image_response(const ImageResponse& r) {
    json j{{"id", r.id}, {"ok", r.ok}};
    if (r.ok) {
        j["format"] = r.format;
        j["width"] = r.width;
        j["height"] = r.height;
        j["thumb_width"] = r.thumb_width;
        j["thumb_height"] = r.thumb_height;
        j["millis"] = r.millis;
    } else {
        j["error"] = r.error;
        j["message"] = r.message;
    }
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<ImageRequest> decode_image_request(std::string_view payload, std::string& error) {
    auto j = parse_object(payload, error);
    if (!j) return std::nullopt;
    ImageRequest r;
    std::string op;
    if (!get_id(*j, r.id, error)) return std::nullopt;
    if (!get_string(*j, "op", 32, op, error)) return std::nullopt;
    if (op != "process") {
        error = "unknown op";
        return std::nullopt;
    }
    for (auto [key, target] : {std::pair{"input", &r.input}, std::pair{"output", &r.output},
                               std::pair{"thumbnail", &r.thumbnail}}) {
        if (!get_string(*j, key, 4096, *target, error)) return std::nullopt;
        if (!valid_path(*target)) {
            error = std::string(key) + " must be an absolute path without '..'";
            return std::nullopt;
        }
    }
    if (r.output == r.input || r.thumbnail == r.input || r.output == r.thumbnail) {
        error = "input, output and thumbnail must be three different files";
        return std::nullopt;
    }
    std::int64_t v = 0;
    if (!get_int(*j, "max_side", 16, 16384, v, error)) return std::nullopt;
    r.max_side = static_cast<int>(v);
    if (!get_int(*j, "thumb_side", 16, 4096, v, error)) return std::nullopt;
    r.thumb_side = static_cast<int>(v);
    if (!get_int(*j, "min_side", 1, 4096, v, error)) return std::nullopt;
    r.min_side = static_cast<int>(v);
    if (!get_int(*j, "quality", 1, 100, v, error)) return std::nullopt;
    r.quality = static_cast<int>(v);
    if (!get_int(*j, "max_pixels", 1, 1'000'000'000, v, error)) return std::nullopt;
    r.max_pixels = v;
    return r;
}

std::optional<ImageResponse> decode_image_response(std::string_view payload, std::string& error) {
    auto j = parse_object(payload, error);
    if (!j) return std::nullopt;
    ImageResponse r;
    if (!get_id(*j, r.id, error)) return std::nullopt;
    auto ok = j->find("ok");
    if (ok == j->end() || !ok->is_boolean()) {
        error = "ok must be a boolean";
        return std::nullopt;
    }
    r.ok = ok->get<bool>();
    if (!r.ok) {
        if (!get_string(*j, "error", 64, r.error, error)) return std::nullopt;
        if (!get_string(*j, "message", 1024, r.message, error)) return std::nullopt;
        return r;
    }
    if (!get_string(*j, "format", 16, r.format, error)) return std::nullopt;
    std::int64_t v = 0;
    for (auto [key, target] :
         {std::pair{"width", &r.width}, std::pair{"height", &r.height},
          std::pair{"thumb_width", &r.thumb_width}, std::pair{"thumb_height", &r.thumb_height}}) {
        if (!get_int(*j, key, 1, 65535, v, error)) return std::nullopt;
        *target = static_cast<int>(v);
    }
    auto ms = j->find("millis");
    if (ms != j->end() && ms->is_number()) r.millis = ms->get<double>();
    return r;
}

ImageResponse image_failure(std::uint64_t id, std::string code, std::string message) {
    ImageResponse r;
    r.id = id;
    r.ok = false;
    r.error = std::move(code);
    r.message = std::move(message);
    return r;
}

}  // namespace parley
