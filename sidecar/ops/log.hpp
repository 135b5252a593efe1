// ops/: what operators see of livesyncd — structured logs, counters, health.
// Every log line is one JSON object: {"ts":"<RFC 3339 UTC>","level":..,"msg":..,<fields>}.
// Lines are written whole under a lock, so lines from different threads never interleave.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace livesync::ops {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3 };

// One log field, its value already rendered as JSON.
struct Field {
    Field(std::string_view key, std::string_view value);
    Field(std::string_view key, const char *value) : Field(key, std::string_view(value)) {}
    Field(std::string_view key, const std::string &value) : Field(key, std::string_view(value)) {}
    Field(std::string_view key, int64_t value);
    Field(std::string_view key, uint64_t value);
    Field(std::string_view key, int value) : Field(key, static_cast<int64_t>(value)) {}
    Field(std::string_view key, unsigned value) : Field(key, static_cast<uint64_t>(value)) {}
    Field(std::string_view key, long long value) : Field(key, static_cast<int64_t>(value)) {}
    Field(std::string_view key, unsigned long long value) : Field(key, static_cast<uint64_t>(value)) {}
    Field(std::string_view key, bool value);

    std::string key;
    std::string json;
};

void set_min_level(Level level);

// Renders one log line (without the trailing newline); exposed for tests.
std::string format_line(Level level, std::string_view msg, std::initializer_list<Field> fields);

void log(Level level, std::string_view msg, std::initializer_list<Field> fields = {});

inline void debug(std::string_view msg, std::initializer_list<Field> f = {}) { log(Level::Debug, msg, f); }
inline void info(std::string_view msg, std::initializer_list<Field> f = {}) { log(Level::Info, msg, f); }
inline void warn(std::string_view msg, std::initializer_list<Field> f = {}) { log(Level::Warn, msg, f); }
inline void error(std::string_view msg, std::initializer_list<Field> f = {}) { log(Level::Error, msg, f); }

// Routes libwebsockets' own log lines through log() (errors and warnings only).
void route_lws_logs();

}  // namespace livesync::ops
