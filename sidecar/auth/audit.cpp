#include "sidecar/auth/audit.hpp"

#include <chrono>

#include "sidecar/ops/log.hpp"
#include "sidecar/redis/connection.hpp"

namespace livesync::sidecar::auth {

namespace {
constexpr std::chrono::milliseconds kConnectTimeout{2000};
constexpr std::chrono::milliseconds kReadTimeout{5000};

int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}
}  // namespace

std::vector<std::pair<std::string, std::string>> audit_fields(const AuditEvent &e, const std::string &sidecar_id,
                                                              int64_t ms) {
    std::vector<std::pair<std::string, std::string>> f{{"kind", e.kind}, {"ts_ms", std::to_string(ms)},
                                                       {"sidecar", sidecar_id}};
    if (!e.address.empty()) f.emplace_back("address", e.address);
    if (!e.subject.empty()) f.emplace_back("user", e.subject);
    if (!e.client_id.empty()) f.emplace_back("client_id", e.client_id);
    if (!e.detail.empty()) f.emplace_back("detail", e.detail);
    return f;
}

AuditWriter::AuditWriter(AuditConfig config, ops::Counters &counters)
    : config_(std::move(config)), counters_(counters) {}

AuditWriter::~AuditWriter() { stop(); }

void AuditWriter::start() { thread_ = std::thread([this] { run(); }); }

void AuditWriter::stop() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable()) thread_.join();
}

void AuditWriter::record(AuditEvent event) {
    auto fields = audit_fields(event, config_.sidecar_id, unix_ms());
    ops::warn("audit", {{"kind", event.kind},
                        {"address", event.address},
                        {"user", event.subject},
                        {"client_id", event.client_id},
                        {"detail", event.detail}});
    counters_.audit_events.fetch_add(1);
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (pending_.size() >= config_.max_pending) {
            counters_.audit_events_dropped.fetch_add(1);
            return;
        }
        pending_.push_back(std::move(fields));
    }
    wake_.notify_one();
}

void AuditWriter::run() {
    redis::LinkState link("audit", config_.url.redacted());
    redis::Backoff backoff;
    std::unique_ptr<redis::Connection> conn;
    for (;;) {
        std::deque<std::vector<std::pair<std::string, std::string>>> batch;
        bool stopping;
        {
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait(lock, [&] { return stop_ || !pending_.empty(); });
            batch.swap(pending_);
            stopping = stop_;
        }
        while (!batch.empty()) {
            std::string error;
            if (!conn) conn = redis::Connection::open(config_.url, kConnectTimeout, kReadTimeout, &error);
            if (conn) {
                std::vector<std::vector<std::string>> cmds;
                for (const auto &fields : batch) {
                    std::vector<std::string> cmd{"XADD", config_.stream_key, "MAXLEN", "~",
                                                 std::to_string(config_.max_len), "*"};
                    for (const auto &[k, v] : fields) {
                        cmd.push_back(k);
                        cmd.push_back(v);
                    }
                    cmds.push_back(std::move(cmd));
                }
                auto replies = conn->pipeline(cmds, &error);
                if (!replies.empty()) {
                    link.up();
                    backoff.reset();
                    batch.clear();
                    break;
                }
                conn.reset();
            }
            link.down(error);
            if (stopping) {
                counters_.audit_events_dropped.fetch_add(batch.size());
                break;
            }
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait_for(lock, backoff.next(), [&] { return stop_; });
            if (stop_) stopping = true;
        }
        if (stopping) return;
    }
}

}  // namespace livesync::sidecar::auth
