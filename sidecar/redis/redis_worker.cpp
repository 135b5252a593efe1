#include "sidecar/redis/redis_worker.hpp"

#include <algorithm>

namespace livesync::redis {

Backoff::Backoff(BackoffPolicy policy, uint64_t seed) : policy_(policy), step_(policy.first), random_(seed) {}

std::chrono::milliseconds Backoff::next() {
    auto step = step_;
    step_ = std::min(step_ * 2, policy_.max);
    double jitter = std::clamp(policy_.jitter, 0.0, 1.0);
    if (jitter == 0.0) return step;
    std::uniform_real_distribution<double> cut(0.0, jitter);
    auto delay = std::chrono::milliseconds(static_cast<int64_t>(static_cast<double>(step.count()) * (1.0 - cut(random_))));
    return std::max(delay, std::chrono::milliseconds(1));
}

RedisWorker::RedisWorker(WorkerOptions options)
    : options_(std::move(options)), link_(options_.component, options_.url.redacted()), backoff_(options_.backoff) {}

RedisWorker::~RedisWorker() { stop(); }

void RedisWorker::start(std::function<void()> body) { thread_ = std::thread(std::move(body)); }

void RedisWorker::stop() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

bool RedisWorker::stopping() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stop_;
}

uint64_t RedisWorker::connect_failures() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return connect_failures_;
}

Connection *RedisWorker::connection(Attempt attempt) {
    if (conn_) return conn_.get();
    if (attempt == Attempt::WhenDue && Clock::now() < next_attempt_) return nullptr;
    std::string error;
    conn_ = Connection::open(options_.url, options_.connect_timeout, options_.read_timeout, &error);
    if (conn_ && options_.on_connect && !options_.on_connect(*conn_, &error)) conn_.reset();
    if (!conn_) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            ++connect_failures_;
        }
        last_error_ = error.empty() ? "connection lost" : error;
        link_.down(last_error_);
        next_attempt_ = Clock::now() + backoff_.next();
        return nullptr;
    }
    link_.up();
    backoff_.reset();
    return conn_.get();
}

void RedisWorker::lost(std::string_view error) {
    conn_.reset();
    last_error_ = error.empty() ? std::string_view("connection lost") : error;
    link_.down(last_error_);
    next_attempt_ = Clock::now() + backoff_.next();
}

Clock::time_point RedisWorker::next_attempt() const { return conn_ ? Clock::now() : next_attempt_; }

bool RedisWorker::pause_until(Clock::time_point until) {
    std::unique_lock<std::mutex> lock(mutex_);
    return !wake_.wait_until(lock, until, [&] { return stop_; });
}

void RedisWorker::run_reader(const std::function<bool(Connection &, std::string *error)> &read) {
    while (!stopping()) {
        Connection *conn = connection();
        if (!conn) {
            if (!pause_until(next_attempt_)) break;
            continue;
        }
        std::string error;
        while (!stopping() && read(*conn, &error)) {
        }
        if (stopping()) break;
        lost(error);
    }
}

}  // namespace livesync::redis
