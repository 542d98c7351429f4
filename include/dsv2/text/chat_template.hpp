// Hugging Face chat templates (tokenizer_config.json's `chat_template`), rendered as transformers
// renders them: a Jinja2 subset (dsv2/text/jinja) run with the environment transformers sets up
// (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, raise_exception,
// strftime_now and its own tojson). See docs/chat_templates.md for the subset and the limits.
#pragma once

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "dsv2/core/error.hpp"
#include "dsv2/io/json_file.hpp"
#include "dsv2/text/jinja/error.hpp"
#include "dsv2/text/jinja/interpreter.hpp"
#include "dsv2/text/jinja/lexer.hpp"
#include "dsv2/text/jinja/parser.hpp"
#include "dsv2/text/jinja/value.hpp"

namespace dsv2 {

/// One turn of a conversation.
struct chat_message {
    std::string role;
    std::string content;
};

/// A parsed chat template. Parsing happens once, in the constructor (syntax errors and
/// unsupported constructs are reported there); render() is const and may run concurrently.
class chat_template {
public:
    /// Reads `chat_template` (a string, or a list of {name, template} of which "default" is used;
    /// without the field, a chat_template.jinja file next to the config), `bos_token` and
    /// `eos_token` (strings or AddedToken objects {"content": ...}), and `pad_token`/`unk_token`
    /// when set (transformers passes its special tokens to the template too).
    static chat_template from_tokenizer_config(const std::filesystem::path& tokenizer_config_json) {
        const std::string path = tokenizer_config_json.string();
        const nlohmann::json config = io::read_json_file(tokenizer_config_json, "a tokenizer_config.json file");
        if (!config.is_object()) throw io_error(path, "the top level is not a JSON object");

        std::string source;
        std::string name = path + ": chat_template";
        auto field = config.find("chat_template");
        if (field == config.end() || field->is_null()) {
            auto jinja_file = tokenizer_config_json.parent_path() / "chat_template.jinja";
            std::ifstream tf(jinja_file, std::ios::binary);
            if (!tf) throw io_error(path, "no 'chat_template' field (and no chat_template.jinja next to it)");
            std::stringstream t;
            t << tf.rdbuf();
            source = t.str();
            name = jinja_file.string();
        } else if (field->is_string()) {
            source = field->get<std::string>();
        } else if (field->is_array()) {
            bool found = false;
            for (std::size_t k = 0; k < field->size(); ++k) {
                const auto& entry = (*field)[k];
                if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() ||
                    !entry.contains("template") || !entry["template"].is_string())
                    throw io_error(path, "'chat_template[" + std::to_string(k) + "]' is not an object with string 'name' and 'template'");
                if (entry["name"] == "default") {
                    source = entry["template"].get<std::string>();
                    found = true;
                }
            }
            if (!found) throw io_error(path, "'chat_template' lists no template named 'default'");
            name = path + ": chat_template 'default'";
        } else {
            throw io_error(path, "'chat_template' is neither a string nor a list of {name, template}");
        }
        chat_template t(std::move(source), token_field(config, "bos_token", path), token_field(config, "eos_token", path),
                        std::move(name));
        for (const char* extra : {"pad_token", "unk_token"}) {
            auto it = config.find(extra);
            if (it != config.end() && !it->is_null()) t.defaults_[extra] = token_field(config, extra, path);
        }
        return t;
    }

    explicit chat_template(std::string source, std::string bos_token = "", std::string eos_token = "",
                           std::string name = "chat_template")
        : source_(std::move(source)), bos_(std::move(bos_token)), eos_(std::move(eos_token)), name_(std::move(name)) {
        jinja::lexer lex(source_, name_);
        jinja::parser p(lex.tokenize(), name_);
        auto tree = std::make_shared<jinja::stmt_list>(p.parse());
        jinja::tree_checker(name_).check(*tree);
        tree_ = std::move(tree);
    }

    /// Renders `messages` (an array of objects with a string "role" and a string or null
    /// "content"; other keys pass through). `extra` adds or overrides template variables, as the
    /// kwargs of transformers' apply_chat_template do (e.g. {"tools": [...], "thinking": true}).
    /// nlohmann::json sorts object keys; use render_ordered() where a template prints or
    /// iterates a dict and the order must be the caller's.
    std::string render(const nlohmann::json& messages, bool add_generation_prompt,
                       const nlohmann::json& extra = nlohmann::json::object()) const {
        return render_impl(messages, add_generation_prompt, extra);
    }

    std::string render_ordered(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                               const nlohmann::ordered_json& extra = nlohmann::ordered_json::object()) const {
        return render_impl(messages, add_generation_prompt, extra);
    }

    std::string render(const std::vector<chat_message>& messages, bool add_generation_prompt) const {
        nlohmann::ordered_json list = nlohmann::ordered_json::array();
        for (const auto& m : messages) list.push_back({{"role", m.role}, {"content", m.content}});
        return render_impl(list, add_generation_prompt, nlohmann::ordered_json::object());
    }

    const std::string& source() const noexcept { return source_; }
    const std::string& name() const noexcept { return name_; }
    const std::string& bos_token() const noexcept { return bos_; }
    const std::string& eos_token() const noexcept { return eos_; }
    const jinja::limits& limits() const noexcept { return limits_; }
    void set_limits(const jinja::limits& lim) { limits_ = lim; }

private:
    static std::string token_field(const nlohmann::json& config, const char* key, const std::string& path) {
        auto it = config.find(key);
        if (it == config.end() || it->is_null()) return "";
        if (it->is_string()) return it->get<std::string>();
        if (it->is_object()) {
            auto c = it->find("content");
            if (c != it->end() && c->is_string()) return c->get<std::string>();
        }
        throw io_error(path, std::string("'") + key + "' is neither a string nor an object with a string 'content'");
    }

    template <class Json>
    static void validate(const Json& messages) {
        if (!messages.is_array()) throw input_error("messages", "must be a JSON array of message objects");
        for (std::size_t k = 0; k < messages.size(); ++k) {
            const auto& m = messages[k];
            const std::string at = "messages[" + std::to_string(k) + "]";
            if (!m.is_object()) throw input_error(at, "must be an object with 'role' and 'content'");
            auto role = m.find("role");
            if (role == m.end() || !role->is_string()) throw input_error(at + ".role", "must be a string");
            auto content = m.find("content");
            if (content == m.end()) throw input_error(at + ".content", "is missing (use null for none)");
            if (!content->is_string() && !content->is_null()) throw input_error(at + ".content", "must be a string or null");
        }
    }

    template <class Json>
    std::string render_impl(const Json& messages, bool add_generation_prompt, const Json& extra) const {
        validate(messages);
        if (!extra.is_object()) throw input_error("extra", "must be a JSON object of template variables");
        jinja::variables vars;
        try {
            vars.emplace_back("messages", jinja::from_json(messages));
            vars.emplace_back("tools", jinja::value::none());
            vars.emplace_back("documents", jinja::value::none());
            vars.emplace_back("add_generation_prompt", jinja::value::boolean(add_generation_prompt));
            vars.emplace_back("bos_token", jinja::value::string(bos_));
            vars.emplace_back("eos_token", jinja::value::string(eos_));
            for (auto it = defaults_.begin(); it != defaults_.end(); ++it)
                vars.emplace_back(it.key(), jinja::from_json(it.value()));
            for (auto it = extra.begin(); it != extra.end(); ++it) {
                if (it.key() == "messages" || it.key() == "add_generation_prompt")
                    throw input_error("extra." + it.key(), "is set by the render() arguments");
                vars.emplace_back(it.key(), jinja::from_json(it.value()));
            }
        } catch (const jinja::value_error& e) {
            throw input_error("messages", e.what());
        }
        jinja::interpreter run(name_, limits_);
        return run.render(*tree_, vars);
    }

    std::string source_;
    std::string bos_;
    std::string eos_;
    std::string name_;
    nlohmann::json defaults_ = nlohmann::json::object();
    jinja::limits limits_;
    std::shared_ptr<const jinja::stmt_list> tree_;
};

}  // namespace dsv2
