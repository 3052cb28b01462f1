// The contract of a real-time feature (chat, presence, typing, notifications, documents).
//
// A client has one WebSocket; every frame is a JSON object with a `type`. Each Feature claims
// some types and gets three calls per connection: on_open when the socket is authenticated,
// on_message for each frame of its types (awaited in order: one frame of a connection is
// handled at a time), on_close when the socket is gone. Features see a connection only as a
// Client. They are registered in one FeatureTable (below; server_app.cpp fills it), built
// at start-up and read-only afterwards; a feature guards its own state (it is called from
// every network thread).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/json_flat.hpp"
#include "common/net.hpp"

namespace parley {

// What a feature sees of one connected socket. Thread-safe.
class Client {
  public:
    virtual ~Client() = default;
    virtual std::uint64_t id() const = 0;
    virtual const std::string& account_id() const = 0;
    virtual const std::string& session_id() const = 0;
    // The path the socket was opened on ("/api/v1/ws", "/api/v1/rooms/{id}/ws").
    virtual const std::string& open_path() const = 0;
    // Queues a text frame. A client whose queue is full is closed with 1013, never skipped.
    virtual void send(std::shared_ptr<const std::string> frame) = 0;
    virtual void close(std::uint16_t code, std::string reason) = 0;
    // A socket of a cluster edge whose frame the primary handles for it: "<node>/<socket id>",
    // carried in what the frame publishes (typing) so that the edge skips exactly that socket,
    // as one node skips the sender. Empty for the node's own sockets.
    virtual std::string relay_origin() const { return {}; }

    void send_json(const nlohmann::json& message);
    // {"type":"ok","id":...} plus `extra` fields.
    void reply_ok(const nlohmann::json& request_id,
                  nlohmann::json extra = nlohmann::json::object());
    // The ok of a committed send, {"type":"ok","id":...,"room_id","seq","sent_at","duplicate"},
    // written directly: it is answered for every message.
    void reply_sent(const nlohmann::json& request_id, const std::string& room_id, std::int64_t seq,
                    std::int64_t sent_at, bool duplicate);
    // {"type":"error","id":...,"error":code,"message":...}
    void reply_error(const nlohmann::json& request_id, const std::string& code,
                     const std::string& message);
};

// One client frame, already parsed. A flat frame (every field a string, an integer, a boolean or
// null: almost every frame) keeps its fields as read, and its JSON tree is built only when a
// feature asks for body(): the message path reads a `send` frame's fields without one.
class ClientMessage {
  public:
    ClientMessage(std::string type, nlohmann::json id, nlohmann::json body)
        : type(std::move(type)), id(std::move(id)), body_(std::move(body)) {}
    ClientMessage(std::string type, nlohmann::json id, FlatObject fields)
        : type(std::move(type)), id(std::move(id)), flat_(std::move(fields)) {}

    std::string type;
    nlohmann::json id;  // null when the client sent none

    // The whole frame as JSON. For a flat frame it is built on the first call, from the fields,
    // which are gone afterwards (flat() is then nullptr). Building it changes how the frame is
    // held, not what it says, so a const message builds it too (the members are mutable).
    nlohmann::json& body() {
        build_body();
        return body_;
    }
    const nlohmann::json& body() const {
        build_body();
        return body_;
    }
    // The fields of a flat frame as read, until body() is first called; else nullptr.
    FlatObject* flat() { return flat_ ? &*flat_ : nullptr; }

  private:
    void build_body() const {
        if (flat_) {
            body_ = std::move(*flat_).to_json();
            flat_.reset();
        }
    }

    mutable nlohmann::json body_;
    mutable std::optional<FlatObject> flat_;
};

class Feature {
  public:
    virtual ~Feature() = default;
    virtual std::string_view name() const = 0;
    virtual std::vector<std::string> message_types() const = 0;
    virtual void on_open(const std::shared_ptr<Client>&) {}
    virtual awaitable<void> on_message(std::shared_ptr<Client> client, ClientMessage message) = 0;
    virtual void on_close(const std::shared_ptr<Client>&) {}
};

class FeatureTable {
  public:
    void add(std::shared_ptr<Feature> feature);
    // The feature that handles `type`, or null.
    Feature* find(std::string_view type) const;
    const std::vector<std::shared_ptr<Feature>>& all() const { return features_; }

  private:
    std::vector<std::shared_ptr<Feature>> features_;
    std::vector<std::pair<std::string, Feature*>> by_type_;
};

}  // namespace parley
