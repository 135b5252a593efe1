// The one shape of every Redis thread in livesyncd (stream and replay readers, registry,
// audit, security store, control reader): RedisWorker owns the thread, its stop flag and
// wake-up, one blocking Connection (reopened with exponential backoff and jitter, its
// up/down transitions logged once each by LinkState) and, as RedisInboxWorker, a bounded
// inbox the lws thread posts to and the worker thread takes from. The owners only write
// what their thread does with a connection.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>

#include "common/redis_url.hpp"
#include "sidecar/redis/connection.hpp"

namespace livesync::redis {

using Clock = std::chrono::steady_clock;

struct BackoffPolicy {
    std::chrono::milliseconds first{100};
    std::chrono::milliseconds max{5000};
    // Each delay is drawn from [(1 - jitter) * d, d], d the exponential step, so sidecars
    // that lost the same Redis do not all reconnect in the same millisecond.
    double jitter = 0.5;
};

// Reconnect delays: first, doubling up to max, each jittered; reset() after a success.
class Backoff {
public:
    explicit Backoff(BackoffPolicy policy = {}, uint64_t seed = std::random_device{}());
    std::chrono::milliseconds next();
    void reset() { step_ = policy_.first; }

private:
    BackoffPolicy policy_;
    std::chrono::milliseconds step_;
    std::mt19937_64 random_;
};

// FIFO of at most `capacity` items; push refuses (false) when full. Not locked itself:
// RedisInboxWorker guards it.
template <typename T>
class BoundedInbox {
public:
    using Batch = std::deque<T>;
    explicit BoundedInbox(size_t capacity) : capacity_(capacity) {}
    bool push(T item) {
        if (items_.size() >= capacity_) return false;
        items_.push_back(std::move(item));
        return true;
    }
    bool empty() const { return items_.empty(); }
    size_t size() const { return items_.size(); }
    // The oldest `at_most` items, in order.
    Batch take(size_t at_most) {
        Batch out;
        if (at_most >= items_.size()) {
            out.swap(items_);
            return out;
        }
        auto end = items_.begin() + static_cast<std::ptrdiff_t>(at_most);
        out.assign(std::make_move_iterator(items_.begin()), std::make_move_iterator(end));
        items_.erase(items_.begin(), end);
        return out;
    }

private:
    size_t capacity_;
    std::deque<T> items_;
};

// The newest value per key, for at most `capacity` keys: a key already waiting is
// replaced (never refused), a new key is refused when full.
template <typename K, typename V>
class CoalescingInbox {
public:
    using Batch = std::unordered_map<K, V>;
    explicit CoalescingInbox(size_t capacity) : capacity_(capacity) {}
    bool push(K key, V value) {
        auto it = items_.find(key);
        if (it != items_.end()) {
            it->second = std::move(value);
            return true;
        }
        if (items_.size() >= capacity_) return false;
        items_.emplace(std::move(key), std::move(value));
        return true;
    }
    bool empty() const { return items_.empty(); }
    size_t size() const { return items_.size(); }
    // Every waiting key (order is not kept: only each key's newest value matters).
    Batch take(size_t) {
        Batch out;
        out.swap(items_);
        return out;
    }

private:
    size_t capacity_;
    std::unordered_map<K, V> items_;
};

struct WorkerOptions {
    using OnConnect = std::function<bool(Connection &, std::string *error)>;
    WorkerOptions(std::string component, common::RedisUrl url,
                  std::chrono::milliseconds read_timeout = std::chrono::milliseconds(5000), OnConnect on_connect = {})
        : component(std::move(component)), url(std::move(url)), read_timeout(read_timeout),
          on_connect(std::move(on_connect)) {}

    std::string component;  // "component" of the log lines
    common::RedisUrl url;
    // A reader's must outlast its XREAD BLOCK, or every idle read would fail.
    std::chrono::milliseconds read_timeout;
    // Runs on every new connection before it counts as up (a reader's snapshot, say);
    // false (and *error): the connection is dropped and the next attempt backed off.
    OnConnect on_connect;
    std::chrono::milliseconds connect_timeout{2000};
    BackoffPolicy backoff;
};

class RedisWorker {
public:
    explicit RedisWorker(WorkerOptions options);
    ~RedisWorker();
    RedisWorker(const RedisWorker &) = delete;
    RedisWorker &operator=(const RedisWorker &) = delete;

    void start(std::function<void()> body);
    // Sets the stop flag, wakes the thread out of any wait of this class and joins it.
    // A command blocked in Redis ends at its own timeout, or at once after
    // Connection::interrupt_all(). Idempotent.
    void stop();
    bool stopping() const;

    // ---- the worker thread's side ----
    enum class Attempt { WhenDue, Now };
    // The open connection; with none, opens one (and runs on_connect) when the backoff
    // allows or `Now`. nullptr while Redis is unreachable.
    Connection *connection(Attempt attempt = Attempt::WhenDue);
    // The open connection or nullptr, never connecting.
    Connection *current() { return conn_.get(); }
    // A command failed under the connection: drops it, logs, backs off.
    void lost(std::string_view error);
    // Why the last attempt failed or the connection was lost (never the password).
    const std::string &last_error() const { return last_error_; }
    // When connection() will try again (now while connected).
    Clock::time_point next_attempt() const;
    // Waits until `until` or stop(); false when stopping.
    bool pause_until(Clock::time_point until);
    // A reader's whole loop: until stop(), connect and call `read` while it returns true;
    // a false read (and *error) drops the connection and backs off.
    void run_reader(const std::function<bool(Connection &, std::string *error)> &read);

    // Failed connection attempts so far (tests wait for this state). Thread-safe.
    uint64_t connect_failures() const;

protected:
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    bool stop_ = false;  // guarded by mutex_

private:
    WorkerOptions options_;
    LinkState link_;
    Backoff backoff_;
    std::unique_ptr<Connection> conn_;  // worker thread only
    Clock::time_point next_attempt_ = Clock::now();
    std::string last_error_;
    uint64_t connect_failures_ = 0;  // guarded by mutex_
    std::thread thread_;
};

// A RedisWorker with an inbox (BoundedInbox, CoalescingInbox) the lws thread posts to.
template <typename Inbox>
class RedisInboxWorker : public RedisWorker {
public:
    RedisInboxWorker(WorkerOptions options, Inbox inbox) : RedisWorker(std::move(options)), inbox_(std::move(inbox)) {}

    // Thread-safe, never waits on Redis. False (nothing queued) when the inbox refuses
    // (full) or the worker is stopping.
    template <typename... Args>
    bool post(Args &&...args) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (stop_ || !inbox_.push(std::forward<Args>(args)...)) return false;
        }
        wake_.notify_one();
        return true;
    }

    struct Work {
        typename Inbox::Batch items;
        bool stopping = false;  // read under the same lock: nothing posted before stop() is missed
    };
    // Worker thread: waits until something is posted, stop(), or `until`; then takes at
    // most `at_most` of what was posted.
    Work wait_for_work(Clock::time_point until = Clock::time_point::max(), size_t at_most = SIZE_MAX) {
        std::unique_lock<std::mutex> lock(mutex_);
        auto ready = [&] { return stop_ || !inbox_.empty(); };
        if (until == Clock::time_point::max()) wake_.wait(lock, ready);
        else wake_.wait_until(lock, until, ready);
        Work work;
        work.items = inbox_.take(at_most);
        work.stopping = stop_;
        return work;
    }

private:
    Inbox inbox_;  // guarded by mutex_
};

}  // namespace livesync::redis
