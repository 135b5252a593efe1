// Everything of the security layer beyond authentication, built and owned in one place
// so main() only creates it, attaches it and starts / stops it: the abuse guard (rate
// limits, ban cache), the Redis store thread (client-id owners, bans, activity), the
// control-stream reader (kicks, bans from SQL and other sidecars) and the hubs (one per
// service thread) that apply their answers and serve the admin API.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/redis_keys.hpp"
#include "common/redis_url.hpp"
#include "sidecar/admin/control_reader.hpp"
#include "sidecar/admin/security_hub.hpp"
#include "sidecar/auth/abuse_guard.hpp"
#include "sidecar/auth/security_options.hpp"
#include "sidecar/auth/security_store.hpp"
#include "sidecar/net/server_group.hpp"

namespace livesync::sidecar {

class SecurityLayer {
public:
    SecurityLayer(const auth::SecurityOptions &options, const common::RedisUrl &url, const std::string &prefix,
                  const std::string &sidecar_id, session::Gatekeeper &gate, auth::AuditSink &audit,
                  ops::Counters &counters)
        : guard_(options.abuse),
          store_(auth::StoreConfig{url, prefix, sidecar_id},
                 [this](auth::StoreResult r) { route(std::move(r)); }),
          control_(admin::ControlConfig{url, common::RedisKeys(prefix).control()},
                   [this](admin::ControlCommand c) {
                       // Every thread acts on its own sessions.
                       for (auto &hub : hubs_) hub->push(c);
                   }),
          hub_config_{sidecar_id, options.admin_token, 0}, gate_(gate), counters_(counters), audit_(audit) {
        gate.attach(&guard_, &store_);
    }

    // Before start(): one hub per service thread.
    void attach(net::ServerGroup &group) {
        for (unsigned i = 0; i < group.size(); ++i) {
            admin::HubConfig config = hub_config_;
            config.shard = i;
            hubs_.push_back(std::make_unique<admin::SecurityHub>(config, gate_, &store_, counters_, audit_));
            if (group.size() > 1)
                hubs_.back()->set_gather([&group](std::function<std::string(admin::SecurityHub &)> part,
                                                  std::function<void(std::vector<std::string>)> done) {
                    group.gather([part = std::move(part)](net::Server &s) { return s.hub() ? part(*s.hub()) : ""; },
                                 std::move(done));
                });
            group.thread(i).set_security_hub(hubs_.back().get());
        }
    }
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
    // A store answer goes to the hub of the thread that asked: a claim names its session,
    // an admin answer its ticket (both carry the thread in their low bits); the shared ban
    // list is applied once (the AbuseGuard is shared).
    void route(auth::StoreResult r) {
        if (hubs_.empty()) return;
        unsigned shard = 0;
        if (auto *claim = std::get_if<auth::ClaimResult>(&r)) shard = session::shard_of_serial(claim->serial);
        if (auto *answer = std::get_if<auth::AdminAnswer>(&r)) shard = session::shard_of_serial(answer->ticket);
        if (shard >= hubs_.size()) return;
        hubs_[shard]->push(std::move(r));
    }

    auth::AbuseGuard guard_;
    auth::SecurityStore store_;
    admin::ControlReader control_;
    admin::HubConfig hub_config_;
    session::Gatekeeper &gate_;
    ops::Counters &counters_;
    auth::AuditSink &audit_;
    std::vector<std::unique_ptr<admin::SecurityHub>> hubs_;
};

}  // namespace livesync::sidecar
