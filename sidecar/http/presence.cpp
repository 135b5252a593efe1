#include "sidecar/http/presence.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <unordered_set>

#include "common/change_batch.hpp"
#include "sidecar/auth/authenticator.hpp"

namespace livesync::http {

bool presence_authorized(const std::string &token, std::string_view authorization) {
    return sidecar::auth::token_matches(token, authorization);
}

HttpResponse presence_unauthorized() {
    return http_error(401, "unauthorized",
                      "presence checks are for the replicator's sweep: send Authorization: Bearer <the "
                      "presence_token of this sidecar's heartbeat>");
}

std::optional<std::vector<std::string>> parse_presence_request(std::string_view body, HttpResponse *error) {
    if (body.size() > kMaxPresenceBodyBytes) {
        *error = presence_body_too_large();
        return std::nullopt;
    }
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseValidateEncodingFlag>(body.data(), body.size());
    if (doc.HasParseError()) {
        *error = http_error(400, "bad_json",
                            std::string(rapidjson::GetParseError_En(doc.GetParseError())) + " at byte " +
                                std::to_string(doc.GetErrorOffset()));
        return std::nullopt;
    }
    if (!doc.IsArray()) {
        *error = http_error(400, "bad_request", "body must be a JSON array of client ids");
        return std::nullopt;
    }
    if (doc.Size() > kMaxPresenceIds) {
        *error = http_error(400, "too_many_ids",
                            "at most " + std::to_string(kMaxPresenceIds) + " client ids per request, got " +
                                std::to_string(doc.Size()));
        return std::nullopt;
    }
    std::vector<std::string> ids;
    ids.reserve(doc.Size());
    for (rapidjson::SizeType i = 0; i < doc.Size(); ++i) {
        if (!doc[i].IsString()) {
            *error = http_error(400, "bad_request", "element " + std::to_string(i) + " is not a string");
            return std::nullopt;
        }
        ids.emplace_back(doc[i].GetString(), doc[i].GetStringLength());
    }
    return ids;
}

HttpResponse answer_presence(std::string_view body, const session::SessionTable &sessions) {
    HttpResponse error;
    auto ids = parse_presence_request(body, &error);
    if (!ids) return error;
    HttpResponse r{200, "{\"gone\":["};
    std::unordered_set<std::string_view> listed;
    bool first = true;
    for (const std::string &id : *ids) {
        if (sessions.client_connected(id) || !listed.insert(id).second) continue;
        if (!first) r.body += ',';
        first = false;
        common::append_json_string(r.body, id);
    }
    r.body += "]}";
    return r;
}

HttpResponse presence_body_too_large() {
    return http_error(413, "too_large", "body over " + std::to_string(kMaxPresenceBodyBytes) + " bytes");
}

}  // namespace livesync::http
