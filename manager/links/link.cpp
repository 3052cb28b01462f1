#include "manager/links/link.hpp"

#include <spdlog/spdlog.h>

namespace parley {

void LinkRegistry::add(const std::shared_ptr<Link>& link) {
    std::shared_ptr<Link> old;
    {
        std::lock_guard lock(mutex_);
        auto& slot = links_[link->peer_name()];
        old = std::exchange(slot, link);
    }
    if (old) {
        spdlog::info("link {} to '{}' replaced by link {}", old->id(), old->peer_name(),
                     link->id());
        old->close("replaced by a newer link from the same manager");
    }
}

void LinkRegistry::remove(const Link& link) {
    std::lock_guard lock(mutex_);
    auto it = links_.find(link.peer_name());
    if (it != links_.end() && it->second.get() == &link) links_.erase(it);
}

std::shared_ptr<Link> LinkRegistry::find(const std::string& peer_name) const {
    std::lock_guard lock(mutex_);
    auto it = links_.find(peer_name);
    return it == links_.end() ? nullptr : it->second;
}

std::vector<std::string> LinkRegistry::names() const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& [name, link] : links_)
        out.push_back(name);
    return out;
}

void LinkRegistry::close_all(const std::string& reason) {
    std::map<std::string, std::shared_ptr<Link>> links;
    {
        std::lock_guard lock(mutex_);
        links.swap(links_);
    }
    for (auto& [name, link] : links)
        link->close(reason);
}

}  // namespace parley
