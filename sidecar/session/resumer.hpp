// What the frame handler calls when a client says hello with a last_lsn: the session is
// to be brought up to date from the stream before it goes live (stream/replay.hpp
// implements it; unit tests use a fake).
#pragma once

#include <cstdint>

namespace livesync::session {

class Session;

class Resumer {
public:
    virtual ~Resumer() = default;
    // s has its subscriptions (live after last_lsn); replay everything above last_lsn.
    virtual void begin_resume(Session &s, uint64_t last_lsn) = 0;
};

}  // namespace livesync::session
