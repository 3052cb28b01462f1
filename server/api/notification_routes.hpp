// The notification routes of api.md: the caller's stored notifications (GET
// /api/v1/notifications, paged, newest first), their unread count (GET
// /api/v1/notifications/unread) and marking them read (POST /api/v1/notifications/read). Each
// route is a named function in notification_routes.cpp that adapts one NotificationService
// call to HTTP; an account only ever sees and marks its own.
#pragma once

#include "server/api/api_context.hpp"
#include "server/api/router.hpp"
#include "server/features/notification_service.hpp"

namespace parley {

void add_notification_routes(Router& router, ApiContext& api, NotificationService& notifications);

}  // namespace parley
