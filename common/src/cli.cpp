// SPDX-License-Identifier: GPL-2.0-only
#include "kecho/cli.h"

#include <sys/resource.h>

#include <algorithm>
#include <cctype>
#include <iostream>

#include "kecho/error.h"
#include "kecho/net.h"
#include "kecho/version.h"

namespace kecho::cli {
namespace {

// CLI11 says "Value 0 not in range ..." or "--port: Value 0 ...": lowercase the sentence's first
// letter, after the option name when there is one.
std::string lowercase_first(std::string text) {
    std::size_t at = 0;
    if (!text.empty() && text[0] == '-') {
        auto colon = text.find(": ");
        if (colon != std::string::npos) at = colon + 2;
    }
    if (at < text.size()) text[at] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[at])));
    while (!text.empty() && (text.back() == '\n' || text.back() == '.')) text.pop_back();
    return text;
}

}  // namespace

int parse(CLI::App& app, int argc, char** argv) {
    std::vector<std::string> args(argv + std::min(argc, 1), argv + argc);
    return parse(app, std::move(args));
}

int parse(CLI::App& app, std::vector<std::string> args) {
    if (app.get_option_no_throw("--version") == nullptr)
        app.set_version_flag("--version", version_line(app.get_name()), "print the version and git commit, then exit");
    std::reverse(args.begin(), args.end());  // CLI11 takes them last first
    try {
        app.parse(args);
    } catch (const CLI::CallForHelp&) {
        std::cout << app.help();
        return exit_ok;
    } catch (const CLI::CallForAllHelp&) {
        std::cout << app.help("", CLI::AppFormatMode::All);
        return exit_ok;
    } catch (const CLI::CallForVersion&) {
        std::cout << app.version() << "\n";
        return exit_ok;
    } catch (const CLI::ParseError& e) {
        std::string name = app.get_name();
        std::cerr << name << ": " << lowercase_first(e.what()) << "\n"
                  << "run '" << name << " --help' for usage\n";
        return exit_usage;
    }
    return -1;
}

CLI::Validator transformer(std::function<std::string(const std::string&)> convert, const std::string& name) {
    return CLI::Validator(
        [convert](std::string& value) -> std::string {
            try {
                value = convert(value);
            } catch (const Error& e) {
                return e.what();
            }
            return {};
        },
        name, name);
}

CLI::Validator validator(std::function<void(const std::string&)> parse, const std::string& name) {
    return transformer(
        [parse](const std::string& value) {
            parse(value);
            return value;
        },
        name);
}

CLI::Validator bytes_transformer(std::uint64_t min, std::uint64_t max, const std::string& name) {
    return transformer(
        [min, max](const std::string& value) {
            std::uint64_t n = parse_bytes(value);
            if (n < min)
                throw Error("invalid size '" + value + "': must be at least " + std::to_string(min) +
                            (min == 1 ? " byte" : " bytes"));
            if (n > max) throw Error("invalid size '" + value + "': must be at most " + std::to_string(max) + " bytes");
            return std::to_string(n);
        },
        name);
}

CLI::Validator port_transformer(const std::string& name) {
    return transformer([](const std::string& value) { return std::to_string(parse_port(value)); }, name);
}

std::uint64_t raise_fd_limit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
        ::getrlimit(RLIMIT_NOFILE, &limit);
    }
    return limit.rlim_cur;
}

}  // namespace kecho::cli
