#include "botclient/bot/greeter_behaviour.hpp"

namespace parley {

void GreeterBehaviour::on_member_joined(BotActions& actions, const std::string& room_id,
                                        const std::string& account_id,
                                        const std::string& display_name) {
    actions.say(room_id, "Welcome, " + (display_name.empty() ? account_id : display_name) + "!");
}

}  // namespace parley
