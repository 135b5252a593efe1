// The stream reader thread: its own blocking hiredis connection (connect and read
// timeouts), XREAD BLOCK on "<prefix>changes", one decode per entry, and the decoded
// batches pushed in order to the lws thread (EventQueue + a wake-up callback, which is
// lws_cancel_service()). A bad entry is logged with its ID, counted and skipped.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/lsn.hpp"
#include "common/redis_url.hpp"
#include "sidecar/ops/counters.hpp"
#include "sidecar/stream/stream_event.hpp"

namespace livesync::redis {
class Connection;
}

namespace livesync::stream {

struct ReaderConfig {
    common::RedisUrl url;
    std::string prefix;
    int block_ms = 2000;
    int count = 100;
};

class StreamReader {
public:
    StreamReader(ReaderConfig config, EventQueue &queue, std::function<void()> wake, ops::Counters &counters);
    ~StreamReader();

    void start();
    // Returns within one XREAD BLOCK period.
    void stop();

private:
    void run();
    // Reads the config and the stream ends in one MULTI/EXEC and decides where to read
    // from. False on a Redis error.
    bool snapshot(redis::Connection &conn, std::string *error);
    // One XREAD; false on a Redis error.
    bool read_once(redis::Connection &conn, std::string *error);
    void deliver(StreamEvent event);
    void pause(std::chrono::milliseconds d);

    ReaderConfig config_;
    std::string stream_key_;
    std::string config_key_;
    std::string rules_key_;
    EventQueue &queue_;
    std::function<void()> wake_;
    ops::Counters &counters_;
    std::optional<common::StreamId> last_id_;  // last entry handed over
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::mutex pause_mutex_;
    std::condition_variable pause_cv_;
};

}  // namespace livesync::stream
