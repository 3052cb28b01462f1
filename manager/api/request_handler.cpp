#include "manager/api/request_handler.hpp"

#include <unistd.h>

#include <array>
#include <chrono>
#include <limits>

#include <spdlog/spdlog.h>

#include "common/db/sqlite.hpp"
#include "common/version.hpp"
#include "manager/backup/backup_target.hpp"
#include "manager/host/host_info.hpp"
#include "manager/protocol/api_params.hpp"

namespace parley {

namespace {

std::string host_name() {
    std::array<char, 256> buf{};
    if (::gethostname(buf.data(), buf.size() - 1) != 0) return "unknown";
    return buf.data();
}

constexpr std::size_t kMaxJournalMessage = 512;

bool contains(const std::string& s, std::string_view part) {
    return s.find(part) != std::string::npos;
}

}  // namespace

ApiErrorCode classify_system_error(const std::string& error) {
    if (contains(error, "cannot connect to the system bus") || contains(error, "no JobRemoved") ||
        contains(error, "org.freedesktop.DBus.Error.NoReply") ||
        contains(error, "org.freedesktop.DBus.Error.Timeout") ||
        contains(error, "org.freedesktop.DBus.Error.TimedOut") ||
        contains(error, "org.freedesktop.DBus.Error.Disconnected") ||
        contains(error, "org.freedesktop.DBus.Error.ServiceUnknown") ||
        contains(error, "org.freedesktop.DBus.Error.NameHasNoOwner")) {
        return ApiErrorCode::unavailable;
    }
    return ApiErrorCode::failed;
}

RequestHandler::RequestHandler(const ManagerConfig& config, std::string manager_name,
                               ServiceControl& service, PowerControl& power, Journal& journal,
                               ManagerStore& store, WallClock clock)
    : config_(config),
      name_(std::move(manager_name)),
      service_(service),
      power_(power),
      journal_(journal),
      store_(store),
      clock_(std::move(clock)) {}

std::optional<ApiAccess> RequestHandler::method_access(const std::string& m) {
    if (m == "service.start" || m == "service.stop" || m == "service.restart" ||
        m == "host.reboot" || m == "schedule.add" || m == "schedule.remove" || m == "backup.run") {
        return ApiAccess::admin;
    }
    if (BackupTarget::handles(m)) {
        return BackupTarget::read_only(m) ? ApiAccess::read : ApiAccess::admin;
    }
    if (m == "ping" || m == "system.info" || m == "schedule.list" || m == "managers.list" ||
        m == "schedule.watch") {
        return ApiAccess::read;
    }
    return std::nullopt;
}

const std::vector<std::string>& RequestHandler::methods() {
    static const std::vector<std::string> all{
        "ping",          "system.info",  "service.start",   "service.stop",   "service.restart",
        "host.reboot",   "schedule.add", "schedule.remove", "schedule.list",  "schedule.watch",
        "managers.list", "backup.run",   "backup.status",   "backup.history", "backup.snapshots",
        "backup.begin",  "backup.put",   "backup.file",     "backup.media",   "backup.media_put",
        "backup.finish", "backup.abort"};
    return all;
}

json RequestHandler::handle(const ApiRequest& request, const ApiCaller& caller) {
    const std::string& m = request.method;
    const std::optional<ApiAccess> needs = m == "schedule.watch" ? std::nullopt : method_access(m);
    const bool admin = needs == ApiAccess::admin;
    const bool read = needs == ApiAccess::read;
    try {
        if (!admin && !read) {
            api_fail(ApiErrorCode::not_found, fmt::format("no method \"{}\"", m.substr(0, 64)));
        }
        if (admin && caller.access != ApiAccess::admin) {
            spdlog::warn("manager api: conn={} id={} {} refused to read-only key '{}' ({})",
                         caller.connection_id, id_for_log(request.id), m, caller.key_name,
                         caller.peer);
            api_fail(ApiErrorCode::forbidden,
                     fmt::format("the key '{}' may only read; {} needs an admin key",
                                 caller.key_name, m));
        }
        if (BackupTarget::handles(m)) {
            if (!backup_) api_fail(ApiErrorCode::unavailable, "backups are not set up here");
            return backup_->handle(request, caller);
        }
        if (m == "backup.run") {
            api_fail(ApiErrorCode::unavailable, "backup.run is not set up on this manager");
        }
        json result;
        if (m == "ping") {
            only_params(request.params, {});
            result = {{"now", clock_()}};
        } else if (m == "system.info") {
            result = system_info(request.params);
        } else if (m == "service.start") {
            result = service_job("start", request, caller);
        } else if (m == "service.stop") {
            result = service_job("stop", request, caller);
        } else if (m == "service.restart") {
            result = service_job("restart", request, caller);
        } else if (m == "host.reboot") {
            result = host_reboot(request, caller);
        } else if (m == "schedule.add") {
            result = schedule_add(request, caller);
        } else if (m == "schedule.remove") {
            result = schedule_remove(request, caller);
        } else if (m == "schedule.list") {
            result = schedule_list(request.params);
        } else {
            only_params(request.params, {});
            result = managers_list();
        }
        return make_ok(request.id, std::move(result));
    } catch (const HandlerError& e) {
        return make_error(request.id, e.error);
    } catch (const DbError& e) {
        spdlog::error("manager api: conn={} id={} {}: database error: {}", caller.connection_id,
                      id_for_log(request.id), m, e.what());
        return make_error(request.id, ApiErrorCode::internal, "the manager's database failed");
    } catch (const std::exception& e) {
        spdlog::error("manager api: conn={} id={} {} failed: {}", caller.connection_id,
                      id_for_log(request.id), m, e.what());
        return make_error(request.id, ApiErrorCode::internal, "internal error");
    }
}

void RequestHandler::record(const ApiRequest& request, const ApiCaller& caller, const json& detail,
                            const std::string& outcome) {
    spdlog::info("manager api: conn={} id={} key='{}' peer={}{} {} {} -> {}", caller.connection_id,
                 id_for_log(request.id), caller.key_name, caller.peer,
                 request.via.empty() ? std::string() : " via=" + json(request.via).dump(),
                 request.method, serialize(detail), outcome);
    json row = detail;
    row["conn"] = caller.connection_id;
    row["id"] = request.id;
    // Forwarded: the managers it came through (the actor is the last one's key).
    if (!request.via.empty()) row["via"] = request.via;
    row["outcome"] = outcome;
    try {
        store_.audit(clock_(), caller.actor(), request.method, row);
    } catch (const DbError& e) {
        // The action already happened; losing its audit row must be loud, not fatal.
        spdlog::error("manager api: conn={} id={} cannot write the audit row of {}: {}",
                      caller.connection_id, id_for_log(request.id), request.method, e.what());
    }
}

json RequestHandler::system_info(const json& params) {
    only_params(params, {"journal_lines"});
    std::int64_t lines = config_.journal_lines;
    if (params.contains("journal_lines")) {
        lines = integer_param(params, "journal_lines");
        if (lines < 0 || lines > 1000) {
            api_fail(ApiErrorCode::bad_request, "\"journal_lines\" must be from 0 to 1000");
        }
    }
    json out = read_host_info(config_.disk_paths);
    out["manager"] = name_;
    out["hostname"] = host_name();
    out["version"] = kVersion;
    out["now"] = clock_();

    UnitState state = service_.unit_state(config_.server_unit);
    json unit{{"name", config_.server_unit}};
    if (state.ok()) {
        unit["active_state"] = state.active_state;
        unit["sub_state"] = state.sub_state;
        unit["load_state"] = state.load_state;
    } else {
        unit["error"] = state.error;
    }
    out["unit"] = std::move(unit);

    json journal{{"lines", json::array()}};
    if (lines > 0) {
        JournalLines read =
            journal_.last_lines(config_.server_unit, static_cast<std::size_t>(lines));
        for (const auto& line : read.lines) {
            // Cut long lines so that 1000 of them still fit in one frame.
            std::string message = line.message.size() > kMaxJournalMessage
                                      ? line.message.substr(0, kMaxJournalMessage) + "..."
                                      : line.message;
            journal["lines"].push_back(
                {{"at", static_cast<std::int64_t>(line.realtime_usec / 1000)},
                 {"message", std::move(message)}});
        }
        if (!read.ok()) journal["error"] = read.error;
    }
    out["journal"] = std::move(journal);
    return out;
}

json RequestHandler::service_job(const std::string& verb, const ApiRequest& request,
                                 const ApiCaller& caller) {
    only_params(request.params, {});
    const std::string& unit = config_.server_unit;
    JobOutcome outcome = verb == "start"  ? service_.start_unit(unit)
                         : verb == "stop" ? service_.stop_unit(unit)
                                          : service_.restart_unit(unit);
    json detail{{"unit", unit}, {"job", outcome.job_path}, {"result", outcome.result}};
    if (outcome.ok) {
        record(request, caller, detail, "done");
        return detail;
    }
    detail["error"] = outcome.error;
    ApiErrorCode code =
        outcome.result.empty() ? classify_system_error(outcome.error) : ApiErrorCode::failed;
    record(request, caller, detail, api_error_code_name(code));
    api_fail(code, fmt::format("{} of {} did not succeed: {}", verb, unit, outcome.error), detail);
}

json RequestHandler::host_reboot(const ApiRequest& request, const ApiCaller& caller) {
    only_params(request.params, {});
    // Recorded before the call: the host may go down before it returns.
    record(request, caller, json::object(), "requested");
    PowerOutcome outcome = power_.reboot();
    if (outcome.ok) return {{"rebooting", true}};
    json detail{{"error", outcome.error}};
    ApiErrorCode code = classify_system_error(outcome.error);
    record(request, caller, detail, api_error_code_name(code));
    api_fail(code, "reboot refused: " + outcome.error, detail);
}

json RequestHandler::schedule_add(const ApiRequest& request, const ApiCaller& caller) {
    only_params(request.params, {"action", "at"});
    std::string action = string_param(request.params, "action");
    if (action != "restart" && action != "reboot") {
        api_fail(ApiErrorCode::bad_request, "\"action\" must be \"restart\" or \"reboot\"");
    }
    std::int64_t at = integer_param(request.params, "at");
    std::int64_t now = clock_();
    if (at <= now) {
        api_fail(ApiErrorCode::bad_request,
                 fmt::format("\"at\" ({}) is not in the future (now is {}); use service.restart or "
                             "host.reboot to act now",
                             at, now));
    }
    if (at - now > kMaxScheduleAheadMs) {
        api_fail(ApiErrorCode::bad_request, "\"at\" is more than 366 days ahead");
    }
    if (store_.pending_count() >= kMaxPendingSchedules) {
        api_fail(ApiErrorCode::bad_request,
                 fmt::format("there are already {} pending schedules; remove one first",
                             kMaxPendingSchedules));
    }
    Schedule s = store_.add_schedule(action, at, now, caller.key_name);
    json out = schedule_to_json(s);
    record(request, caller, {{"schedule", s.id}, {"action", action}, {"at", at}}, "added");
    if (schedule_observer_) schedule_observer_();
    return out;
}

json RequestHandler::schedule_remove(const ApiRequest& request, const ApiCaller& caller) {
    only_params(request.params, {"id"});
    std::int64_t id = integer_param(request.params, "id");
    std::optional<Schedule> s = store_.cancel_schedule(id, clock_(), caller.key_name);
    if (!s) {
        std::optional<Schedule> existing = store_.find_schedule(id);
        api_fail(ApiErrorCode::not_found,
                 existing ? fmt::format("schedule {} is no longer pending (it is {})", id,
                                        existing->state)
                          : fmt::format("no schedule {}", id));
    }
    record(request, caller, {{"schedule", id}, {"action", s->action}, {"at", s->at_ms}},
           "cancelled");
    if (schedule_observer_) schedule_observer_();
    return schedule_to_json(*s);
}

json RequestHandler::schedule_list(const json& params) {
    only_params(params, {"all"});
    bool all = bool_param(params, "all", false);
    json list = json::array();
    for (const auto& s : store_.list_schedules(all))
        list.push_back(schedule_to_json(s));
    return {{"now", clock_()}, {"schedules", std::move(list)}};
}

json RequestHandler::managers_list() {
    json peers = json::array();
    for (const auto& p : config_.peers) {
        peers.push_back({{"name", p.name}, {"url", p.url}});
    }
    return {{"self", {{"name", name_}}}, {"managers", std::move(peers)}};
}

}  // namespace parley
