// The Jinja2 evaluator: runs a parsed template against variables, with the semantics of
// jinja2.sandbox.ImmutableSandboxedEnvironment as transformers configures it (see
// docs/chat_templates.md): Python values, jinja2's Undefined, the supported filters, tests,
// methods and globals, and limits on output size, steps and depth.
#pragma once

#include <cmath>
#include <cstdint>
#include <ctime>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "dsv2/core/error.hpp"
#include "dsv2/text/jinja/error.hpp"
#include "dsv2/text/jinja/parser.hpp"
#include "dsv2/text/jinja/value.hpp"

namespace dsv2::jinja {

// 128-bit intermediates detect 64-bit overflow (Python ints are unbounded; dsv2 stops at 64 bits).
__extension__ typedef __int128 wide_int;

/// Guards against hostile templates. Hitting one throws template_limit_error naming it.
struct limits {
    std::size_t max_output_bytes = std::size_t{64} << 20;  ///< any string, the output included
    std::uint64_t max_steps = 1'000'000;  ///< statements, loop iterations, calls, elements filtered
    int max_depth = 256;                  ///< macro call nesting (evaluation frames: 8x this)
};

/// A template's variables: name → value (the render kwargs of jinja2).
using variables = std::vector<std::pair<std::string, value>>;

/// Filters and tests jinja2 has but this interpreter does not: using one is unsupported_error
/// (any other unknown name is a syntax error, as jinja2 reports it when compiling).
inline bool is_jinja_builtin_filter(const std::string& n) {
    static const char* const all[] = {"abs", "attr", "batch", "capitalize", "center", "count", "d", "default",
        "dictsort", "e", "escape", "filesizeformat", "first", "float", "forceescape", "format", "groupby", "indent",
        "int", "join", "last", "length", "list", "lower", "items", "map", "min", "max", "pprint", "random",
        "reject", "rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr", "slice", "sort",
        "string", "striptags", "sum", "title", "trim", "truncate", "unique", "upper", "urlencode", "urlize",
        "wordcount", "wordwrap", "xmlattr", "tojson"};
    for (const char* a : all)
        if (n == a) return true;
    return false;
}

inline bool is_jinja_builtin_test(const std::string& n) {
    static const char* const all[] = {"odd", "even", "divisibleby", "defined", "undefined", "filter", "test",
        "none", "boolean", "false", "true", "integer", "float", "lower", "upper", "string", "mapping", "number",
        "sequence", "iterable", "callable", "sameas", "escaped", "in", "==", "eq", "equalto", "!=", "ne", ">",
        "gt", "greaterthan", "ge", ">=", "<", "lt", "lessthan", "<=", "le"};
    for (const char* a : all)
        if (n == a) return true;
    return false;
}

inline bool is_supported_filter(const std::string& n) {
    static const char* const all[] = {"abs", "attr", "capitalize", "count", "d", "default", "e", "escape",
        "first", "float", "indent", "int", "join", "last", "length", "list", "lower", "items", "map", "reject",
        "rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr", "sort", "string", "sum",
        "title", "trim", "upper", "tojson", "wordcount"};
    for (const char* a : all)
        if (n == a) return true;
    return false;
}

inline bool is_supported_test(const std::string& n) {
    static const char* const all[] = {"odd", "even", "divisibleby", "defined", "undefined", "none", "boolean",
        "false", "true", "integer", "float", "lower", "upper", "string", "mapping", "number", "sequence",
        "iterable", "callable", "sameas", "in", "==", "eq", "equalto", "!=", "ne", ">", "gt", "greaterthan", "ge",
        ">=", "<", "lt", "lessthan", "<=", "le", "filter", "test"};
    for (const char* a : all)
        if (n == a) return true;
    return false;
}

/// Checks a parsed tree once: unknown filters and tests are syntax errors (as in jinja2),
/// jinja2 builtins outside the subset are unsupported_error.
class tree_checker {
public:
    explicit tree_checker(std::string name) : name_(std::move(name)) {}

    void check(const stmt_list& body) {
        for (const auto& s : body) check(*s);
    }

private:
    void check(const stmt& s) {
        check(s.value.get());
        check(s.filter.get());
        for (const auto& [cond, body] : s.branches) {
            check(cond.get());
            check(body);
        }
        check(s.body);
        check(s.else_body);
        for (const auto& p : s.params) check(p.second.get());
    }
    void check(const expr* e) {
        if (!e) return;
        if (e->type == expr_type::filter) {
            if (!is_jinja_builtin_filter(e->name))
                throw template_syntax_error(name_, e->loc, "no filter named '" + e->name + "'");
            if (!is_supported_filter(e->name))
                throw unsupported_error(describe_location(name_, e->loc) + ": unsupported construct: filter '" + e->name + "'");
        }
        if (e->type == expr_type::test) {
            if (!is_jinja_builtin_test(e->name))
                throw template_syntax_error(name_, e->loc, "no test named '" + e->name + "'");
            if (!is_supported_test(e->name))
                throw unsupported_error(describe_location(name_, e->loc) + ": unsupported construct: test '" + e->name + "'");
        }
        for (const auto& k : e->kids) check(k.get());
        for (const auto& k : e->kwargs) check(k.second.get());
    }
    std::string name_;
};

/// One rendering: the frames of variables, the step and depth counters. Not shared between
/// threads; the tree it runs is only read.
class interpreter {
public:
    interpreter(std::string template_name, limits lim) : name_(std::move(template_name)), lim_(lim) {
        for (const char* g : {"range", "namespace", "dict", "raise_exception", "strftime_now"}) {
            auto fn = std::make_shared<callable_obj>();
            fn->kind = callable_obj::type::global;
            fn->name = g;
            value v;
            v.kind = value_kind::callable;
            v.fn = std::move(fn);
            globals_.vars.emplace_back(g, std::move(v));
        }
        root_.parent = &globals_;
    }

    std::string render(const stmt_list& body, const variables& vars) {
        for (const auto& [k, v] : vars) set_var(root_, k, v);
        std::string out;
        exec_body(body, root_, out);
        return out;
    }

private:
    struct frame {
        std::vector<std::pair<std::string, value>> vars;
        frame* parent = nullptr;
    };
    enum class flow { normal, break_, continue_ };
    struct macro_def {
        const stmt* node;
    };
    using kwargs_t = std::vector<std::pair<std::string, value>>;

    // ---------------------------------------------------------------- errors and limits

    [[noreturn]] void fail(source_location loc, const std::string& what) const {
        throw template_render_error(name_, loc, what);
    }
    [[noreturn]] void unsupported(source_location loc, const std::string& construct) const {
        throw unsupported_error(describe_location(name_, loc) + ": unsupported construct: " + construct);
    }
    void tick(source_location loc, std::uint64_t n = 1) {
        steps_ += n;
        if (steps_ > lim_.max_steps)
            throw template_limit_error(name_, loc, "max_steps",
                                       "more than " + std::to_string(lim_.max_steps) + " evaluation steps");
    }
    void check_size(source_location loc, std::size_t n) {
        if (n > lim_.max_output_bytes)
            throw template_limit_error(name_, loc, "max_output_bytes",
                                       "a string or the output would exceed " + std::to_string(lim_.max_output_bytes) + " bytes");
    }
    value make_string(source_location loc, std::string s) {
        check_size(loc, s.size());
        tick(loc, s.size() / 256);
        return value::string(std::move(s));
    }
    void emit(std::string& out, const std::string& s, source_location loc) {
        check_size(loc, out.size() + s.size());
        tick(loc, s.size() / 256);
        out += s;
    }
    struct depth_scope {
        interpreter& in;
        depth_scope(interpreter& owner, source_location loc) : in(owner) {
            if (++in.frames_ > 8 * in.lim_.max_depth)
                throw template_limit_error(in.name_, loc, "max_depth",
                                           "evaluation nested deeper than " + std::to_string(8 * in.lim_.max_depth) + " frames");
        }
        ~depth_scope() { --in.frames_; }
        depth_scope(const depth_scope&) = delete;
        depth_scope& operator=(const depth_scope&) = delete;
    };

    // ---------------------------------------------------------------- variables

    static value* find_in(frame& f, const std::string& name) {
        for (auto& [k, v] : f.vars)
            if (k == name) return &v;
        return nullptr;
    }
    static void set_var(frame& f, const std::string& name, value v) {
        if (value* slot = find_in(f, name)) *slot = std::move(v);
        else f.vars.emplace_back(name, std::move(v));
    }
    static value lookup(frame& f, const std::string& name) {
        for (frame* p = &f; p; p = p->parent)
            if (value* v = find_in(*p, name)) return *v;
        return value::undefined(name);
    }

    // ---------------------------------------------------------------- statements

    flow exec_body(const stmt_list& body, frame& f, std::string& out) {
        for (const auto& s : body) {
            flow fl = exec(*s, f, out);
            if (fl != flow::normal) return fl;
        }
        return flow::normal;
    }

    flow exec(const stmt& s, frame& f, std::string& out) {
        depth_scope guard(*this, s.loc);
        tick(s.loc);
        try {
            return exec_inner(s, f, out);
        } catch (const value_error& err) {
            rethrow(err, s.loc);
        }
    }

    [[noreturn]] void rethrow(const value_error& err, source_location loc) const {
        if (const auto* limit = dynamic_cast<const value_limit_error*>(&err))
            throw template_limit_error(name_, loc, limit->limit(), err.what());
        fail(loc, err.what());
    }

    flow exec_inner(const stmt& s, frame& f, std::string& out) {
        switch (s.type) {
            case stmt_type::text: emit(out, s.text, s.loc); return flow::normal;
            case stmt_type::output: {
                value v = eval(*s.value, f);
                std::string text;
                try {
                    text = to_str(v, lim_.max_output_bytes);
                } catch (const value_error& e) {
                    rethrow(e, s.loc);
                }
                emit(out, text, s.loc);
                return flow::normal;
            }
            case stmt_type::if_: {
                for (const auto& [cond, body] : s.branches)
                    if (truthy(eval(*cond, f))) return exec_body(body, f, out);
                return exec_body(s.else_body, f, out);
            }
            case stmt_type::for_: return exec_for(s, f, out);
            case stmt_type::set: {
                value v = eval(*s.value, f);
                if (!s.attribute.empty()) {
                    value target = lookup(f, s.targets[0]);
                    if (target.kind != value_kind::ns)
                        fail(s.loc, "cannot assign attribute on non-namespace object");
                    if (v.holds_namespace())
                        unsupported(s.loc, "storing a namespace inside a namespace");
                    if (value* slot = target.ns->find(s.attribute)) *slot = std::move(v);
                    else target.ns->attrs.emplace_back(s.attribute, std::move(v));
                } else {
                    assign_targets(s.targets, v, f, s.loc);
                }
                return flow::normal;
            }
            case stmt_type::set_block: {
                std::string captured;
                frame inner{{}, &f};
                exec_body(s.body, inner, captured);
                set_var(f, s.targets[0], value::string(std::move(captured)));
                return flow::normal;
            }
            case stmt_type::macro: {
                auto fn = std::make_shared<callable_obj>();
                fn->kind = callable_obj::type::macro;
                fn->name = s.name;
                fn->macro = &s;
                value v;
                v.kind = value_kind::callable;
                v.fn = std::move(fn);
                set_var(f, s.name, std::move(v));
                return flow::normal;
            }
            case stmt_type::break_: return flow::break_;
            case stmt_type::continue_: return flow::continue_;
            case stmt_type::generation: return exec_body(s.body, f, out);
        }
        return flow::normal;
    }

    void assign_targets(const std::vector<std::string>& targets, const value& v, frame& f, source_location loc) {
        if (targets.size() == 1) {
            set_var(f, targets[0], v);
            return;
        }
        std::vector<value> items = iterate(v, loc);
        if (items.size() != targets.size())
            fail(loc, (items.size() > targets.size() ? "too many values to unpack (expected " : "not enough values to unpack (expected ") +
                          std::to_string(targets.size()) + ", got " + std::to_string(items.size()) + ")");
        for (std::size_t k = 0; k < targets.size(); ++k) set_var(f, targets[k], items[k]);
    }

    flow exec_for(const stmt& s, frame& f, std::string& out) {
        std::vector<value> items = iterate(eval(*s.value, f), s.value->loc);
        if (s.filter) {
            std::vector<value> kept;
            for (auto& item : items) {
                tick(s.loc);
                frame probe{{}, &f};
                assign_targets(s.targets, item, probe, s.loc);
                if (truthy(eval(*s.filter, probe))) kept.push_back(std::move(item));
            }
            items = std::move(kept);
        }
        const auto n = static_cast<std::int64_t>(items.size());
        for (std::int64_t k = 0; k < n; ++k) {
            tick(s.loc);
            frame inner{{}, &f};
            assign_targets(s.targets, items[static_cast<std::size_t>(k)], inner, s.loc);
            static const char* const names[] = {"index", "index0", "revindex", "revindex0", "first", "last",
                                                "length", "depth", "depth0", "previtem", "nextitem"};
            static const std::vector<value> keys = [] {
                std::vector<value> v;
                for (const char* name : names) v.push_back(value::string(name));
                return v;
            }();
            std::vector<std::pair<value, value>> loop;
            loop.reserve(11);
            loop.emplace_back(keys[0], value::integer(k + 1));
            loop.emplace_back(keys[1], value::integer(k));
            loop.emplace_back(keys[2], value::integer(n - k));
            loop.emplace_back(keys[3], value::integer(n - k - 1));
            loop.emplace_back(keys[4], value::boolean(k == 0));
            loop.emplace_back(keys[5], value::boolean(k == n - 1));
            loop.emplace_back(keys[6], value::integer(n));
            loop.emplace_back(keys[7], value::integer(1));
            loop.emplace_back(keys[8], value::integer(0));
            if (k > 0) loop.emplace_back(keys[9], items[static_cast<std::size_t>(k - 1)]);
            if (k + 1 < n) loop.emplace_back(keys[10], items[static_cast<std::size_t>(k + 1)]);
            set_var(inner, "loop", value::make_dict(std::move(loop), /*unique_keys=*/true));
            if (exec_body(s.body, inner, out) == flow::break_) break;
        }
        if (n == 0) return exec_body(s.else_body, f, out);
        return flow::normal;
    }

    /// Python iteration: lists and tuples, a dict's keys, a string's characters; Undefined is empty.
    std::vector<value> iterate(const value& v, source_location loc) {
        switch (v.kind) {
            case value_kind::undefined: return {};
            case value_kind::list: tick(loc, v.list->items.size() / 16); return v.list->items;
            case value_kind::dict: {
                std::vector<value> keys;
                for (const auto& kv : v.dict->items) keys.push_back(kv.first);
                return keys;
            }
            case value_kind::string: {
                tick(loc, utf8_length(v.s()));  // one value per character: paid for before it is built
                std::vector<value> chars;
                for (char32_t c : decode_utf8(v.s())) {
                    std::string one;
                    append_utf8(one, c);
                    chars.push_back(value::string(std::move(one)));
                }
                return chars;
            }
            default: fail(loc, std::string("'") + type_name(v) + "' object is not iterable");
        }
    }

    // ---------------------------------------------------------------- expressions

    value eval(const expr& e, frame& f) {
        depth_scope guard(*this, e.loc);
        try {
            return eval_inner(e, f);
        } catch (const value_error& err) {
            rethrow(err, e.loc);
        }
    }

    value eval_inner(const expr& e, frame& f) {
        switch (e.type) {
            case expr_type::literal: return e.literal;
            case expr_type::name: return lookup(f, e.name);
            case expr_type::list:
            case expr_type::tuple: {
                std::vector<value> items;
                for (const auto& k : e.kids) items.push_back(eval(*k, f));
                return value::make_list(std::move(items), e.type == expr_type::tuple);
            }
            case expr_type::dict: {
                std::vector<std::pair<value, value>> items;
                for (std::size_t k = 0; k + 1 < e.kids.size(); k += 2) {
                    value key = eval(*e.kids[k], f);
                    if (key.kind == value_kind::list && !key.list->tuple) fail(e.loc, "unhashable type: 'list'");
                    if (key.kind == value_kind::dict) fail(e.loc, "unhashable type: 'dict'");
                    items.emplace_back(std::move(key), eval(*e.kids[k + 1], f));
                }
                return value::make_dict(std::move(items));
            }
            case expr_type::attr: return get_attr(eval(*e.kids[0], f), e.name, e.loc, e.kids[0].get());
            case expr_type::item: return get_item(eval(*e.kids[0], f), eval(*e.kids[1], f), e.loc, e.kids[0].get());
            case expr_type::slice: return eval_slice(e, f);
            case expr_type::call: return eval_call(e, f);
            case expr_type::filter: {
                value input = eval(*e.kids[0], f);
                std::vector<value> args;
                for (std::size_t k = 1; k < e.kids.size(); ++k) args.push_back(eval(*e.kids[k], f));
                kwargs_t kw;
                for (const auto& [n, x] : e.kwargs) kw.emplace_back(n, eval(*x, f));
                tick(e.loc);
                return apply_filter(e.name, input, args, kw, e.loc);
            }
            case expr_type::test: {
                value input = eval(*e.kids[0], f);
                std::vector<value> args;
                for (std::size_t k = 1; k < e.kids.size(); ++k) args.push_back(eval(*e.kids[k], f));
                bool r = apply_test(e.name, input, args, e.loc);
                return value::boolean(e.negated ? !r : r);
            }
            case expr_type::unary: {
                value v = eval(*e.kids[0], f);
                if (e.name == "not") return value::boolean(!truthy(v));
                check_defined(v, e.loc);
                if (v.kind == value_kind::floating) return value::floating(e.name == "-" ? -v.f : v.f);
                if (!v.is_integral()) fail(e.loc, std::string("bad operand type for unary ") + e.name + ": '" + type_name(v) + "'");
                if (e.name == "+") return value::integer(v.as_int());
                if (v.as_int() == INT64_MIN) unsupported(e.loc, "integers beyond 64 bits");
                return value::integer(-v.as_int());
            }
            case expr_type::binary: {
                if (e.name == "and") {
                    value l = eval(*e.kids[0], f);
                    return truthy(l) ? eval(*e.kids[1], f) : l;
                }
                if (e.name == "or") {
                    value l = eval(*e.kids[0], f);
                    return truthy(l) ? l : eval(*e.kids[1], f);
                }
                value l = eval(*e.kids[0], f);
                value r = eval(*e.kids[1], f);
                return binary_op(e.name, l, r, e.loc);
            }
            case expr_type::compare: {
                value left = eval(*e.kids[0], f);
                for (std::size_t k = 0; k < e.ops.size(); ++k) {
                    value right = eval(*e.kids[k + 1], f);
                    if (!compare(e.ops[k], left, right, e.loc)) return value::boolean(false);
                    left = std::move(right);
                }
                return value::boolean(true);
            }
            case expr_type::condition: {
                if (truthy(eval(*e.kids[0], f))) return eval(*e.kids[1], f);
                if (e.kids[2]) return eval(*e.kids[2], f);
                return value::undefined("the inline if-expression on line " + std::to_string(e.loc.line) +
                                        " evaluated to false and no else section was defined.");
            }
        }
        return value::undefined();
    }

    void check_defined(const value& v, source_location loc) const {
        if (v.is_undefined()) fail(loc, undefined_message(v));
    }
    static std::string undefined_message(const value& v) {
        if (v.s().empty()) return "value is undefined";
        if (v.s().find(' ') != std::string::npos) return v.s();
        return "'" + v.s() + "' is undefined";
    }

    static std::string describe_expr(const expr* e) {
        if (!e) return "value";
        if (e->type == expr_type::name) return e->name;
        return "value";
    }

    bool compare(const std::string& op, const value& l, const value& r, source_location loc) {
        if (l.is_list() && r.is_list()) tick(loc, std::min(l.list->items.size(), r.list->items.size()) / 16);
        if (l.is_dict() && r.is_dict()) tick(loc, std::min(l.dict->items.size(), r.dict->items.size()) / 16);
        if (l.is_string() && r.is_string()) tick(loc, std::min(l.s().size(), r.s().size()) / 256);
        if (op == "==") return py_equal(l, r);
        if (op == "!=") return !py_equal(l, r);
        if (op == "in" || op == "notin") {
            bool found = contains(r, l, loc);
            return op == "in" ? found : !found;
        }
        if (l.is_undefined()) fail(loc, undefined_message(l));
        if (r.is_undefined()) fail(loc, undefined_message(r));
        if (op == "<") return py_less(l, r);
        if (op == ">") return py_less(r, l);
        if (op == "<=") return py_less(l, r) || py_equal(l, r);
        if (op == ">=") return py_less(r, l) || py_equal(l, r);
        fail(loc, "unknown comparison " + op);
    }

    bool contains(const value& container, const value& needle, source_location loc) {
        switch (container.kind) {
            case value_kind::undefined: return false;
            case value_kind::string:
                if (!needle.is_string())
                    fail(loc, std::string("'in <string>' requires string as left operand, not ") + type_name(needle));
                tick(loc, container.s().size() / 256);
                return container.s().find(needle.s()) != std::string::npos;
            case value_kind::list:
                tick(loc, container.list->items.size() / 16);
                for (const auto& x : container.list->items)
                    if (py_equal(x, needle)) return true;
                return false;
            case value_kind::dict: return container.dict->find(needle) != nullptr;
            default: fail(loc, std::string("argument of type '") + type_name(container) + "' is not iterable");
        }
    }

    value int_result(wide_int v, source_location loc) {
        if (v > INT64_MAX || v < INT64_MIN) unsupported(loc, "integers beyond 64 bits");
        return value::integer(static_cast<std::int64_t>(v));
    }

    value binary_op(const std::string& op, const value& l, const value& r, source_location loc) {
        if (op == "~") return make_string(loc, to_str_checked(l, loc) + to_str_checked(r, loc));
        if (l.is_undefined()) fail(loc, undefined_message(l));
        if (r.is_undefined()) fail(loc, undefined_message(r));
        auto type_error = [&]() -> value {
            fail(loc, "unsupported operand type(s) for " + op + ": '" + type_name(l) + "' and '" + type_name(r) + "'");
        };
        if (l.is_number() && r.is_number()) {
            bool ints = l.is_integral() && r.is_integral();
            wide_int a = l.as_int(), b = r.as_int();
            double x = l.as_double(), y = r.as_double();
            if (op == "+") return ints ? int_result(a + b, loc) : value::floating(x + y);
            if (op == "-") return ints ? int_result(a - b, loc) : value::floating(x - y);
            if (op == "*") return ints ? int_result(a * b, loc) : value::floating(x * y);
            if (op == "/") {
                if (y == 0) fail(loc, "division by zero");
                return value::floating(x / y);
            }
            if (op == "//" || op == "%") {
                if (ints ? b == 0 : y == 0) fail(loc, ints ? "integer division or modulo by zero" : "float divmod()");
                if (ints) {
                    wide_int q = a / b, m = a % b;
                    if (m != 0 && ((m < 0) != (b < 0))) {
                        --q;
                        m += b;
                    }
                    return int_result(op == "//" ? q : m, loc);
                }
                // CPython's float divmod.
                double m = std::fmod(x, y);
                double div = (x - m) / y;
                if (m != 0) {
                    if ((y < 0) != (m < 0)) {
                        m += y;
                        div -= 1.0;
                    }
                } else {
                    m = std::copysign(0.0, y);
                }
                if (op == "%") return value::floating(m);
                double floordiv;
                if (div != 0) {
                    floordiv = std::floor(div);
                    if (div - floordiv > 0.5) floordiv += 1.0;
                } else {
                    floordiv = std::copysign(0.0, x / y);
                }
                return value::floating(floordiv);
            }
            if (op == "**") {
                if (ints && b >= 0) {
                    wide_int res = 1;
                    for (wide_int k = 0; k < b; ++k) {
                        res *= a;
                        if (res > INT64_MAX || res < INT64_MIN) unsupported(loc, "integers beyond 64 bits");
                        if (res == 0 || res == 1) break;
                    }
                    if (res == -1 && b % 2 == 0) res = 1;
                    return value::integer(static_cast<std::int64_t>(res));
                }
                if (x == 0 && y < 0) fail(loc, "0.0 cannot be raised to a negative power");
                if (x < 0 && std::isfinite(y) && y != std::floor(y)) unsupported(loc, "complex numbers (a negative number to a fractional power)");
                return value::floating(std::pow(x, y));
            }
            return type_error();
        }
        if (op == "+") {
            if (l.is_string() && r.is_string()) return make_string(loc, l.s() + r.s());
            if (l.is_list() && r.is_list() && l.list->tuple == r.list->tuple) {
                std::vector<value> items = l.list->items;
                items.insert(items.end(), r.list->items.begin(), r.list->items.end());
                tick(loc, items.size());
                return value::make_list(std::move(items), l.list->tuple);
            }
            if (l.is_string() || r.is_string())
                fail(loc, std::string("can only concatenate str (not \"") + type_name(l.is_string() ? r : l) + "\") to str");
            return type_error();
        }
        if (op == "*") {
            const value* seq = l.is_integral() ? &r : &l;
            const value* count = l.is_integral() ? &l : &r;
            if (count->is_integral() && (seq->is_string() || seq->is_list())) {
                std::int64_t n = std::max<std::int64_t>(0, count->as_int());
                std::size_t unit = seq->is_string() ? seq->s().size() : seq->list->items.size();
                if (unit != 0 && static_cast<std::uint64_t>(n) > lim_.max_output_bytes / unit) check_size(loc, lim_.max_output_bytes + 1);
                if (seq->is_string()) {
                    std::string s;
                    s.reserve(static_cast<std::size_t>(n) * unit);
                    for (std::int64_t k = 0; k < n; ++k) s.append(seq->s());
                    return make_string(loc, std::move(s));
                }
                std::vector<value> items;
                tick(loc, static_cast<std::uint64_t>(n) * unit);
                for (std::int64_t k = 0; k < n; ++k) items.insert(items.end(), seq->list->items.begin(), seq->list->items.end());
                return value::make_list(std::move(items), seq->list->tuple);
            }
            return type_error();
        }
        if (op == "%" && l.is_string()) unsupported(loc, "printf-style string formatting ('...' % args)");
        return type_error();
    }

    std::string to_str_checked(const value& v, source_location loc) {
        try {
            return to_str(v, lim_.max_output_bytes);
        } catch (const value_error& e) {
            rethrow(e, loc);
        }
    }

    // The byte offset after the code point (or invalid byte) at `at`, as decode_utf8 splits them.
    static std::size_t next_code_point(const std::string& str, std::size_t at) {
        const auto c = static_cast<unsigned char>(str[at]);
        const std::size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (n == 0 || at + n > str.size()) return at + 1;
        for (std::size_t k = 1; k < n; ++k)
            if ((static_cast<unsigned char>(str[at + k]) & 0xC0) != 0x80) return at + 1;
        return at + n;
    }

    // Python index normalisation for one position.
    static bool normalise_index(std::int64_t& idx, std::size_t size) {
        if (idx < 0) idx += static_cast<std::int64_t>(size);
        return idx >= 0 && idx < static_cast<std::int64_t>(size);
    }

    // jinja2's environment.getattr: attribute first, then item; failures give Undefined.
    value get_attr(const value& obj, const std::string& name, source_location loc, const expr* of) {
        if (obj.is_undefined()) fail(loc, undefined_message(obj.s().empty() ? value::undefined(describe_expr(of)) : obj));
        if (!name.empty() && name[0] == '_') return value::undefined(name);  // the sandbox hides them
        if (obj.kind == value_kind::ns) {
            if (value* v = obj.ns->find(name)) return *v;
            return value::undefined(name);
        }
        if (value m = method(obj, name, loc); !m.is_undefined()) return m;
        if (obj.is_dict()) {
            if (const value* v = obj.dict->find(value::string(name))) return *v;
        }
        return value::undefined(name);
    }

    // jinja2's environment.getitem: item first, then (for string keys) attribute.
    value get_item(const value& obj, const value& key, source_location loc, const expr* of) {
        if (obj.is_undefined()) fail(loc, undefined_message(obj.s().empty() ? value::undefined(describe_expr(of)) : obj));
        if (obj.is_dict()) {
            if (const value* v = obj.dict->find(key)) return *v;
        } else if ((obj.is_list() || obj.is_string()) && key.is_integral()) {
            std::int64_t idx = key.as_int();
            if (obj.is_list()) {
                if (normalise_index(idx, obj.list->items.size())) return obj.list->items[static_cast<std::size_t>(idx)];
            } else if (idx >= 0) {
                // Walk forward to code point idx only: indexing near the start stays cheap.
                const std::string& str = obj.s();
                std::size_t at = 0;
                for (std::int64_t k = 0; k < idx && at < str.size(); ++k) at = next_code_point(str, at);
                tick(loc, at / 256);
                if (at < str.size()) return value::string(str.substr(at, next_code_point(str, at) - at));
            } else {
                tick(loc, obj.s().size() / 256);
                auto cps = decode_utf8(obj.s());
                if (normalise_index(idx, cps.size()))
                    return value::string(encode_utf8(cps, static_cast<std::size_t>(idx), static_cast<std::size_t>(idx) + 1));
            }
            return value::undefined("index");
        }
        if (key.is_string()) {
            if (obj.kind == value_kind::ns) {
                if (value* v = obj.ns->find(key.s())) return *v;
                return value::undefined(key.s());
            }
            if (!key.s().empty() && key.s()[0] == '_') return value::undefined(key.s());
            return method(obj, key.s(), loc);
        }
        return value::undefined("item");
    }

    value eval_slice(const expr& e, frame& f) {
        value obj = eval(*e.kids[0], f);
        std::int64_t bounds[3] = {0, 0, 1};
        bool given[3] = {false, false, false};
        for (int k = 0; k < 3; ++k) {
            if (!e.kids[static_cast<std::size_t>(k) + 1]) continue;
            value b = eval(*e.kids[static_cast<std::size_t>(k) + 1], f);
            if (b.is_none()) continue;
            if (!b.is_integral()) fail(e.loc, "slice indices must be integers or None");
            bounds[k] = b.as_int();
            given[k] = true;
        }
        if (obj.is_undefined()) fail(e.loc, undefined_message(obj));
        std::int64_t step = bounds[2];
        if (step == 0) fail(e.loc, "slice step cannot be zero");
        std::vector<char32_t> cps;
        std::size_t size;
        if (obj.is_string()) {
            tick(e.loc, obj.s().size() / 256);
            cps = decode_utf8(obj.s());
            size = cps.size();
        } else if (obj.is_list()) {
            size = obj.list->items.size();
        } else {
            fail(e.loc, std::string("'") + type_name(obj) + "' object is not subscriptable");
        }
        const auto n = static_cast<std::int64_t>(size);
        auto clamp = [&](std::int64_t v, bool is_given, std::int64_t def) {
            if (!is_given) return def;
            if (v < 0) v += n;
            if (step > 0) return std::clamp<std::int64_t>(v, 0, n);
            return std::clamp<std::int64_t>(v, -1, n - 1);
        };
        std::int64_t start = clamp(bounds[0], given[0], step > 0 ? 0 : n - 1);
        std::int64_t stop = clamp(bounds[1], given[1], step > 0 ? n : -1);
        std::vector<std::size_t> picks;
        for (std::int64_t k = start; step > 0 ? k < stop : k > stop; k += step) picks.push_back(static_cast<std::size_t>(k));
        tick(e.loc, picks.size() / 16);
        if (obj.is_string()) {
            std::string s;
            for (auto k : picks) append_utf8(s, cps[k]);
            return value::string(std::move(s));
        }
        std::vector<value> items;
        for (auto k : picks) items.push_back(obj.list->items[k]);
        return value::make_list(std::move(items), obj.list->tuple);
    }

    // ---------------------------------------------------------------- calls

    static value bound(const value& self, const std::string& name) {
        auto fn = std::make_shared<callable_obj>();
        fn->kind = callable_obj::type::method;
        fn->name = name;
        fn->self.push_back(self);
        value v;
        v.kind = value_kind::callable;
        v.fn = std::move(fn);
        return v;
    }

    // The methods of str, dict and list that templates may call (Undefined when there is none).
    value method(const value& obj, const std::string& name, source_location loc) {
        static const char* const str_methods[] = {"strip", "lstrip", "rstrip", "split", "rsplit", "startswith",
            "endswith", "replace", "upper", "lower", "title", "capitalize", "format", "find", "rfind", "count",
            "join", "isdigit", "isalpha", "isalnum", "isspace", "islower", "isupper", "splitlines"};
        static const char* const dict_methods[] = {"items", "keys", "values", "get"};
        static const char* const list_methods[] = {"index", "count"};
        static const char* const mutators[] = {"append", "extend", "pop", "insert", "remove", "sort", "reverse",
            "clear", "update", "setdefault", "popitem"};
        auto in = [&](const auto& names) {
            for (const char* n : names)
                if (name == n) return true;
            return false;
        };
        if (obj.is_string() && in(str_methods)) return bound(obj, name);
        if (obj.is_dict() && in(dict_methods)) return bound(obj, name);
        if (obj.is_list() && in(list_methods)) return bound(obj, name);
        if ((obj.is_dict() || obj.is_list()) && in(mutators))
            fail(loc, "access to attribute '" + name + "' of '" + type_name(obj) + "' object is unsafe (the sandbox is immutable)");
        return value::undefined(name);
    }

    value eval_call(const expr& e, frame& f) {
        value callee = eval(*e.kids[0], f);
        std::vector<value> args;
        for (std::size_t k = 1; k < e.kids.size(); ++k) args.push_back(eval(*e.kids[k], f));
        kwargs_t kw;
        for (const auto& [n, x] : e.kwargs) kw.emplace_back(n, eval(*x, f));
        tick(e.loc);
        if (callee.is_undefined()) fail(e.loc, undefined_message(callee.s().empty() ? value::undefined(describe_expr(e.kids[0].get())) : callee));
        if (callee.kind != value_kind::callable) fail(e.loc, std::string("'") + type_name(callee) + "' object is not callable");
        const callable_obj& fn = *callee.fn;
        switch (fn.kind) {
            case callable_obj::type::global: return call_global(fn.name, args, kw, e.loc);
            case callable_obj::type::method: return call_method(fn.self[0], fn.name, args, kw, e.loc);
            case callable_obj::type::macro: return call_macro(*static_cast<const stmt*>(fn.macro), args, kw, e.loc);
        }
        return value::undefined();
    }

    value call_macro(const stmt& m, const std::vector<value>& args, const kwargs_t& kw, source_location loc) {
        if (++macro_depth_ > lim_.max_depth) {
            --macro_depth_;
            throw template_limit_error(name_, loc, "max_depth", "macro calls nested deeper than " + std::to_string(lim_.max_depth));
        }
        struct release {
            int& d;
            ~release() { --d; }
        } rel{macro_depth_};
        if (args.size() > m.params.size())
            fail(loc, "macro '" + m.name + "' takes not more than " + std::to_string(m.params.size()) + " argument(s)");
        frame inner{{}, &root_};
        for (std::size_t k = 0; k < m.params.size(); ++k) {
            const auto& [pname, def] = m.params[k];
            value v = value::undefined(pname);
            bool set = false;
            if (k < args.size()) {
                v = args[k];
                set = true;
            }
            for (const auto& [kn, kv] : kw)
                if (kn == pname) {
                    if (set) fail(loc, "macro '" + m.name + "' got multiple values for argument '" + pname + "'");
                    v = kv;
                    set = true;
                }
            if (!set && def) v = eval(*def, inner);
            set_var(inner, pname, std::move(v));
        }
        for (const auto& [kn, kv] : kw) {
            bool known = false;
            for (const auto& p : m.params) known = known || p.first == kn;
            if (!known) fail(loc, "macro '" + m.name + "' takes no keyword argument '" + kn + "'");
        }
        std::string out;
        exec_body(m.body, inner, out);
        return value::string(std::move(out));
    }

    // Positional-or-keyword argument k named `name`, or `def`.
    static value arg(const std::vector<value>& args, const kwargs_t& kw, std::size_t k, const char* name, value def = value::undefined()) {
        if (k < args.size()) return args[k];
        for (const auto& [n, v] : kw)
            if (n == name) return v;
        return def;
    }

    std::string str_arg(const value& v, source_location loc, const char* what) {
        if (!v.is_string()) fail(loc, std::string(what) + " must be str, not " + type_name(v));
        return v.s();
    }

    value call_global(const std::string& name, const std::vector<value>& args, const kwargs_t& kw, source_location loc) {
        if (name == "raise_exception") {
            value msg = arg(args, kw, 0, "message");
            throw template_exception(name_, loc, to_str_checked(msg, loc));
        }
        if (name == "range") {
            if (args.empty() || args.size() > 3 || !kw.empty()) fail(loc, "range expected 1 to 3 integer arguments");
            for (const auto& a : args)
                if (!a.is_integral()) fail(loc, std::string("'") + type_name(a) + "' object cannot be interpreted as an integer");
            std::int64_t start = args.size() > 1 ? args[0].as_int() : 0;
            std::int64_t stop = args.size() > 1 ? args[1].as_int() : args[0].as_int();
            std::int64_t step = args.size() > 2 ? args[2].as_int() : 1;
            if (step == 0) fail(loc, "range() arg 3 must not be zero");
            wide_int count = step > 0 ? (stop > start ? ((wide_int)stop - start + step - 1) / step : 0)
                                      : (start > stop ? ((wide_int)start - stop - step - 1) / -step : 0);
            if (count > 100000) fail(loc, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
            tick(loc, static_cast<std::uint64_t>(count));
            std::vector<value> items;
            for (wide_int k = 0; k < count; ++k) items.push_back(value::integer(static_cast<std::int64_t>(start + k * step)));
            return value::make_list(std::move(items));
        }
        if (name == "namespace" || name == "dict") {
            std::vector<std::pair<value, value>> items;
            if (args.size() > 1) fail(loc, name + "() takes at most one positional argument");
            if (args.size() == 1) {
                if (!args[0].is_dict()) unsupported(loc, name + "() from a non-dict positional argument");
                items = args[0].dict->items;
            }
            for (const auto& [k, v] : kw) items.emplace_back(value::string(k), v);
            value d = value::make_dict(std::move(items));
            if (name == "dict") return d;
            auto ns = std::make_shared<namespace_obj>();
            for (const auto& [k, v] : d.dict->items) {
                if (!k.is_string()) unsupported(loc, "namespace() with non-string keys");
                if (v.holds_namespace()) unsupported(loc, "storing a namespace inside a namespace");
                ns->attrs.emplace_back(k.s(), v);
            }
            value v;
            v.kind = value_kind::ns;
            v.ns = std::move(ns);
            return v;
        }
        if (name == "strftime_now") {
            std::string fmt = str_arg(arg(args, kw, 0, "format"), loc, "strftime_now() format");
            std::time_t now = std::time(nullptr);
            std::tm tm{};
            localtime_r(&now, &tm);
            if (fmt.size() > 256) fail(loc, "strftime_now() format too long");
            char buf[4096];
            std::size_t n = fmt.empty() ? 0 : std::strftime(buf, sizeof buf, fmt.c_str(), &tm);
            return value::string(std::string(buf, n));
        }
        fail(loc, "unknown function '" + name + "'");
    }

    // ---------------------------------------------------------------- strings

    static bool is_upper_ascii(char c) { return c >= 'A' && c <= 'Z'; }
    static bool is_lower_ascii(char c) { return c >= 'a' && c <= 'z'; }
    static std::string lower(std::string s) {
        for (char& c : s)
            if (is_upper_ascii(c)) c = static_cast<char>(c - 'A' + 'a');
        return s;
    }
    static std::string upper(std::string s) {
        for (char& c : s)
            if (is_lower_ascii(c)) c = static_cast<char>(c - 'a' + 'A');
        return s;
    }
    static std::string capitalize(const std::string& s) {
        std::string r = lower(s);
        if (!r.empty() && is_lower_ascii(r[0])) r[0] = static_cast<char>(r[0] - 'a' + 'A');
        return r;
    }
    // Python's str.title(): a cased letter after an uncased character starts a word.
    static std::string py_title(const std::string& s) {
        std::string r = s;
        bool prev_cased = false;
        for (char& c : r) {
            bool up = is_upper_ascii(c), lo = is_lower_ascii(c);
            if (up || lo) {
                if (!prev_cased && lo) c = static_cast<char>(c - 'a' + 'A');
                if (prev_cased && up) c = static_cast<char>(c - 'A' + 'a');
                prev_cased = true;
            } else {
                prev_cased = false;
            }
        }
        return r;
    }
    // jinja2's title filter: words start after '-', whitespace or an opening bracket.
    static std::string jinja_title(const std::string& s) {
        std::string r;
        bool word_start = true;
        for (char c : s) {
            bool sep = c == '-' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' ||
                       c == '(' || c == '{' || c == '[' || c == '<';
            if (sep) {
                r.push_back(c);
                word_start = true;
            } else if (word_start) {
                r.push_back(is_lower_ascii(c) ? static_cast<char>(c - 'a' + 'A') : c);
                word_start = false;
            } else {
                r.push_back(is_upper_ascii(c) ? static_cast<char>(c - 'A' + 'a') : c);
            }
        }
        return r;
    }

    static std::string strip(const std::string& s, const value& chars, bool left, bool right) {
        auto cps = decode_utf8(s);
        std::vector<char32_t> set;
        if (!chars.is_none() && !chars.is_string())
            throw value_error(std::string("strip arg must be None or str, not ") + type_name(chars));
        bool ws = chars.is_none();
        if (!ws) set = decode_utf8(chars.s());
        auto drop = [&](char32_t c) {
            if (ws) return is_py_space(c);
            return std::find(set.begin(), set.end(), c) != set.end();
        };
        std::size_t b = 0, e = cps.size();
        if (left)
            while (b < e && drop(cps[b])) ++b;
        if (right)
            while (e > b && drop(cps[e - 1])) --e;
        return encode_utf8(cps, b, e);
    }

    std::vector<std::string> split(const std::string& s, const value& sep, std::int64_t maxsplit, bool from_right, source_location loc) {
        std::vector<std::string> parts;
        if (sep.is_none()) {
            auto cps = decode_utf8(s);
            std::vector<std::pair<std::size_t, std::size_t>> words;
            std::size_t k = 0;
            while (k < cps.size()) {
                while (k < cps.size() && is_py_space(cps[k])) ++k;
                if (k == cps.size()) break;
                std::size_t b = k;
                while (k < cps.size() && !is_py_space(cps[k])) ++k;
                words.emplace_back(b, k);
            }
            tick(loc, words.size());  // one value per part
            if (maxsplit < 0 || words.size() <= static_cast<std::size_t>(maxsplit)) {
                for (auto [b, e] : words) parts.push_back(encode_utf8(cps, b, e));
                return parts;
            }
            auto m = static_cast<std::size_t>(maxsplit);
            if (!from_right) {
                for (std::size_t w = 0; w < m; ++w) parts.push_back(encode_utf8(cps, words[w].first, words[w].second));
                parts.push_back(encode_utf8(cps, words[m].first, cps.size()));  // the rest, as it is
            } else {
                std::size_t last = words.size() - m;  // words[last..] stay separate
                parts.push_back(encode_utf8(cps, 0, words[last - 1].second));  // the rest, as it is
                for (std::size_t w = last; w < words.size(); ++w) parts.push_back(encode_utf8(cps, words[w].first, words[w].second));
            }
            return parts;
        }
        std::string d = str_arg(sep, loc, "separator");
        if (d.empty()) fail(loc, "empty separator");
        std::vector<std::size_t> cuts;
        for (std::size_t p = s.find(d); p != std::string::npos; p = s.find(d, p + d.size())) cuts.push_back(p);
        tick(loc, cuts.size());  // one value per part
        if (maxsplit >= 0 && cuts.size() > static_cast<std::size_t>(maxsplit)) {
            if (from_right) {
                // rsplit finds separators from the right: recompute to respect overlap rules.
                cuts.clear();
                std::size_t end = s.size();
                while (static_cast<std::int64_t>(cuts.size()) < maxsplit && end >= d.size()) {
                    std::size_t p = s.rfind(d, end - d.size());
                    if (p == std::string::npos) break;
                    cuts.insert(cuts.begin(), p);
                    end = p;
                }
            } else {
                cuts.resize(static_cast<std::size_t>(maxsplit));
            }
        }
        std::size_t start = 0;
        for (std::size_t c : cuts) {
            parts.push_back(s.substr(start, c - start));
            start = c + d.size();
        }
        parts.push_back(s.substr(start));
        return parts;
    }

    static std::string replace(const std::string& s, const std::string& from, const std::string& to, std::int64_t count) {
        std::string out;
        if (from.empty()) {
            auto cps = decode_utf8(s);
            std::int64_t done = 0;
            for (std::size_t k = 0; k <= cps.size(); ++k) {
                if (count < 0 || done < count) {
                    out += to;
                    ++done;
                }
                if (k < cps.size()) append_utf8(out, cps[k]);
            }
            return out;
        }
        std::size_t start = 0;
        std::int64_t done = 0;
        for (std::size_t p = s.find(from); p != std::string::npos && (count < 0 || done < count); p = s.find(from, start)) {
            out.append(s, start, p - start);
            out += to;
            start = p + from.size();
            ++done;
        }
        out.append(s, start, std::string::npos);
        return out;
    }

    static std::vector<std::string> splitlines(const std::string& s) {
        std::vector<std::string> lines;
        auto cps = decode_utf8(s);
        std::size_t b = 0;
        for (std::size_t k = 0; k < cps.size(); ++k) {
            char32_t c = cps[k];
            if (c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E || c == 0x85 ||
                c == 0x2028 || c == 0x2029) {
                lines.push_back(encode_utf8(cps, b, k));
                if (c == '\r' && k + 1 < cps.size() && cps[k + 1] == '\n') ++k;
                b = k + 1;
            }
        }
        if (b < cps.size()) lines.push_back(encode_utf8(cps, b, cps.size()));
        return lines;
    }

    value str_list(std::vector<std::string> parts, source_location loc) {
        tick(loc, parts.size() / 16);
        std::vector<value> items;
        for (auto& p : parts) items.push_back(value::string(std::move(p)));
        return value::make_list(std::move(items));
    }

    std::string format(const std::string& fmt, const std::vector<value>& args, const kwargs_t& kw, source_location loc) {
        std::string out;
        std::size_t auto_index = 0;
        for (std::size_t k = 0; k < fmt.size(); ++k) {
            char c = fmt[k];
            if (c == '{' && k + 1 < fmt.size() && fmt[k + 1] == '{') { out.push_back('{'); ++k; continue; }
            if (c == '}' && k + 1 < fmt.size() && fmt[k + 1] == '}') { out.push_back('}'); ++k; continue; }
            if (c == '}') fail(loc, "Single '}' encountered in format string");
            if (c != '{') { out.push_back(c); continue; }
            std::size_t end = fmt.find('}', k);
            if (end == std::string::npos) fail(loc, "Single '{' encountered in format string");
            std::string field = fmt.substr(k + 1, end - k - 1);
            if (field.find_first_of(":!.[") != std::string::npos) unsupported(loc, "str.format() conversions, specs and field access");
            value v;
            if (field.empty()) {
                if (auto_index >= args.size()) fail(loc, "Replacement index " + std::to_string(auto_index) + " out of range for positional args tuple");
                v = args[auto_index++];
            } else if (std::all_of(field.begin(), field.end(), [](char d) { return d >= '0' && d <= '9'; })) {
                std::size_t idx = field.size() > 6 ? args.size() : std::stoul(field);
                if (idx >= args.size()) fail(loc, "Replacement index " + field + " out of range for positional args tuple");
                v = args[idx];
            } else {
                bool found = false;
                for (const auto& [n, x] : kw)
                    if (n == field) { v = x; found = true; }
                if (!found) fail(loc, "KeyError: '" + field + "'");
            }
            out += to_str_checked(v, loc);
            check_size(loc, out.size());
            k = end;
        }
        return out;
    }

    value call_method(const value& self, const std::string& name, const std::vector<value>& args, const kwargs_t& kw, source_location loc) {
        if (self.is_dict()) {
            const auto& items = self.dict->items;
            if (name == "get") {
                value key = arg(args, kw, 0, "key");
                if (const value* v = self.dict->find(key)) return *v;
                return arg(args, kw, 1, "default", value::none());
            }
            std::vector<value> out;
            tick(loc, items.size() / 16);
            for (const auto& [k, v] : items) {
                if (name == "keys") out.push_back(k);
                else if (name == "values") out.push_back(v);
                else out.push_back(value::make_list({k, v}, true));
            }
            return value::make_list(std::move(out));
        }
        if (self.is_list()) {
            value x = arg(args, kw, 0, "value");
            std::int64_t n = 0;
            for (std::size_t k = 0; k < self.list->items.size(); ++k) {
                if (!py_equal(self.list->items[k], x)) continue;
                if (name == "index") return value::integer(static_cast<std::int64_t>(k));
                ++n;
            }
            if (name == "index") fail(loc, to_str_checked(x, loc) + " is not in list");
            return value::integer(n);
        }
        const std::string& s = self.s();
        tick(loc, s.size() / 256);
        auto maxsplit = [&](std::size_t k) {
            value m = arg(args, kw, k, "maxsplit", value::integer(-1));
            if (!m.is_integral()) fail(loc, "maxsplit must be an integer");
            return m.as_int();
        };
        if (name == "strip") return value::string(strip(s, arg(args, kw, 0, "chars", value::none()), true, true));
        if (name == "lstrip") return value::string(strip(s, arg(args, kw, 0, "chars", value::none()), true, false));
        if (name == "rstrip") return value::string(strip(s, arg(args, kw, 0, "chars", value::none()), false, true));
        if (name == "split" || name == "rsplit")
            return str_list(split(s, arg(args, kw, 0, "sep", value::none()), maxsplit(1), name == "rsplit", loc), loc);
        if (name == "splitlines") {
            tick(loc, s.size() / 16);
            return str_list(splitlines(s), loc);
        }
        if (name == "startswith" || name == "endswith") {
            value p = arg(args, kw, 0, "prefix");
            std::vector<value> options = p.is_list() && p.list->tuple ? p.list->items : std::vector<value>{p};
            for (const auto& o : options) {
                std::string t = str_arg(o, loc, (name + " argument").c_str());
                bool hit = name == "startswith" ? s.compare(0, t.size(), t) == 0
                                                : s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
                if (hit) return value::boolean(true);
            }
            return value::boolean(false);
        }
        if (name == "replace") {
            value count = arg(args, kw, 2, "count", value::integer(-1));
            if (!count.is_integral()) fail(loc, "replace() count must be an integer");
            std::string from = str_arg(arg(args, kw, 0, "old"), loc, "replace() argument 1");
            std::string to = str_arg(arg(args, kw, 1, "new"), loc, "replace() argument 2");
            check_growth(s, from, to, loc);
            return make_string(loc, replace(s, from, to, count.as_int()));
        }
        if (name == "upper") return value::string(upper(s));
        if (name == "lower") return value::string(lower(s));
        if (name == "title") return value::string(py_title(s));
        if (name == "capitalize") return value::string(capitalize(s));
        if (name == "format") return make_string(loc, format(s, args, kw, loc));
        if (name == "find" || name == "rfind") {
            std::string sub = str_arg(arg(args, kw, 0, "sub"), loc, "find() argument");
            std::size_t p = name == "find" ? s.find(sub) : s.rfind(sub);
            if (p == std::string::npos) return value::integer(-1);
            return value::integer(static_cast<std::int64_t>(utf8_length(std::string_view(s).substr(0, p))));
        }
        if (name == "count") {
            std::string sub = str_arg(arg(args, kw, 0, "sub"), loc, "count() argument");
            if (sub.empty()) return value::integer(static_cast<std::int64_t>(utf8_length(s)) + 1);
            std::int64_t n = 0;
            for (std::size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
            return value::integer(n);
        }
        if (name == "join") {
            std::string out;
            bool first = true;
            for (const auto& x : iterate(arg(args, kw, 0, "iterable"), loc)) {
                if (!x.is_string()) fail(loc, std::string("sequence item: expected str instance, ") + type_name(x) + " found");
                if (!first) out += s;
                first = false;
                out += x.s();
                check_size(loc, out.size());
            }
            return make_string(loc, std::move(out));
        }
        auto all_of = [&](auto pred) {
            if (s.empty()) return value::boolean(false);
            for (char c : s)
                if (!pred(static_cast<unsigned char>(c))) return value::boolean(false);
            return value::boolean(true);
        };
        if (name == "isdigit") return all_of([](unsigned char c) { return c >= '0' && c <= '9'; });
        if (name == "isalpha") return all_of([](unsigned char c) { return is_upper_ascii(static_cast<char>(c)) || is_lower_ascii(static_cast<char>(c)); });
        if (name == "isalnum")
            return all_of([](unsigned char c) { return (c >= '0' && c <= '9') || is_upper_ascii(static_cast<char>(c)) || is_lower_ascii(static_cast<char>(c)); });
        if (name == "isspace") return all_of([](unsigned char c) { return is_py_space(c); });
        if (name == "islower" || name == "isupper") {
            bool cased = false;
            for (char c : s) {
                if (is_upper_ascii(c)) {
                    if (name == "islower") return value::boolean(false);
                    cased = true;
                } else if (is_lower_ascii(c)) {
                    if (name == "isupper") return value::boolean(false);
                    cased = true;
                }
            }
            return value::boolean(cased);
        }
        fail(loc, "unknown method '" + name + "'");
    }

    void check_growth(const std::string& s, const std::string& from, const std::string& to, source_location loc) {
        if (to.size() <= from.size()) return;
        std::size_t hits = from.empty() ? utf8_length(s) + 1 : s.size() / from.size();
        if (hits > 0 && (to.size() - from.size()) > lim_.max_output_bytes / hits) check_size(loc, s.size() + hits * (to.size() - from.size()));
    }

    // ---------------------------------------------------------------- filters

    // jinja2's attribute getter for map/selectattr/sort/sum/join: dotted path, integer parts as indices.
    value attr_path(const value& item, const value& path, source_location loc) {
        if (path.is_integral()) return get_item(item, path, loc, nullptr);
        std::string p = str_arg(path, loc, "attribute");
        value cur = item;
        std::size_t start = 0;
        for (;;) {
            std::size_t dot = p.find('.', start);
            std::string part = p.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
            value key = value::string(part);
            if (!part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; }) && part.size() < 18)
                key = value::integer(std::stoll(part));
            cur = get_item(cur, key, loc, nullptr);
            if (dot == std::string::npos) return cur;
            start = dot + 1;
        }
    }

    // The parameters of each supported filter after the input, as jinja2 declares them (Python
    // rejects extra positional arguments, unknown keywords and missing required ones).
    struct filter_signature {
        const char* name;
        std::vector<const char*> params;
        std::size_t required;
        bool variadic;
    };
    void check_filter_arguments(const std::string& name, const std::vector<value>& args, const kwargs_t& kw, source_location loc) const {
        static const std::vector<filter_signature> table = {
            {"abs", {}, 0, false}, {"attr", {"name"}, 1, false}, {"capitalize", {}, 0, false}, {"count", {}, 0, false},
            {"default", {"default_value", "boolean"}, 0, false}, {"d", {"default_value", "boolean"}, 0, false},
            {"e", {}, 0, false}, {"escape", {}, 0, false}, {"first", {}, 0, false}, {"float", {"default"}, 0, false},
            {"indent", {"width", "first", "blank"}, 0, false}, {"int", {"default", "base"}, 0, false},
            {"join", {"d", "attribute"}, 0, false}, {"last", {}, 0, false}, {"length", {}, 0, false}, {"list", {}, 0, false},
            {"lower", {}, 0, false}, {"items", {}, 0, false}, {"replace", {"old", "new", "count"}, 2, false},
            {"reverse", {}, 0, false}, {"round", {"precision", "method"}, 0, false}, {"safe", {}, 0, false},
            {"sort", {"reverse", "case_sensitive", "attribute"}, 0, false}, {"string", {}, 0, false},
            {"sum", {"attribute", "start"}, 0, false}, {"title", {}, 0, false}, {"trim", {"chars"}, 0, false},
            {"upper", {}, 0, false}, {"tojson", {"ensure_ascii", "indent", "separators", "sort_keys"}, 0, false},
            {"wordcount", {}, 0, false}, {"map", {}, 0, true}, {"select", {}, 0, true}, {"reject", {}, 0, true},
            {"selectattr", {}, 0, true}, {"rejectattr", {}, 0, true}};
        for (const auto& sig : table) {
            if (name != sig.name) continue;
            if (sig.variadic) return;
            if (args.size() > sig.params.size())
                fail(loc, "filter '" + name + "' takes at most " + std::to_string(sig.params.size()) + " argument(s), " +
                              std::to_string(args.size()) + " given");
            for (const auto& [k, v] : kw) {
                std::size_t at = sig.params.size();
                for (std::size_t p = 0; p < sig.params.size(); ++p)
                    if (k == sig.params[p]) at = p;
                if (at == sig.params.size()) fail(loc, "filter '" + name + "' got an unexpected keyword argument '" + k + "'");
                if (at < args.size()) fail(loc, "filter '" + name + "' got multiple values for argument '" + k + "'");
            }
            for (std::size_t p = args.size(); p < sig.required; ++p) {
                bool given = false;
                for (const auto& [k, v] : kw) given = given || k == sig.params[p];
                if (!given) fail(loc, "filter '" + name + "' missing required argument '" + sig.params[p] + "'");
            }
            return;
        }
    }

    value apply_filter(const std::string& name, const value& in, const std::vector<value>& args, const kwargs_t& kw, source_location loc) {
        check_filter_arguments(name, args, kw, loc);
        auto as_text = [&]() { return to_str_checked(in, loc); };
        if (name == "safe" ) return in;
        if (name == "string") return make_string(loc, as_text());
        if (name == "lower") return make_string(loc, lower(as_text()));
        if (name == "upper") return make_string(loc, upper(as_text()));
        if (name == "capitalize") return make_string(loc, capitalize(as_text()));
        if (name == "title") return make_string(loc, jinja_title(as_text()));
        if (name == "trim") return make_string(loc, strip(as_text(), arg(args, kw, 0, "chars", value::none()), true, true));
        if (name == "e" || name == "escape") {
            std::string out;
            const std::string text = as_text();
            std::size_t growth = 0;
            for (char c : text) growth += (c == '&' || c == '<' || c == '>' || c == '"' || c == '\'') ? 5 : 0;
            check_size(loc, text.size() + growth);
            for (char c : text) {
                switch (c) {
                    case '&': out += "&amp;"; break;
                    case '<': out += "&lt;"; break;
                    case '>': out += "&gt;"; break;
                    case '"': out += "&#34;"; break;
                    case '\'': out += "&#39;"; break;
                    default: out.push_back(c);
                }
            }
            return make_string(loc, std::move(out));
        }
        if (name == "replace") {
            std::string s = as_text();
            std::string from = to_str_checked(arg(args, kw, 0, "old"), loc);
            std::string to = to_str_checked(arg(args, kw, 1, "new"), loc);
            value count = arg(args, kw, 2, "count", value::none());
            if (!count.is_none() && !count.is_integral()) fail(loc, "replace count must be an integer");
            check_growth(s, from, to, loc);
            return make_string(loc, replace(s, from, to, count.is_none() ? -1 : count.as_int()));
        }
        if (name == "length" || name == "count") {
            switch (in.kind) {
                case value_kind::undefined: return value::integer(0);
                case value_kind::string:
                    tick(loc, in.s().size() / 256);
                    return value::integer(static_cast<std::int64_t>(utf8_length(in.s())));
                case value_kind::list: return value::integer(static_cast<std::int64_t>(in.list->items.size()));
                case value_kind::dict: return value::integer(static_cast<std::int64_t>(in.dict->items.size()));
                default: fail(loc, std::string("object of type '") + type_name(in) + "' has no len()");
            }
        }
        if (name == "wordcount") {
            // jinja2 counts matches of the regex \w+: letters, digits and '_' (any non-ASCII
            // letter counts as one; non-ASCII punctuation is treated as a letter too).
            std::int64_t words = 0;
            bool in_word = false;
            const std::string text = as_text();
            tick(loc, text.size() / 256);
            for (char32_t c : decode_utf8(text)) {
                bool w = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                         (c >= 0xAA && c < 0x110000 && !is_py_space(c) && !is_py_unprintable(c) && c != 0xAB && c != 0xBB &&
                          c != 0xB7 && c != 0xBF && c != 0xD7 && c != 0xF7 && !(c >= 0x2010 && c <= 0x205E) && !(c >= 0x3000 && c <= 0x3003));
                if (w && !in_word) ++words;
                in_word = w;
            }
            return value::integer(words);
        }
        if (name == "default" || name == "d") {
            value def = arg(args, kw, 0, "default_value", value::string(""));
            bool boolean = truthy(arg(args, kw, 1, "boolean", value::boolean(false)));
            if (in.is_undefined() || (boolean && !truthy(in))) return def;
            return in;
        }
        if (name == "list") {
            if (in.is_list() && !in.list->tuple) return in;
            return value::make_list(iterate(in, loc));
        }
        if (name == "first") {
            auto items = iterate(in, loc);
            return items.empty() ? value::undefined("first") : items.front();
        }
        if (name == "last") {
            if (in.is_undefined()) fail(loc, undefined_message(in));
            auto items = iterate(in, loc);
            return items.empty() ? value::undefined("last") : items.back();
        }
        if (name == "reverse") {
            if (in.is_string()) {
                auto cps = decode_utf8(in.s());
                std::reverse(cps.begin(), cps.end());
                return value::string(encode_utf8(cps));
            }
            auto items = iterate(in, loc);
            std::reverse(items.begin(), items.end());
            return value::make_list(std::move(items));
        }
        if (name == "items") {
            if (in.is_undefined()) return value::make_list({});
            if (!in.is_dict()) fail(loc, "Can only get item pairs from a mapping.");
            return call_method(in, "items", {}, {}, loc);
        }
        if (name == "join") {
            value sep = arg(args, kw, 0, "d", value::string(""));
            value attribute = arg(args, kw, 1, "attribute", value::none());
            std::string s = to_str_checked(sep, loc);
            std::string out;
            bool first = true;
            for (const auto& x : iterate(in, loc)) {
                tick(loc);
                if (!first) out += s;
                first = false;
                out += to_str_checked(attribute.is_none() ? x : attr_path(x, attribute, loc), loc);
                check_size(loc, out.size());
            }
            return make_string(loc, std::move(out));
        }
        if (name == "map") {
            std::vector<value> out;
            value attribute = arg({}, kw, 0, "attribute");
            if (!attribute.is_undefined()) {
                value def = arg({}, kw, 0, "default");
                for (const auto& x : iterate(in, loc)) {
                    tick(loc);
                    value v = attr_path(x, attribute, loc);
                    out.push_back(v.is_undefined() && !def.is_undefined() ? def : v);
                }
                return value::make_list(std::move(out));
            }
            if (args.empty()) fail(loc, "map requires a filter argument");
            std::string filter = str_arg(args[0], loc, "map filter name");
            if (!is_supported_filter(filter)) {
                if (is_jinja_builtin_filter(filter)) unsupported(loc, "filter '" + filter + "'");
                fail(loc, "No filter named '" + filter + "'.");
            }
            std::vector<value> rest(args.begin() + 1, args.end());
            for (const auto& x : iterate(in, loc)) {
                tick(loc);
                out.push_back(apply_filter(filter, x, rest, kw, loc));
            }
            return value::make_list(std::move(out));
        }
        if (name == "select" || name == "reject" || name == "selectattr" || name == "rejectattr") {
            bool by_attr = name == "selectattr" || name == "rejectattr";
            bool keep_if = name == "select" || name == "selectattr";
            std::size_t at = by_attr ? 1 : 0;
            value attribute = by_attr ? (args.empty() ? value::undefined() : args[0]) : value::none();
            if (by_attr && attribute.is_undefined()) fail(loc, name + " requires an attribute");
            std::string test;
            std::vector<value> test_args;
            if (args.size() > at) {
                test = str_arg(args[at], loc, "test name");
                test_args.assign(args.begin() + static_cast<std::ptrdiff_t>(at) + 1, args.end());
                if (!is_supported_test(test)) {
                    if (is_jinja_builtin_test(test)) unsupported(loc, "test '" + test + "'");
                    fail(loc, "No test named '" + test + "'.");
                }
            }
            std::vector<value> out;
            for (const auto& x : iterate(in, loc)) {
                tick(loc);
                value probe = by_attr ? attr_path(x, attribute, loc) : x;
                bool r = test.empty() ? truthy(probe) : apply_test(test, probe, test_args, loc);
                if (r == keep_if) out.push_back(x);
            }
            return value::make_list(std::move(out));
        }
        if (name == "attr") {
            std::string a = str_arg(arg(args, kw, 0, "name"), loc, "attr name");
            if (in.is_undefined()) return value::undefined(a);
            if (in.kind == value_kind::ns) {
                if (value* v = in.ns->find(a)) return *v;
                return value::undefined(a);
            }
            if (!a.empty() && a[0] == '_') return value::undefined(a);
            return method(in, a, loc);
        }
        if ((name == "int" || name == "float" || name == "abs" || name == "round") && in.is_undefined())
            fail(loc, undefined_message(in));  // int(Undefined) and the like raise
        if (name == "int") {
            value def = arg(args, kw, 0, "default", value::integer(0));
            value base = arg(args, kw, 1, "base", value::integer(10));
            if (in.is_integral()) return value::integer(in.as_int());
            if (in.kind == value_kind::floating) {
                if (!std::isfinite(in.f) || std::fabs(in.f) >= 9.2e18) return def;
                return value::integer(static_cast<std::int64_t>(in.f));
            }
            if (in.is_string()) {
                if (!base.is_integral() || base.as_int() != 10) unsupported(loc, "int filter with a base other than 10");
                std::string t = strip(in.s(), value::string(" \t\n\v\f\r"), true, true);  // int() strips ASCII whitespace
                std::string digits;
                std::size_t k = 0;
                bool neg = false;
                if (k < t.size() && (t[k] == '+' || t[k] == '-')) neg = t[k++] == '-';
                bool ok = k < t.size();
                for (; k < t.size() && ok; ++k) {
                    if (t[k] >= '0' && t[k] <= '9') digits.push_back(t[k]);
                    else if (t[k] == '_' && k > 0 && t[k - 1] >= '0' && t[k - 1] <= '9' && k + 1 < t.size() && t[k + 1] >= '0' && t[k + 1] <= '9') continue;
                    else ok = false;
                }
                if (ok && !digits.empty()) {
                    wide_int v = 0;
                    for (char c : digits) {
                        v = v * 10 + (c - '0');
                        if (v > (static_cast<wide_int>(1) << 64)) unsupported(loc, "integers beyond 64 bits");
                    }
                    return int_result(neg ? -v : v, loc);
                }
                value fl = parse_float(in.s());
                if (fl.is_undefined() || !std::isfinite(fl.f) || std::fabs(fl.f) >= 9.2e18) return def;
                return value::integer(static_cast<std::int64_t>(fl.f));
            }
            return def;
        }
        if (name == "float") {
            value def = arg(args, kw, 0, "default", value::floating(0.0));
            if (in.is_number()) return value::floating(in.as_double());
            if (in.is_string()) {
                value fl = parse_float(in.s());
                return fl.is_undefined() ? def : fl;
            }
            return def;
        }
        if (name == "abs") {
            if (in.kind == value_kind::floating) return value::floating(std::fabs(in.f));
            if (in.is_integral()) return int_result(in.as_int() < 0 ? -static_cast<wide_int>(in.as_int()) : in.as_int(), loc);
            fail(loc, std::string("bad operand type for abs(): '") + type_name(in) + "'");
        }
        if (name == "round") {
            value precision = arg(args, kw, 0, "precision", value::integer(0));
            std::string method_name = to_str_checked(arg(args, kw, 1, "method", value::string("common")), loc);
            if (!in.is_number()) fail(loc, std::string("type ") + type_name(in) + " doesn't define __round__ method");
            if (!precision.is_integral() || precision.as_int() != 0) unsupported(loc, "round filter with a precision");
            double x = in.as_double();
            if (method_name == "common" && in.is_integral()) return value::integer(in.as_int());  // round(int) is the int
            if (method_name == "common") return value::floating(std::nearbyint(x));  // Python's round(): half to even
            if (method_name == "ceil") return value::floating(std::ceil(x));
            if (method_name == "floor") return value::floating(std::floor(x));
            fail(loc, "method must be common, ceil or floor");
        }
        if (name == "sum") {
            value attribute = arg(args, kw, 0, "attribute", value::none());
            value total = arg(args, kw, 1, "start", value::integer(0));
            for (const auto& x : iterate(in, loc)) {
                tick(loc);
                total = binary_op("+", total, attribute.is_none() ? x : attr_path(x, attribute, loc), loc);
            }
            return total;
        }
        if (name == "sort") {
            bool reverse = truthy(arg(args, kw, 0, "reverse", value::boolean(false)));
            bool case_sensitive = truthy(arg(args, kw, 1, "case_sensitive", value::boolean(false)));
            value attribute = arg(args, kw, 2, "attribute", value::none());
            auto items = iterate(in, loc);
            tick(loc, items.size());
            std::vector<std::pair<value, value>> keyed;
            for (auto& x : items) {
                value k = attribute.is_none() ? x : attr_path(x, attribute, loc);
                if (!case_sensitive && k.is_string()) k = value::string(lower(k.s()));
                keyed.emplace_back(std::move(k), std::move(x));
            }
            std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
                if (py_equal(a.first, b.first)) return false;  // as Python compares the key lists jinja2 builds
                return reverse ? py_less(b.first, a.first) : py_less(a.first, b.first);
            });
            std::vector<value> out;
            for (auto& kv : keyed) out.push_back(std::move(kv.second));
            return value::make_list(std::move(out));
        }
        if (name == "indent") {
            value width = arg(args, kw, 0, "width", value::integer(4));
            bool first = truthy(arg(args, kw, 1, "first", value::boolean(false)));
            bool blank = truthy(arg(args, kw, 2, "blank", value::boolean(false)));
            std::string unit;
            if (width.is_string()) unit = width.s();
            else if (width.is_integral()) {
                if (width.as_int() > 4096) unsupported(loc, "indent wider than 4096");
                unit = std::string(static_cast<std::size_t>(std::max<std::int64_t>(0, width.as_int())), ' ');
            } else fail(loc, "indent width must be an int or a str");
            std::vector<std::string> lines = splitlines(as_text() + "\n");
            std::string rv;
            if (blank) {
                for (std::size_t k = 0; k < lines.size(); ++k) {
                    if (k) rv += "\n" + unit;
                    rv += lines[k];
                    check_size(loc, rv.size());
                }
            } else {
                rv = lines.empty() ? "" : lines[0];
                for (std::size_t k = 1; k < lines.size(); ++k) {
                    rv += "\n";
                    if (!lines[k].empty()) rv += unit;
                    rv += lines[k];
                    check_size(loc, rv.size());
                }
            }
            if (first) rv = unit + rv;
            return make_string(loc, std::move(rv));
        }
        if (name == "tojson") {
            json_dump_options o;
            o.ensure_ascii = truthy(arg(args, kw, 0, "ensure_ascii", value::boolean(false)));
            value indent = arg(args, kw, 1, "indent", value::none());
            value separators = arg(args, kw, 2, "separators", value::none());
            o.sort_keys = truthy(arg(args, kw, 3, "sort_keys", value::boolean(false)));
            if (indent.is_integral()) {
                o.has_indent = true;
                if (indent.as_int() > 4096) unsupported(loc, "tojson indent wider than 4096");
                o.indent = std::string(static_cast<std::size_t>(std::max<std::int64_t>(0, indent.as_int())), ' ');
            } else if (indent.is_string()) {
                o.has_indent = true;
                o.indent = indent.s();
            } else if (!indent.is_none() && !indent.is_undefined()) {
                fail(loc, "tojson indent must be an int, a str or None");
            }
            if (o.has_indent) o.item_separator = ",";
            if (!separators.is_none() && !separators.is_undefined()) {
                if (!separators.is_list() || separators.list->items.size() != 2 || !separators.list->items[0].is_string() ||
                    !separators.list->items[1].is_string())
                    fail(loc, "tojson separators must be a pair of strings");
                o.item_separator = separators.list->items[0].s();
                o.key_separator = separators.list->items[1].s();
            }
            std::string out;
            try {
                dump_json(out, in, o, 0, lim_.max_output_bytes);
            } catch (const value_error& e) {
                rethrow(e, loc);
            }
            return make_string(loc, std::move(out));
        }
        unsupported(loc, "filter '" + name + "'");
    }

    static value parse_float(const std::string& text) {
        std::string t;
        for (char c : text)
            if (c != '_') t.push_back(c);
        std::size_t b = 0, e = t.size();
        auto c_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; };
        while (b < e && c_space(t[b])) ++b;
        while (e > b && c_space(t[e - 1])) --e;
        t = lower(t.substr(b, e - b));
        if (t.empty()) return value::undefined();
        std::string body = (t[0] == '+' || t[0] == '-') ? t.substr(1) : t;
        double sign = t[0] == '-' ? -1.0 : 1.0;
        if (body == "inf" || body == "infinity") return value::floating(sign * INFINITY);
        if (body == "nan") return value::floating(NAN);
        for (char c : body)
            if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == '+' || c == '-')) return value::undefined();
        char* end = nullptr;
        double v = std::strtod(t.c_str(), &end);
        if (end != t.c_str() + t.size()) return value::undefined();
        return value::floating(v);
    }

    // ---------------------------------------------------------------- tests

    bool apply_test(const std::string& name, const value& v, const std::vector<value>& args, source_location loc) {
        static const char* const unary[] = {"defined", "undefined", "none", "boolean", "true", "false", "integer", "float",
            "number", "string", "mapping", "iterable", "sequence", "callable", "lower", "upper", "odd", "even", "filter", "test"};
        bool takes_none = false;
        for (const char* u : unary) takes_none = takes_none || name == u;
        if (takes_none && !args.empty())
            fail(loc, "test '" + name + "' takes 1 positional argument but " + std::to_string(args.size() + 1) + " were given");
        if (!takes_none && args.size() != 1)
            fail(loc, "test '" + name + "' takes 2 positional arguments but " + std::to_string(args.size() + 1) + " were given");
        auto one = [&]() -> const value& { return args[0]; };
        if (name == "defined") return !v.is_undefined();
        if (name == "undefined") return v.is_undefined();
        if (name == "none") return v.is_none();
        if (name == "boolean") return v.kind == value_kind::boolean;
        if (name == "true") return v.kind == value_kind::boolean && v.b;
        if (name == "false") return v.kind == value_kind::boolean && !v.b;
        if (name == "integer") return v.kind == value_kind::integer;
        if (name == "float") return v.kind == value_kind::floating;
        if (name == "number") return v.is_number();
        if (name == "string") return v.is_string();
        if (name == "mapping") return v.is_dict();
        if (name == "iterable") return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
        if (name == "sequence") return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
        if (name == "callable") return v.kind == value_kind::callable;
        if (name == "lower" || name == "upper") {
            if (!v.is_string()) return false;
            bool cased = false;
            for (char c : v.s()) {
                if (name == "lower" ? is_upper_ascii(c) : is_lower_ascii(c)) return false;
                cased = cased || is_upper_ascii(c) || is_lower_ascii(c);
            }
            return cased;
        }
        if (name == "odd" || name == "even" || name == "divisibleby") {
            if (v.is_undefined()) fail(loc, undefined_message(v));
            if (!v.is_number()) fail(loc, std::string("unsupported operand type(s) for %: '") + type_name(v) + "' and 'int'");
            if (name == "divisibleby") {
                value d = one();
                if (!d.is_number()) fail(loc, "divisibleby needs a number");
                value m = binary_op("%", v, d, loc);
                return py_equal(m, value::integer(0));
            }
            value m = binary_op("%", v, value::integer(2), loc);
            return py_equal(m, value::integer(name == "odd" ? 1 : 0));
        }
        if (name == "sameas") {
            const value& o = one();
            if (v.kind != o.kind) return false;
            switch (v.kind) {
                case value_kind::none: return true;
                case value_kind::boolean: return v.b == o.b;
                case value_kind::list: return v.list == o.list;
                case value_kind::dict: return v.dict == o.dict;
                case value_kind::ns: return v.ns == o.ns;
                case value_kind::integer: return v.i == o.i && v.i >= -5 && v.i <= 256;  // CPython's small ints
                default: return false;
            }
        }
        if (name == "in") return contains(one(), v, loc);
        if (name == "==" || name == "eq" || name == "equalto") return py_equal(v, one());
        if (name == "!=" || name == "ne") return !py_equal(v, one());
        if (name == ">" || name == "gt" || name == "greaterthan") return compare(">", v, one(), loc);
        if (name == ">=" || name == "ge") return compare(">=", v, one(), loc);
        if (name == "<" || name == "lt" || name == "lessthan") return compare("<", v, one(), loc);
        if (name == "<=" || name == "le") return compare("<=", v, one(), loc);
        if (name == "filter") return v.is_string() && is_jinja_builtin_filter(v.s());
        if (name == "test") return v.is_string() && is_jinja_builtin_test(v.s());
        unsupported(loc, "test '" + name + "'");
    }

    std::string name_;
    limits lim_;
    frame globals_;
    frame root_;
    std::uint64_t steps_ = 0;
    int frames_ = 0;
    int macro_depth_ = 0;
};

}  // namespace dsv2::jinja
