// `parley manager`: builds the manager's objects from its config and runs them until a signal.
#pragma once

#include "manager/settings/manager_config.hpp"

namespace parley {

int run_manager(const ManagerConfig& config);

}  // namespace parley
