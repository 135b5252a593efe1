#include "sidecar/auth/abuse_guard.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cmath>

namespace livesync::sidecar::auth {

namespace {
// A local ban or unban wins over a Redis refresh for this long (the refresh may have
// been read before the write).
constexpr int64_t kLocalChangeMs = 5000;

bool parse_number(std::string_view text, double &out) {
    if (text.empty() || text.size() > 32) return false;
    std::string s(text);
    for (char c : s)
        if (!(c >= '0' && c <= '9') && c != '.') return false;
    char *end = nullptr;
    out = std::strtod(s.c_str(), &end);
    return end == s.c_str() + s.size() && std::isfinite(out);
}
}  // namespace

std::optional<RateLimit> parse_rate_limit(std::string_view text) {
    if (text == "off" || text == "0") return RateLimit{0, 0};
    auto colon = text.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    RateLimit r;
    if (!parse_number(text.substr(0, colon), r.per_second) || !parse_number(text.substr(colon + 1), r.burst))
        return std::nullopt;
    if (r.per_second <= 0 || r.per_second > 1e6 || r.burst < 1 || r.burst > 1e6) return std::nullopt;
    return r;
}

std::string owner_key(bool authenticated, bool anonymous, const std::string &subject, const std::string &address) {
    if (!authenticated) return "address:" + address;
    if (anonymous) return "anonymous:" + address;
    return "sub:" + subject;
}

AbuseGuard::AbuseGuard(AbuseConfig config)
    : config_(config), connections_(config.connections, config.max_keys), messages_(config.messages, config.max_keys) {}

bool AbuseGuard::banned(const std::string &address, int64_t now_ms) const {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    auto it = bans_.find(address);
    return it != bans_.end() && it->second > now_ms;
}

bool AbuseGuard::allow_connection(const std::string &address, int64_t now_ms) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    return connections_.allow(address, now_ms);
}

bool AbuseGuard::allow_message(const std::string &key, int64_t now_ms) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    return messages_.allow(key, now_ms);
}

bool AbuseGuard::auth_failed(const std::string &address, int64_t now_ms) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    if (config_.ban_after <= 0 || banned(address, now_ms)) return false;
    const int64_t window_ms = static_cast<int64_t>(config_.ban_window_seconds) * 1000;
    if (failures_.size() >= config_.max_keys && !failures_.count(address)) {
        // Bounded: forget addresses whose failures all left the window, else everything.
        for (auto it = failures_.begin(); it != failures_.end();)
            it = it->second.empty() || it->second.back() <= now_ms - window_ms ? failures_.erase(it) : std::next(it);
        if (failures_.size() >= config_.max_keys) failures_.clear();
    }
    auto &times = failures_[address];
    times.push_back(now_ms);
    while (!times.empty() && times.front() <= now_ms - window_ms) times.pop_front();
    while (times.size() > static_cast<size_t>(config_.ban_after)) times.pop_front();
    if (times.size() < static_cast<size_t>(config_.ban_after)) return false;
    failures_.erase(address);
    return true;
}

void AbuseGuard::ban(const std::string &address, int64_t until_ms, int64_t now_ms) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    bans_[address] = until_ms;
    local_changes_[address] = now_ms;
}

void AbuseGuard::unban(const std::string &address, int64_t now_ms) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    bans_.erase(address);
    failures_.erase(address);
    local_changes_[address] = now_ms;
}

void AbuseGuard::replace_bans(const std::map<std::string, int64_t> &shared, int64_t now_ms) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    std::unordered_map<std::string, int64_t> next;
    for (const auto &[address, until] : shared)
        if (until > now_ms) next[address] = until;
    for (auto it = local_changes_.begin(); it != local_changes_.end();) {
        if (now_ms - it->second > kLocalChangeMs) {
            it = local_changes_.erase(it);
            continue;
        }
        auto mine = bans_.find(it->first);
        if (mine != bans_.end()) next[it->first] = mine->second;
        else next.erase(it->first);
        ++it;
    }
    bans_.swap(next);
}

std::vector<std::pair<std::string, int64_t>> AbuseGuard::bans(int64_t now_ms) const {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    std::vector<std::pair<std::string, int64_t>> out;
    for (const auto &[address, until] : bans_)
        if (until > now_ms) out.emplace_back(address, until);
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace livesync::sidecar::auth
