#include "stream_retention.hpp"

namespace livesync::extension::worker {

namespace {

// KEYS: stream, marker. ARGV: max entries (0: no bound), oldest `time` kept in Unix ms
// (0: no bound). The marker becomes, from the first entry kept "<L>-<p>": L - 1 when p
// is 0 (every entry below L may be gone, L is whole), else L (L lost its first parts).
// LSNs are handled as decimal strings: Lua numbers are doubles.
constexpr const char *kTrimScript = R"lua(
local trimmed = 0
local max = tonumber(ARGV[1])
if max > 0 and redis.call('XLEN', KEYS[1]) > max then
  trimmed = trimmed + redis.call('XTRIM', KEYS[1], 'MAXLEN', '~', max)
end
local cutoff = tonumber(ARGV[2])
if cutoff > 0 then
  local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1000)
  local keep = nil
  for _, e in ipairs(oldest) do
    local t = nil
    for i = 1, #e[2], 2 do if e[2][i] == 'time' then t = tonumber(e[2][i + 1]) end end
    if t == nil or t >= cutoff then keep = e[1] break end
  end
  if keep == nil and #oldest > 0 then keep = oldest[#oldest][1] end
  if keep ~= nil then trimmed = trimmed + redis.call('XTRIM', KEYS[1], 'MINID', keep) end
end
if trimmed == 0 then return 0 end
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
if #first == 0 then return trimmed end
local lsn, part = string.match(first[1][1], '^(%d+)-(%d+)$')
if part == '0' then
  local digits = {}
  for i = 1, #lsn do digits[i] = string.byte(lsn, i) - 48 end
  local i = #digits
  while i > 0 and digits[i] == 0 do digits[i] = 9 i = i - 1 end
  if i > 0 then digits[i] = digits[i] - 1 end
  local s = table.concat(digits):gsub('^0+', '')
  lsn = s == '' and '0' or s
end
local old = redis.call('GET', KEYS[2])
if not old or #lsn > #old or (#lsn == #old and lsn > old) then redis.call('SET', KEYS[2], lsn) end
return trimmed
)lua";

}  // namespace

bool StreamRetention::configure(int max_entries, int max_age_seconds, int64_t now_unix_ms) {
    max_entries_ = std::to_string(max_entries > 0 ? max_entries : 0);
    min_time_ms_ = std::to_string(max_age_seconds > 0 ? now_unix_ms - int64_t{max_age_seconds} * 1000 : 0);
    return max_entries > 0 || max_age_seconds > 0;
}

void StreamRetention::append_command(const std::string &stream_key, const std::string &marker_key,
                                     std::vector<Command> &out) {
    out.push_back({"EVAL", kTrimScript, "2", stream_key, marker_key, max_entries_, min_time_ms_});
}

}  // namespace livesync::extension::worker
