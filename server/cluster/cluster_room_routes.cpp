#include "server/cluster/cluster_room_routes.hpp"

#include <mutex>

#include <spdlog/spdlog.h>

#include "server/cluster/cluster_routes.hpp"
#include "server/features/chat_feature.hpp"

namespace parley {

namespace {

// An edge socket as the primary's ChatFeature sees it for one frame: the account the edge
// authenticated, and the frames the feature answers with, collected for the edge to relay. Id
// 0 is no socket of the primary's (theirs start at 1), so nothing here is skipped for it.
class RelayedClient : public Client {
  public:
    RelayedClient(std::string account_id, std::string session_id)
        : account_id_(std::move(account_id)), session_id_(std::move(session_id)) {}
    std::uint64_t id() const override { return 0; }
    const std::string& account_id() const override { return account_id_; }
    const std::string& session_id() const override { return session_id_; }
    const std::string& open_path() const override { return open_path_; }
    void send(std::shared_ptr<const std::string> frame) override {
        std::lock_guard lock(mutex_);
        frames_.push_back(std::move(frame));
    }
    void close(std::uint16_t, std::string) override {}

    nlohmann::json frames() const {
        std::lock_guard lock(mutex_);
        nlohmann::json out = nlohmann::json::array();
        for (const auto& f : frames_)
            out.push_back(*f);
        return out;
    }

  private:
    std::string account_id_;
    std::string session_id_;
    std::string open_path_;
    mutable std::mutex mutex_;
    std::vector<std::shared_ptr<const std::string>> frames_;
};

bool relayed_type(const std::string& type) {
    return type == "typing" || type == "ack" || type == "request_sync" || type == "sync";
}

// {"account_id","session_id","frame":{...}} -> {"frames":[...]}: the frame handled as the
// primary handles it from one of its own sockets; `frames` are the answers that socket would
// have received (ok or error, with the request's id).
awaitable<HttpResponse> relay_frame(ChatFeature& feature, nlohmann::json& req) {
    auto account = string_field(req, "account_id");
    auto session = string_field(req, "session_id");
    auto frame = req.find("frame");
    if (!account || account->empty() || frame == req.end() || !frame->is_object()) {
        co_return error_response(http::status::bad_request, "bad_request",
                                 "account_id is a required string, frame an object");
    }
    auto type = string_field(*frame, "type");
    if (!type || !relayed_type(*type)) {
        co_return error_response(http::status::bad_request, "bad_request",
                                 "frame.type is typing, ack, request_sync or sync");
    }
    auto client = std::make_shared<RelayedClient>(*account, session.value_or(""));
    nlohmann::json id;
    if (auto it = frame->find("id"); it != frame->end()) id = *it;
    ClientMessage message{*type, id, std::move(*frame)};
    co_await feature.on_message(client, std::move(message));
    co_return json_response(http::status::ok, {{"frames", client->frames()}});
}

// {"room_id","account_id"?,"version"?} -> {"member","version","frames":[...]}: the patch frames
// a subscriber holding `version` gets (all of the document without it). With an account, only
// for a member (as a socket's subscribe). The document is then kept, and its patches
// published, for kRemoteDocumentKeep.
awaitable<HttpResponse> document_frames(ChatContext& chat, nlohmann::json& req) {
    auto room_id = string_field(req, "room_id");
    auto account = string_field(req, "account_id");
    auto v = req.find("version");
    if (!room_id || room_id->empty() || (v != req.end() && !v->is_number_integer())) {
        co_return error_response(http::status::bad_request, "bad_request",
                                 "room_id is a required string, version an integer");
    }
    if (!chat.rooms.room(*room_id) || (account && !chat.rooms.member(*room_id, *account))) {
        co_return json_response(http::status::ok, {{"member", false}});
    }
    std::optional<std::int64_t> version;
    if (v != req.end()) version = v->get<std::int64_t>();
    auto doc = chat.hub.document_frames(*room_id, version, kRemoteDocumentKeep);
    nlohmann::json frames = nlohmann::json::array();
    for (const auto& f : doc.frames)
        frames.push_back(*f);
    co_return json_response(
        http::status::ok,
        {{"member", true}, {"version", doc.version}, {"frames", std::move(frames)}});
}

// {"room_ids":[...]} (at most 1000) -> {}: edges still read these rooms' documents.
awaitable<HttpResponse> keep_documents(ChatContext& chat, nlohmann::json& req) {
    auto ids = req.find("room_ids");
    if (ids == req.end() || !ids->is_array() || ids->size() > 1000) {
        co_return error_response(http::status::bad_request, "bad_request",
                                 "room_ids is an array of at most 1000 ids");
    }
    std::vector<std::string> rooms;
    for (const auto& id : *ids) {
        if (id.is_string()) rooms.push_back(id.get<std::string>());
    }
    chat.hub.keep_documents(rooms, kRemoteDocumentKeep);
    co_return json_response(http::status::ok, nlohmann::json::object());
}

// {"node","rooms":{"<room>":[accounts]}} (at most 1000 rooms of 10000 accounts) ->
// {"online":{"<room>":[accounts]}}: the accounts online in each room on that node (an empty
// list: none any more), counted for kRemotePresenceKeep; the answer is each room's online list
// cluster-wide.
awaitable<HttpResponse> presence_report(ChatContext& chat, nlohmann::json& req) {
    auto node = string_field(req, "node");
    auto rooms = req.find("rooms");
    if (!node || node->empty() || rooms == req.end() || !rooms->is_object() ||
        rooms->size() > 1000) {
        co_return error_response(
            http::status::bad_request, "bad_request",
            "node is a required string, rooms an object of at most 1000 rooms");
    }
    const auto until = std::chrono::steady_clock::now() + kRemotePresenceKeep;
    nlohmann::json online = nlohmann::json::object();
    for (const auto& [room_id, list] : rooms->items()) {
        if (!list.is_array() || list.size() > 10000) continue;
        if (!chat.rooms.room(room_id)) continue;
        std::vector<std::string> accounts;
        for (const auto& a : list) {
            // Only members count, as on one node (a socket subscribes only as one).
            if (a.is_string() && chat.rooms.member(room_id, a.get<std::string>()))
                accounts.push_back(a.get<std::string>());
        }
        online[room_id] = chat.hub.set_remote_online(room_id, *node, std::move(accounts), until);
    }
    co_return json_response(http::status::ok, {{"online", std::move(online)}});
}

}  // namespace

void add_cluster_room_routes(Router& router, ChatContext& chat, std::string secret) {
    auto shared = std::make_shared<const std::string>(std::move(secret));
    auto feature = std::make_shared<ChatFeature>(chat.rooms, chat.hub, chat.chat, chat.notifier);
    router.add(http::verb::post, "/internal/cluster/frame",
               internal_route(*feature, shared, relay_frame, feature));
    router.add(http::verb::post, "/internal/cluster/doc",
               internal_route(chat, shared, document_frames));
    router.add(http::verb::post, "/internal/cluster/docs",
               internal_route(chat, shared, keep_documents));
    router.add(http::verb::post, "/internal/cluster/presence",
               internal_route(chat, shared, presence_report));
}

}  // namespace parley
