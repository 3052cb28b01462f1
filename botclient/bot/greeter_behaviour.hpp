// GreeterBehaviour: welcomes each new member of its rooms by display name ("Welcome, Ann!").
// Stateless: the bot session tells it who joined (from the room document's patches).
#pragma once

#include "botclient/bot/bot_behaviour.hpp"

namespace parley {

class GreeterBehaviour : public BotBehaviour {
  public:
    std::string_view name() const override { return "greeter"; }
    void on_member_joined(BotActions& actions, const std::string& room_id,
                          const std::string& account_id, const std::string& display_name) override;
};

}  // namespace parley
