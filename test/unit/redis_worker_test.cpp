// The pure logic every Redis thread of livesyncd shares (sidecar/redis/redis_worker.hpp):
// the reconnect schedule, the inboxes' bounds, and a stop that never waits out a backoff.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "sidecar/redis/redis_worker.hpp"

using namespace std::chrono_literals;
using livesync::redis::Backoff;
using livesync::redis::BackoffPolicy;
using livesync::redis::BoundedInbox;
using livesync::redis::Clock;
using livesync::redis::CoalescingInbox;
using livesync::redis::RedisInboxWorker;
using livesync::redis::RedisWorker;
using livesync::redis::WorkerOptions;

namespace {

// A loopback port nothing listens on: connecting is refused at once.
int closed_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len);
    close(fd);
    return ntohs(addr.sin_port);
}

WorkerOptions unreachable(std::chrono::milliseconds backoff) {
    livesync::common::RedisUrl url;
    url.host = "127.0.0.1";
    url.port = closed_port();
    WorkerOptions options("test", url);
    options.connect_timeout = 1000ms;
    options.backoff = BackoffPolicy{backoff, backoff, 0.0};
    return options;
}

template <typename Pred>
bool wait_for(Pred pred) {
    auto deadline = Clock::now() + 20s;  // a bound for a broken build, not a wait
    while (!pred()) {
        if (Clock::now() > deadline) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

}  // namespace

TEST(Backoff, DoublesFromFirstToMaxAndResets) {
    Backoff backoff(BackoffPolicy{100ms, 5000ms, 0.0});
    std::vector<long> delays;
    for (int i = 0; i < 9; ++i) delays.push_back(backoff.next().count());
    EXPECT_EQ(delays, (std::vector<long>{100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000}));
    backoff.reset();
    EXPECT_EQ(backoff.next(), 100ms);
}

TEST(Backoff, JitterStaysWithinItsShareOfEachStepAndVaries) {
    const BackoffPolicy policy{100ms, 5000ms, 0.5};
    Backoff a(policy, 1), b(policy, 2);
    long step = 100;
    bool differ = false;
    for (int i = 0; i < 12; ++i) {
        long da = a.next().count(), db = b.next().count();
        EXPECT_GE(da, step / 2) << "step " << step;
        EXPECT_LE(da, step) << "step " << step;
        differ = differ || da != db;
        step = std::min(step * 2, 5000L);
    }
    EXPECT_TRUE(differ) << "two seeds drew the same twelve delays";
}

TEST(Backoff, SameSeedSameSchedule) {
    Backoff a(BackoffPolicy{}, 42), b(BackoffPolicy{}, 42);
    for (int i = 0; i < 10; ++i) EXPECT_EQ(a.next(), b.next());
}

TEST(BoundedInbox, RefusesWhenFullAndKeepsOrder) {
    BoundedInbox<int> inbox(3);
    EXPECT_TRUE(inbox.push(1));
    EXPECT_TRUE(inbox.push(2));
    EXPECT_TRUE(inbox.push(3));
    EXPECT_FALSE(inbox.push(4));
    auto first = inbox.take(1);
    ASSERT_EQ(first.size(), 1u);
    EXPECT_EQ(first.front(), 1);
    EXPECT_TRUE(inbox.push(5));  // room again
    auto rest = inbox.take(SIZE_MAX);
    EXPECT_EQ(std::vector<int>(rest.begin(), rest.end()), (std::vector<int>{2, 3, 5}));
    EXPECT_TRUE(inbox.empty());
}

TEST(CoalescingInbox, ReplacesAWaitingKeyEvenWhenFullAndRefusesANewOne) {
    CoalescingInbox<std::string, int> inbox(2);
    EXPECT_TRUE(inbox.push("a", 1));
    EXPECT_TRUE(inbox.push("b", 1));
    EXPECT_TRUE(inbox.push("a", 2));   // newest state of a waiting key: taken
    EXPECT_FALSE(inbox.push("c", 1));  // a third key: refused
    auto batch = inbox.take(SIZE_MAX);
    ASSERT_EQ(batch.size(), 2u);
    EXPECT_EQ(batch.at("a"), 2);
    EXPECT_TRUE(inbox.push("c", 1));
}

TEST(RedisWorker, PostIsRefusedWhenTheInboxIsFullOrTheWorkerStopped) {
    RedisInboxWorker<BoundedInbox<int>> worker(unreachable(10ms), BoundedInbox<int>(2));
    // Not started: nothing takes, so the bound is what refuses.
    EXPECT_TRUE(worker.post(1));
    EXPECT_TRUE(worker.post(2));
    EXPECT_FALSE(worker.post(3));
    worker.stop();
    auto work = worker.wait_for_work();
    EXPECT_TRUE(work.stopping);
    EXPECT_EQ(work.items.size(), 2u);  // what was posted before stop() is handed over
    EXPECT_FALSE(worker.post(4));
}

TEST(RedisWorker, ThreadTakesWhatIsPosted) {
    RedisInboxWorker<BoundedInbox<int>> worker(unreachable(10ms), BoundedInbox<int>(16));
    std::atomic<int> sum{0};
    worker.start([&] {
        for (;;) {
            auto work = worker.wait_for_work();
            for (int v : work.items) sum += v;
            if (work.stopping) return;
        }
    });
    EXPECT_TRUE(worker.post(5));
    EXPECT_TRUE(worker.post(7));
    EXPECT_TRUE(wait_for([&] { return sum.load() == 12; }));
    worker.stop();
}

TEST(RedisWorker, StopWhileDisconnectedDoesNotWaitOutTheBackoff) {
    // A reader whose Redis refuses connections, backing off a minute between attempts.
    RedisWorker worker(unreachable(60000ms));
    std::atomic<int> reads{0};
    worker.start([&] {
        worker.run_reader([&](livesync::redis::Connection &, std::string *) {
            ++reads;
            return false;
        });
    });
    ASSERT_TRUE(wait_for([&] { return worker.connect_failures() >= 1; }));
    auto before = Clock::now();
    worker.stop();
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - before);
    EXPECT_LT(took.count(), 10000) << "stop() waited for the backoff";
    EXPECT_EQ(worker.connect_failures(), 1u);
    EXPECT_EQ(reads.load(), 0);
    EXPECT_FALSE(worker.last_error().empty());
}

TEST(RedisWorker, ConnectionIsNotRetriedBeforeTheBackoffUnlessAskedNow) {
    RedisWorker worker(unreachable(60000ms));
    EXPECT_EQ(worker.connection(), nullptr);
    EXPECT_EQ(worker.connect_failures(), 1u);
    EXPECT_EQ(worker.connection(), nullptr);  // not due: no attempt
    EXPECT_EQ(worker.connect_failures(), 1u);
    EXPECT_GT(worker.next_attempt(), Clock::now() + 30s);
    EXPECT_EQ(worker.connection(RedisWorker::Attempt::Now), nullptr);
    EXPECT_EQ(worker.connect_failures(), 2u);
}
