// The schemas of the server's two databases, current.db and history.db: each a list of
// numbered migrations kept here as data and applied at start-up by the migration runner
// (common/db/migration_runner.hpp, which says how a list is applied and why it is
// append-only). Never edit a migration that has shipped, add the next number.
#pragma once

#include <span>

#include "common/db/migration_runner.hpp"

namespace parley {

std::span<const Migration> current_migrations();
std::span<const Migration> history_migrations();

}  // namespace parley
