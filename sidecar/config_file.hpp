// livesyncd's optional TOML config file (--config FILE). Its keys are the long flags
// without "--" and with '_' for '-' (listen, redis, max_send_queue, allow_anonymous, ...),
// checked against one table here: an unknown key or a value of the wrong TOML type stops
// the daemon with FILE:LINE:COLUMN and what was expected. Values are then validated by
// the flag parsers, exactly as if given on the command line.
//
// Precedence: flags > environment > file > defaults. A key whose flag has a LIVESYNC_*
// variable is served as that variable's fallback (so a set variable wins); a key without
// one becomes a flag placed before the real command line (so a real flag wins).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace livesync::sidecar {

struct ConfigFileValues {
    std::map<std::string, std::string> env;  // LIVESYNC_* name → value, below the real environment
    std::vector<std::string> flags;          // "--flag=value", before the real command line
};

// nullopt and *error ("FILE:LINE:COLUMN: message") when the file cannot be read, is not
// TOML, or holds an unknown key or a wrong-typed value.
std::optional<ConfigFileValues> load_config_file(const std::string &path, std::string *error);

std::string config_file_usage();

}  // namespace livesync::sidecar
