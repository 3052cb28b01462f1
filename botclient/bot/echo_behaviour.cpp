#include "botclient/bot/echo_behaviour.hpp"

namespace parley {

void EchoBehaviour::on_message(BotActions& actions, const BotMessage& message) {
    // An image sent without a caption has no text to echo.
    if (message.text.empty() || message.text.starts_with(kPrefix)) return;
    actions.say(message.room_id, std::string(kPrefix) + message.text);
}

}  // namespace parley
