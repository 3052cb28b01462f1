// password_hash_bench: raw argon2id verifications per second with the server's default
// parameters, on as many threads as the server's hash pool (auth.hash_threads, default 2).
// This is the reference for the login throughput measured by bench/http_bench.py: a login can
// never be faster than one verification, so logins/s divided by this rate is the share of
// the hash cost that reaches the client.
//
//   password_hash_bench [--seconds S] [--threads N]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "common/crypto.hpp"
#include "server/settings/server_config.hpp"

int main(int argc, char** argv) {
    double seconds = 5;
    int threads = parley::AuthSettings{}.hash_threads;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atof(argv[i + 1]);
        if (std::strcmp(argv[i], "--threads") == 0) threads = std::atoi(argv[i + 1]);
    }
    parley::AuthSettings auth;
    parley::PasswordHashParams params{static_cast<std::uint32_t>(auth.argon2_t_cost),
                                      static_cast<std::uint32_t>(auth.argon2_m_cost_kib),
                                      static_cast<std::uint32_t>(auth.argon2_parallelism)};
    std::string encoded = parley::hash_password("correct horse battery", params);
    std::atomic<long> done{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> pool;
    auto start = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&] {
            while (!stop.load()) {
                if (!parley::verify_password("correct horse battery", encoded)) std::abort();
                ++done;
            }
        });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& t : pool)
        t.join();
    double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("argon2id verify (t=%d, m=%d KiB, p=%d) on %d threads: %.1f per second\n",
                auth.argon2_t_cost, auth.argon2_m_cost_kib, auth.argon2_parallelism, threads,
                done.load() / elapsed);
    std::printf("reproduce: build/bench/password_hash_bench --seconds %.0f --threads %d\n", seconds,
                threads);
    return 0;
}
