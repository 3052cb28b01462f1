// Logging set-up for every mode: spdlog, one line per event, to stderr.
//
// On a terminal the lines are coloured and carry a timestamp; under systemd (stderr not a
// terminal) they carry the level as a syslog prefix (<N>) so journald keeps the priority.
// init_logging() is called once from main before any thread starts; loggers for components
// come from make_logger(name) and share the sinks. Never log secrets: tokens, passwords and
// keys are never formatted into a log line.
#pragma once

#include <exception>
#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace parley {

// Sets the default logger. `level` is one of trace, debug, info, warn, error, critical, off.
void init_logging(const std::string& mode, const std::string& level);

// A named logger sharing the default logger's sinks and level.
std::shared_ptr<spdlog::logger> make_logger(const std::string& name);

// Returns an empty string if `level` is a valid level name, else the problem.
std::string check_log_level(const std::string& level);

// The what() of the exception a coroutine ended with, for co_spawn completion handlers that log
// it ("" when `e` is null). An exception not derived from std::exception propagates.
std::string exception_what(std::exception_ptr e);

}  // namespace parley
