#include "common/json_flat.hpp"

#include "common/json_text.hpp"

#include <cstdint>
#include <string>
#include <tuple>

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
            at_ = skip_plain_json(text_, at_);
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
    bool value(FlatValue& out) {
        const char c = peek();
        if (c == '"') {
            ++at_;
            out.kind = FlatValue::Kind::string;
            return string(out.text);
        }
        if (c == '-' || (c >= '0' && c <= '9')) return integer(out);
        for (auto [word, kind, truth] :
             {std::tuple{std::string_view("true"), FlatValue::Kind::boolean, true},
              std::tuple{std::string_view("false"), FlatValue::Kind::boolean, false},
              std::tuple{std::string_view("null"), FlatValue::Kind::null, false}}) {
            if (text_.substr(at_, word.size()) == word) {
                at_ += word.size();
                out.kind = kind;
                out.truth = truth;
                return true;
            }
        }
        return false;
    }

  private:
    bool integer(FlatValue& out) {
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
        out.kind = FlatValue::Kind::integer;
        out.negative = negative;
        out.number = negative ? -static_cast<std::int64_t>(n) : static_cast<std::int64_t>(n);
        return true;
    }

    std::string_view text_;
    std::size_t at_ = 0;
};

}  // namespace

nlohmann::json FlatValue::to_json() const& {
    switch (kind) {
        case Kind::string:
            return text;
        case Kind::integer:
            if (negative) return number;
            return static_cast<std::uint64_t>(number);
        case Kind::boolean:
            return truth;
        case Kind::null:
            break;
    }
    return nullptr;
}

nlohmann::json FlatValue::to_json() && {
    if (kind == Kind::string) return std::move(text);
    return to_json();
}

FlatValue* FlatObject::find(std::string_view key) {
    for (auto it = fields.rbegin(); it != fields.rend(); ++it) {
        if (it->key == key) return &it->value;
    }
    return nullptr;
}

const FlatValue* FlatObject::find(std::string_view key) const {
    return const_cast<FlatObject*>(this)->find(key);
}

nlohmann::json FlatObject::to_json() && {
    nlohmann::json object = nlohmann::json::object();
    // operator[], as nlohmann's own parser does: the last of duplicate keys wins.
    for (auto& f : fields)
        object[std::move(f.key)] = std::move(f.value).to_json();
    fields.clear();
    return object;
}

std::optional<FlatObject> read_flat_json_object(std::string_view text) {
    FlatReader r(text);
    r.skip_space();
    if (!r.take('{')) return std::nullopt;
    FlatObject object;
    // A chat frame has four to six fields: one allocation.
    object.fields.reserve(6);
    r.skip_space();
    if (!r.take('}')) {
        for (;;) {
            r.skip_space();
            auto& field = object.fields.emplace_back();
            if (!r.take('"') || !r.string(field.key)) return std::nullopt;
            r.skip_space();
            if (!r.take(':')) return std::nullopt;
            r.skip_space();
            if (!r.value(field.value)) return std::nullopt;
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

std::optional<nlohmann::json> parse_flat_json_object(std::string_view text) {
    auto flat = read_flat_json_object(text);
    if (!flat) return std::nullopt;
    return std::move(*flat).to_json();
}

}  // namespace parley
