#include "clients/cli/cli_options.hpp"

#include <charconv>
#include <cstdlib>

namespace livesync::cli {

namespace {

std::optional<CliError> parse_ws_url(const std::string &url, CliOptions &o) {
    std::string rest;
    if (url.rfind("ws://", 0) == 0) {
        rest = url.substr(5);
    } else if (url.rfind("wss://", 0) == 0) {
        rest = url.substr(6);
        o.tls = true;
        o.port = 443;
    } else {
        return CliError{"--url must start with ws:// or wss://, not \"" + url + "\""};
    }
    auto slash = rest.find('/');
    std::string hostport = rest.substr(0, slash);
    o.path = slash == std::string::npos ? "/" : rest.substr(slash);
    auto colon = hostport.rfind(':');
    o.host = hostport.substr(0, colon);
    if (colon != std::string::npos) {
        std::string port = hostport.substr(colon + 1);
        auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), o.port);
        if (ec != std::errc() || end != port.data() + port.size() || o.port < 1 || o.port > 65535)
            return CliError{"--url has a bad port: \"" + port + "\""};
    }
    if (o.host.empty()) return CliError{"--url has no host"};
    return std::nullopt;
}

}  // namespace

std::string cli_usage() {
    return "usage: livesync-cli --url ws://HOST:PORT/v1/sync --table TABLE [--table TABLE ...]\n"
           "                    [--channel NAME ...]  (livesync.notify messages on NAME; token needed)\n"
           "                    [--client-id ID] [--last-lsn LSN] [--count N] [--timeout SECONDS]\n"
           "                    [--token JWT]   (or env LIVESYNC_TOKEN; sent in the hello)\n"
           "                    [--msgpack]     (speak livesync.v1.msgpack; prints the same JSON)\n"
           "                    [--ca-file PEM] (wss: trust these CAs instead of the system's)\n"
           "                    [--snapshot]    (tables start with their rows: {\"op\":\"snapshot\",\"sub\":[id],\n"
           "                                    \"new\":{..}} lines; on resync_required a {\"op\":\"reset\",\n"
           "                                    \"sub\":[id]} line, then a fresh snapshot)\n"
           "Prints one JSON line per change (and notify message) on stdout and \"subscribed <table>\n"
           "<lsn>\" (\"subscribed channel:<name> <lsn>\") on stderr\n"
           "per acknowledged subscription. Exits 0 after N changes, on timeout or SIGINT;\n"
           "1 on a connection failure or an error from the server.\n";
}

std::variant<CliOptions, CliHelp, CliError> parse_cli_options(const std::vector<std::string> &args) {
    CliOptions o;
    std::optional<std::string> url;
    if (const char *token = std::getenv("LIVESYNC_TOKEN"); token && *token) o.token = token;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string &flag = args[i];
        if (flag == "--help" || flag == "-h") return CliHelp{};
        if (flag == "--msgpack") {
            o.msgpack = true;
            continue;
        }
        if (flag == "--snapshot") {
            o.snapshot = true;
            continue;
        }
        if (i + 1 >= args.size()) return CliError{flag == "--url" || flag == "--table" || flag == "--channel" ||
                                                          flag == "--client-id" ||
                                                          flag == "--last-lsn" || flag == "--count" || flag == "--token" ||
                                                          flag == "--timeout" || flag == "--ca-file"
                                                      ? flag + " needs a value"
                                                      : "unknown option \"" + flag + "\""};
        const std::string &value = args[++i];
        if (flag == "--url") {
            url = value;
        } else if (flag == "--table") {
            o.tables.push_back(value);
        } else if (flag == "--channel") {
            if (value.empty()) return CliError{"--channel must not be empty"};
            o.channels.push_back(value);
        } else if (flag == "--client-id") {
            o.client_id = value;
        } else if (flag == "--last-lsn") {
            o.last_lsn = value;
        } else if (flag == "--ca-file") {
            if (value.empty()) return CliError{"--ca-file must not be empty"};
            o.ca_file = value;
        } else if (flag == "--token") {
            if (value.empty()) return CliError{"--token must not be empty"};
            o.token = value;
        } else if (flag == "--count") {
            long n = 0;
            auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
            if (ec != std::errc() || end != value.data() + value.size() || n < 1)
                return CliError{"--count must be a positive integer, not \"" + value + "\""};
            o.count = n;
        } else if (flag == "--timeout") {
            char *end = nullptr;
            double t = std::strtod(value.c_str(), &end);
            if (value.empty() || *end != '\0' || !(t > 0))
                return CliError{"--timeout must be a positive number of seconds, not \"" + value + "\""};
            o.timeout_seconds = t;
        } else {
            return CliError{"unknown option \"" + flag + "\""};
        }
    }
    if (!url) return CliError{"--url is required"};
    if (auto err = parse_ws_url(*url, o)) return *err;
    if (o.ca_file && !o.tls) return CliError{"--ca-file is for wss:// URLs"};
    if (o.tables.empty() && o.channels.empty()) return CliError{"at least one --table or --channel is required"};
    return o;
}

}  // namespace livesync::cli
