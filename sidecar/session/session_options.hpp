// livesyncd's flags for sessions and fan-out (send-queue bound, resume page size),
// parsed apart from the rest of the command line like auth/security_options. Flags win
// over environment variables (which, with --config, fall back to the file), which win
// over defaults.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "sidecar/session/send_queue.hpp"

namespace livesync::sidecar {

struct SessionOptions {
    size_t max_send_queue_bytes = session::kDefaultSendQueueBytes;
    size_t replay_page_entries = 64;
    // A session whose send queue did not move for this long is closed with 1008.
    int send_stall_timeout_seconds = 30;
};

class SessionFlags {
public:
    // The slot for flag's value when flag is one of ours, else nullptr.
    std::optional<std::string> *value_flag(const std::string &flag);
    bool resolve(const std::function<const char *(const char *)> &getenv, SessionOptions &out,
                 std::string *error) const;

private:
    std::map<std::string, std::optional<std::string>> values_;
};

std::string session_usage();

// "8MiB", "512KiB", "1048576": bytes. nullopt for anything else.
std::optional<size_t> parse_byte_size(const std::string &text);

}  // namespace livesync::sidecar
