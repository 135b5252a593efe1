// livesyncd's service threads: one Acceptor and N Servers (N = --service-threads, by
// default the machine's cores), each an lws context on its own thread serving its own
// sessions. Every thread reads every stream event (EventQueue, one cursor each) and fans
// it out to its sessions; connections go to the threads in turn; what
// spans threads goes through the ClientDirectory (client ids, open sessions) and tasks
// posted to a thread (closing a replaced session, admin answers gathered from every
// thread). Replay pages and snapshot events go back to the thread that asked, named by
// the low bits of the session serial / job id.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sidecar/net/acceptor.hpp"
#include "sidecar/net/server.hpp"

namespace livesync::net {

class ServerGroup {
public:
    // threads: 1 to session::kMaxShards.
    ServerGroup(ServerConfig config, unsigned threads, stream::EventQueue &events, registry::RegistrySink &registry,
                ops::Counters &counters, session::Gatekeeper &gate);
    ~ServerGroup();

    // Listens (host:port of the config) and creates every thread's context; false and
    // *error on failure.
    bool listen(std::string *error);
    // Runs every service thread and the acceptor; returns once every thread ended
    // (request_stop(), or lws failing: then on_failure is called first).
    void run(std::function<void()> on_failure);
    // Thread-safe: stop accepting (the port is free at once), close every session with
    // 1001 and end the threads.
    void request_stop();
    // Thread-safe: every thread drains the event queue.
    void wake();
    void reload_tls();
    void set_replay_reader(stream::ReplayReader *reader);
    void deliver_replay_page(stream::ReplayPage page);
    void set_snapshot_reader(snapshot::SnapshotQueries *reader);
    void deliver_snapshot_event(snapshot::SnapshotEvent event);

    unsigned size() const { return static_cast<unsigned>(servers_.size()); }
    Server &thread(unsigned i) { return *servers_.at(i); }
    // Runs part on every thread (each on its own), then done with the N results (on the
    // thread that finished last). Thread-safe.
    void gather(std::function<std::string(Server &)> part, std::function<void(std::vector<std::string>)> done);

private:
    void hand_over(int fd);

    ServerConfig config_;
    session::ClientDirectory directory_;
    std::vector<std::unique_ptr<Server>> servers_;
    Acceptor acceptor_;
    size_t next_ = 0;  // acceptor thread: the thread the next connection goes to
};

}  // namespace livesync::net
