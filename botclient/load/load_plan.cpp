#include "botclient/load/load_plan.hpp"

#include <stdexcept>

#include <nlohmann/json.hpp>

#include "botclient/net/ws_url.hpp"

namespace parley {

namespace {

template <class T>
T number(const nlohmann::json& plan, const char* key, T fallback, T lo, T hi) {
    auto it = plan.find(key);
    if (it == plan.end()) return fallback;
    if (!it->is_number()) throw std::invalid_argument(std::string(key) + " must be a number");
    T v = it->get<T>();
    if (v < lo || v > hi) {
        throw std::invalid_argument(std::string(key) + " must be between " + std::to_string(lo) +
                                    " and " + std::to_string(hi));
    }
    return v;
}

}  // namespace

LoadPlan parse_load_plan(const std::string& json_text) {
    auto plan = nlohmann::json::parse(json_text, nullptr, false);
    if (plan.is_discarded() || !plan.is_object())
        throw std::invalid_argument("the plan is not a JSON object");
    LoadPlan out;
    auto scenario = plan.find("scenario");
    if (scenario == plan.end() || !scenario->is_string() ||
        (*scenario != "fanout" && *scenario != "idle" && *scenario != "rate")) {
        throw std::invalid_argument("scenario must be \"fanout\", \"rate\" or \"idle\"");
    }
    out.scenario = scenario->get<std::string>();
    out.threads = number(plan, "threads", 1, 1, 64);
    out.connect_concurrency = number(plan, "connect_concurrency", 200, 1, 10'000);
    out.window = number(plan, "window", 4, 1, 10'000);
    out.warmup_s = number(plan, "warmup_s", 2.0, 0.0, 3600.0);
    out.seconds = number(plan, "seconds", 10.0, 0.1, 3600.0);
    out.text_bytes = number(plan, "text_bytes", 64, 32, 4000);
    out.hold_s = number(plan, "hold_s", 30.0, 0.0, 86'400.0);
    out.drain_s = number(plan, "drain_s", 0.5, 0.0, 600.0);
    if (auto it = plan.find("pause_when_ready"); it != plan.end() && it->is_boolean())
        out.pause_when_ready = it->get<bool>();
    if (auto it = plan.find("deflate"); it != plan.end() && it->is_boolean())
        out.deflate = it->get<bool>();
    out.rate_per_s = number(plan, "rate_per_s", 0.0, 0.0, 10'000'000.0);

    auto conns = plan.find("connections");
    if (conns == plan.end() || !conns->is_array() || conns->empty())
        throw std::invalid_argument("connections must be a non-empty array");
    for (const auto& c : *conns) {
        if (!c.is_object() || !c.contains("url") || !c["url"].is_string())
            throw std::invalid_argument("every connection needs a url");
        LoadConnection lc;
        lc.url = c["url"].get<std::string>();
        if (!parse_ws_url(lc.url)) throw std::invalid_argument("not a ws:// URL: " + lc.url);
        if (auto s = c.find("subscribe"); s != c.end()) {
            if (!s->is_array()) throw std::invalid_argument("subscribe must be an array");
            for (const auto& topic : *s) {
                if (!topic.is_string()) throw std::invalid_argument("topics are strings");
                lc.subscribe.push_back(topic.get<std::string>());
            }
        }
        out.connections.push_back(std::move(lc));
    }
    if (auto senders = plan.find("senders"); senders != plan.end()) {
        if (!senders->is_array()) throw std::invalid_argument("senders must be an array");
        for (const auto& s : *senders) {
            if (!s.is_object() || !s.contains("connection") ||
                !s["connection"].is_number_unsigned() || !s.contains("room_id") ||
                !s["room_id"].is_string()) {
                throw std::invalid_argument("a sender needs connection (index) and room_id");
            }
            LoadSender ls{s["connection"].get<std::size_t>(), s["room_id"].get<std::string>()};
            if (ls.connection >= out.connections.size())
                throw std::invalid_argument("a sender names a connection that does not exist");
            out.senders.push_back(std::move(ls));
        }
    }
    if (out.scenario != "idle" && out.senders.empty())
        throw std::invalid_argument("a " + out.scenario + " plan needs senders");
    if (out.scenario == "rate" && out.rate_per_s <= 0)
        throw std::invalid_argument("a rate plan needs rate_per_s > 0");
    return out;
}

}  // namespace parley
