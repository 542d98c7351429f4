// The typed errors of the Jinja2 subset (dsv2/text/jinja): every message names the template, and
// where the template is at fault, the line and column (1-based, columns counted in bytes).
#pragma once

#include <cstddef>
#include <string>

#include "dsv2/core/error.hpp"

namespace dsv2::jinja {

/// A position in a template source.
struct source_location {
    std::size_t line = 0;    ///< 1-based; 0 = unknown
    std::size_t column = 0;  ///< 1-based, in bytes of the (newline-normalised) source
};

inline std::string describe_location(const std::string& template_name, source_location loc) {
    std::string s = "template '" + template_name + "'";
    if (loc.line != 0) s += " line " + std::to_string(loc.line) + " column " + std::to_string(loc.column);
    return s;
}

/// The template does not parse (what jinja2 reports as TemplateSyntaxError).
class template_syntax_error : public error {
public:
    template_syntax_error(std::string template_name, source_location loc, const std::string& what)
        : error(describe_location(template_name, loc) + ": syntax error: " + what),
          name_(std::move(template_name)), loc_(loc) {}
    const std::string& template_name() const noexcept { return name_; }
    std::size_t line() const noexcept { return loc_.line; }
    std::size_t column() const noexcept { return loc_.column; }

private:
    std::string name_;
    source_location loc_;
};

/// Rendering failed: an undefined value used where jinja2 raises, a type error, a division by zero.
class template_render_error : public error {
public:
    template_render_error(std::string template_name, source_location loc, const std::string& what)
        : error(describe_location(template_name, loc) + ": " + what), name_(std::move(template_name)),
          loc_(loc) {}
    const std::string& template_name() const noexcept { return name_; }
    std::size_t line() const noexcept { return loc_.line; }
    std::size_t column() const noexcept { return loc_.column; }

private:
    std::string name_;
    source_location loc_;
};

/// The template called raise_exception(message): `message()` is the template's own text.
class template_exception : public template_render_error {
public:
    template_exception(const std::string& template_name, source_location loc, std::string message)
        : template_render_error(template_name, loc, "raise_exception: " + message),
          message_(std::move(message)) {}
    const std::string& message() const noexcept { return message_; }

private:
    std::string message_;
};

/// Rendering hit one of the interpreter's limits (`limit()` names it: "max_output_bytes",
/// "max_steps", "max_depth"): a guard against hostile templates.
class template_limit_error : public template_render_error {
public:
    template_limit_error(const std::string& template_name, source_location loc, std::string limit,
                         const std::string& what)
        : template_render_error(template_name, loc, "limit '" + limit + "' exceeded: " + what),
          limit_(std::move(limit)) {}
    const std::string& limit() const noexcept { return limit_; }

private:
    std::string limit_;
};

}  // namespace dsv2::jinja
