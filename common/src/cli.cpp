#include "kecho/cli.h"

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
    if (app.get_option_no_throw("--version") == nullptr)
        app.set_version_flag("--version", version_line(app.get_name()), "print the version and git commit, then exit");
    try {
        app.parse(argc, argv);
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

CLI::Validator bytes_validator() {
    return CLI::Validator(
        [](std::string& value) -> std::string {
            try {
                parse_bytes(value);
            } catch (const Error& e) {
                return e.what();
            }
            return {};
        },
        "BYTES", "bytes");
}

}  // namespace kecho::cli
