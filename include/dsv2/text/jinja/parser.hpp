// The Jinja2 parser: tokens → a tree of statements and expressions, with jinja2's operator
// precedence. Constructs outside the supported subset raise unsupported_error naming them.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dsv2/core/error.hpp"
#include "dsv2/text/jinja/error.hpp"
#include "dsv2/text/jinja/lexer.hpp"
#include "dsv2/text/jinja/value.hpp"

namespace dsv2::jinja {

// ------------------------------------------------------------------------------------ the tree

enum class expr_type {
    literal,    // value
    name,       // name
    list,       // kids
    tuple,      // kids
    dict,       // kids: key, value, key, value, ...
    attr,       // kids[0].name
    item,       // kids[0][kids[1]]
    slice,      // kids[0][kids[1]:kids[2]:kids[3]] (null kids are omitted bounds)
    call,       // kids[0](kids[1..], kwargs)
    filter,     // kids[0] | name(kids[1..], kwargs)
    test,       // kids[0] is [not] name(kids[1..]); negated
    unary,      // op kids[0]: "-", "+", "not"
    binary,     // kids[0] op kids[1]: + - * / // % ** ~ and or
    compare,    // kids[0] ops[0] kids[1] ops[1] kids[2] ...: == != < <= > >= in notin
    condition,  // kids[1] if kids[0] else kids[2] (kids[2] may be null)
};

struct expr;
using expr_ptr = std::unique_ptr<expr>;

struct expr {
    expr_type type;
    source_location loc;
    value literal;
    std::string name;  // name, attribute, filter, test or operator
    std::vector<expr_ptr> kids;
    std::vector<std::pair<std::string, expr_ptr>> kwargs;
    std::vector<std::string> ops;  // compare
    bool negated = false;          // test
};

enum class stmt_type { text, output, if_, for_, set, set_block, macro, break_, continue_, generation };

struct stmt;
using stmt_ptr = std::unique_ptr<stmt>;
using stmt_list = std::vector<stmt_ptr>;

struct stmt {
    stmt_type type;
    source_location loc;
    std::string text;                                      // text
    expr_ptr value;                                        // output, set, for (iterable)
    std::vector<std::pair<expr_ptr, stmt_list>> branches;  // if: (condition, body)...
    stmt_list body;                                        // for, set_block, macro, generation
    stmt_list else_body;                                   // if, for
    std::vector<std::string> targets;                      // for / set: names (set: 1 = name)
    std::string attribute;                                 // set ns.attribute
    expr_ptr filter;                                       // for ... if filter
    std::vector<std::pair<std::string, expr_ptr>> params;  // macro parameters (default may be null)
    std::string name;                                      // macro name
};

// ------------------------------------------------------------------------------------ parser

class parser {
public:
    static constexpr int max_nesting = 256;

    parser(std::vector<token> tokens, std::string template_name)
        : toks_(std::move(tokens)), name_(std::move(template_name)) {}

    stmt_list parse() {
        stmt_list body = parse_body({});
        if (cur().type != token_type::eof) fail(cur(), "unexpected '" + cur().text + "'");
        return body;
    }

private:
    const token& cur() const { return toks_[pos_]; }
    const token& peek(std::size_t n = 1) const { return toks_[std::min(pos_ + n, toks_.size() - 1)]; }
    token next() { token t = toks_[pos_]; if (pos_ + 1 < toks_.size()) ++pos_; return t; }

    [[noreturn]] void fail(const token& t, const std::string& what) const {
        throw template_syntax_error(name_, t.loc, what);
    }
    [[noreturn]] void unsupported(const token& t, const std::string& construct) const {
        throw unsupported_error(describe_location(name_, t.loc) + ": unsupported construct: " + construct);
    }

    static std::string describe(const token& t) {
        switch (t.type) {
            case token_type::eof: return "end of template";
            case token_type::var_end: return "end of print statement";
            case token_type::block_end: return "end of statement block";
            case token_type::string: return "string";
            case token_type::data: return "template data";
            default: return "'" + t.text + "'";
        }
    }

    bool at_op(const char* op) const { return cur().type == token_type::op && cur().text == op; }
    bool at_name(const char* n) const { return cur().type == token_type::name && cur().text == n; }
    void expect_op(const char* op) {
        if (!at_op(op)) fail(cur(), std::string("expected '") + op + "', got " + describe(cur()));
        next();
    }
    std::string expect_name() {
        if (cur().type != token_type::name) fail(cur(), "expected a name, got " + describe(cur()));
        return next().text;
    }
    void expect_block_end() {
        if (cur().type != token_type::block_end) fail(cur(), "expected end of statement block, got " + describe(cur()));
        next();
    }

    struct depth_guard {
        parser& p;
        explicit depth_guard(parser& owner, const token& at) : p(owner) {
            if (++p.depth_ > max_nesting)
                throw template_syntax_error(p.name_, at.loc, "nesting deeper than " + std::to_string(max_nesting) + " levels");
        }
        ~depth_guard() { --p.depth_; }
        depth_guard(const depth_guard&) = delete;
        depth_guard& operator=(const depth_guard&) = delete;
    };

    // Statements until a block whose tag is one of `ends` (left unconsumed: cur() is that name).
    stmt_list parse_body(const std::vector<std::string>& ends) {
        depth_guard guard(*this, cur());
        stmt_list body;
        for (;;) {
            const token& t = cur();
            if (t.type == token_type::eof) {
                if (!ends.empty()) fail(t, "unexpected end of template, expected '" + ends.front() + "'");
                return body;
            }
            if (t.type == token_type::data) {
                auto s = std::make_unique<stmt>();
                s->type = stmt_type::text;
                s->loc = t.loc;
                s->text = t.text;
                body.push_back(std::move(s));
                next();
            } else if (t.type == token_type::var_begin) {
                auto s = std::make_unique<stmt>();
                s->type = stmt_type::output;
                s->loc = t.loc;
                next();
                s->value = parse_tuple_expression();
                if (cur().type != token_type::var_end) fail(cur(), "expected '}}', got " + describe(cur()));
                next();
                body.push_back(std::move(s));
            } else if (t.type == token_type::block_begin) {
                const token& tag = peek();
                if (tag.type == token_type::name)
                    for (const auto& e : ends)
                        if (tag.text == e) {
                            next();
                            return body;
                        }
                next();
                body.push_back(parse_statement());
            } else {
                fail(t, "unexpected " + describe(t));
            }
        }
    }

    stmt_ptr parse_statement() {
        const token tag = cur();
        if (tag.type != token_type::name) fail(tag, "expected a statement name, got " + describe(tag));
        const std::string& n = tag.text;
        if (n == "if") return parse_if();
        if (n == "for") return parse_for();
        if (n == "set") return parse_set();
        if (n == "macro") return parse_macro();
        if (n == "generation") {
            next();
            expect_block_end();
            auto s = make_stmt(stmt_type::generation, tag);
            s->body = parse_body({"endgeneration"});
            next();
            expect_block_end();
            return s;
        }
        if (n == "break" || n == "continue") {
            if (loop_depth_ == 0) fail(tag, "'" + n + "' outside of a loop");
            next();
            expect_block_end();
            return make_stmt(n == "break" ? stmt_type::break_ : stmt_type::continue_, tag);
        }
        static const char* const known[] = {"block", "extends", "include", "import", "from", "call", "filter",
                                            "with", "autoescape", "print"};
        for (const char* k : known)
            if (n == k) unsupported(tag, "'{% " + n + " %}' statement");
        fail(tag, "encountered unknown tag '" + n + "'");
    }

    stmt_ptr make_stmt(stmt_type type, const token& at) {
        auto s = std::make_unique<stmt>();
        s->type = type;
        s->loc = at.loc;
        return s;
    }

    stmt_ptr parse_if() {
        auto s = make_stmt(stmt_type::if_, next());
        for (;;) {
            expr_ptr cond = parse_tuple_expression();
            expect_block_end();
            stmt_list body = parse_body({"elif", "else", "endif"});
            s->branches.emplace_back(std::move(cond), std::move(body));
            std::string which = next().text;
            if (which == "elif") continue;
            if (which == "else") {
                expect_block_end();
                s->else_body = parse_body({"endif"});
                next();
            }
            expect_block_end();
            return s;
        }
    }

    std::vector<std::string> parse_targets() {
        std::vector<std::string> names;
        bool paren = at_op("(");
        if (paren) next();
        names.push_back(expect_name());
        while (at_op(",")) {
            next();
            if (cur().type != token_type::name) break;
            names.push_back(expect_name());
        }
        if (paren) expect_op(")");
        return names;
    }

    stmt_ptr parse_for() {
        auto s = make_stmt(stmt_type::for_, next());
        s->targets = parse_targets();
        if (!at_name("in")) fail(cur(), "expected 'in', got " + describe(cur()));
        next();
        s->value = parse_tuple_expression(/*with_condition=*/false);
        if (at_name("if")) {
            next();
            s->filter = parse_expression();
        }
        if (at_name("recursive")) unsupported(cur(), "recursive for loops");
        expect_block_end();
        ++loop_depth_;
        s->body = parse_body({"else", "endfor"});
        --loop_depth_;
        if (next().text == "else") {
            expect_block_end();
            s->else_body = parse_body({"endfor"});
            next();
        }
        expect_block_end();
        return s;
    }

    stmt_ptr parse_set() {
        const token tag = next();
        auto s = make_stmt(stmt_type::set, tag);
        if (cur().type == token_type::name && peek().type == token_type::op && peek().text == ".") {
            s->targets.push_back(next().text);
            next();
            s->attribute = expect_name();
        } else {
            s->targets = parse_targets();
        }
        if (cur().type == token_type::block_end) {
            if (s->targets.size() != 1 || !s->attribute.empty()) fail(cur(), "a block set needs one name");
            if (at_op("|")) unsupported(cur(), "filters on block set");
            next();
            s->type = stmt_type::set_block;
            s->body = parse_body({"endset"});
            next();
            expect_block_end();
            return s;
        }
        if (at_op("|")) unsupported(cur(), "filters on block set");
        expect_op("=");
        s->value = parse_tuple_expression();
        expect_block_end();
        return s;
    }

    stmt_ptr parse_macro() {
        auto s = make_stmt(stmt_type::macro, next());
        s->name = expect_name();
        expect_op("(");
        while (!at_op(")")) {
            if (!s->params.empty()) expect_op(",");
            if (at_op(")")) break;
            std::string p = expect_name();
            expr_ptr def;
            if (at_op("=")) {
                next();
                def = parse_expression();
            }
            s->params.emplace_back(std::move(p), std::move(def));
        }
        next();
        expect_block_end();
        int saved = loop_depth_;
        loop_depth_ = 0;
        s->body = parse_body({"endmacro"});
        loop_depth_ = saved;
        next();
        if (cur().type == token_type::name && cur().text == s->name) next();
        expect_block_end();
        return s;
    }

    // ---------------------------------------------------------------- expressions

    expr_ptr make(expr_type type, source_location loc) {
        auto e = std::make_unique<expr>();
        e->type = type;
        e->loc = loc;
        return e;
    }

    // `a, b` without parentheses makes a tuple (in {{ }}, set values and for iterables).
    expr_ptr parse_tuple_expression(bool with_condition = true) {
        source_location loc = cur().loc;
        expr_ptr first = with_condition ? parse_expression() : parse_or();
        if (!at_op(",")) return first;
        auto t = make(expr_type::tuple, loc);
        t->kids.push_back(std::move(first));
        while (at_op(",")) {
            next();
            if (!starts_expression()) break;
            t->kids.push_back(with_condition ? parse_expression() : parse_or());
        }
        return t;
    }

    bool starts_expression() const {
        const token& t = cur();
        if (t.type == token_type::name || t.type == token_type::string || t.type == token_type::integer ||
            t.type == token_type::floating)
            return true;
        return t.type == token_type::op && (t.text == "(" || t.text == "[" || t.text == "{" || t.text == "-" || t.text == "+");
    }

    expr_ptr parse_expression() {
        depth_guard guard(*this, cur());
        expr_ptr e = parse_or();
        int links = 0;
        while (at_name("if")) {
            chain_guard(links, cur());
            auto c = make(expr_type::condition, next().loc);
            c->kids.push_back(parse_or());  // the condition
            c->kids.push_back(std::move(e));  // the value when true
            if (at_name("else")) {
                next();
                c->kids.push_back(parse_expression());
            } else {
                c->kids.push_back(nullptr);
            }
            e = std::move(c);
        }
        return e;
    }

    // Left-nested chains (a + b + c ..., a.b.c ..., x|f|g ...) deepen the tree without recursion
    // here: each link counts against the nesting limit, so evaluating the tree stays bounded.
    void chain_guard(int& links, const token& at) {
        if (depth_ + ++links > max_nesting)
            throw template_syntax_error(name_, at.loc, "nesting deeper than " + std::to_string(max_nesting) + " levels");
    }

    expr_ptr binary(std::string op, expr_ptr l, expr_ptr r, source_location loc) {
        auto b = make(expr_type::binary, loc);
        b->name = std::move(op);
        b->kids.push_back(std::move(l));
        b->kids.push_back(std::move(r));
        return b;
    }

    expr_ptr parse_or() {
        expr_ptr e = parse_and();
        int links = 0;
        while (at_name("or")) {
            chain_guard(links, cur());
            auto loc = next().loc;
            e = binary("or", std::move(e), parse_and(), loc);
        }
        return e;
    }

    expr_ptr parse_and() {
        expr_ptr e = parse_not();
        int links = 0;
        while (at_name("and")) {
            chain_guard(links, cur());
            auto loc = next().loc;
            e = binary("and", std::move(e), parse_not(), loc);
        }
        return e;
    }

    expr_ptr parse_not() {
        if (at_name("not")) {
            depth_guard guard(*this, cur());
            auto u = make(expr_type::unary, next().loc);
            u->name = "not";
            u->kids.push_back(parse_not());
            return u;
        }
        return parse_compare();
    }

    expr_ptr parse_compare() {
        source_location loc = cur().loc;
        expr_ptr first = parse_math1();
        expr_ptr c;
        int links = 0;
        for (;;) {
            chain_guard(links, cur());
            std::string op;
            if (cur().type == token_type::op &&
                (cur().text == "==" || cur().text == "!=" || cur().text == "<" || cur().text == "<=" ||
                 cur().text == ">" || cur().text == ">=")) {
                op = next().text;
            } else if (at_name("in")) {
                next();
                op = "in";
            } else if (at_name("not") && peek().type == token_type::name && peek().text == "in") {
                next();
                next();
                op = "notin";
            } else {
                break;
            }
            if (!c) {
                c = make(expr_type::compare, loc);
                c->kids.push_back(std::move(first));
            }
            c->ops.push_back(op);
            c->kids.push_back(parse_math1());
        }
        return c ? std::move(c) : std::move(first);
    }

    expr_ptr parse_math1() {
        expr_ptr e = parse_concat();
        int links = 0;
        while (at_op("+") || at_op("-")) {
            chain_guard(links, cur());
            token t = next();
            e = binary(t.text, std::move(e), parse_concat(), t.loc);
        }
        return e;
    }

    expr_ptr parse_concat() {
        expr_ptr e = parse_math2();
        int links = 0;
        while (at_op("~")) {
            chain_guard(links, cur());
            token t = next();
            e = binary("~", std::move(e), parse_math2(), t.loc);
        }
        return e;
    }

    expr_ptr parse_math2() {
        expr_ptr e = parse_pow();
        int links = 0;
        while (at_op("*") || at_op("/") || at_op("//") || at_op("%")) {
            chain_guard(links, cur());
            token t = next();
            e = binary(t.text, std::move(e), parse_pow(), t.loc);
        }
        return e;
    }

    expr_ptr parse_pow() {
        expr_ptr e = parse_unary(true);
        int links = 0;
        while (at_op("**")) {
            chain_guard(links, cur());
            token t = next();
            e = binary("**", std::move(e), parse_unary(true), t.loc);
        }
        return e;
    }

    expr_ptr parse_unary(bool with_filter) {
        depth_guard guard(*this, cur());
        expr_ptr e;
        if (at_op("-") || at_op("+")) {
            token t = next();
            e = make(expr_type::unary, t.loc);
            e->name = t.text;
            e->kids.push_back(parse_unary(false));
        } else {
            e = parse_primary();
        }
        e = parse_postfix(std::move(e));
        if (with_filter) e = parse_filter_expr(std::move(e));
        return e;
    }

    expr_ptr parse_primary() {
        depth_guard guard(*this, cur());
        const token t = cur();
        switch (t.type) {
            case token_type::name: {
                next();
                if (t.text == "true" || t.text == "True") return literal(value::boolean(true), t.loc);
                if (t.text == "false" || t.text == "False") return literal(value::boolean(false), t.loc);
                if (t.text == "none" || t.text == "None") return literal(value::none(), t.loc);
                auto e = make(expr_type::name, t.loc);
                e->name = t.text;
                return e;
            }
            case token_type::string: {
                std::string s;
                while (cur().type == token_type::string) s += next().text;  // adjacent literals join
                return literal(value::string(std::move(s)), t.loc);
            }
            case token_type::integer: {
                next();
                return literal(value::integer(parse_integer(t)), t.loc);
            }
            case token_type::floating: {
                next();
                return literal(value::floating(std::strtod(t.text.c_str(), nullptr)), t.loc);
            }
            case token_type::op: {
                if (t.text == "(") {
                    next();
                    if (at_op(")")) {
                        next();
                        return make(expr_type::tuple, t.loc);
                    }
                    expr_ptr e = parse_expression();
                    if (at_op(",")) {
                        auto tup = make(expr_type::tuple, t.loc);
                        tup->kids.push_back(std::move(e));
                        while (at_op(",")) {
                            next();
                            if (at_op(")")) break;
                            tup->kids.push_back(parse_expression());
                        }
                        e = std::move(tup);
                    }
                    expect_op(")");
                    return e;
                }
                if (t.text == "[") {
                    next();
                    auto e = make(expr_type::list, t.loc);
                    while (!at_op("]")) {
                        if (!e->kids.empty()) {
                            expect_op(",");
                            if (at_op("]")) break;
                        }
                        e->kids.push_back(parse_expression());
                    }
                    next();
                    return e;
                }
                if (t.text == "{") {
                    next();
                    auto e = make(expr_type::dict, t.loc);
                    while (!at_op("}")) {
                        if (!e->kids.empty()) {
                            expect_op(",");
                            if (at_op("}")) break;
                        }
                        e->kids.push_back(parse_expression());
                        expect_op(":");
                        e->kids.push_back(parse_expression());
                    }
                    next();
                    return e;
                }
                break;
            }
            default: break;
        }
        fail(t, "unexpected " + describe(t));
    }

    std::int64_t parse_integer(const token& t) const {
        std::int64_t v = 0;
        for (char c : t.text) {
            if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, c - '0', &v))
                unsupported(t, "integer literal beyond 64 bits");
        }
        return v;
    }

    expr_ptr literal(value v, source_location loc) {
        auto e = make(expr_type::literal, loc);
        e->literal = std::move(v);
        return e;
    }

    expr_ptr parse_postfix(expr_ptr e) {
        int links = 0;
        for (;;) {
            chain_guard(links, cur());
            depth_guard guard(*this, cur());
            if (at_op(".")) {
                token dot = next();
                auto a = make(cur().type == token_type::integer ? expr_type::item : expr_type::attr, dot.loc);
                if (cur().type == token_type::integer) {
                    a->kids.push_back(std::move(e));
                    a->kids.push_back(literal(value::integer(parse_integer(next())), dot.loc));
                } else {
                    a->name = expect_name();
                    a->kids.push_back(std::move(e));
                }
                e = std::move(a);
            } else if (at_op("[")) {
                e = parse_subscript(std::move(e));
            } else if (at_op("(")) {
                e = parse_call(std::move(e));
            } else {
                return e;
            }
        }
    }

    expr_ptr parse_subscript(expr_ptr target) {
        token open = next();
        expr_ptr parts[3];
        bool is_slice = false;
        int idx = 0;
        std::vector<expr_ptr> tuple_items;  // x[a, b] subscripts with a tuple, x[] with ()
        bool is_tuple = false;
        for (;;) {
            if (at_op(",") && !is_slice) {
                if (!parts[0]) fail(cur(), "unexpected ','");
                is_tuple = true;
                tuple_items.push_back(std::move(parts[0]));
                next();
                continue;
            }
            if (at_op(":")) {
                if (is_tuple) unsupported(cur(), "slices inside tuple subscripts");
                is_slice = true;
                next();
                if (++idx > 2) fail(cur(), "too many ':' in subscript");
                continue;
            }
            if (at_op("]")) break;
            if (at_op(",")) unsupported(cur(), "slices inside tuple subscripts");
            if (parts[idx]) fail(cur(), "expected ':' or ']', got " + describe(cur()));
            parts[idx] = parse_expression();
        }
        next();
        if (!is_slice && (is_tuple || !parts[0])) {
            if (parts[0]) tuple_items.push_back(std::move(parts[0]));
            auto tup = make(expr_type::tuple, open.loc);
            tup->kids = std::move(tuple_items);
            auto e = make(expr_type::item, open.loc);
            e->kids.push_back(std::move(target));
            e->kids.push_back(std::move(tup));
            return e;
        }
        if (!is_slice) {
            auto e = make(expr_type::item, open.loc);
            e->kids.push_back(std::move(target));
            e->kids.push_back(std::move(parts[0]));
            return e;
        }
        auto e = make(expr_type::slice, open.loc);
        e->kids.push_back(std::move(target));
        for (auto& p : parts) e->kids.push_back(std::move(p));
        return e;
    }

    void parse_args(expr& call) {
        expect_op("(");
        bool first = true;
        while (!at_op(")")) {
            if (!first) {
                expect_op(",");
                if (at_op(")")) break;
            }
            first = false;
            if (at_op("*") || at_op("**")) unsupported(cur(), "*args / **kwargs in calls");
            if (cur().type == token_type::name && peek().type == token_type::op && peek().text == "=") {
                std::string key = next().text;
                next();
                call.kwargs.emplace_back(std::move(key), parse_expression());
            } else {
                if (!call.kwargs.empty()) fail(cur(), "positional argument after keyword argument");
                call.kids.push_back(parse_expression());
            }
        }
        next();
    }

    expr_ptr parse_call(expr_ptr callee) {
        auto e = make(expr_type::call, cur().loc);
        e->kids.push_back(std::move(callee));
        parse_args(*e);
        return e;
    }

    std::string dotted_name() {
        std::string n = expect_name();
        while (at_op(".") && peek().type == token_type::name) {
            next();
            n += "." + next().text;
        }
        return n;
    }

    expr_ptr parse_filter_expr(expr_ptr e) {
        int links = 0;
        for (;;) {
            chain_guard(links, cur());
            depth_guard guard(*this, cur());
            if (at_op("|")) {
                token bar = next();
                auto f = make(expr_type::filter, bar.loc);
                f->name = dotted_name();
                f->kids.push_back(std::move(e));
                if (at_op("(")) parse_args(*f);
                e = std::move(f);
            } else if (at_name("is")) {
                token is = next();
                auto t = make(expr_type::test, is.loc);
                if (at_name("not")) {
                    next();
                    t->negated = true;
                }
                t->name = dotted_name();
                t->kids.push_back(std::move(e));
                if (at_op("(")) {
                    parse_args(*t);
                } else if ((cur().type == token_type::name || cur().type == token_type::string ||
                            cur().type == token_type::integer || cur().type == token_type::floating ||
                            at_op("(") || at_op("[") || at_op("{")) &&
                           !at_name("else") && !at_name("or") && !at_name("and")) {
                    if (at_name("is")) fail(cur(), "you cannot chain multiple tests with is");
                    t->kids.push_back(parse_postfix(parse_primary()));
                }
                e = std::move(t);
            } else if (at_op("(")) {
                e = parse_call(std::move(e));
            } else {
                return e;
            }
        }
    }

    std::vector<token> toks_;
    std::string name_;
    std::size_t pos_ = 0;
    int depth_ = 0;
    int loop_depth_ = 0;
};

}  // namespace dsv2::jinja
