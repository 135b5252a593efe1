#include "sidecar/auth/audit.hpp"

#include <chrono>

#include "sidecar/ops/log.hpp"
#include "sidecar/redis/connection.hpp"

namespace livesync::sidecar::auth {

namespace {
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
    : config_(std::move(config)), counters_(counters),
      worker_(redis::WorkerOptions("audit", config_.url),
              redis::BoundedInbox<Fields>(config_.max_pending)) {}

AuditWriter::~AuditWriter() { stop(); }

void AuditWriter::start() { worker_.start([this] { run(); }); }

void AuditWriter::stop() { worker_.stop(); }

void AuditWriter::record(AuditEvent event) {
    auto fields = audit_fields(event, config_.sidecar_id, unix_ms());
    ops::warn("audit", {{"kind", event.kind},
                        {"address", event.address},
                        {"user", event.subject},
                        {"client_id", event.client_id},
                        {"detail", event.detail}});
    counters_.audit_events.fetch_add(1);
    if (!worker_.post(std::move(fields))) counters_.audit_events_dropped.fetch_add(1);
}

void AuditWriter::run() {
    for (;;) {
        auto work = worker_.wait_for_work();
        auto &batch = work.items;
        bool stopping = work.stopping;
        while (!batch.empty()) {
            // Stopping: one more try, then what is left is dropped.
            redis::Connection *conn =
                worker_.connection(stopping ? redis::RedisWorker::Attempt::Now : redis::RedisWorker::Attempt::WhenDue);
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
                std::string error;
                if (!conn->pipeline(cmds, &error).empty()) {
                    batch.clear();
                    break;
                }
                worker_.lost(error);
            }
            if (stopping) {
                counters_.audit_events_dropped.fetch_add(batch.size());
                break;
            }
            if (!worker_.pause_until(worker_.next_attempt())) stopping = true;
        }
        if (stopping) return;
    }
}

}  // namespace livesync::sidecar::auth
