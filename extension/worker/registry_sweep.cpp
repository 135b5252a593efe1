#include "registry_sweep.hpp"

#include "common/change_batch.hpp"
#include "common/redis_keys.hpp"
#include "worker_wait.hpp"

#include <curl/curl.h>
#include <rapidjson/document.h>

#include <memory>
#include <optional>
#include <vector>

namespace livesync::extension::worker {

namespace {

constexpr size_t kPresenceBatch = 1000;
constexpr size_t kMaxResponseBytes = 8 * 1024 * 1024;
constexpr long kPollMs = 50;

// Deletes the client's entry only if it still names this sidecar (the client may have
// reconnected elsewhere since), and drops it from the sidecar's set either way.
constexpr const char *kRemoveClient =
    "if redis.call('HGET', KEYS[1], 'sidecar') == ARGV[1] then redis.call('DEL', KEYS[1]) end "
    "return redis.call('SREM', KEYS[2], ARGV[2])";

struct CurlEasyDeleter {
    void operator()(CURL *c) const { curl_easy_cleanup(c); }
};
struct CurlMultiDeleter {
    void operator()(CURLM *m) const { curl_multi_cleanup(m); }
};
struct CurlListDeleter {
    void operator()(curl_slist *l) const { curl_slist_free_all(l); }
};

size_t append_body(char *data, size_t size, size_t count, void *out) {
    auto *body = static_cast<std::string *>(out);
    if (body->size() + size * count > kMaxResponseBytes) return 0;  // aborts the transfer
    body->append(data, size * count);
    return size * count;
}

// POSTs JSON, with "Authorization: Bearer <token>" when token is not empty; waits in
// short slices between which the worker's latch is checked, so a SIGTERM or postmaster
// death is noticed promptly. nullopt when the sidecar did not answer 200 in time (or,
// over https, did not present a certificate for its host that http.ca_file vouches for).
std::optional<std::string> post_json(const std::string &url, const std::string &body, const std::string &token,
                                     const SidecarHttp &http) {
    std::unique_ptr<CURL, CurlEasyDeleter> easy(curl_easy_init());
    std::unique_ptr<CURLM, CurlMultiDeleter> multi(curl_multi_init());
    if (!easy || !multi) return std::nullopt;
    std::unique_ptr<curl_slist, CurlListDeleter> headers(curl_slist_append(nullptr, "Content-Type: application/json"));
    if (!headers) return std::nullopt;
    if (!token.empty()) {
        curl_slist *with_token = curl_slist_append(headers.get(), ("Authorization: Bearer " + token).c_str());
        if (!with_token) return std::nullopt;
    }
    std::string response;
    curl_easy_setopt(easy.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy.get(), CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(easy.get(), CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(easy.get(), CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(easy.get(), CURLOPT_WRITEFUNCTION, append_body);
    curl_easy_setopt(easy.get(), CURLOPT_WRITEDATA, &response);
    curl_easy_setopt(easy.get(), CURLOPT_TIMEOUT_MS, http.timeout_ms);
    curl_easy_setopt(easy.get(), CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy.get(), CURLOPT_PROTOCOLS_STR, "http,https");
    // Peer and host verification stay at libcurl's defaults (on); only the trust anchors
    // change, to exactly the file's CAs (no CA directory besides it).
    if (!http.ca_file.empty()) {
        curl_easy_setopt(easy.get(), CURLOPT_CAINFO, http.ca_file.c_str());
        curl_easy_setopt(easy.get(), CURLOPT_CAPATH, nullptr);
    }
    curl_multi_add_handle(multi.get(), easy.get());
    int running = 1;
    while (running) {
        if (curl_multi_perform(multi.get(), &running) != CURLM_OK) break;
        if (!running) break;
        int ready = 0;
        curl_multi_wait(multi.get(), nullptr, 0, kPollMs, &ready);
        wait_for_socket(-1, 0, 0);  // latch, SIGTERM, postmaster death
    }
    int pending = 0;
    CURLcode result = CURLE_FAILED_INIT;
    while (CURLMsg *msg = curl_multi_info_read(multi.get(), &pending))
        if (msg->msg == CURLMSG_DONE) result = msg->data.result;
    long status = 0;
    curl_easy_getinfo(easy.get(), CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(multi.get(), easy.get());
    if (result != CURLE_OK || status != 200) return std::nullopt;
    return response;
}

std::vector<std::string> string_elements(const redisReply *r) {
    std::vector<std::string> out;
    if (r->type != REDIS_REPLY_ARRAY) return out;
    for (size_t i = 0; i < r->elements; ++i)
        if (r->element[i]->type == REDIS_REPLY_STRING) out.emplace_back(r->element[i]->str, r->element[i]->len);
    return out;
}

void check(const Reply &r, const std::string &what) {
    if (r->type == REDIS_REPLY_ERROR) throw TransientError(what + " failed: " + std::string(r->str, r->len));
}

int remove_clients(RedisLink &redis, const std::string &prefix, const std::string &sidecar,
                   const std::vector<std::string> &ids) {
    if (ids.empty()) return 0;
    const common::RedisKeys keys(prefix);
    std::string set_key = keys.sidecar_clients(sidecar);
    std::vector<std::string> client_keys;
    client_keys.reserve(ids.size());
    for (const std::string &id : ids) client_keys.push_back(keys.client(id));
    std::vector<Command> commands;
    for (size_t i = 0; i < ids.size(); ++i)
        commands.push_back({"EVAL", kRemoveClient, "2", client_keys[i], set_key, sidecar, ids[i]});
    int removed = 0;
    for (Reply &r : redis.pipeline(commands)) {
        check(r, "registry sweep");
        if (r->type == REDIS_REPLY_INTEGER) removed += static_cast<int>(r->integer);
    }
    return removed;
}

// The ids the sidecar says it does not hold, or nullopt when it gave no usable answer.
// token: the presence token of the sidecar's heartbeat (empty from a sidecar too old to
// publish one, which asks for none).
std::optional<std::vector<std::string>> gone_clients(const std::string &base_url, const std::string &token,
                                                     const std::vector<std::string> &ids, const SidecarHttp &http) {
    std::vector<std::string> gone;
    for (size_t start = 0; start < ids.size(); start += kPresenceBatch) {
        std::string body = "[";
        for (size_t i = start; i < ids.size() && i < start + kPresenceBatch; ++i) {
            if (i > start) body += ',';
            common::append_json_string(body, ids[i]);
        }
        body += ']';
        auto response = post_json(base_url + "/v1/clients/presence", body, token, http);
        if (!response) return std::nullopt;
        rapidjson::Document doc;
        doc.Parse(response->data(), response->size());
        if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("gone") || !doc["gone"].IsArray())
            return std::nullopt;
        for (const auto &id : doc["gone"].GetArray())
            if (id.IsString()) gone.emplace_back(id.GetString(), id.GetStringLength());
    }
    return gone;
}

}  // namespace

SweepResult sweep_registry(RedisLink &redis, const std::string &prefix, const SidecarHttp &http) {
    SweepResult result;
    const common::RedisKeys keys(prefix);
    Reply members = redis.command({"SMEMBERS", keys.sidecars()});
    check(members, "SMEMBERS " + keys.sidecars());
    for (const std::string &sidecar : string_elements(members.get())) {
        ++result.sidecars_checked;
        std::string heartbeat_key = keys.sidecar(sidecar);
        std::string set_key = keys.sidecar_clients(sidecar);
        std::vector<Reply> replies = redis.pipeline({{"GET", heartbeat_key}, {"SMEMBERS", set_key}});
        check(replies[0], "GET " + heartbeat_key);
        check(replies[1], "SMEMBERS " + set_key);
        std::vector<std::string> clients = string_elements(replies[1].get());
        if (replies[0]->type == REDIS_REPLY_NIL) {
            // The heartbeat expired: the sidecar is gone, and so are its clients.
            ++result.dead_sidecars;
            result.clients_removed += remove_clients(redis, prefix, sidecar, clients);
            Reply srem = redis.command({"SREM", keys.sidecars(), sidecar});
            check(srem, "SREM " + keys.sidecars());
            continue;
        }
        if (clients.empty()) continue;
        rapidjson::Document heartbeat;
        std::string text(replies[0]->str, replies[0]->len);
        heartbeat.Parse(text.data(), text.size());
        if (heartbeat.HasParseError() || !heartbeat.IsObject() || !heartbeat.HasMember("url") ||
            !heartbeat["url"].IsString()) {
            ++result.sidecars_unreachable;
            continue;
        }
        std::string token;
        if (heartbeat.HasMember("presence_token") && heartbeat["presence_token"].IsString())
            token.assign(heartbeat["presence_token"].GetString(), heartbeat["presence_token"].GetStringLength());
        auto gone = gone_clients(heartbeat["url"].GetString(), token, clients, http);
        if (!gone) {
            ++result.sidecars_unreachable;
            continue;
        }
        result.clients_removed += remove_clients(redis, prefix, sidecar, *gone);
    }
    return result;
}

}  // namespace livesync::extension::worker
