// Command-line parsing shared by the subcommands: --flag VALUE options and "1,2,3;4,5,6" matrices.
#pragma once

#include <charconv>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <dsv2/core/tensor.hpp>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "cli.hpp"

namespace dsv2::cli {

/// Positional arguments and --options of one subcommand. `flags` take no value; `repeatable`
/// options may be given several times (get_all).
struct parsed_options {
    std::vector<std::string_view> positional;
    std::map<std::string, std::string, std::less<>> values;
    std::map<std::string, std::vector<std::string>, std::less<>> lists;
    std::set<std::string, std::less<>> flags;

    bool has(std::string_view name) const { return values.count(name) || flags.count(name) || lists.count(name); }
    std::optional<std::string> get(std::string_view name) const {
        auto it = values.find(name);
        return it == values.end() ? std::nullopt : std::optional<std::string>(it->second);
    }
    std::vector<std::string> get_all(std::string_view name) const {
        auto it = lists.find(name);
        return it == lists.end() ? std::vector<std::string>{} : it->second;
    }
};

inline parsed_options parse_options(args_t args, const std::set<std::string, std::less<>>& valued,
                                    const std::set<std::string, std::less<>>& flags,
                                    const std::set<std::string, std::less<>>& repeatable = {}) {
    parsed_options p;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view a = args[i];
        if (a.size() > 2 && a.substr(0, 2) == "--") {
            const std::string name(a);
            if (flags.count(name)) {
                p.flags.insert(name);
            } else if (repeatable.count(name)) {
                if (i + 1 >= args.size()) throw usage_error(name + " needs a value");
                p.lists[name].push_back(std::string(args[++i]));
            } else if (valued.count(name)) {
                if (i + 1 >= args.size()) throw usage_error(name + " needs a value");
                if (p.values.count(name)) throw usage_error(name + " given twice");
                p.values[name] = std::string(args[++i]);
            } else {
                throw usage_error("unknown option '" + name + "'");
            }
        } else {
            p.positional.push_back(a);
        }
    }
    return p;
}

template <class T>
T parse_number(const std::string& text, std::string_view option) {
    T v{};
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, v);
    if (ec != std::errc() || ptr != end || text.empty())
        throw usage_error(std::string(option) + ": '" + text + "' is not a number");
    return v;
}

/// --threads N: the OpenMP threads of dsv2's CPU kernels (N ≥ 1). Without OpenMP (DSV2_OPENMP=OFF)
/// the kernels run serially and N is only validated.
inline void apply_threads(const parsed_options& opts) {
    const auto text = opts.get("--threads");
    if (!text) return;
    const auto n = parse_number<int>(*text, "--threads");
    if (n < 1) throw usage_error("--threads: must be ≥ 1, got " + *text);
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
}

/// "1,2,3;4,5,6" -> [[1,2,3],[4,5,6]]: rows separated by ';', values by ','. Rows must agree in length.
inline tensor<std::int64_t> parse_matrix(const std::string& text, std::string_view option) {
    std::vector<std::int64_t> values;
    std::int64_t rows = 0, cols = -1;
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t end = std::min(text.find(';', start), text.size());
        const std::string row = text.substr(start, end - start);
        std::int64_t n = 0;
        std::size_t s = 0;
        while (s <= row.size()) {
            const std::size_t e = std::min(row.find(',', s), row.size());
            std::string item = row.substr(s, e - s);
            while (!item.empty() && item.front() == ' ') item.erase(item.begin());
            while (!item.empty() && item.back() == ' ') item.pop_back();
            std::int64_t v = 0;
            const auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
            if (item.empty() || ec != std::errc() || ptr != item.data() + item.size())
                throw usage_error(std::string(option) + ": '" + item + "' in row " + std::to_string(rows) +
                                  " is not an integer");
            values.push_back(v);
            ++n;
            s = e + 1;
        }
        if (cols >= 0 && n != cols)
            throw usage_error(std::string(option) + ": row " + std::to_string(rows) + " has " + std::to_string(n) +
                              " values, row 0 has " + std::to_string(cols));
        cols = n;
        ++rows;
        start = end + 1;
    }
    return tensor<std::int64_t>({rows, cols}, std::move(values));
}

}  // namespace dsv2::cli
