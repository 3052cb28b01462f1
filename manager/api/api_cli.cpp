#include "manager/api/api_cli.hpp"

#include <cstdlib>
#include <iostream>

#include <spdlog/spdlog.h>

#include "common/file_util.hpp"
#include "common/mode_config.hpp"
#include "common/net.hpp"
#include "manager/api/request_handler.hpp"
#include "manager/protocol/api_client.hpp"
#include "manager/protocol/api_protocol.hpp"
#include "manager/protocol/manager_tls.hpp"
#include "manager/settings/manager_config.hpp"

namespace parley {

namespace {

// "+90s", "+10m", "+2h", "+1d" -> milliseconds; nullopt when `text` is not that form.
std::optional<std::int64_t> relative_ms(const std::string& text) {
    if (text.size() < 3 || text[0] != '+') return std::nullopt;
    std::int64_t unit = 0;
    switch (text.back()) {
        case 's':
            unit = 1000;
            break;
        case 'm':
            unit = 60'000;
            break;
        case 'h':
            unit = 3'600'000;
            break;
        case 'd':
            unit = 86'400'000;
            break;
        default:
            return std::nullopt;
    }
    std::string digits = text.substr(1, text.size() - 2);
    if (digits.empty() || digits.size() > 9 ||
        digits.find_first_not_of("0123456789") != std::string::npos) {
        return std::nullopt;
    }
    return std::stoll(digits) * unit;
}

// The key without the line end an editor or `echo` leaves.
std::string trim(std::string s) {
    while (!s.empty() &&
           (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) {
        s.pop_back();
    }
    return s;
}

}  // namespace

std::optional<nlohmann::json> build_manager_api_params(const std::string& params_json,
                                                       const std::vector<std::string>& args,
                                                       std::int64_t now_ms, std::string& error) {
    nlohmann::json params = nlohmann::json::object();
    if (!params_json.empty()) {
        params = nlohmann::json::parse(params_json, nullptr, false);
        if (!params.is_object()) {
            error = "--params must be a JSON object";
            return std::nullopt;
        }
    }
    for (const auto& arg : args) {
        std::size_t eq = arg.find('=');
        if (eq == std::string::npos || eq == 0) {
            error = "parameters are key=value, got '" + arg + "' (for example: id=3)";
            return std::nullopt;
        }
        std::string key = arg.substr(0, eq);
        std::string value = arg.substr(eq + 1);
        if (auto rel = relative_ms(value); rel && key == "at") {
            params[key] = now_ms + *rel;
            continue;
        }
        nlohmann::json parsed = nlohmann::json::parse(value, nullptr, false);
        params[key] = parsed.is_discarded() ? nlohmann::json(value) : parsed;
    }
    return params;
}

int run_manager_api(const CommandLine& cmd) {
    // Only problems are worth saying; the answer itself goes to stdout.
    spdlog::set_level(spdlog::level::warn);
    const ManagerApiCall& call = cmd.manager_api;
    auto usage = [](const std::string& message) {
        std::cerr << "parley manager-api: " << message << "\n";
        return kExitUsage;
    };

    std::string error;
    std::optional<nlohmann::json> params =
        build_manager_api_params(call.params_json, call.args, system_wall_clock()(), error);
    if (!params) return usage(error);

    std::string key;
    if (!call.key_file.empty()) {
        if (auto ec = read_file(call.key_file, key)) {
            return usage("cannot read --key-file " + call.key_file + ": " + ec.message());
        }
        key = trim(key);
    } else if (const char* env = std::getenv("PARLEY_MANAGER_KEY")) {
        key = trim(env);
    }
    if (key.empty()) return usage("no API key: give --key-file or set PARLEY_MANAGER_KEY");

    std::string url = call.url;
    if (url.empty()) {
        try {
            url = "unix:" + load_mode_config<ManagerConfig>(cmd).resolved_socket_path();
        } catch (const ConfigError& e) {
            std::cerr << "parley manager-api: " << e.what() << "\n";
            return kExitConfig;
        }
    }
    std::optional<ManagerApiTarget> target = parse_manager_api_url(url, error);
    if (!target) return usage(error);

    std::unique_ptr<net::ssl::context> tls;
    if (target->tls) {
        if (call.cert_file.empty() || call.cert_key_file.empty() || call.ca_file.empty()) {
            return usage("a tls:// URL needs --cert, --cert-key and --ca");
        }
        tls = make_manager_client_tls(call.cert_file, call.cert_key_file, call.ca_file, error);
        if (!tls) return usage(error);
    }

    ManagerApiCallOptions options;
    options.key = std::move(key);
    options.tls = tls.get();
    options.timeout = std::chrono::milliseconds(call.timeout_ms);
    nlohmann::json request{{"id", 1}, {"method", call.method}, {"params", std::move(*params)}};

    net::io_context context;
    ManagerApiCallResult result;
    bool finished = false;
    net::co_spawn(context, call_manager_api(*target, std::move(options), std::move(request)),
                  [&](std::exception_ptr e, ManagerApiCallResult r) {
                      finished = true;
                      if (e) {
                          try {
                              std::rethrow_exception(e);
                          } catch (const std::exception& ex) {
                              r.transport_error = ex.what();
                          }
                      }
                      result = std::move(r);
                  });
    context.run();
    if (!finished || !result.transport_error.empty()) {
        std::cerr << "parley manager-api: " << target->to_string() << ": "
                  << (finished ? result.transport_error : "the call did not complete") << "\n";
        return 1;
    }
    std::cout << result.answer.dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
              << "\n";
    return result.answer.value("ok", false) ? 0 : 1;
}

}  // namespace parley
