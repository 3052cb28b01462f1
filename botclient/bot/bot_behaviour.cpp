#include "botclient/bot/bot_behaviour.hpp"

#include "botclient/bot/echo_behaviour.hpp"
#include "botclient/bot/greeter_behaviour.hpp"
#include "botclient/bot/moderator_behaviour.hpp"

namespace parley {

void BotBehaviour::on_message(BotActions&, const BotMessage&) {}

void BotBehaviour::on_member_joined(BotActions&, const std::string&, const std::string&,
                                    const std::string&) {}

std::unique_ptr<BotBehaviour> make_behaviour(const std::string& name,
                                             const BehaviourSettings& settings) {
    if (name == "echo") return std::make_unique<EchoBehaviour>();
    if (name == "greeter") return std::make_unique<GreeterBehaviour>();
    if (name == "moderator") {
        return std::make_unique<ModeratorBehaviour>(settings.moderator_words,
                                                    settings.moderator_action == "remove");
    }
    return nullptr;
}

}  // namespace parley
