// livesyncctl: the admin API of a livesyncd (/v1/admin/*) from the command line.
// One request per run (libcurl), the answer's JSON on stdout.
#include <curl/curl.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

#include "tools/livesyncctl/ctl_args.hpp"
#include "tools/livesyncctl/dev_token.hpp"

namespace {

size_t collect(char *data, size_t size, size_t n, void *out) {
    static_cast<std::string *>(out)->append(data, size * n);
    return size * n;
}

}  // namespace

int main(int argc, char **argv) {
    using namespace livesync::ctl;
    std::vector<std::string> args(argv + 1, argv + argc);
    if (!args.empty() && args[0] == "token") {
        // Minted here, no sidecar involved.
        auto request = parse_token_args({args.begin() + 1, args.end()}, std::getenv("LIVESYNC_JWT_SECRET"));
        if (auto *err = std::get_if<livesync::ctl::TokenError>(&request)) {
            std::fprintf(stderr, "livesyncctl: %s\n%s", err->message.c_str(), ctl_usage().c_str());
            return 2;
        }
        std::printf("%s\n", mint_token(std::get<TokenRequest>(request), static_cast<int64_t>(std::time(nullptr))).c_str());
        return 0;
    }
    ParsedArgs parsed = parse_ctl_args(args, std::getenv("LIVESYNC_ADMIN_TOKEN"));
    if (std::holds_alternative<Help>(parsed)) {
        std::fputs(ctl_usage().c_str(), stdout);
        return 0;
    }
    if (auto *err = std::get_if<UsageError>(&parsed)) {
        std::fprintf(stderr, "livesyncctl: %s\n%s", err->message.c_str(), ctl_usage().c_str());
        return 2;
    }
    const Invocation &inv = std::get<Invocation>(parsed);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *curl = curl_easy_init();
    if (!curl) {
        std::fprintf(stderr, "livesyncctl: cannot initialise libcurl\n");
        return 1;
    }
    std::string url = inv.url + inv.path, body, auth = "Authorization: Bearer " + inv.token;
    struct curl_slist *headers = curl_slist_append(nullptr, auth.c_str());
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, inv.method.c_str());
    if (inv.method == "POST") {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, inv.body.c_str());
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(inv.body.size()));
    }
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 15000L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    curl_global_cleanup();
    if (rc != CURLE_OK) {
        std::fprintf(stderr, "livesyncctl: %s %s: %s\n", inv.method.c_str(), url.c_str(), curl_easy_strerror(rc));
        return 1;
    }
    if (status < 200 || status > 299) {
        std::fprintf(stderr, "livesyncctl: %s %s: HTTP %ld %s\n", inv.method.c_str(), inv.path.c_str(), status,
                     body.c_str());
        if (status == 404 && inv.path.rfind("/v1/admin/", 0) == 0 && body.find("no such path") != std::string::npos)
            std::fprintf(stderr, "livesyncctl: is livesyncd running with --admin-token?\n");
        return 1;
    }
    std::fputs(body.c_str(), stdout);
    std::fputc('\n', stdout);
    return 0;
}
