// offload(): runs a blocking or CPU-heavy function on a thread pool and resumes the awaiting
// coroutine on its own executor, so network threads never block (password hashing, file
// hashing). The function must not throw; wrap it if it can.
#pragma once

#include <type_traits>
#include <utility>

#include "common/net.hpp"

namespace parley {

template <class F, class CompletionToken>
auto async_offload(net::thread_pool& pool, F f, CompletionToken&& token) {
    using R = std::invoke_result_t<F>;
    return net::async_initiate<CompletionToken, void(R)>(
        [&pool](auto handler, F fn) {
            auto work = net::make_work_guard(net::get_associated_executor(handler));
            net::post(pool, [handler = std::move(handler), fn = std::move(fn),
                             work = std::move(work)]() mutable {
                R result = fn();
                auto executor = work.get_executor();
                net::dispatch(executor,
                              [handler = std::move(handler), result = std::move(result)]() mutable {
                                  std::move(handler)(std::move(result));
                              });
            });
        },
        token, std::move(f));
}

template <class F>
awaitable<std::invoke_result_t<F>> offload(net::thread_pool& pool, F f) {
    return async_offload(pool, std::move(f), use_awaitable);
}

}  // namespace parley
