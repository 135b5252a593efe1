// livesync-cli: a small libwebsockets client of livesync.v1.json for people and tests.
// It says hello, subscribes to tables, prints "subscribed <table> <lsn>" on stderr per
// acknowledged subscription and one JSON line per change on stdout.
#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace livesync::cli {

struct CliOptions {
    std::string host;
    int port = 80;
    std::string path = "/";
    bool tls = false;                   // wss://
    std::optional<std::string> ca_file;  // --ca-file: PEM CAs to verify the server with (default: the system's)
    std::vector<std::string> tables;
    std::vector<std::string> channels;  // livesync.notify channels (subscriptions c1, c2, ...)
    std::optional<std::string> client_id;
    std::optional<std::string> last_lsn;
    std::optional<std::string> token;  // sent in hello; --token or env LIVESYNC_TOKEN
    std::optional<long> count;     // exit 0 after this many changes
    std::optional<double> timeout_seconds;
    bool msgpack = false;  // --msgpack: speak livesync.v1.msgpack (output is the same JSON)
    // --snapshot: table subscriptions start with the rows (one {"op":"snapshot",..} line
    // each), and a resync_required resets them ({"op":"reset",..}) and takes a new snapshot.
    bool snapshot = false;
};

struct CliHelp {};
struct CliError {
    std::string message;
};

std::variant<CliOptions, CliHelp, CliError> parse_cli_options(const std::vector<std::string> &args);

std::string cli_usage();

}  // namespace livesync::cli
