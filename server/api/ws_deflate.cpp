#include "server/api/ws_deflate.hpp"

#include <algorithm>
#include <array>
#include <memory>
#include <new>
#include <stdexcept>

#include <boost/beast/http/rfc7230.hpp>

namespace parley::wsdeflate {

namespace {

namespace http = boost::beast::http;

// ASCII case-insensitive equality. (Not Boost 1.74's beast::iequals: it reads one byte past
// its arguments when they differ only in the case of their last character.)
bool iequals(std::string_view a, std::string_view b) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

// A window-bits value: "8" to "15", possibly as a quoted string (RFC 7692 7.1 allows both),
// without leading zeroes. Nothing when malformed or out of range.
std::optional<int> window_bits(std::string_view v) {
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    if (v.empty() || v.size() > 2 || v[0] == '0') return std::nullopt;
    int n = 0;
    for (char c : v) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + (c - '0');
    }
    if (n < 8 || n > 15) return std::nullopt;
    return n;
}

// The agreement for one permessage-deflate offer (`name` and its parameters, views into the
// same header value), or nothing when it is declined.
std::optional<Agreement> accept_offer(std::string_view name_of_offer,
                                      const http::param_list& params) {
    Agreement a;
    bool seen_server_nct = false, seen_client_nct = false, seen_server_bits = false,
         seen_client_bits = false;
    std::optional<int> client_bits;  // the client's value, when it gave one
    for (const auto& [name, value] : params) {
        // Boost 1.74's ext_list hands an extension without parameters the parameters of the
        // one before it: those lie before this offer's name in the header, and are not its own.
        if (name.data() < name_of_offer.data()) break;
        if (iequals(name, "server_no_context_takeover")) {
            if (seen_server_nct || !value.empty()) return std::nullopt;
            seen_server_nct = true;
        } else if (iequals(name, "client_no_context_takeover")) {
            if (seen_client_nct || !value.empty()) return std::nullopt;
            seen_client_nct = true;
            a.client_no_context_takeover = true;
        } else if (iequals(name, "server_max_window_bits")) {
            auto bits = window_bits(value);
            // zlib's deflate has no 256-byte window: a client that asks for one is declined.
            if (seen_server_bits || !bits || *bits < 9) return std::nullopt;
            seen_server_bits = true;
            a.server_window_bits = *bits;
        } else if (iequals(name, "client_max_window_bits")) {
            if (seen_client_bits) return std::nullopt;
            seen_client_bits = true;
            if (!value.empty()) {
                client_bits = window_bits(value);
                if (!client_bits) return std::nullopt;
                a.client_window_bits = *client_bits;
            }
        } else {
            return std::nullopt;
        }
    }
    a.response = "permessage-deflate; server_no_context_takeover";
    if (a.client_no_context_takeover) a.response += "; client_no_context_takeover";
    if (seen_server_bits) {
        a.response += "; server_max_window_bits=" + std::to_string(a.server_window_bits);
    }
    if (client_bits) a.response += "; client_max_window_bits=" + std::to_string(*client_bits);
    return a;
}

constexpr std::array<unsigned char, 4> kTail = {0x00, 0x00, 0xff, 0xff};

// This thread's deflate stream for one window size, made at its first use (each holds about
// 2^(window_bits + 2) + 2^(memLevel + 9) bytes: 256 KiB at 15 bits with memLevel 8).
z_stream& thread_deflater(int window_bits) {
    struct Deflater {
        z_stream stream{};
        bool ready = false;
        ~Deflater() {
            if (ready) deflateEnd(&stream);
        }
    };
    thread_local std::array<Deflater, 16> deflaters;
    Deflater& d = deflaters[static_cast<std::size_t>(window_bits)];
    if (!d.ready) {
        if (deflateInit2(&d.stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -window_bits, 8,
                         Z_DEFAULT_STRATEGY) != Z_OK) {
            throw std::bad_alloc();
        }
        d.ready = true;
    } else {
        deflateReset(&d.stream);
    }
    return d.stream;
}

}  // namespace

std::optional<Agreement> negotiate(const std::vector<std::string_view>& offers) {
    for (std::string_view header : offers) {
        for (const auto& [name, params] : http::ext_list{header}) {
            if (!iequals(name, "permessage-deflate")) continue;
            if (auto a = accept_offer(name, params)) return a;
        }
    }
    return std::nullopt;
}

std::string deflate_message(std::string_view text, int window_bits) {
    if (window_bits < 9 || window_bits > 15) throw std::invalid_argument("deflate window bits");
    z_stream& z = thread_deflater(window_bits);
    std::string out;
    // deflateBound covers a finished stream; a sync flush adds its empty stored block.
    out.resize(deflateBound(&z, static_cast<uLong>(text.size())) + 16);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
    z.avail_in = static_cast<uInt>(text.size());
    std::size_t produced = 0;
    for (;;) {
        z.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
        z.avail_out = static_cast<uInt>(out.size() - produced);
        int rc = deflate(&z, Z_SYNC_FLUSH);
        produced = out.size() - z.avail_out;
        if (rc != Z_OK && rc != Z_BUF_ERROR) throw std::runtime_error("deflate failed");
        if (z.avail_in == 0 && z.avail_out > 0) break;  // all input in, flush complete
        out.resize(out.size() * 2);
    }
    out.resize(produced);
    if (out.size() >= kTail.size() &&
        std::equal(kTail.begin(), kTail.end(), out.end() - kTail.size(),
                   [](unsigned char t, char c) { return t == static_cast<unsigned char>(c); })) {
        out.resize(out.size() - kTail.size());
    }
    return out;
}

WsInflater::WsInflater(int window_bits, bool keep_context) : keep_context_(keep_context) {
    // zlib's deflate long wrote 512-byte windows when asked for 256: accept them.
    if (inflateInit2(&stream_, -std::max(window_bits, 9)) != Z_OK) throw std::bad_alloc();
}

WsInflater::~WsInflater() {
    inflateEnd(&stream_);
}

WsInflater& WsInflater::for_this_thread() {
    thread_local WsInflater inflater(15, false);
    return inflater;
}

WsInflater::Result WsInflater::inflate(std::string_view payload, std::size_t limit,
                                       std::vector<char>& out) {
    if (!keep_context_) inflateReset(&stream_);
    out.clear();
    std::size_t produced = 0;
    stream_ended_ = false;
    Result r = feed(reinterpret_cast<const unsigned char*>(payload.data()), payload.size(), limit,
                    out, produced);
    // RFC 7692 7.2.3.3: a sender that ends its stream in a message adds a 0x00 after it, so
    // that the tail completes an empty block; one that does not ends the payload with the
    // stream, and the tail is not data then.
    if (r == Result::ok && !stream_ended_)
        r = feed(kTail.data(), kTail.size(), limit, out, produced);
    out.resize(produced);
    return r;
}

WsInflater::Result WsInflater::feed(const unsigned char* in, std::size_t n, std::size_t limit,
                                    std::vector<char>& out, std::size_t& produced) {
    z_stream& z = stream_;
    z.next_in = const_cast<Bytef*>(in);
    z.avail_in = static_cast<uInt>(n);
    for (;;) {
        unsigned char probe = 0;
        if (produced == out.size() && out.size() < limit) {
            // Grow by doubling, never past `limit`: reserve() allocates exactly what it is
            // asked, where growing through resize() could double past the limit.
            std::size_t next = std::min(limit, std::max<std::size_t>(out.size() * 2, 1024));
            out.reserve(next);
            out.resize(next);
        }
        const bool at_limit = produced == out.size();
        if (at_limit) {
            // The output is full at the limit: one more byte of output means too big.
            z.next_out = &probe;
            z.avail_out = 1;
        } else {
            z.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
            z.avail_out = static_cast<uInt>(out.size() - produced);
        }
        int rc = ::inflate(&z, Z_SYNC_FLUSH);
        if (at_limit) {
            if (z.avail_out == 0) return Result::too_big;
        } else {
            produced = out.size() - z.avail_out;
        }
        if (rc == Z_STREAM_END) {
            // The client ended its DEFLATE stream (a block with BFINAL): what follows starts a
            // new one, with the window kept when the context carries over.
            std::array<unsigned char, 32768> window;
            uInt kept = 0;
            if (keep_context_) inflateGetDictionary(&z, window.data(), &kept);
            inflateReset(&z);
            if (kept > 0) inflateSetDictionary(&z, window.data(), kept);
            if (z.avail_in == 0) {
                stream_ended_ = true;
                return Result::ok;
            }
            continue;
        }
        if (rc == Z_BUF_ERROR) {
            if (z.avail_in == 0) return Result::ok;  // no more input: the output is complete
            continue;                                // the output was full: grow or probe
        }
        if (rc != Z_OK) return Result::bad_data;
        if (z.avail_in == 0 && z.avail_out > 0) return Result::ok;
    }
}

}  // namespace parley::wsdeflate
