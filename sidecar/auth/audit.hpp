// The security audit trail: auth failures, forbidden subscriptions, rate-limit hits,
// kicks and bans. Each event is one JSON log line at once and, through AuditWriter's
// own Redis thread, an entry of the "<prefix>audit" stream (XADD MAXLEN ~ bounded), so
// every sidecar's events land in one place. The lws thread only enqueues.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/redis_url.hpp"
#include "sidecar/ops/counters.hpp"
#include "sidecar/redis/redis_worker.hpp"

namespace livesync::sidecar::auth {

struct AuditEvent {
    std::string kind;     // auth_failed | forbidden | rate_limited | kicked | banned | refused_banned | ...
    std::string address;  // the client's address, when known
    std::string subject;  // "sub", when known
    std::string client_id;
    std::string detail;   // what was wrong (never a token)
};

class AuditSink {
public:
    virtual ~AuditSink() = default;
    virtual void record(AuditEvent event) = 0;
};

// Renders the event as the fields of its stream entry (also used for the log line).
std::vector<std::pair<std::string, std::string>> audit_fields(const AuditEvent &event, const std::string &sidecar_id,
                                                              int64_t unix_ms);

struct AuditConfig {
    common::RedisUrl url;
    std::string stream_key;     // "<prefix>audit"
    std::string sidecar_id;
    size_t max_len = 100000;    // XADD MAXLEN ~
    size_t max_pending = 10000; // events waiting for Redis; more are dropped (and counted)
};

class AuditWriter final : public AuditSink {
public:
    AuditWriter(AuditConfig config, ops::Counters &counters);
    ~AuditWriter() override;
    AuditWriter(const AuditWriter &) = delete;
    AuditWriter &operator=(const AuditWriter &) = delete;

    void start();
    void stop();
    void record(AuditEvent event) override;

private:
    using Fields = std::vector<std::pair<std::string, std::string>>;
    void run();
    AuditConfig config_;
    ops::Counters &counters_;
    // Events wait in its inbox (max_pending); last: stopped before the members its thread uses.
    redis::RedisInboxWorker<redis::BoundedInbox<Fields>> worker_;
};

}  // namespace livesync::sidecar::auth
