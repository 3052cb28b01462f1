// The concrete executor behind an any_io_executor, checked. Boost 1.74's any_executor::target<T>()
// casts whatever executor it holds to T without comparing the type, so asking a plain
// io_context executor for a strand (or a strand for a plain executor) "succeeds" with the wrong
// object. Parley asks through executor_as<T>(), which compares target_type() first.
#pragma once

#include <typeinfo>

#include "common/net.hpp"

namespace parley {

// The T that `executor` holds, or null when it holds something else (or nothing).
template <typename T>
const T* executor_as(const net::any_io_executor& executor) {
    if (!executor || executor.target_type() != typeid(T)) return nullptr;
    return executor.target<T>();
}

}  // namespace parley
