#include "botclient/settings/botclient_config.hpp"

#include <set>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "botclient/net/server_url.hpp"
#include "common/mode_config.hpp"

namespace parley {

namespace {

bool known_behaviour(const std::string& b) {
    return b == "echo" || b == "greeter" || b == "moderator";
}

std::string parse_bots(const toml::node& node, std::vector<BotSpec>& out) {
    const toml::array* array = node.as_array();
    if (!array) return "expected an array of tables ([[botclient.bots]] sections)";
    std::vector<BotSpec> bots;
    for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::table* table = array->get(i)->as_table();
        if (!table) return fmt::format("entry {}: expected a table", i + 1);
        BotSpec spec;
        for (const auto& [key, value] : *table) {
            std::string k(key.str());
            if (!value.is_string()) return fmt::format("entry {}: '{}' must be a string", i + 1, k);
            std::string v = value.as_string()->get();
            if (k == "name") {
                spec.name = v;
            } else if (k == "behaviour") {
                spec.behaviour = v;
            } else if (k == "account_id") {
                spec.account_id = v;
            } else if (k == "key_file") {
                spec.key_file = v;
            } else {
                return fmt::format("entry {}: unknown key '{}'", i + 1, k);
            }
        }
        if (spec.name.empty()) return fmt::format("entry {}: 'name' is required", i + 1);
        if (!known_behaviour(spec.behaviour)) {
            return fmt::format("entry {} ('{}'): 'behaviour' must be echo, greeter or moderator",
                               i + 1, spec.name);
        }
        bots.push_back(std::move(spec));
    }
    out = std::move(bots);
    return {};
}

std::string render_bots(const std::vector<BotSpec>& bots) {
    if (bots.empty()) {
        return "# [[botclient.bots]]\n"
               "# name = \"helper\"\n"
               "# behaviour = \"echo\"\n"
               "# account_id = \"<from POST /api/v1/admin/bots or parley server --make-bot>\"\n"
               "# key_file = \"/etc/parley/helper.key\"\n";
    }
    std::string out;
    for (const auto& b : bots) {
        out += "[[botclient.bots]]\nname = " + toml_quote(b.name) +
               "\nbehaviour = " + toml_quote(b.behaviour);
        if (!b.account_id.empty()) out += "\naccount_id = " + toml_quote(b.account_id);
        if (!b.key_file.empty()) out += "\nkey_file = " + toml_quote(b.key_file);
        out += "\n";
    }
    return out;
}

}  // namespace

void BotclientConfig::describe(ConfigSchema& schema) {
    describe_common_keys(schema, *this, "Bot client state.");
    schema.section("botclient", "The server the bots connect to, and the bots.");
    schema.bind("server_url", server_url,
                "Base URL of the Parley server: http://host:port, or https://host:port (HTTPS and "
                "WSS; the certificate must name the host).",
                [](const std::string& v) -> std::string {
                    return parse_server_url(v) ? "" : "must be http://host[:port] or https://…";
                });
    schema.bind("ca_file", ca_file,
                "With https: PEM file of the CA(s) the server's certificate chains to (empty: the "
                "system's trusted CAs).");
    schema.bind_choice("login", login,
                       "How the bots log in: \"key\" (remote bots: account_id and key_file per "
                       "bot, POST /api/v1/bots/login) or \"local\" (the server's bot child: a "
                       "one-time secret on stdin, POST /api/v1/bots/local-login).",
                       {"key", "local"});
    schema.bind("shutdown_timeout_ms", shutdown_timeout_ms,
                "On SIGTERM, how long bots may take to leave before the process exits.", 100,
                600'000);
    schema.bind("reconnect_base_ms", reconnect_base_ms,
                "First wait before a bot reconnects after losing its socket; doubles per failure.",
                10, 600'000);
    schema.bind("reconnect_max_ms", reconnect_max_ms, "Longest wait before a bot reconnects.", 10,
                3'600'000);
    schema.bind("moderator_words", moderator_words,
                "Words moderator bots act on (case-insensitive, whole words).");
    schema.bind_choice("moderator_action", moderator_action,
                       "What a moderator bot does with a matching message: remove it (it needs "
                       "the room role owner or moderator, else it flags) or flag it.",
                       {"remove", "flag"});
    schema.bind_custom(
        "bots",
        "The bots, one [[botclient.bots]] table each: name, behaviour (echo | greeter | "
        "moderator);\nwith login = \"key\" also account_id and key_file (a file holding only the "
        "bot key).",
        [this](const toml::node& n) { return parse_bots(n, bots); },
        [this] { return render_bots(bots); });
}

std::string BotclientConfig::validate() const {
    if (reconnect_base_ms > reconnect_max_ms) {
        return "botclient.reconnect_base_ms is larger than botclient.reconnect_max_ms";
    }
    std::set<std::string> names;
    for (const auto& b : bots) {
        if (!names.insert(b.name).second) {
            return "botclient.bots: the name '" + b.name + "' is used twice";
        }
        if (login == "key" && (b.account_id.empty() || b.key_file.empty())) {
            return "botclient.bots: '" + b.name +
                   "' needs account_id and key_file with login = "
                   "\"key\"";
        }
    }
    return {};
}

}  // namespace parley
