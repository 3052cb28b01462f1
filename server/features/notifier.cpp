#include "server/features/notifier.hpp"

namespace parley {

void Notifier::subscribe(const Client& client) {
    {
        std::lock_guard lock(mutex_);
        subscribed_.insert(client.id());
    }
    if (on_subscribe_) on_subscribe_(client);
}

void Notifier::unsubscribe(const Client& client) {
    std::lock_guard lock(mutex_);
    subscribed_.erase(client.id());
}

bool Notifier::subscribed(std::uint64_t client_id) {
    std::lock_guard lock(mutex_);
    return subscribed_.contains(client_id);
}

void Notifier::notify(const std::string& account_id, nlohmann::json body) {
    body["type"] = "notification";
    publish(account_id, body);
}

void Notifier::publish(const std::string& account_id, const nlohmann::json& frame) {
    auto text = std::make_shared<const std::string>(frame.dump());
    deliver(account_id, text);
    clients_.account_frame(account_id, text, true);
}

void Notifier::deliver(const std::string& account_id,
                       const std::shared_ptr<const std::string>& frame) {
    for (auto& c : clients_.for_account(account_id)) {
        if (subscribed(c->id())) c->send(frame);
    }
}

void Notifier::notify_all(nlohmann::json body) {
    body["type"] = "notification";
    auto frame = std::make_shared<const std::string>(body.dump());
    for (auto& c : clients_.all()) {
        if (subscribed(c->id())) c->send(frame);
    }
}

}  // namespace parley
