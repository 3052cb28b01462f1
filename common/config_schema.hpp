// ConfigSchema: the single description of a mode's TOML configuration.
//
// Each mode's config struct describes itself once (`describe(ConfigSchema&)`): every key binds
// to a member with its documentation and its validation. The same description renders the
// documented default file (`--print-default-config`) and loads a user's file: every key is
// type-checked and validated, unknown keys are errors, and every problem names its key.
// A load either succeeds completely or throws ConfigError; callers load into a fresh struct,
// so no mode ever runs on a half-read file. Not thread-safe; used at start-up only.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

namespace toml {
inline namespace v3 {
class node;
class table;
}  // namespace v3
}  // namespace toml

namespace parley {

class ConfigError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

class ConfigSchema {
  public:
    // Starts a `[name]` section; the keys bound after it live in that section.
    void section(std::string name, std::string doc);

    void bind(const std::string& key, bool& target, std::string doc);
    void bind(const std::string& key, std::string& target, std::string doc,
              std::function<std::string(const std::string&)> check = {});
    // An integer within [min, max].
    void bind(const std::string& key, std::int64_t& target, std::string doc, std::int64_t min,
              std::int64_t max);
    void bind(const std::string& key, int& target, std::string doc, int min, int max);
    void bind(const std::string& key, double& target, std::string doc, double min, double max);
    void bind(const std::string& key, std::vector<std::string>& target, std::string doc);
    // A string that must be one of `choices`.
    void bind_choice(const std::string& key, std::string& target, std::string doc,
                     std::initializer_list<const char*> choices);

    // A key whose value is handled by the caller (for example an array of tables). `assign`
    // returns an empty string on success or the problem; `render` gives the TOML text of the
    // default (may be a commented example).
    void bind_custom(const std::string& key, std::string doc,
                     std::function<std::string(const toml::node&)> assign,
                     std::function<std::string()> render);

    // The documented default configuration as TOML text.
    std::string render() const;

    // Applies a parsed table; throws ConfigError listing every problem found.
    void load(const toml::table& root, const std::string& origin);
    // Reads and applies a file.
    void load_file(const std::string& path);
    // Applies TOML text (used by tests and by --config -).
    void load_string(const std::string& text, const std::string& origin);

  private:
    struct Field {
        std::string key;  // dotted, including the section
        std::string section;
        std::string doc;
        std::function<std::string(const toml::node&)> assign;
        std::function<std::string()> render;
        bool custom = false;
    };
    struct Section {
        std::string name;
        std::string doc;
    };

    std::string full_key(const std::string& key) const;
    void add(const std::string& key, std::string doc,
             std::function<std::string(const toml::node&)> assign,
             std::function<std::string()> render, bool custom = false);
    void walk(const toml::table& table, const std::string& prefix,
              std::vector<std::string>& errors);
    const Field* find(const std::string& key) const;

    std::vector<Section> sections_;
    std::vector<Field> fields_;
    std::string current_section_;
};

// Quotes a string as a TOML basic string.
std::string toml_quote(const std::string& s);

}  // namespace parley
