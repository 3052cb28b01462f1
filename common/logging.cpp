#include "common/logging.hpp"

#include <unistd.h>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>

namespace parley {

namespace {

// Prefixes each line with <N> (sd-daemon(3) priority) so journald records the level.
class SyslogPriorityFlag : public spdlog::custom_flag_formatter {
  public:
    void format(const spdlog::details::log_msg& msg, const std::tm&,
                spdlog::memory_buf_t& dest) override {
        static constexpr char kPriority[] = {'7', '7', '6', '4', '3', '2', '6'};
        dest.push_back('<');
        dest.push_back(kPriority[static_cast<int>(msg.level)]);
        dest.push_back('>');
    }
    std::unique_ptr<custom_flag_formatter> clone() const override {
        return std::make_unique<SyslogPriorityFlag>();
    }
};

}  // namespace

std::string check_log_level(const std::string& level) {
    static const char* kLevels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
    for (const char* l : kLevels) {
        if (level == l) return {};
    }
    return "expected one of trace, debug, info, warn, error, critical, off; got '" + level + "'";
}

void init_logging(const std::string& mode, const std::string& level) {
    auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    if (::isatty(STDERR_FILENO)) {
        formatter->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [%n] %v");
    } else {
        formatter->add_flag<SyslogPriorityFlag>('*').set_pattern(
            "%*%Y-%m-%d %H:%M:%S.%e %l [%n] %v");
    }
    sink->set_formatter(std::move(formatter));
    auto logger = std::make_shared<spdlog::logger>(mode, sink);
    logger->set_level(spdlog::level::from_str(level));
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
}

std::shared_ptr<spdlog::logger> make_logger(const std::string& name) {
    auto base = spdlog::default_logger();
    auto logger =
        std::make_shared<spdlog::logger>(name, base->sinks().begin(), base->sinks().end());
    logger->set_level(base->level());
    logger->flush_on(spdlog::level::info);
    return logger;
}

std::string exception_what(std::exception_ptr e) {
    if (!e) return {};
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        return ex.what();
    }
}

}  // namespace parley
