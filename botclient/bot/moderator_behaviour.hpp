// ModeratorBehaviour: watches its rooms for words of a configured list (ASCII letters compared
// without regard to case, whole words only: "spam" matches "Spam!" but not "spammer"). A
// matching message is removed (when `remove` is set and the server allows it: the bot must be
// the room's owner or moderator) or else flagged with a notice in the room naming its sequence
// number and sender, never repeating the word. Holds only its word list.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "botclient/bot/bot_behaviour.hpp"

namespace parley {

class ModeratorBehaviour : public BotBehaviour {
  public:
    ModeratorBehaviour(const std::vector<std::string>& words, bool remove);

    std::string_view name() const override { return "moderator"; }
    void on_message(BotActions& actions, const BotMessage& message) override;

    // Whether `text` contains a listed word.
    bool matches(const std::string& text) const;

  private:
    std::set<std::string> words_;  // lower case
    bool remove_;
};

}  // namespace parley
