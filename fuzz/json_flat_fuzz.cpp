// libFuzzer target: arbitrary bytes through the flat JSON reader (common/json_flat.hpp), the
// fast path that reads every WebSocket frame, and through the JSON string writer
// (common/json_text.hpp) that writes every message frame. Both scan eight bytes at a time
// (plain_json_prefix), so the bytes around each word's edge are what this looks for:
// - whatever the flat reader accepts must be exactly what nlohmann parses from the same text,
//   the same value with the same types, and dump the same;
// - the writer's literal must be byte for byte what nlohmann writes for the same string (with
//   invalid UTF-8 replaced), and parse back to it when the input is valid UTF-8.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/json_flat.hpp"
#include "common/json_text.hpp"
#include "common/utf8.hpp"

using namespace parley;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);

    if (auto flat = parse_flat_json_object(text)) {
        nlohmann::json reference = nlohmann::json::parse(text, nullptr, false);
        if (reference.is_discarded()) std::abort();
        if (*flat != reference) std::abort();
        if (flat->dump() != reference.dump()) std::abort();
    }

    std::string written;
    append_json_string(written, text);
    const std::string expected =
        nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (written != expected) std::abort();
    if (utf8_code_points(text) >= 0) {
        nlohmann::json back = nlohmann::json::parse(written, nullptr, false);
        if (back.is_discarded() || !back.is_string() || back.get<std::string>() != text)
            std::abort();
    }
    return 0;
}
