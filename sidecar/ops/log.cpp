#include "sidecar/ops/log.hpp"

#include <libwebsockets.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "common/change_batch.hpp"

namespace livesync::ops {

namespace {
std::atomic<int> min_level{static_cast<int>(Level::Info)};
std::mutex write_mutex;

const char *level_name(Level level) {
    switch (level) {
        case Level::Debug: return "debug";
        case Level::Info: return "info";
        case Level::Warn: return "warn";
        case Level::Error: return "error";
    }
    return "info";
}

void lws_emit(int lws_level, const char *line) {
    std::string_view text(line);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
    log(lws_level == LLL_ERR ? Level::Error : Level::Warn, "libwebsockets", {{"detail", text}});
}
}  // namespace

Field::Field(std::string_view k, std::string_view value) : key(k) { common::append_json_string(json, value); }
Field::Field(std::string_view k, int64_t value) : key(k), json(std::to_string(value)) {}
Field::Field(std::string_view k, uint64_t value) : key(k), json(std::to_string(value)) {}
Field::Field(std::string_view k, bool value) : key(k), json(value ? "true" : "false") {}

void set_min_level(Level level) { min_level.store(static_cast<int>(level)); }

std::string format_line(Level level, std::string_view msg, std::initializer_list<Field> fields) {
    auto now = std::chrono::system_clock::now().time_since_epoch();
    auto usec = std::chrono::duration_cast<std::chrono::microseconds>(now).count();
    std::string line = "{\"ts\":";
    common::append_timestamp_json(line, usec / 1000000, static_cast<uint32_t>(usec % 1000000) * 1000);
    line += ",\"level\":\"";
    line += level_name(level);
    line += "\",\"msg\":";
    common::append_json_string(line, msg);
    for (const Field &f : fields) {
        line += ',';
        common::append_json_string(line, f.key);
        line += ':';
        line += f.json;
    }
    line += '}';
    return line;
}

void log(Level level, std::string_view msg, std::initializer_list<Field> fields) {
    if (static_cast<int>(level) < min_level.load()) return;
    std::string line = format_line(level, msg, fields);
    line += '\n';
    std::lock_guard<std::mutex> lock(write_mutex);
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}

void route_lws_logs() { lws_set_log_level(LLL_ERR | LLL_WARN, lws_emit); }

}  // namespace livesync::ops
