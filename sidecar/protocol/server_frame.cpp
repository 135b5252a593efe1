#include "sidecar/protocol/server_frame.hpp"

#include "common/change_batch.hpp"
#include "common/lsn.hpp"

namespace livesync::protocol {

using common::append_json_string;

std::string encode_welcome(std::string_view client_id, std::string_view sidecar_id, uint64_t lsn) {
    std::string out = "{\"type\":\"welcome\",\"client_id\":";
    append_json_string(out, client_id);
    out += ",\"sidecar\":";
    append_json_string(out, sidecar_id);
    out += ",\"lsn\":";
    append_json_string(out, common::format_lsn(lsn));
    out += '}';
    return out;
}

std::string encode_subscribed(std::string_view id, std::string_view table, uint64_t lsn) {
    std::string out = "{\"type\":\"subscribed\",\"id\":";
    append_json_string(out, id);
    out += ",\"table\":";
    append_json_string(out, table);
    out += ",\"lsn\":";
    append_json_string(out, common::format_lsn(lsn));
    out += '}';
    return out;
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
