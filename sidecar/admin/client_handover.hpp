// One client id, one live session across sidecars: the decisions of the sidecar that
// reads a replace entry from the control stream. The hello's claim (auth/security_store)
// gives every session of an id a generation that grows with each accepted hello on any
// sidecar and writes {kind=replace, client_id, generation} when another sidecar held
// the id; each sidecar then closes its own session of that id only when it is older.
// Comparing generations, not sidecar ids, is what keeps a replace from closing a session
// that said hello after it, on the same sidecar or another.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>

namespace livesync::admin {

// A replace of `replace_generation` closes a session whose claim got `session_generation`
// only when that session is older; never the newest, never the replacing one itself.
inline bool replace_closes(uint64_t session_generation, uint64_t replace_generation) {
    return session_generation < replace_generation;
}

// The replaces seen lately, for hellos still waiting for their claim's answer when the
// replace arrived (the answer and the entry reach the service thread by different
// threads, in either order): such a hello lost already and is closed once it is done.
// Bounded in time (keep_ms) and count (the oldest notes go first).
class RecentReplaces {
public:
    explicit RecentReplaces(size_t capacity = 10000, int64_t keep_ms = 30000)
        : capacity_(capacity), keep_ms_(keep_ms) {}

    void note(const std::string &client_id, uint64_t generation, int64_t now_ms);
    // The newest generation noted for client_id within keep_ms; 0 when none.
    uint64_t newest(const std::string &client_id, int64_t now_ms);
    size_t size() const { return newest_.size(); }

private:
    struct Note {
        int64_t at_ms;
        std::string client_id;
        uint64_t generation;
    };
    void forget_oldest();
    size_t capacity_;
    int64_t keep_ms_;
    std::deque<Note> order_;                           // oldest first
    std::unordered_map<std::string, uint64_t> newest_;  // client id → newest generation in order_
};

}  // namespace livesync::admin
