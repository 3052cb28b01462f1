// RequestHandler: what each manager API method does, once the connection has authenticated —
// system.info, service.start|stop|restart, host.reboot, schedule.add|remove|list,
// managers.list and ping (docs/manager-api.md). It turns a parsed request into a complete
// answer (never throws): parameters are checked, read-only keys are refused admin methods
// (forbidden), and every admin action is logged (one line with the connection and request ids)
// and written to the audit table before its answer leaves.
//
// Owned by the manager's run function; handle() is blocking (a systemd job can take
// dbus_job_timeout_ms) and is called on the manager's blocking pool, from several threads at
// once: it keeps no state of its own beyond what ManagerStore and the D-Bus layer guard.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/wall_clock.hpp"
#include "manager/protocol/api_caller.hpp"
#include "manager/protocol/api_protocol.hpp"
#include "manager/settings/manager_config.hpp"
#include "manager/state/manager_store.hpp"
#include "manager/system/service_control.hpp"

namespace parley {

class BackupTarget;

// Maps a D-Bus layer error to an answer code: the bus could not be reached or did not answer
// in time -> unavailable; systemd or logind answered with an error -> failed.
ApiErrorCode classify_system_error(const std::string& error);

class RequestHandler {
  public:
    RequestHandler(const ManagerConfig& config, std::string manager_name, ServiceControl& service,
                   PowerControl& power, Journal& journal, ManagerStore& store,
                   WallClock clock = system_wall_clock());

    json handle(const ApiRequest& request, const ApiCaller& caller);

    // The access a method needs; nullopt for a method this manager does not know.
    static std::optional<ApiAccess> method_access(const std::string& method);
    // Every method method_access knows (the CLI help and the default configuration name them;
    // tests keep those texts in step with this list).
    static const std::vector<std::string>& methods();

    const std::string& manager_name() const { return name_; }

    // Called (on the handling thread) after schedule.add or schedule.remove changed the
    // schedules. Set once, before requests arrive.
    void set_schedule_observer(std::function<void()> observer) {
        schedule_observer_ = std::move(observer);
    }

    // The receiving side of backups (backup.* methods). Set once, before requests arrive.
    void set_backup_target(BackupTarget* backup) { backup_ = backup; }

    // At most this many pending schedules at once.
    static constexpr std::size_t kMaxPendingSchedules = 100;
    // schedule.add refuses times further ahead than this.
    static constexpr std::int64_t kMaxScheduleAheadMs = 366LL * 24 * 3600 * 1000;

  private:
    json system_info(const json& params);
    json service_job(const std::string& verb, const ApiRequest& request, const ApiCaller& caller);
    json host_reboot(const ApiRequest& request, const ApiCaller& caller);
    json schedule_add(const ApiRequest& request, const ApiCaller& caller);
    json schedule_remove(const ApiRequest& request, const ApiCaller& caller);
    json schedule_list(const json& params);
    json managers_list();
    void record(const ApiRequest& request, const ApiCaller& caller, const json& detail,
                const std::string& outcome);

    const ManagerConfig& config_;
    const std::string name_;
    ServiceControl& service_;
    PowerControl& power_;
    Journal& journal_;
    ManagerStore& store_;
    WallClock clock_;
    std::function<void()> schedule_observer_;
    BackupTarget* backup_ = nullptr;
};

}  // namespace parley
