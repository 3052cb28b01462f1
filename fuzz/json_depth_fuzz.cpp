// libFuzzer target: arbitrary bytes through parse_json_bounded(), the one parser of peer JSON
// (REST bodies, WebSocket frames, manager frames). Text within kMaxJsonDepth must parse exactly
// as nlohmann's own parser does; deeper text must be refused without recursing (the seed
// corpus holds the 65,535-byte `{"type":"ping","id":[[[…]]]}` frame that crashed the server);
// and whatever is accepted is copied, compared and dumped — the recursive operations that
// overflowed the stack — and parses back to itself.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/json_limits.hpp"

using namespace parley;

namespace {

std::size_t depth_of(const nlohmann::json& value) {
    if (!value.is_structured()) return 0;
    std::size_t deepest = 0;
    for (const auto& item : value)
        deepest = std::max(deepest, depth_of(item));
    return deepest + 1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    bool too_deep = false;
    nlohmann::json bounded = parse_json_bounded(text, &too_deep);
    if (too_deep) {
        if (!bounded.is_discarded()) std::abort();
        return 0;
    }
    nlohmann::json plain = nlohmann::json::parse(text, nullptr, false);
    if (plain.is_discarded() != bounded.is_discarded()) std::abort();
    if (bounded.is_discarded()) return 0;
    if (depth_of(bounded) > kMaxJsonDepth) std::abort();
    const nlohmann::json copy = bounded;  // NOLINT: the copy is the point
    if (copy != plain) std::abort();
    const std::string dumped = copy.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (!json_depth_within(dumped)) std::abort();
    if (is_scalar_json(copy) && copy.is_structured()) std::abort();
    return 0;
}
