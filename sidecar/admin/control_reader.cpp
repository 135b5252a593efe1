#include "sidecar/admin/control_reader.hpp"

#include <charconv>

#include "sidecar/ops/log.hpp"
#include "sidecar/redis/connection.hpp"

namespace livesync::admin {

namespace {
std::string str_of(const redisReply *r) { return r && r->str ? std::string(r->str, r->len) : std::string(); }
}  // namespace

std::optional<ControlCommand> parse_control(const std::vector<std::pair<std::string, std::string>> &fields,
                                            std::string *why) {
    ControlCommand c;
    std::string generation;
    for (const auto &[k, v] : fields) {
        if (k == "kind") c.kind = v;
        else if (k == "client_id") c.client_id = v;
        else if (k == "user") c.user = v;
        else if (k == "address") c.address = v;
        else if (k == "origin") c.origin = v;
        else if (k == "generation") generation = v;
        else if (k == "holder") c.holder = v;
    }
    auto refuse = [why](const char *reason) -> std::optional<ControlCommand> {
        if (why) *why = reason;
        return std::nullopt;
    };
    if (c.kind == "kick") {
        if (c.client_id.empty() == c.user.empty()) return refuse("kick needs exactly one of client_id, user");
    } else if (c.kind == "ban") {
        if (c.address.empty()) return refuse("ban needs an address");
    } else if (c.kind == "replace") {
        if (c.client_id.empty() || c.holder.empty()) return refuse("replace needs client_id and holder");
        const char *end = generation.data() + generation.size();
        auto [stop, ec] = std::from_chars(generation.data(), end, c.generation);
        if (generation.empty() || ec != std::errc() || stop != end || c.generation == 0)
            return refuse("replace needs a generation: a positive decimal integer");
    } else {
        return refuse("unknown kind");
    }
    return c;
}

ControlReader::ControlReader(ControlConfig config, std::function<void(ControlCommand)> deliver)
    : config_(std::move(config)), deliver_(std::move(deliver)),
      worker_(redis::WorkerOptions("control_reader", config_.url,
                                   // Outlasts XREAD's BLOCK, or every idle read would fail.
                                   std::chrono::milliseconds(config_.block_ms + 3000),
                                   [this](redis::Connection &conn, std::string *error) {
                                       return last_id_ || find_start(conn, error);
                                   })) {}

ControlReader::~ControlReader() { stop(); }

void ControlReader::start() {
    worker_.start([this] {
        worker_.run_reader([this](redis::Connection &conn, std::string *error) { return read_once(conn, error); });
    });
}

void ControlReader::stop() { worker_.stop(); }

bool ControlReader::find_start(redis::Connection &conn, std::string *error) {
    // "$" as an ID that survives reconnects: entries written while livesyncd was down are
    // old news, those written during a later outage are not.
    auto newest = conn.command({"XREVRANGE", config_.stream_key, "+", "-", "COUNT", "1"}, error);
    if (!newest) return false;
    if (redis::is_error_reply(newest.get(), error)) return false;
    if (newest->type != REDIS_REPLY_ARRAY) {
        *error = "unexpected XREVRANGE reply";
        return false;
    }
    if (newest->elements == 0) {
        last_id_ = common::StreamId{0, 0};
        return true;
    }
    const redisReply *entry = newest->element[0];
    if (entry->type == REDIS_REPLY_ARRAY && entry->elements >= 1)
        last_id_ = common::parse_stream_id(str_of(entry->element[0]));
    if (!last_id_) *error = "unexpected XREVRANGE reply";
    return last_id_.has_value();
}

bool ControlReader::read_once(redis::Connection &conn, std::string *error) {
    auto reply = conn.command({"XREAD", "COUNT", "100", "BLOCK", std::to_string(config_.block_ms), "STREAMS",
                               config_.stream_key, common::format_stream_id(*last_id_)},
                              error);
    if (!reply || redis::is_error_reply(reply.get(), error)) return false;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 1) return true;  // BLOCK timed out
    const redisReply *entries = reply->element[0]->elements == 2 ? reply->element[0]->element[1] : nullptr;
    if (!entries || entries->type != REDIS_REPLY_ARRAY) return true;
    for (size_t i = 0; i < entries->elements; ++i) {
        const redisReply *e = entries->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2) continue;
        auto id = common::parse_stream_id(str_of(e->element[0]));
        if (!id) continue;
        last_id_ = *id;
        std::vector<std::pair<std::string, std::string>> fields;
        const redisReply *f = e->element[1];
        for (size_t j = 0; f->type == REDIS_REPLY_ARRAY && j + 1 < f->elements; j += 2)
            fields.emplace_back(str_of(f->element[j]), str_of(f->element[j + 1]));
        std::string why;
        if (auto cmd = parse_control(fields, &why)) deliver_(std::move(*cmd));
        else ops::warn("control entry ignored", {{"id", str_of(e->element[0])}, {"reason", why}});
    }
    return true;
}

}  // namespace livesync::admin
