// Every chat-template fixture rendered byte for byte as jinja2 renders it in transformers'
// environment (tests/fixtures/chat, written by tools/fixtures/make_chat_fixtures.py).
#include <catch2/catch.hpp>

#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "dsv2/text/chat_template.hpp"

namespace {

const std::filesystem::path chat_dir = std::filesystem::path(DSV2_FIXTURE_DIR) / "chat";
const char* const models[] = {"deepseek-v2", "deepseek-v2.5", "deepseek-v3", "deepseek-r1", "deepseek-v3.1"};

nlohmann::ordered_json read_json(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    REQUIRE(in);
    std::stringstream s;
    s << in.rdbuf();
    return nlohmann::ordered_json::parse(s.str());
}

// Renders one case and checks it against the expectation: output, raise, render or syntax error.
void check_case(const nlohmann::ordered_json& c, const std::function<dsv2::chat_template()>& make) {
    const std::string name = c["name"].get<std::string>();
    INFO("case " << name);
    const auto& messages = c["messages"];
    const bool agp = c["add_generation_prompt"].get<bool>();
    const auto& extra = c["extra"];
    if (c.contains("output")) {
        dsv2::chat_template t = make();
        const std::string got = t.render_ordered(messages, agp, extra);
        CHECK(got == c["output"].get<std::string>());
        // The same through nlohmann::json (sorted keys): these templates never print a dict's key order...
        if (name.find("print") == std::string::npos && name.find("tojson") == std::string::npos &&
            name.find("filter_first_last") == std::string::npos && name.find("dict_methods") == std::string::npos &&
            name.find("filter_attr") == std::string::npos && name.find("filter_sort") == std::string::npos &&
            name.find("filter_list_items") == std::string::npos)
            CHECK(t.render(nlohmann::json::parse(messages.dump()), agp, nlohmann::json::parse(extra.dump())) ==
                  c["output"].get<std::string>());
        // ... and rendering twice gives the same text (nothing leaks between renders).
        CHECK(t.render_ordered(messages, agp, extra) == got);
        return;
    }
    const std::string kind = c["error"].get<std::string>();
    if (kind == "syntax") {
        try {
            (void)make();
            FAIL("expected a syntax error");
        } catch (const dsv2::jinja::template_syntax_error& e) {
            INFO(e.what());
            CHECK(e.line() == c["line"].get<std::size_t>());
        }
        return;
    }
    dsv2::chat_template t = make();
    if (kind == "raise") {
        try {
            (void)t.render_ordered(messages, agp, extra);
            FAIL("expected raise_exception");
        } catch (const dsv2::jinja::template_exception& e) {
            CHECK(e.message() == c["message"].get<std::string>());
        }
        return;
    }
    REQUIRE(kind == "render");
    INFO("jinja2: " << c["python"].get<std::string>());
    try {
        (void)t.render_ordered(messages, agp, extra);
        FAIL("expected a render error");
    } catch (const dsv2::jinja::template_exception&) {
        FAIL("raise_exception where jinja2 failed otherwise");
    } catch (const dsv2::jinja::template_render_error&) {
        SUCCEED();
    }
}

}  // namespace

TEST_CASE("chat_template: DeepSeek templates render as transformers renders them", "[chat]") {
    for (const char* model : models) {
        INFO("model " << model);
        const auto config = chat_dir / model / "tokenizer_config.json";
        const auto fixture = read_json(chat_dir / model / "renders.json");
        REQUIRE(fixture["cases"].size() >= 20);
        const dsv2::chat_template t = dsv2::chat_template::from_tokenizer_config(config);
        CHECK(t.bos_token() == "<｜begin▁of▁sentence｜>");
        CHECK(t.eos_token() == "<｜end▁of▁sentence｜>");
        for (const auto& c : fixture["cases"]) check_case(c, [&] { return t; });
    }
}

TEST_CASE("chat_template: hand-written templates match jinja2 construct by construct", "[chat]") {
    const auto fixture = read_json(chat_dir / "templates.json");
    REQUIRE(fixture["cases"].size() >= 90);
    for (const auto& c : fixture["cases"]) {
        check_case(c, [&] {
            return dsv2::chat_template(c["template"].get<std::string>(), c["bos_token"].get<std::string>(),
                                       c["eos_token"].get<std::string>(), c["name"].get<std::string>());
        });
    }
}

TEST_CASE("chat_template: the chat_message overload equals the JSON one", "[chat]") {
    const auto t = dsv2::chat_template::from_tokenizer_config(chat_dir / "deepseek-v3" / "tokenizer_config.json");
    const std::vector<dsv2::chat_message> chat = {{"system", "S"}, {"user", "U"}, {"assistant", "A"}};
    const nlohmann::json j = nlohmann::json::array({{{"role", "system"}, {"content", "S"}},
                                                    {{"role", "user"}, {"content", "U"}},
                                                    {{"role", "assistant"}, {"content", "A"}}});
    CHECK(t.render(chat, true) == t.render(j, true));
    CHECK(t.render(chat, false) ==
          "<｜begin▁of▁sentence｜>S<｜User｜>U<｜Assistant｜>A<｜end▁of▁sentence｜>");
}
