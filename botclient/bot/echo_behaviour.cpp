#include "botclient/bot/echo_behaviour.hpp"

namespace parley {

void EchoBehaviour::on_message(BotActions& actions, const BotMessage& message) {
    if (message.text.starts_with(kPrefix)) return;
    actions.say(message.room_id, std::string(kPrefix) + message.text);
}

}  // namespace parley
