#include "sidecar/protocol/server_frame.hpp"

#include "common/change_batch.hpp"
#include "common/lsn.hpp"

namespace livesync::protocol {

using common::append_json_string;

namespace {

// {"type":<type>,"<k1>":<v1>,"<k2>":<v2>,"lsn":"X/Y"}: welcome and subscribed.
std::string two_strings_and_lsn(const char *type, const char *k1, std::string_view v1, const char *k2,
                                std::string_view v2, uint64_t lsn) {
    std::string out = std::string("{\"type\":\"") + type + "\",\"" + k1 + "\":";
    append_json_string(out, v1);
    out += std::string(",\"") + k2 + "\":";
    append_json_string(out, v2);
    out += ",\"lsn\":";
    append_json_string(out, common::format_lsn(lsn));
    out += '}';
    return out;
}

}  // namespace

std::string encode_welcome(std::string_view client_id, std::string_view sidecar_id, uint64_t lsn) {
    return two_strings_and_lsn("welcome", "client_id", client_id, "sidecar", sidecar_id, lsn);
}

std::string encode_subscribed(std::string_view id, std::string_view table, uint64_t lsn) {
    return two_strings_and_lsn("subscribed", "id", id, "table", table, lsn);
}

std::string encode_subscribed_channel(std::string_view id, std::string_view channel, uint64_t lsn) {
    return two_strings_and_lsn("subscribed", "id", id, "channel", channel, lsn);
}

std::string encode_unsubscribed(std::string_view id) {
    std::string out = "{\"type\":\"unsubscribed\",\"id\":";
    append_json_string(out, id);
    out += '}';
    return out;
}

std::string encode_unsubscribed(std::string_view id, std::string_view reason, std::string_view message) {
    std::string out = "{\"type\":\"unsubscribed\",\"id\":";
    append_json_string(out, id);
    out += ",\"reason\":";
    append_json_string(out, reason);
    out += ",\"message\":";
    append_json_string(out, message);
    out += '}';
    return out;
}

namespace {
std::string lsn_frame(const char *type, uint64_t lsn) {
    std::string out = "{\"type\":\"";
    out += type;
    out += "\",\"lsn\":";
    append_json_string(out, common::format_lsn(lsn));
    out += '}';
    return out;
}
}  // namespace

std::string encode_caught_up(uint64_t lsn) { return lsn_frame("caught_up", lsn); }
std::string encode_resync_required(uint64_t lsn) { return lsn_frame("resync_required", lsn); }

std::string encode_pong(const std::optional<std::string> &ref_json) {
    std::string out = "{\"type\":\"pong\"";
    if (ref_json) {
        out += ",\"ref\":";
        out += *ref_json;
    }
    out += '}';
    return out;
}

std::string encode_error(std::string_view code, std::string_view message,
                         const std::optional<std::string> &id) {
    std::string out = "{\"type\":\"error\",\"code\":";
    append_json_string(out, code);
    out += ",\"message\":";
    append_json_string(out, message);
    if (id) {
        out += ",\"id\":";
        append_json_string(out, *id);
    }
    out += '}';
    return out;
}

std::string encode_authenticated(int64_t expires_at) {
    return "{\"type\":\"authenticated\",\"expires_at\":" + std::to_string(expires_at) + "}";
}

}  // namespace livesync::protocol

namespace livesync::protocol {

std::string encode_snapshot_end(std::string_view id, uint64_t lsn) {
    std::string out = "{\"type\":\"snapshot_end\",\"id\":";
    append_json_string(out, id);
    out += ",\"lsn\":";
    append_json_string(out, common::format_lsn(lsn));
    out += '}';
    return out;
}

std::string encode_snapshot_waiting(std::string_view id, uint64_t ahead) {
    std::string out = "{\"type\":\"snapshot_waiting\",\"id\":";
    append_json_string(out, id);
    out += ",\"ahead\":" + std::to_string(ahead) + "}";
    return out;
}

}  // namespace livesync::protocol
