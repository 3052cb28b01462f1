// `parley botclient`: runs the configured bots against a Parley server until a signal.
#pragma once

#include "botclient/botclient_config.hpp"

namespace parley {

int run_botclient(const BotclientConfig& config);

}  // namespace parley
