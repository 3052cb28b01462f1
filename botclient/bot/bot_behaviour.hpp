// BotBehaviour: what a bot does, one small unit per behaviour behind this interface (echo,
// greeter, moderator; docs/bots.md). A behaviour hears the events of the rooms its bot is in
// and acts through BotActions; it never touches sockets or HTTP itself, so it is unit-tested
// with a fake BotActions. Called on the bot's own executor, one event at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace parley {

// A chat message as a bot hears it (a `message` frame of docs/api.md).
struct BotMessage {
    std::string room_id;
    std::int64_t seq = 0;
    std::string sender_id;
    std::string text;
};

// What a behaviour may do. Implemented by BotSession (and by tests).
class BotActions {
  public:
    virtual ~BotActions() = default;
    virtual const std::string& self_id() const = 0;
    // Sends a message to the room (signed with the bot's key).
    virtual void say(const std::string& room_id, const std::string& text) = 0;
    // Asks the server to remove a message; `done(true)` once removed, `done(false)` when the
    // server refused (the bot is neither owner nor moderator there) or could not be reached.
    virtual void remove_message(const std::string& room_id, std::int64_t seq,
                                std::function<void(bool removed)> done) = 0;
};

class BotBehaviour {
  public:
    virtual ~BotBehaviour() = default;
    virtual std::string_view name() const = 0;
    // A message from someone else (never the bot's own).
    virtual void on_message(BotActions& actions, const BotMessage& message);
    // A member joined a room the bot is in (not the bot itself).
    virtual void on_member_joined(BotActions& actions, const std::string& room_id,
                                  const std::string& account_id, const std::string& display_name);
};

struct BehaviourSettings {
    std::vector<std::string> moderator_words;
    std::string moderator_action = "remove";  // remove | flag
};

// The behaviour called `name`, or null for an unknown name.
std::unique_ptr<BotBehaviour> make_behaviour(const std::string& name,
                                             const BehaviourSettings& settings);

}  // namespace parley
