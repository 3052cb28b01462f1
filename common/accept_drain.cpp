#include "common/accept_drain.hpp"

#include <vector>

namespace parley {

void ConnectionDrain::add(std::shared_ptr<Member> member) {
    std::lock_guard lock(mutex_);
    members_.insert(std::move(member));
}

void ConnectionDrain::remove(const std::shared_ptr<Member>& member) {
    std::function<void()> drained;
    {
        std::lock_guard lock(mutex_);
        members_.erase(member);
        if (members_.empty() && drained_) drained = std::exchange(drained_, nullptr);
    }
    if (drained) drained();
}

void ConnectionDrain::stop(net::io_context& context, std::function<void()> drained) {
    stopping_ = true;
    std::vector<std::shared_ptr<Member>> members;
    {
        std::lock_guard lock(mutex_);
        members.assign(members_.begin(), members_.end());
        if (members.empty()) {
            net::post(context, std::move(drained));
            return;
        }
        drained_ = std::move(drained);
    }
    for (auto& member : members) {
        net::post(member->drain_executor(), [member] { member->cancel_if_idle(); });
    }
}

}  // namespace parley
