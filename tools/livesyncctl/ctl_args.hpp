// livesyncctl's command line → one admin API request (method, path, JSON body). Pure,
// so the parsing and the request each command makes are unit-tested.
#pragma once

#include <string>
#include <variant>
#include <vector>

namespace livesync::ctl {

struct Invocation {
    std::string url = "http://127.0.0.1:8080";  // the sidecar's HTTP address
    std::string token;                          // admin token (--token or LIVESYNC_ADMIN_TOKEN)
    std::string method;                         // GET | POST | DELETE
    std::string path;                           // /v1/admin/...
    std::string body;                           // JSON for POST
};

struct Help {};
struct UsageError {
    std::string message;
};

using ParsedArgs = std::variant<Invocation, Help, UsageError>;

// env_token: LIVESYNC_ADMIN_TOKEN, or nullptr.
ParsedArgs parse_ctl_args(const std::vector<std::string> &args, const char *env_token);

std::string ctl_usage();

}  // namespace livesync::ctl
