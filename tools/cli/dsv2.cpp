// dsv2: the command-line tool. main() dispatches to the subcommands listed in cli.hpp and turns
// every failure into one line on stderr and an exit status (2: usage, 1: error).
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include <dsv2/version.hpp>

#include "cli.hpp"

namespace {

using dsv2::cli::command;
using dsv2::cli::commands;
using dsv2::cli::usage_error;

constexpr int exit_ok = 0, exit_error = 1, exit_usage = 2;

void print_help(std::ostream& out) {
    out << "dsv2 " << dsv2::version_string << ": DeepSeek-V2 models from the command line\n\n"
        << "usage: dsv2 <command> [arguments]\n"
        << "       dsv2 --help | help [command]\n"
        << "       dsv2 --version\n\n"
        << "commands:\n";
    for (const command& c : commands) {
        const std::string head = "  " + std::string(c.name) + " " + std::string(c.usage);
        out << head << std::string(head.size() < 16 ? 16 - head.size() : 1, ' ') << c.summary << "\n";
    }
    out << "\nexit status: 0 success, 1 error, 2 bad command line\n";
}

const command* find_command(std::string_view name) {
    for (const command& c : commands)
        if (c.name == name) return &c;
    return nullptr;
}

/// The message on one line: newlines and tabs become spaces.
std::string one_line(std::string s) {
    for (char& ch : s)
        if (ch == '\n' || ch == '\r' || ch == '\t') ch = ' ';
    return s;
}

int fail(int status, const std::string& message) {
    std::cout.flush();
    std::cerr << "dsv2: error: " << one_line(message) << "\n";
    return status;
}

int dispatch(const std::vector<std::string_view>& args) {
    if (args.empty()) throw usage_error("missing command (try 'dsv2 --help')");
    const std::string_view first = args.front();
    if (first == "--version" || first == "-V") {
        if (args.size() > 1) throw usage_error("--version takes no arguments");
        std::cout << "dsv2 " << dsv2::version_string << "\n";
        return exit_ok;
    }
    if (first == "--help" || first == "-h" || first == "help") {
        if (args.size() > 2) throw usage_error("help takes at most one command name");
        if (args.size() == 2) {
            const command* c = find_command(args[1]);
            if (!c) throw usage_error("unknown command '" + std::string(args[1]) + "' (try 'dsv2 --help')");
            std::cout << "usage: dsv2 " << c->name << " " << c->usage << "\n  " << c->summary << "\n";
            return exit_ok;
        }
        print_help(std::cout);
        return exit_ok;
    }
    const command* c = find_command(first);
    if (!c) {
        if (first.starts_with("-")) throw usage_error("unknown option '" + std::string(first) + "' (try 'dsv2 --help')");
        throw usage_error("unknown command '" + std::string(first) + "' (try 'dsv2 --help')");
    }
    const std::vector<std::string_view> rest(args.begin() + 1, args.end());
    for (std::string_view a : rest)
        if (a == "--help" || a == "-h") {
            std::cout << "usage: dsv2 " << c->name << " " << c->usage << "\n  " << c->summary << "\n";
            return exit_ok;
        }
    return c->run(rest);
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const std::vector<std::string_view> args(argv + (argc > 0 ? 1 : 0), argv + argc);
        const int status = dispatch(args);
        std::cout.flush();
        if (!std::cout) return fail(exit_error, "cannot write to standard output");
        return status;
    } catch (const usage_error& e) {
        return fail(exit_usage, e.what());
    } catch (const std::exception& e) {
        return fail(exit_error, e.what());
    } catch (...) {
        return fail(exit_error, "unknown failure");
    }
}
