#include "botclient/bot/moderator_behaviour.hpp"

namespace parley {

namespace {

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// Word characters: ASCII letters and digits, and every byte of a multi-byte UTF-8 character
// (so a listed word inside a longer non-ASCII word does not match).
bool word_char(char c) {
    auto u = static_cast<unsigned char>(c);
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           u >= 0x80;
}

}  // namespace

ModeratorBehaviour::ModeratorBehaviour(const std::vector<std::string>& words, bool remove)
    : remove_(remove) {
    for (const auto& w : words) {
        std::string l;
        for (char c : w)
            l += lower(c);
        if (!l.empty()) words_.insert(std::move(l));
    }
}

bool ModeratorBehaviour::matches(const std::string& text) const {
    std::string word;
    for (std::size_t i = 0; i <= text.size(); ++i) {
        if (i < text.size() && word_char(text[i])) {
            word += lower(text[i]);
            continue;
        }
        if (!word.empty() && words_.contains(word)) return true;
        word.clear();
    }
    // Listed phrases with spaces or punctuation match as substrings.
    std::string lowered;
    for (char c : text)
        lowered += lower(c);
    for (const auto& w : words_) {
        bool phrase = false;
        for (char c : w)
            phrase = phrase || !word_char(c);
        if (phrase && lowered.find(w) != std::string::npos) return true;
    }
    return false;
}

void ModeratorBehaviour::on_message(BotActions& actions, const BotMessage& message) {
    if (!matches(message.text)) return;
    std::string notice = "Flagged message " + std::to_string(message.seq) + " from " +
                         message.sender_id + " for moderation.";
    if (!remove_) {
        actions.say(message.room_id, notice);
        return;
    }
    actions.remove_message(message.room_id, message.seq,
                           [&actions, room = message.room_id, notice](bool removed) {
                               if (!removed) actions.say(room, notice);
                           });
}

}  // namespace parley
