// Everything of the security layer beyond authentication, built and owned in one place
// so main() only creates it, attaches it and starts / stops it: the abuse guard (rate
// limits, ban cache), the Redis store thread (client-id owners, bans, activity), the
// control-stream reader (kicks, bans from SQL and other sidecars) and the hub that
// applies their answers and serves the admin API on the service thread.
#pragma once

#include <string>

#include "common/redis_keys.hpp"
#include "common/redis_url.hpp"
#include "sidecar/admin/control_reader.hpp"
#include "sidecar/admin/security_hub.hpp"
#include "sidecar/auth/abuse_guard.hpp"
#include "sidecar/auth/security_options.hpp"
#include "sidecar/auth/security_store.hpp"
#include "sidecar/net/server.hpp"

namespace livesync::admin {

class SecurityLayer {
public:
    SecurityLayer(const sidecar::auth::SecurityOptions &options, const common::RedisUrl &url, const std::string &prefix,
                  const std::string &sidecar_id, sidecar::auth::Gatekeeper &gate, sidecar::auth::AuditSink &audit,
                  ops::Counters &counters)
        : guard_(options.abuse),
          store_(sidecar::auth::StoreConfig{url, prefix, sidecar_id},
                 [this](sidecar::auth::StoreResult r) { hub_.push(std::move(r)); }),
          hub_(HubConfig{sidecar_id, options.admin_token}, gate, &store_, counters, audit),
          control_(ControlConfig{url, common::RedisKeys(prefix).control()}, [this](ControlCommand c) { hub_.push(std::move(c)); }) {
        gate.attach(&guard_, &store_);
    }

    void attach(net::Server &server) { server.set_security_hub(&hub_); }
    void start() {
        store_.start();
        control_.start();
    }
    // The store writes (owners, bans, activity): stopped with the other writers, before
    // redis::Connection::interrupt_all(). Then stop() ends the control reader.
    void stop_store() { store_.stop(); }
    void stop() {
        control_.stop();
        store_.stop();
    }

private:
    sidecar::auth::AbuseGuard guard_;
    sidecar::auth::SecurityStore store_;
    SecurityHub hub_;
    ControlReader control_;
};

}  // namespace livesync::admin
