// Errors of chat_template: where, what and which type; limits against hostile templates;
// tokenizer_config.json problems; message validation.
#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "dsv2/text/chat_template.hpp"

namespace {

const nlohmann::json one_user = nlohmann::json::array({{{"role", "user"}, {"content", "hi"}}});

std::string render(const std::string& source, const nlohmann::json& messages = one_user) {
    return dsv2::chat_template(source, "<s>", "</s>", "test.jinja").render(messages, false);
}

struct temp_dir {
    std::filesystem::path path;
    temp_dir() {
        path = std::filesystem::temp_directory_path() /
               ("dsv2_chat_" + std::to_string(reinterpret_cast<std::uintptr_t>(this)) + "_" +
                std::to_string(std::hash<std::thread::id>{}(std::this_thread::get_id())));
        std::filesystem::create_directories(path);
    }
    ~temp_dir() { std::filesystem::remove_all(path); }
    std::filesystem::path write(const std::string& name, const std::string& text) const {
        std::ofstream(path / name, std::ios::binary) << text;
        return path / name;
    }
};

}  // namespace

TEST_CASE("chat_template: syntax errors name the template, line and column", "[chat][errors]") {
    try {
        dsv2::chat_template("line one\n  {{ 1 + }}", "", "", "my.jinja");
        FAIL("no error");
    } catch (const dsv2::jinja::template_syntax_error& e) {
        CHECK(e.template_name() == "my.jinja");
        CHECK(e.line() == 2);
        CHECK(e.column() == 10);  // the '}}' where an operand was expected
        CHECK_THAT(e.what(), Catch::Contains("my.jinja") && Catch::Contains("line 2 column 10"));
    }
    CHECK_THROWS_AS(dsv2::chat_template("{% if x %}"), dsv2::jinja::template_syntax_error);
    CHECK_THROWS_AS(dsv2::chat_template("{{ 'unterminated }}"), dsv2::jinja::template_syntax_error);
    CHECK_THROWS_AS(dsv2::chat_template("{% break %}"), dsv2::jinja::template_syntax_error);
    CHECK_THROWS_AS(dsv2::chat_template("{{ x | nonexistent_filter }}"), dsv2::jinja::template_syntax_error);
    // Syntax errors are dsv2 errors.
    CHECK_THROWS_AS(dsv2::chat_template("{{ ) }}"), dsv2::error);
}

TEST_CASE("chat_template: unsupported constructs are unsupported_error naming them", "[chat][errors]") {
    auto check = [](const std::string& source, const std::string& construct) {
        INFO(source);
        try {
            dsv2::chat_template(source, "", "", "unsup.jinja");
            FAIL("no error");
        } catch (const dsv2::unsupported_error& e) {
            CHECK_THAT(e.what(), Catch::Contains("unsup.jinja") && Catch::Contains(construct) && Catch::Contains("line 1"));
        }
    };
    check("{% include 'x.jinja' %}", "include");
    check("{% extends 'base' %}", "extends");
    check("{% filter upper %}x{% endfilter %}", "filter");
    check("{% call m() %}x{% endcall %}", "call");
    check("{% for x in y recursive %}{% endfor %}", "recursive");
    check("{{ x | groupby('a') }}", "filter 'groupby'");
    check("{{ x is escaped }}", "test 'escaped'");
    check("{{ f(*args) }}", "*args");
    // At render time: printf-style formatting.
    try {
        render("{{ '%s' % 1 }}");
        FAIL("no error");
    } catch (const dsv2::unsupported_error& e) {
        CHECK_THAT(e.what(), Catch::Contains("printf-style"));
    }
}

TEST_CASE("chat_template: raise_exception carries the template's message", "[chat][errors]") {
    try {
        render("{% if messages[0].role != 'system' %}{{ raise_exception('System message required, got ' + messages[0].role) }}{% endif %}");
        FAIL("no error");
    } catch (const dsv2::jinja::template_exception& e) {
        CHECK(e.message() == "System message required, got user");
        CHECK(e.line() == 1);
        CHECK_THAT(e.what(), Catch::Contains("test.jinja"));
    }
}

TEST_CASE("chat_template: limits stop hostile templates with a typed error", "[chat][errors]") {
    auto limit_of = [](const std::string& source, dsv2::jinja::limits lim = {}) -> std::string {
        dsv2::chat_template t(source, "", "", "hostile.jinja");
        t.set_limits(lim);
        try {
            (void)t.render(one_user, false);
        } catch (const dsv2::jinja::template_limit_error& e) {
            return e.limit();
        }
        return "none";
    };
    // Endless work: nested loops over the largest range the sandbox allows.
    CHECK(limit_of("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}") == "max_steps");
    // Output growth: doubling a string.
    CHECK(limit_of("{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}") ==
          "max_output_bytes");
    CHECK(limit_of("{{ 'x' * 1000000000 }}") == "max_output_bytes");
    CHECK(limit_of("{% for i in range(100000) %}{{ 'abcdefgh' * 100 }}{% endfor %}",
                   dsv2::jinja::limits{1 << 20, 1'000'000, 256}) == "max_output_bytes");
    // Unbounded recursion.
    CHECK(limit_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}") == "max_depth");
    // Values nested without end.
    CHECK(limit_of("{% set ns = namespace(l=[]) %}{% for i in range(1000) %}{% set ns.l = [ns.l] %}{% endfor %}{{ ns.l }}") ==
          "max_depth");
    // Printing or serialising shared strings many times over is bounded before it is built.
    CHECK(limit_of("{% set s = 'x' * 40000000 %}{{ [s, s] }}") == "max_output_bytes");
    CHECK(limit_of("{% set s = 'x' * 40000000 %}{{ [s, s] | tojson }}") == "max_output_bytes");
    CHECK(limit_of("{% set s = 'x' * 40000000 %}{{ [s, s] | join }}") == "max_output_bytes");
    // One value per character is paid for before it is built.
    CHECK(limit_of("{% set s = 'x' * 2000000 %}{% for c in s %}{% endfor %}") == "max_steps");
    CHECK(limit_of("{% set s = 'x,' * 2000000 %}{{ s.split(',') | length }}") == "max_steps");
    // Reading a large string is free: values share their text.
    CHECK(limit_of("{% set s = 'x' * 60000000 %}{% for i in range(100000) %}{% if s and s[0] %}{% endif %}{% endfor %}") == "none");
    // A small step budget is honoured.
    CHECK(limit_of("{% for i in range(50) %}x{% endfor %}", dsv2::jinja::limits{1 << 20, 20, 256}) == "max_steps");
    CHECK(limit_of("{% for i in range(50) %}x{% endfor %}") == "none");
    // Deeply nested source is a syntax error at parse time, not a stack overflow.
    std::string deep(5000, '(');
    CHECK_THROWS_AS(dsv2::chat_template("{{ " + deep + "1" + std::string(5000, ')') + " }}"), dsv2::jinja::template_syntax_error);
    std::string chain = "{{ x";
    for (int k = 0; k < 5000; ++k) chain += ".a";
    CHECK_THROWS_AS(dsv2::chat_template(chain + " }}"), dsv2::jinja::template_syntax_error);
    std::string ifs;
    for (int k = 0; k < 2000; ++k) ifs += "{% if true %}";
    CHECK_THROWS_AS(dsv2::chat_template(ifs), dsv2::jinja::template_syntax_error);
}

TEST_CASE("chat_template: render errors name the template and position", "[chat][errors]") {
    try {
        render("ok\n{{ nothing.attr }}");
        FAIL("no error");
    } catch (const dsv2::jinja::template_render_error& e) {
        CHECK(e.line() == 2);
        CHECK_THAT(e.what(), Catch::Contains("'nothing' is undefined") && Catch::Contains("test.jinja"));
    }
    CHECK_THROWS_AS(render("{{ 1 // 0 }}"), dsv2::jinja::template_render_error);
    CHECK_THROWS_AS(render("{{ [1].append(2) }}"), dsv2::jinja::template_render_error);
    CHECK_THROWS_AS(render("{{ 9223372036854775807 + 1 }}"), dsv2::unsupported_error);
}

TEST_CASE("chat_template: messages are validated with input_error naming the index", "[chat][errors]") {
    using nlohmann::json;
    auto message_error = [](const json& messages) -> std::string {
        try {
            (void)dsv2::chat_template("{{ messages | length }}").render(messages, false);
        } catch (const dsv2::input_error& e) {
            return e.argument();
        }
        return "none";
    };
    CHECK(message_error(json::object()) == "messages");
    CHECK(message_error(json::array({{{"role", "user"}, {"content", "a"}}, 3})) == "messages[1]");
    CHECK(message_error(json::array({{{"content", "a"}}})) == "messages[0].role");
    CHECK(message_error(json::array({{{"role", 1}, {"content", "a"}}})) == "messages[0].role");
    CHECK(message_error(json::array({{{"role", "user"}}})) == "messages[0].content");
    CHECK(message_error(json::array({{{"role", "user"}, {"content", "a"}}, {{"role", "user"}, {"content", 5}}})) ==
          "messages[1].content");
    CHECK(message_error(json::array({{{"role", "user"}, {"content", nullptr}}})) == "none");
    CHECK(message_error(json::array()) == "none");
    CHECK_THROWS_AS(dsv2::chat_template("x").render(one_user, false, json::array()), dsv2::input_error);
    CHECK_THROWS_AS(dsv2::chat_template("x").render(one_user, false, json{{"messages", 1}}), dsv2::input_error);
}

TEST_CASE("chat_template: from_tokenizer_config reports file problems", "[chat][errors]") {
    temp_dir dir;
    auto io_path = [](const std::filesystem::path& p) -> std::string {
        try {
            (void)dsv2::chat_template::from_tokenizer_config(p);
        } catch (const dsv2::io_error& e) {
            return std::string(e.what());
        }
        return "none";
    };
    const auto missing = dir.path / "nope.json";
    CHECK_THAT(io_path(missing), Catch::Contains(missing.string()));
    const auto bad = dir.write("bad.json", "{\"chat_template\": ");
    CHECK_THAT(io_path(bad), Catch::Contains(bad.string()) && Catch::Contains("invalid JSON"));
    const auto no_field = dir.write("nofield.json", "{\"bos_token\": \"<s>\"}");
    CHECK_THAT(io_path(no_field), Catch::Contains(no_field.string()) && Catch::Contains("'chat_template'"));
    const auto wrong_type = dir.write("wrongtype.json", "{\"chat_template\": 5}");
    CHECK_THAT(io_path(wrong_type), Catch::Contains("'chat_template'"));
    const auto no_default = dir.write("nodefault.json", R"({"chat_template": [{"name": "tool_use", "template": "x"}]})");
    CHECK_THAT(io_path(no_default), Catch::Contains("'default'"));
    const auto bad_token = dir.write("badtoken.json", R"({"chat_template": "x", "bos_token": 5})");
    CHECK_THAT(io_path(bad_token), Catch::Contains("'bos_token'"));
    // A syntax error in the file's template names the file.
    const auto bad_template = dir.write("badtemplate.json", R"({"chat_template": "{% if %}"})");
    try {
        (void)dsv2::chat_template::from_tokenizer_config(bad_template);
        FAIL("no error");
    } catch (const dsv2::jinja::template_syntax_error& e) {
        CHECK_THAT(e.template_name(), Catch::Contains(bad_template.string()));
    }
    // The list form picks "default"; tokens may be AddedToken objects or plain strings.
    const auto listed = dir.write("listed.json", R"({"chat_template": [{"name": "rag", "template": "R"},
        {"name": "default", "template": "{{ bos_token }}D{{ eos_token }}{{ pad_token }}"}],
        "bos_token": {"__type": "AddedToken", "content": "<b>"}, "eos_token": "<e>", "pad_token": "<p>", "unk_token": null})");
    CHECK(dsv2::chat_template::from_tokenizer_config(listed).render(one_user, false) == "<b>D<e><p>");
}

TEST_CASE("chat_template: concurrent renders of one template agree", "[chat]") {
    const auto t = dsv2::chat_template::from_tokenizer_config(std::filesystem::path(DSV2_FIXTURE_DIR) / "chat" /
                                                              "deepseek-v3" / "tokenizer_config.json");
    const std::string expected = t.render(one_user, true);
    std::atomic<int> mismatches{0};
    std::vector<std::thread> threads;
    for (int k = 0; k < 4; ++k)
        threads.emplace_back([&] {
            for (int r = 0; r < 200; ++r)
                if (t.render(one_user, true) != expected) ++mismatches;
        });
    for (auto& th : threads) th.join();
    CHECK(mismatches == 0);
    CHECK(expected == "<｜begin▁of▁sentence｜><｜User｜>hi<｜Assistant｜>");
}

TEST_CASE("chat_template: a long conversation renders within the default limits", "[chat]") {
    const auto t = dsv2::chat_template::from_tokenizer_config(std::filesystem::path(DSV2_FIXTURE_DIR) / "chat" /
                                                              "deepseek-v3" / "tokenizer_config.json");
    nlohmann::json chat = nlohmann::json::array();
    for (int k = 0; k < 1000; ++k) {
        chat.push_back({{"role", "user"}, {"content", "question " + std::to_string(k)}});
        chat.push_back({{"role", "assistant"}, {"content", "answer " + std::to_string(k)}});
    }
    const std::string out = t.render(chat, true);
    std::size_t users = 0;
    for (std::size_t p = out.find("<｜User｜>"); p != std::string::npos; p = out.find("<｜User｜>", p + 1)) ++users;
    CHECK(users == 1000);
    CHECK(out.rfind("<｜Assistant｜>answer 999<｜end▁of▁sentence｜><｜Assistant｜>") != std::string::npos);
    // The escape filter only grows by what it escapes.
    CHECK(dsv2::chat_template("{{ ('y' * 30000000) | e | length }}").render(one_user, false) == "30000000");
}
