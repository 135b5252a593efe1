#include "sidecar/net/server_group.hpp"

#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <thread>

namespace livesync::net {

ServerGroup::ServerGroup(ServerConfig config, unsigned threads, stream::EventQueue &events,
                         registry::RegistrySink &registry, ops::Counters &counters, session::Gatekeeper &gate)
    : config_(std::move(config)), acceptor_([this](int fd) { hand_over(fd); }) {
    threads = std::clamp(threads, 1u, session::kMaxShards);
    for (unsigned i = 0; i < threads; ++i) {
        ShardLinks links;
        links.shard = i;
        links.directory = &directory_;
        links.post = [this](unsigned shard, std::function<void(Server &)> task) {
            servers_.at(shard)->post(std::move(task));
        };
        servers_.push_back(std::make_unique<Server>(config_, std::move(links), events, registry, counters, gate));
    }
}

ServerGroup::~ServerGroup() { acceptor_.stop(); }

bool ServerGroup::listen(std::string *error) {
    for (auto &s : servers_)
        if (!s->listen(error)) return false;
    return acceptor_.listen(config_.host, config_.port, error);
}

void ServerGroup::hand_over(int fd) {
    // Taking turns (the acceptor is one thread): connections spread evenly, and two in a
    // row are on two threads, so the suite with several threads crosses them all the time.
    servers_[next_++ % servers_.size()]->adopt(fd);
}

void ServerGroup::run(std::function<void()> on_failure) {
    std::vector<std::thread> threads;
    for (auto &s : servers_)
        threads.emplace_back([server = s.get(), on_failure] {
            server->run();
            // A thread only ends on its own when lws fails: shut everything down.
            if (!server->stop_requested() && on_failure) on_failure();
        });
    acceptor_.start();
    for (auto &t : threads) t.join();
    acceptor_.stop();
}

void ServerGroup::request_stop() {
    acceptor_.stop();
    for (auto &s : servers_) s->request_stop();
}

void ServerGroup::wake() {
    for (auto &s : servers_) s->wake();
}

void ServerGroup::reload_tls() {
    for (auto &s : servers_) s->reload_tls();
}

void ServerGroup::set_replay_reader(stream::ReplayReader *reader) {
    for (auto &s : servers_) s->set_replay_reader(reader);
}

void ServerGroup::deliver_replay_page(stream::ReplayPage page) {
    unsigned shard = session::shard_of_serial(page.session_serial);
    if (shard < servers_.size()) servers_[shard]->deliver_replay_page(std::move(page));
}

void ServerGroup::set_snapshot_reader(snapshot::SnapshotQueries *reader) {
    for (auto &s : servers_) s->set_snapshot_reader(reader);
}

void ServerGroup::deliver_snapshot_event(snapshot::SnapshotEvent event) {
    unsigned shard = session::shard_of_serial(event.job);
    if (shard < servers_.size()) servers_[shard]->deliver_snapshot_event(std::move(event));
}

void ServerGroup::gather(std::function<std::string(Server &)> part,
                         std::function<void(std::vector<std::string>)> done) {
    struct State {
        std::mutex mutex;
        std::vector<std::string> results;
        size_t remaining;
        std::function<std::string(Server &)> part;
        std::function<void(std::vector<std::string>)> done;
    };
    auto state = std::make_shared<State>();
    state->results.resize(servers_.size());
    state->remaining = servers_.size();
    state->part = std::move(part);
    state->done = std::move(done);
    for (auto &s : servers_)
        s->post([state](Server &server) {
            std::string result = state->part(server);
            bool last;
            {
                std::lock_guard<std::mutex> lock(state->mutex);
                state->results[server.shard()] = std::move(result);
                last = --state->remaining == 0;
            }
            if (last) state->done(std::move(state->results));
        });
}

}  // namespace livesync::net
