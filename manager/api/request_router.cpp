#include "manager/api/request_router.hpp"

#include <spdlog/spdlog.h>

#include "common/offload.hpp"
#include "manager/backup/backup_source.hpp"
#include "manager/protocol/api_client.hpp"

namespace parley {

namespace {

std::string join(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) {
        if (!out.empty()) out += ", ";
        out += n;
    }
    return out;
}

const ManagerPeer* find_peer(const ManagerConfig& config, const std::string& name) {
    for (const auto& p : config.peers) {
        if (p.name == name) return &p;
    }
    return nullptr;
}

}  // namespace

RequestRouter::RequestRouter(const ManagerConfig& config, std::string self_name,
                             RequestHandler& handler, ScheduleWatch& watch, LinkRegistry& links,
                             net::thread_pool& blocking, net::ssl::context* client_tls,
                             std::map<std::string, std::string> peer_keys)
    : config_(config),
      self_(std::move(self_name)),
      handler_(handler),
      watch_(watch),
      links_(links),
      blocking_(blocking),
      client_tls_(client_tls),
      peer_keys_(std::move(peer_keys)) {}

awaitable<json> RequestRouter::dispatch(const ApiRequest& request, const ApiCaller& caller) {
    try {
        if (request.target.empty() || request.target == self_) {
            co_return co_await run_local(request, caller);
        }
        co_return co_await forward(request, caller);
    } catch (const std::exception& e) {
        spdlog::error("manager api: conn={} id={} {}: {}", caller.connection_id,
                      id_for_log(request.id), request.method.substr(0, 64), e.what());
    }
    co_return make_error(request.id, ApiErrorCode::internal, "internal error");
}

awaitable<json> RequestRouter::run_local(const ApiRequest& request, const ApiCaller& caller) {
    if (request.method == "schedule.watch") co_return co_await watch(request);
    if (request.method == "backup.run" && backup_source_) {
        if (caller.access != ApiAccess::admin) {
            co_return make_error(request.id, ApiErrorCode::forbidden,
                                 fmt::format("the key '{}' may only read; backup.run needs an "
                                             "admin key",
                                             caller.key_name));
        }
        co_return co_await backup_source_->run(request, caller);
    }
    RequestHandler& handler = handler_;
    auto work = [&handler, &request, &caller] { return handler.handle(request, caller); };
    json answer = co_await offload(blocking_, std::move(work));
    if (request.method == "managers.list" && answer.value("ok", false)) {
        // Which peers have a link up right now (either side dialled).
        for (auto& m : answer["result"]["managers"]) {
            m["linked"] = links_.find(m.value("name", "")) != nullptr;
        }
    }
    co_return answer;
}

awaitable<json> RequestRouter::watch(const ApiRequest& request) {
    std::uint64_t known = 0;
    std::int64_t wait_ms = 25'000;
    for (const auto& [key, value] : request.params.items()) {
        if (key == "version" && value.is_number_unsigned()) {
            known = value.get<std::uint64_t>();
        } else if (key == "wait_ms" && value.is_number_integer() &&
                   value.get<std::int64_t>() >= 0 && value.get<std::int64_t>() <= kMaxWatchWaitMs) {
            wait_ms = value.get<std::int64_t>();
        } else {
            co_return make_error(
                request.id, ApiErrorCode::bad_request,
                fmt::format("schedule.watch takes \"version\" (an unsigned integer) and "
                            "\"wait_ms\" (0 to {}); \"{}\" is wrong or unknown",
                            kMaxWatchWaitMs, key));
        }
    }
    ScheduleWatch::State state = co_await watch_.wait(known, std::chrono::milliseconds(wait_ms));
    co_return make_ok(request.id, {{"version", state.version},
                                   {"maintenance", state.maintenance},
                                   {"now", system_wall_clock()()}});
}

std::optional<json> RequestRouter::forward_refusal(const ApiRequest& request,
                                                   const ApiCaller& caller) const {
    const std::string& target = request.target;
    for (const auto& hop : request.via) {
        if (hop == self_) {
            spdlog::warn("forward conn={} id={} {} -> '{}': loop (via {})", caller.connection_id,
                         id_for_log(request.id), request.method.substr(0, 64), target,
                         join(request.via));
            return make_error(request.id,
                              ApiError{ApiErrorCode::bad_request,
                                       fmt::format("forwarding loop: the request has already "
                                                   "passed through '{}'",
                                                   self_),
                                       {{"via", request.via}}});
        }
    }
    if (request.via.size() + 1 > static_cast<std::size_t>(config_.max_hops)) {
        return make_error(
            request.id,
            ApiError{ApiErrorCode::bad_request,
                     fmt::format("the request has passed {} managers; at most {} may forward it",
                                 request.via.size(), config_.max_hops),
                     {{"via", request.via}}});
    }
    // A read-only key must not borrow this manager's (possibly admin) key at the peer.
    if (caller.access != ApiAccess::admin &&
        RequestHandler::method_access(request.method) != ApiAccess::read) {
        spdlog::warn("forward conn={} id={} {} -> '{}' refused to read-only key '{}'",
                     caller.connection_id, id_for_log(request.id), request.method.substr(0, 64),
                     target, caller.key_name);
        return make_error(
            request.id, ApiErrorCode::forbidden,
            fmt::format("the key '{}' may only forward read methods", caller.key_name));
    }
    return std::nullopt;
}

awaitable<RequestRouter::ForwardAttempt> RequestRouter::call_peer_url(
    const ManagerPeer& peer, const std::string& hop, const json& outgoing,
    std::chrono::milliseconds timeout) {
    ForwardAttempt attempt;
    auto key = peer_keys_.find(peer.name);
    if (peer.url.empty()) {
        attempt.problem = fmt::format("'{}' has no url and no link is up", hop);
        co_return attempt;
    }
    if (key == peer_keys_.end()) {
        attempt.problem = fmt::format("no key_file is configured for '{}'", hop);
        co_return attempt;
    }
    if (!client_tls_) {
        attempt.problem =
            "no client certificate is configured ([manager.client_tls] or [manager.tls])";
        co_return attempt;
    }
    std::string url_error;
    std::optional<ManagerApiTarget> where = parse_manager_api_url(peer.url, url_error);
    if (!where) {
        attempt.problem = url_error;
        co_return attempt;
    }
    attempt.route = peer.url;
    ManagerApiCallOptions options;
    options.key = key->second;
    options.tls = client_tls_;
    options.timeout = timeout;
    auto op = call_manager_api(std::move(*where), std::move(options), outgoing);
    ManagerApiCallResult r = co_await std::move(op);
    attempt.timed_out = r.timed_out;
    attempt.problem = std::move(r.transport_error);
    if (!attempt.problem.empty()) co_return attempt;
    if (r.answer.value("id", json()) == json("auth")) {
        attempt.refused_key = true;
        attempt.problem =
            fmt::format("'{}' refused this manager's key: {}", hop,
                        r.answer.value("error", json::object()).value("message", std::string("?")));
    } else {
        attempt.answer = std::move(r.answer);
    }
    co_return attempt;
}

awaitable<json> RequestRouter::forward(const ApiRequest& request, const ApiCaller& caller) {
    if (auto refusal = forward_refusal(request, caller)) co_return std::move(*refusal);
    const std::string& target = request.target;
    const std::uint64_t number = ++next_forward_;
    json outgoing = forwarded_request(request, json(number), self_);
    const auto timeout = std::chrono::milliseconds(config_.forward_timeout_ms);
    const auto started = std::chrono::steady_clock::now();
    auto elapsed_ms = [&started] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - started)
            .count();
    };

    // The next hop: the target itself, or the peer its entry says to go through.
    std::string hop = target;
    const ManagerPeer* peer = find_peer(config_, target);
    if (peer && !peer->via.empty() && !links_.find(target)) {
        hop = peer->via;
        peer = find_peer(config_, hop);
    }
    ForwardAttempt attempt;
    if (std::shared_ptr<Link> link = links_.find(hop)) {
        attempt.route = fmt::format("link {}", link->id());
        LinkCallResult r = co_await link->call(outgoing, timeout);
        attempt.answer = std::move(r.answer);
        attempt.problem = std::move(r.error);
        attempt.timed_out = r.timed_out;
    } else if (!peer) {
        co_return make_error(
            request.id, ApiErrorCode::not_found,
            fmt::format("no manager named '{}' (not in [[manager.peers]], not linked)",
                        hop.substr(0, kMaxManagerNameLength)));
    } else {
        attempt = co_await call_peer_url(*peer, hop, outgoing, timeout);
    }
    std::string& route = attempt.route;
    if (hop != target) route += " (via '" + hop + "')";

    if (auto& answer = attempt.answer) {
        (*answer)["id"] = request.id;
        const bool ok = answer->value("ok", false);
        spdlog::info("forward conn={} id={} key='{}' {} -> '{}' over {}: {} in {} ms",
                     caller.connection_id, id_for_log(request.id), caller.key_name,
                     request.method.substr(0, 64), target, route,
                     ok ? std::string("ok")
                        : answer->value("error", json::object()).value("code", std::string("?")),
                     elapsed_ms());
        co_return std::move(*answer);
    }
    spdlog::warn("forward conn={} id={} key='{}' {} -> '{}'{}: {} after {} ms",
                 caller.connection_id, id_for_log(request.id), caller.key_name,
                 request.method.substr(0, 64), target, route.empty() ? "" : " over " + route,
                 attempt.problem, elapsed_ms());
    if (attempt.timed_out) {
        co_return make_error(request.id, ApiError{ApiErrorCode::timeout,
                                                  fmt::format("'{}' did not answer within {} ms",
                                                              target, timeout.count()),
                                                  {{"target", target}}});
    }
    co_return make_error(request.id,
                         ApiError{ApiErrorCode::unavailable,
                                  fmt::format("cannot reach '{}': {}", target, attempt.problem),
                                  {{"target", target}, {"refused_key", attempt.refused_key}}});
}

}  // namespace parley
