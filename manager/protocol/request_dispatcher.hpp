// RequestDispatcher: what a connection or a link hands a parsed request to, and gets its
// complete answer from (the id echoed; never throws). The manager's RequestRouter
// (manager/api/) implements it; the listeners and links (manager/links/) know only this
// interface, so the wire side does not depend on where requests run. dispatch() is called from
// any executor, several at once.
#pragma once

#include <nlohmann/json.hpp>

#include "common/net.hpp"
#include "manager/protocol/api_caller.hpp"
#include "manager/protocol/api_protocol.hpp"

namespace parley {

class RequestDispatcher {
  public:
    virtual ~RequestDispatcher() = default;
    virtual awaitable<nlohmann::json> dispatch(const ApiRequest& request,
                                               const ApiCaller& caller) = 0;
};

}  // namespace parley
