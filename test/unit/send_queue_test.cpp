// The per-session send queue: bounded by bytes waiting, but one frame always fits.
#include <gtest/gtest.h>

#include "sidecar/session/send_queue.hpp"

namespace livesync {
namespace {

TEST(SendQueue, AFrameBiggerThanTheBoundIsAcceptedIntoAnEmptyQueueOnly) {
    session::SendQueue q(100);
    EXPECT_TRUE(q.push(protocol::make_frame(std::string(500, 'x'))));  // one big transaction
    EXPECT_FALSE(q.push(protocol::make_frame("y")));                    // but nothing behind it
    q.pop();
    EXPECT_TRUE(q.push(protocol::make_frame(std::string(60, 'a'))));
    EXPECT_TRUE(q.push(protocol::make_frame(std::string(40, 'b'))));
    EXPECT_FALSE(q.push(protocol::make_frame("c")));
    EXPECT_EQ(q.bytes(), 100u);
}

}  // namespace
}  // namespace livesync
