#include "sidecar/session/session_options.hpp"

#include <charconv>

namespace livesync::sidecar {

namespace {

struct Flag {
    const char *flag;
    const char *env;
};
constexpr Flag kMaxSendQueue{"--max-send-queue", "LIVESYNC_MAX_SEND_QUEUE"};
constexpr Flag kReplayPage{"--replay-page-entries", "LIVESYNC_REPLAY_PAGE_ENTRIES"};
constexpr Flag kStallTimeout{"--send-stall-timeout", "LIVESYNC_SEND_STALL_TIMEOUT"};

std::optional<std::string> pick(const std::map<std::string, std::optional<std::string>> &values, const Flag &f,
                                const std::function<const char *(const char *)> &getenv) {
    auto it = values.find(f.flag);
    if (it != values.end() && it->second) return it->second;
    if (const char *v = getenv(f.env)) return std::string(v);
    return std::nullopt;
}

}  // namespace

std::optional<size_t> parse_byte_size(const std::string &text) {
    size_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || end == text.data()) return std::nullopt;
    std::string unit(end, text.data() + text.size());
    size_t mult = unit.empty() || unit == "B" ? 1 : unit == "KiB" ? 1u << 10 : unit == "MiB" ? 1u << 20
                                                 : unit == "GiB" ? size_t(1) << 30 : 0;
    if (mult == 0 || n > SIZE_MAX / mult) return std::nullopt;
    return n * mult;
}

std::optional<std::string> *SessionFlags::value_flag(const std::string &flag) {
    if (flag != kMaxSendQueue.flag && flag != kReplayPage.flag && flag != kStallTimeout.flag) return nullptr;
    return &values_[flag];
}

bool SessionFlags::resolve(const std::function<const char *(const char *)> &getenv, SessionOptions &out,
                           std::string *error) const {
    if (auto v = pick(values_, kMaxSendQueue, getenv)) {
        auto n = parse_byte_size(*v);
        if (!n || *n < 4096) {
            *error = "--max-send-queue must be a size of at least 4096 bytes (e.g. 8MiB), not \"" + *v + "\"";
            return false;
        }
        out.max_send_queue_bytes = *n;
    }
    if (auto v = pick(values_, kReplayPage, getenv)) {
        size_t n = 0;
        auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
        if (ec != std::errc() || end != v->data() + v->size() || n < 1 || n > 10000) {
            *error = "--replay-page-entries must be from 1 to 10000, not \"" + *v + "\"";
            return false;
        }
        out.replay_page_entries = n;
    }
    if (auto v = pick(values_, kStallTimeout, getenv)) {
        int n = 0;
        auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
        if (ec != std::errc() || end != v->data() + v->size() || n < 1 || n > 86400) {
            *error = "--send-stall-timeout must be whole seconds from 1 to 86400, not \"" + *v + "\"";
            return false;
        }
        out.send_stall_timeout_seconds = n;
    }
    return true;
}

std::string session_usage() {
    return "sessions:\n"
           "  --max-send-queue SIZE  frames waiting per client, e.g. 8MiB (env LIVESYNC_MAX_SEND_QUEUE,\n"
           "                       default 8MiB); a client with 3/4 of it waiting is fed from the\n"
           "                       stream at its own pace instead\n"
           "  --send-stall-timeout SECONDS  close (1008) a client whose send queue did not move for\n"
           "                       this long (env LIVESYNC_SEND_STALL_TIMEOUT, default 30)\n"
           "  --replay-page-entries N  stream entries read per page when a client resumes (env\n"
           "                       LIVESYNC_REPLAY_PAGE_ENTRIES, default 64)\n";
}

}  // namespace livesync::sidecar
