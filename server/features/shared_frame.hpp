// SharedFrame: a serialised frame that a fan-out hands to many sockets (a room's message, a
// presence change), with room for one other form of its bytes computed once for all of them:
// the permessage-deflate engine compresses such a frame when its first compressing recipient
// needs it and every other compressing socket sends the same bytes. A frame stays a
// `std::shared_ptr<const std::string>` for everyone else (make_shared_frame() aliases the text
// inside the holder; the holder is found again through the pointer's deleter), so features
// that never compress, and rooms whose sockets never compress, pay one small holder per frame
// and nothing per recipient. Thread-safe: recipients on any thread may ask for the other form.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <utility>

namespace parley {

namespace detail {

struct SharedFrameHolder {
    std::string text;
    std::once_flag once;
    std::string alternate;  // set once, inside `once`
};

// The deleter of a shared frame's pointer: owns the holder, and is how the holder is found.
struct SharedFrameDeleter {
    SharedFrameHolder* holder;
    void operator()(const std::string*) const { delete holder; }
};

}  // namespace detail

// A frame meant for many recipients (see above).
inline std::shared_ptr<const std::string> make_shared_frame(std::string text) {
    auto* holder = new detail::SharedFrameHolder{std::move(text), {}, {}};
    // Should the control block's allocation fail, the constructor calls the deleter itself.
    return std::shared_ptr<const std::string>(&holder->text, detail::SharedFrameDeleter{holder});
}

// The other form of `frame` (make() of its text, computed by the first caller, then shared), or
// null when `frame` was not made by make_shared_frame(). Every caller must pass the same
// make(): the cell holds one form only.
template <class Make>
const std::string* shared_frame_alternate(const std::shared_ptr<const std::string>& frame,
                                          Make&& make) {
    auto* deleter = std::get_deleter<detail::SharedFrameDeleter>(frame);
    if (deleter == nullptr) return nullptr;
    detail::SharedFrameHolder& h = *deleter->holder;
    std::call_once(h.once, [&] { h.alternate = make(std::as_const(h.text)); });
    return &h.alternate;
}

}  // namespace parley
