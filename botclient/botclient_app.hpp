// `parley botclient`: runs the configured bots against a Parley server until a signal
// (docs/bots.md). With login = "key" each bot logs in with its bot key; with login = "local"
// (the server's bot child) the one-time secret is read from stdin first, the sessions of all
// bots come from the bot listener's local login, and the process leaves when stdin closes.
// A bot whose session cannot be had again ends the process with exit code 1 (the server then
// starts a new child with a new secret).
#pragma once

#include "botclient/settings/botclient_config.hpp"

namespace parley {

int run_botclient(const BotclientConfig& config);

}  // namespace parley
