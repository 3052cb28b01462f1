#include "common/config_schema.hpp"

#include <cmath>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

namespace parley {

namespace {

std::string describe_node(const toml::node& node) {
    if (node.is_table()) return "a table";
    if (node.is_array()) return "an array";
    std::ostringstream value;
    node.visit([&value](const auto& v) {
        if constexpr (!toml::is_table<decltype(v)> && !toml::is_array<decltype(v)>) value << v;
    });
    const char* kind = node.is_string()           ? "the string "
                       : node.is_integer()        ? "the integer "
                       : node.is_floating_point() ? "the number "
                       : node.is_boolean()        ? "the boolean "
                                                  : "the value ";
    return kind + value.str();
}

std::string format_double(double v) {
    std::string s = fmt::format("{}", v);
    if (s.find_first_of(".eE") == std::string::npos && std::isfinite(v)) s += ".0";
    return s;
}

// Wraps documentation text as TOML comments.
void append_comment(std::string& out, const std::string& doc, const std::string& indent = "") {
    std::istringstream lines(doc);
    std::string line;
    while (std::getline(lines, line))
        out += indent + "# " + line + "\n";
}

}  // namespace

std::string toml_quote(const std::string& s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\r':
                out += "\\r";
                break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    out += fmt::format("\\u{:04X}", c);
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    return out + "\"";
}

void ConfigSchema::section(std::string name, std::string doc) {
    current_section_ = name;
    sections_.push_back({std::move(name), std::move(doc)});
}

std::string ConfigSchema::full_key(const std::string& key) const {
    return current_section_.empty() ? key : current_section_ + "." + key;
}

void ConfigSchema::add(const std::string& key, std::string doc,
                       std::function<std::string(const toml::node&)> assign,
                       std::function<std::string()> render, bool custom) {
    Field f;
    f.key = full_key(key);
    f.section = current_section_;
    f.doc = std::move(doc);
    f.assign = std::move(assign);
    f.render = std::move(render);
    f.custom = custom;
    fields_.push_back(std::move(f));
}

void ConfigSchema::bind(const std::string& key, bool& target, std::string doc) {
    add(
        key, std::move(doc),
        [&target](const toml::node& n) -> std::string {
            if (!n.is_boolean()) return "expected true or false, got " + describe_node(n);
            target = n.as_boolean()->get();
            return {};
        },
        [&target] { return std::string(target ? "true" : "false"); });
}

void ConfigSchema::bind(const std::string& key, std::string& target, std::string doc,
                        std::function<std::string(const std::string&)> check) {
    add(
        key, std::move(doc),
        [&target, check](const toml::node& n) -> std::string {
            if (!n.is_string()) return "expected a string, got " + describe_node(n);
            std::string value = n.as_string()->get();
            if (check) {
                if (std::string problem = check(value); !problem.empty()) return problem;
            }
            target = std::move(value);
            return {};
        },
        [&target] { return toml_quote(target); });
}

void ConfigSchema::bind(const std::string& key, std::int64_t& target, std::string doc,
                        std::int64_t min, std::int64_t max) {
    add(
        key, std::move(doc),
        [&target, min, max](const toml::node& n) -> std::string {
            if (!n.is_integer() || n.as_integer()->get() < min || n.as_integer()->get() > max) {
                return fmt::format("expected an integer from {} to {}, got {}", min, max,
                                   describe_node(n));
            }
            target = n.as_integer()->get();
            return {};
        },
        [&target] { return std::to_string(target); });
}

void ConfigSchema::bind(const std::string& key, int& target, std::string doc, int min, int max) {
    add(
        key, std::move(doc),
        [&target, min, max](const toml::node& n) -> std::string {
            if (!n.is_integer() || n.as_integer()->get() < min || n.as_integer()->get() > max) {
                return fmt::format("expected an integer from {} to {}, got {}", min, max,
                                   describe_node(n));
            }
            target = static_cast<int>(n.as_integer()->get());
            return {};
        },
        [&target] { return std::to_string(target); });
}

void ConfigSchema::bind(const std::string& key, double& target, std::string doc, double min,
                        double max) {
    add(
        key, std::move(doc),
        [&target, min, max](const toml::node& n) -> std::string {
            double v = 0;
            if (n.is_floating_point()) {
                v = n.as_floating_point()->get();
            } else if (n.is_integer()) {
                v = static_cast<double>(n.as_integer()->get());
            } else {
                return "expected a number, got " + describe_node(n);
            }
            if (!(v >= min && v <= max)) {
                return fmt::format("expected a number from {} to {}, got {}", min, max,
                                   describe_node(n));
            }
            target = v;
            return {};
        },
        [&target] { return format_double(target); });
}

void ConfigSchema::bind(const std::string& key, std::vector<std::string>& target, std::string doc) {
    add(
        key, std::move(doc),
        [&target](const toml::node& n) -> std::string {
            const toml::array* arr = n.as_array();
            if (!arr) return "expected an array of strings, got " + describe_node(n);
            std::vector<std::string> values;
            for (const auto& item : *arr) {
                if (!item.is_string()) {
                    return "expected an array of strings, found " + describe_node(item);
                }
                values.push_back(item.as_string()->get());
            }
            target = std::move(values);
            return {};
        },
        [&target] {
            std::string out = "[";
            for (std::size_t i = 0; i < target.size(); ++i) {
                if (i) out += ", ";
                out += toml_quote(target[i]);
            }
            return out + "]";
        });
}

void ConfigSchema::bind_choice(const std::string& key, std::string& target, std::string doc,
                               std::initializer_list<const char*> choices) {
    std::vector<std::string> allowed(choices.begin(), choices.end());
    std::string list;
    for (const auto& c : allowed)
        list += (list.empty() ? "" : ", ") + toml_quote(c);
    bind(key, target, std::move(doc) + "\nOne of: " + list + ".",
         [allowed, list](const std::string& v) -> std::string {
             for (const auto& c : allowed) {
                 if (c == v) return {};
             }
             return "expected one of " + list + ", got " + toml_quote(v);
         });
}

void ConfigSchema::bind_custom(const std::string& key, std::string doc,
                               std::function<std::string(const toml::node&)> assign,
                               std::function<std::string()> render) {
    add(key, std::move(doc), std::move(assign), std::move(render), true);
}

const ConfigSchema::Field* ConfigSchema::find(const std::string& key) const {
    for (const auto& f : fields_) {
        if (f.key == key) return &f;
    }
    return nullptr;
}

std::string ConfigSchema::render() const {
    std::string out;
    // Root keys (no section) must precede every table in TOML.
    for (const auto& f : fields_) {
        if (!f.section.empty()) continue;
        append_comment(out, f.doc);
        out += f.key + " = " + f.render() + "\n\n";
    }
    for (const auto& s : sections_) {
        append_comment(out, s.doc);
        out += "[" + s.name + "]\n";
        std::string custom_tail;
        for (const auto& f : fields_) {
            if (f.section != s.name) continue;
            std::string key = f.key.substr(s.name.size() + 1);
            if (f.custom) {
                // Custom keys are usually arrays of tables: they go after the plain keys.
                custom_tail += "\n";
                append_comment(custom_tail, f.doc);
                custom_tail += f.render();
                continue;
            }
            append_comment(out, f.doc);
            out += key + " = " + f.render() + "\n";
        }
        out += custom_tail + "\n";
    }
    return out;
}

void ConfigSchema::walk(const toml::table& table, const std::string& prefix,
                        std::vector<std::string>& errors) {
    for (const auto& [k, node] : table) {
        std::string key =
            prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
        if (const Field* f = find(key)) {
            if (std::string problem = f->assign(node); !problem.empty()) {
                errors.push_back(fmt::format("key '{}': {}", key, problem));
            }
            continue;
        }
        bool is_section = false;
        for (const auto& s : sections_) {
            if (s.name == key || s.name.rfind(key + ".", 0) == 0) is_section = true;
        }
        if (is_section && node.is_table()) {
            walk(*node.as_table(), key, errors);
        } else {
            errors.push_back(fmt::format("key '{}': unknown key", key));
        }
    }
}

void ConfigSchema::load(const toml::table& root, const std::string& origin) {
    std::vector<std::string> errors;
    walk(root, "", errors);
    if (!errors.empty()) {
        std::string msg = "invalid configuration in " + origin + ":";
        for (const auto& e : errors)
            msg += "\n  " + e;
        throw ConfigError(msg);
    }
}

void ConfigSchema::load_string(const std::string& text, const std::string& origin) {
    toml::table root;
    try {
        root = toml::parse(text, origin);
    } catch (const toml::parse_error& e) {
        const auto& where = e.source().begin;
        throw ConfigError(fmt::format("invalid configuration in {}: line {}, column {}: {}", origin,
                                      where.line, where.column, e.description()));
    }
    load(root, origin);
}

void ConfigSchema::load_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ConfigError("cannot read configuration file " + path);
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw ConfigError("cannot read configuration file " + path);
    load_string(text.str(), path);
}

}  // namespace parley
