#include "common/json_flat.hpp"

#include "common/json_text.hpp"

#include <cstdint>
#include <string>

#include "common/utf8.hpp"

namespace parley {

namespace {

// A cursor over the text; every reader returns false when the text leaves the fast subset.
class FlatReader {
  public:
    explicit FlatReader(std::string_view text) : text_(text) {}

    void skip_space() {
        while (at_ < text_.size()) {
            const char c = text_[at_];
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
            ++at_;
        }
    }
    bool take(char c) {
        if (at_ < text_.size() && text_[at_] == c) {
            ++at_;
            return true;
        }
        return false;
    }
    bool at_end() const { return at_ == text_.size(); }
    char peek() const { return at_ < text_.size() ? text_[at_] : '\0'; }

    // A string after its opening quote; escapes other than \uXXXX are decoded.
    bool string(std::string& out) {
        const std::size_t start = at_;
        bool escaped = false;
        bool ascii = true;
        for (;;) {
            while (at_ + 8 <= text_.size() && plain_json_chunk(text_.data() + at_))
                at_ += 8;
            if (at_ >= text_.size()) return false;
            const auto c = static_cast<unsigned char>(text_[at_]);
            if (c == '"') break;
            if (c < 0x20) return false;  // a raw control character: nlohmann's error
            if (c == '\\') {
                escaped = true;
                if (++at_ >= text_.size()) return false;
            } else if (c >= 0x80) {
                ascii = false;
            }
            ++at_;
        }
        const std::string_view raw = text_.substr(start, at_ - start);
        ++at_;  // the closing quote
        if (!ascii && utf8_code_points(raw) < 0) return false;
        if (!escaped) {
            out.assign(raw);
            return true;
        }
        out.clear();
        out.reserve(raw.size());
        for (std::size_t i = 0; i < raw.size(); ++i) {
            if (raw[i] != '\\') {
                out.push_back(raw[i]);
                continue;
            }
            switch (raw[++i]) {
                case '"':
                    out.push_back('"');
                    break;
                case '\\':
                    out.push_back('\\');
                    break;
                case '/':
                    out.push_back('/');
                    break;
                case 'b':
                    out.push_back('\b');
                    break;
                case 'f':
                    out.push_back('\f');
                    break;
                case 'n':
                    out.push_back('\n');
                    break;
                case 'r':
                    out.push_back('\r');
                    break;
                case 't':
                    out.push_back('\t');
                    break;
                default:
                    return false;  // \u (left to nlohmann) or an invalid escape
            }
        }
        return true;
    }

    // An integer of at most 18 digits (no overflow possible), or true/false/null, or a string.
    bool value(nlohmann::json& out) {
        const char c = peek();
        if (c == '"') {
            ++at_;
            std::string s;
            if (!string(s)) return false;
            out = std::move(s);
            return true;
        }
        if (c == '-' || (c >= '0' && c <= '9')) return integer(out);
        for (auto [word, v] : {std::pair<std::string_view, nlohmann::json>{"true", true},
                               {"false", false},
                               {"null", nullptr}}) {
            if (text_.substr(at_, word.size()) == word) {
                at_ += word.size();
                out = std::move(v);
                return true;
            }
        }
        return false;
    }

  private:
    bool integer(nlohmann::json& out) {
        const bool negative = take('-');
        const std::size_t first = at_;
        std::uint64_t n = 0;
        while (at_ < text_.size() && text_[at_] >= '0' && text_[at_] <= '9') {
            n = n * 10 + static_cast<std::uint64_t>(text_[at_] - '0');
            ++at_;
        }
        const std::size_t digits = at_ - first;
        if (digits == 0 || digits > 18) return false;
        if (digits > 1 && text_[first] == '0') return false;  // a leading zero: invalid JSON
        const char next = peek();
        if (next == '.' || next == 'e' || next == 'E') return false;  // a float: nlohmann's
        if (negative) {
            out = -static_cast<std::int64_t>(n);
        } else {
            out = n;
        }
        return true;
    }

    std::string_view text_;
    std::size_t at_ = 0;
};

}  // namespace

std::optional<nlohmann::json> parse_flat_json_object(std::string_view text) {
    FlatReader r(text);
    r.skip_space();
    if (!r.take('{')) return std::nullopt;
    nlohmann::json object = nlohmann::json::object();
    r.skip_space();
    if (!r.take('}')) {
        for (;;) {
            r.skip_space();
            std::string key;
            if (!r.take('"') || !r.string(key)) return std::nullopt;
            r.skip_space();
            if (!r.take(':')) return std::nullopt;
            r.skip_space();
            nlohmann::json v;
            if (!r.value(v)) return std::nullopt;
            // operator[], as nlohmann's own parser does: the last of duplicate keys wins.
            object[std::move(key)] = std::move(v);
            r.skip_space();
            if (r.take(',')) continue;
            if (r.take('}')) break;
            return std::nullopt;
        }
    }
    r.skip_space();
    if (!r.at_end()) return std::nullopt;
    return object;
}

}  // namespace parley
