// EchoBehaviour: answers every message in its rooms with "echo: <text>". Texts that already
// start with "echo: " are not answered, so two echo bots in one room do not talk forever.
// Stateless.
#pragma once

#include "botclient/bot/bot_behaviour.hpp"

namespace parley {

class EchoBehaviour : public BotBehaviour {
  public:
    static constexpr std::string_view kPrefix = "echo: ";

    std::string_view name() const override { return "echo"; }
    void on_message(BotActions& actions, const BotMessage& message) override;
};

}  // namespace parley
