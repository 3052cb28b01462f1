// Outcome<T>: what every service of server/features answers — a value, or a Refusal (an error
// code and a message for the client). Services speak no HTTP: server/api maps each ErrorCode to
// a status in one table (server/api/outcome_response.hpp), the WebSocket layer sends the wire
// name (error_code_name()) in its error frame, and a cluster edge gets the same name from the
// primary. Several codes share one wire name where api.md answers the same name with different
// statuses (a message that is too long, a room that is full). Plain values; any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "server/data/db_writer.hpp"

namespace parley {

enum class ErrorCode : std::uint8_t {
    bad_request,           // the request is malformed or a field is out of range
    invalid_signature,     // a message's Ed25519 signature is missing or wrong
    unauthorized,          // the credentials are wrong
    forbidden,             // the caller may not do this
    not_found,             // no such thing (or the caller may not know it exists)
    conflict,              // the state forbids it (a taken name, the last owner)
    too_many,              // more items than allowed in one request ("too_large")
    full,                  // a limit of stored things is reached ("too_large")
    too_large,             // the content is longer than allowed ("too_large")
    quota_exceeded,        // the account's storage quota would be exceeded
    rate_limited,          // too many attempts: wait
    unavailable,           // the database is busy or overloaded: retrying helps
    insufficient_storage,  // the server's disk is full: retrying helps once space is freed
    internal,              // a failure on the server's side, logged there
};

// The machine code clients see (api.md's error codes).
std::string_view error_code_name(ErrorCode code);

struct Refusal {
    ErrorCode code = ErrorCode::internal;
    std::string message;
    std::chrono::milliseconds retry_after{0};  // rate_limited: how long to wait
};

// The outcome of a call with nothing to return.
struct Done {};

template <class T>
class Outcome {
  public:
    Outcome(T value) : state_(std::in_place_index<0>, std::move(value)) {}
    Outcome(Refusal refusal) : state_(std::in_place_index<1>, std::move(refusal)) {}
    Outcome(ErrorCode code, std::string message)
        : state_(std::in_place_index<1>, Refusal{code, std::move(message)}) {}

    bool ok() const noexcept { return state_.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& value() {
        if (!ok()) throw std::logic_error("Outcome::value() on a refusal: " + refusal().message);
        return std::get<0>(state_);
    }
    const T& value() const {
        if (!ok()) throw std::logic_error("Outcome::value() on a refusal: " + refusal().message);
        return std::get<0>(state_);
    }
    const Refusal& refusal() const { return std::get<1>(state_); }

  private:
    std::variant<T, Refusal> state_;
};

// A database failure as a refusal: `unavailable` when the database is busy or its writer is
// overloaded (retrying helps), else `internal`, logged with `what` (the operation, "the room
// change" say) and the database's message.
Refusal db_refusal(const DbFailure& f, std::string_view what);

}  // namespace parley
