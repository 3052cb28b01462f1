// group_commit_bench: committed writes per second through DbWriter (group commit) against a raw
// SQLite loop with one INSERT per autocommit transaction, same pragmas, same message rows.
//
// DbWriter phase: N coroutines on one io_context, each awaiting the commit acknowledgement of
// its INSERT before submitting the next (the way chat senders behave). Raw phase: one thread,
// one prepared INSERT, one transaction per row. Both phases run for the same time, once with
// synchronous=NORMAL and once with FULL, each on a fresh current.db in a temporary directory.
// Besides wall-clock rates it prints process CPU time per committed write, the steadier figure
// on a machine shared with other work.
//
//   group_commit_bench [--seconds S] [--submitters N] [--synchronous NORMAL|FULL|both]
//                      [--dir DIR]
#include <stdlib.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/db/sqlite.hpp"
#include "common/net.hpp"
#include "server/data/db_writer.hpp"
#include "server/db/migrations.hpp"

namespace {

using namespace parley;
using Clock = std::chrono::steady_clock;

struct Options {
    double seconds = 2.0;
    int submitters = 64;
    std::vector<std::string> modes{"NORMAL", "FULL"};
    std::string dir;
};

const std::string message_text(96, 'm');
constexpr const char* insert_sql =
    "INSERT INTO messages(room_id, seq, sender_id, client_msg_id, text, signature, sent_at) "
    "VALUES (?, ?, ?, ?, ?, NULL, ?)";

// CPU time of the whole process (all threads): the figure that matters on a shared machine,
// where wall-clock rates depend on what else runs.
double cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct Figures {
    double rate = 0;  // committed writes per wall-clock second
    double cpu_us_per_write = 0;
    double mean_batch = 1;
    double mean_commit_ms = 0;
    std::uint64_t failed = 0;
};

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// A fresh migrated current.db with `rooms` rooms.
SqliteDb prepare_db(const std::string& path, const std::string& synchronous, int rooms) {
    std::filesystem::remove(path);
    std::filesystem::remove(path + "-wal");
    std::filesystem::remove(path + "-shm");
    SqliteOptions options;
    options.synchronous = synchronous;
    SqliteDb db(path, options);
    apply_migrations(db, current_migrations(), "current");
    Transaction transaction(db);
    auto insert = db.prepare(
        "INSERT INTO rooms(id, kind, title, created_by, created_at) VALUES (?, 'room', 'bench', "
        "'bench', ?)");
    for (int i = 0; i < rooms; ++i) {
        insert.bind(1, fmt::format("room-{}", i)).bind(2, now_ms());
        insert.run();
        insert.reset();
    }
    transaction.commit();
    return db;
}

void insert_message(Statement& insert, const std::string& room, std::int64_t seq,
                    const std::string& sender) {
    insert.bind(1, room)
        .bind(2, seq)
        .bind(3, sender)
        .bind(4, fmt::format("c-{}", seq))
        .bind(5, message_text)
        .bind(6, now_ms());
    insert.run();
    insert.reset();
}

Figures run_raw(const std::string& path, const std::string& synchronous, double seconds) {
    SqliteDb db = prepare_db(path, synchronous, 1);
    auto insert = db.prepare(insert_sql);
    const std::string room = "room-0";
    const std::string sender = "acct-0";
    std::int64_t seq = 0;
    const double cpu_start = cpu_seconds();
    const auto start = Clock::now();
    const auto deadline =
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    while (Clock::now() < deadline) {
        insert_message(insert, room, ++seq, sender);  // autocommit: one transaction each
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    Figures figures;
    figures.rate = static_cast<double>(seq) / elapsed;
    figures.cpu_us_per_write = 1e6 * (cpu_seconds() - cpu_start) / static_cast<double>(seq);
    return figures;
}

awaitable<void> submitter(DbWriter& writer, int index, Clock::time_point deadline,
                          std::uint64_t& committed, std::uint64_t& failed) {
    const std::string room = fmt::format("room-{}", index);
    const std::string sender = fmt::format("acct-{}", index);
    std::int64_t seq = 0;
    while (Clock::now() < deadline) {
        ++seq;
        auto result = co_await writer.write([&room, &sender, seq](SqliteDb& db) {
            auto insert = db.cached(insert_sql);
            insert_message(*insert, room, seq, sender);
        });
        if (!result.ok()) {
            ++failed;
            co_return;
        }
        ++committed;
    }
}

Figures run_group(const std::string& path, const std::string& synchronous, double seconds,
                  int submitters) {
    DbSettings settings;
    settings.synchronous = synchronous;
    DbWriter writer(prepare_db(path, synchronous, submitters), settings);
    net::io_context context(1);
    std::uint64_t committed = 0;
    std::uint64_t failed = 0;
    const double cpu_start = cpu_seconds();
    const auto start = Clock::now();
    const auto deadline =
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    for (int i = 0; i < submitters; ++i) {
        net::co_spawn(context, submitter(writer, i, deadline, committed, failed), net::detached);
    }
    context.run();
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    const double cpu = cpu_seconds() - cpu_start;
    writer.stop();
    CommitStats stats = writer.commit_stats();
    Figures figures;
    figures.rate = static_cast<double>(committed) / elapsed;
    figures.cpu_us_per_write = committed > 0 ? 1e6 * cpu / static_cast<double>(committed) : 0;
    if (stats.commits > 0) {
        figures.mean_batch =
            static_cast<double>(stats.jobs_committed) / static_cast<double>(stats.commits);
        figures.mean_commit_ms =
            1000.0 * stats.latency_sum_seconds / static_cast<double>(stats.commits);
    }
    figures.failed = failed;
    return figures;
}

int usage(const char* program) {
    std::fprintf(stderr,
                 "usage: %s [--seconds S] [--submitters N] [--synchronous NORMAL|FULL|both] "
                 "[--dir DIR]\n",
                 program);
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    std::string modes_arg = "both";
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (i + 1 >= argc) return usage(argv[0]);
        std::string value = argv[++i];
        if (arg == "--seconds") {
            options.seconds = std::stod(value);
        } else if (arg == "--submitters") {
            options.submitters = std::stoi(value);
        } else if (arg == "--synchronous") {
            modes_arg = value;
        } else if (arg == "--dir") {
            options.dir = value;
        } else {
            return usage(argv[0]);
        }
    }
    if (modes_arg != "both") options.modes = {modes_arg};
    if (options.seconds <= 0 || options.submitters < 1) return usage(argv[0]);
    spdlog::set_level(spdlog::level::warn);  // migrations log at info

    std::string dir = options.dir;
    bool remove_dir = false;
    if (dir.empty()) {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "parley-group-commit-XXXXXX").string();
        if (mkdtemp(pattern.data()) == nullptr) {
            std::perror("mkdtemp");
            return 1;
        }
        dir = pattern;
        remove_dir = true;
    }
    utsname host{};
    uname(&host);
    std::printf(
        "group_commit_bench: committed message INSERTs per second, SQLite WAL, %.1f s per "
        "phase, %d submitters\n",
        options.seconds, options.submitters);
    std::printf("host %s %s, %u cores, database dir %s\n\n", host.nodename, host.release,
                std::thread::hardware_concurrency(), dir.c_str());
    std::printf("%-12s %-9s %12s %8s %14s %10s %12s\n", "synchronous", "method", "writes/s",
                "ratio", "CPU us/write", "avg batch", "avg commit");

    bool ok = true;
    for (const std::string& mode : options.modes) {
        const std::string path = dir + "/current.db";
        Figures raw = run_raw(path, mode, options.seconds);
        Figures group = run_group(path, mode, options.seconds, options.submitters);
        double ratio = group.rate / raw.rate;
        std::printf("%-12s %-9s %12.0f %8s %14.1f %10s %12s\n", mode.c_str(), "raw loop", raw.rate,
                    "", raw.cpu_us_per_write, "1", "");
        std::printf("%-12s %-9s %12.0f %8.2f %14.1f %10.1f %9.3f ms\n", mode.c_str(), "DbWriter",
                    group.rate, ratio, group.cpu_us_per_write, group.mean_batch,
                    group.mean_commit_ms);
        if (group.failed > 0) {
            std::printf("  %llu writes failed\n", static_cast<unsigned long long>(group.failed));
            ok = false;
        }
        if (ratio < 0.5) ok = false;
    }
    std::printf("\ntarget: DbWriter >= 0.5 x raw loop: %s\n", ok ? "met" : "NOT met");
    std::printf(
        "reproduce: cmake --build <build dir> --target group_commit_bench && %s --seconds %g "
        "--submitters %d --synchronous %s\n",
        argv[0], options.seconds, options.submitters, modes_arg.c_str());
    if (remove_dir) {
        std::error_code ignored;
        std::filesystem::remove_all(dir, ignored);
    }
    return ok ? 0 : 1;
}
