#include <gtest/gtest.h>

#include "sidecar/http/http_router.hpp"
#include "sidecar/http/presence.hpp"

namespace livesync {
namespace {

TEST(HttpRouter, HealthzIsOk) {
    session::SessionTable sessions;
    auto r = http::route_http("GET", "/healthz", sessions, "sc1");
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.body, R"({"status":"ok"})");
}

TEST(HttpRouter, ClientHeldHereIs200AndOtherwise410Gone) {
    session::SessionTable sessions;
    auto &s = sessions.open(nullptr, "a", 0, 1024, [] {});
    s.set_client_id("c1");
    sessions.bind_client(s);
    auto held = http::route_http("GET", "/v1/clients/c1", sessions, "sc1", {}, true);
    EXPECT_EQ(held.status, 200u);
    EXPECT_EQ(held.body, R"({"client_id":"c1","sidecar":"sc1"})");
    auto gone = http::route_http("GET", "/v1/clients/c2", sessions, "sc1", {}, true);
    EXPECT_EQ(gone.status, 410u);
    EXPECT_EQ(gone.body, R"({"error":"gone","client_id":"c2"})");
    sessions.close(s);
    EXPECT_EQ(http::route_http("GET", "/v1/clients/c1", sessions, "sc1", {}, true).status, 410u);
}

// Which client ids are connected is for the replicator's sweep only: without the
// presence token a held id and an unknown one get the same 401.
TEST(HttpRouter, ClientPresenceWithoutThePresenceTokenIs401ForEveryId) {
    session::SessionTable sessions;
    auto &s = sessions.open(nullptr, "a", 0, 1024, [] {});
    s.set_client_id("c1");
    sessions.bind_client(s);
    auto held = http::route_http("GET", "/v1/clients/c1", sessions, "sc1");
    auto unknown = http::route_http("GET", "/v1/clients/c2", sessions, "sc1");
    EXPECT_EQ(held.status, 401u);
    EXPECT_EQ(held.body, unknown.body);
    EXPECT_EQ(held.body.find("c1"), std::string::npos);
    EXPECT_EQ(http::route_http("OTHER", "/v1/clients/c1", sessions, "sc1").status, 401u);
    EXPECT_EQ(http::route_http("GET", "/healthz", sessions, "sc1").status, 200u);
}

TEST(HttpRouter, PresenceTokenIsABearerTokenComparedWhole) {
    EXPECT_TRUE(http::presence_authorized("t0ken-t0ken-t0ken", "Bearer t0ken-t0ken-t0ken"));
    EXPECT_FALSE(http::presence_authorized("t0ken-t0ken-t0ken", "Bearer t0ken-t0ken-t0ke"));
    EXPECT_FALSE(http::presence_authorized("t0ken-t0ken-t0ken", "t0ken-t0ken-t0ken"));
    EXPECT_FALSE(http::presence_authorized("t0ken-t0ken-t0ken", ""));
    EXPECT_FALSE(http::presence_authorized("", "Bearer "));
    EXPECT_FALSE(http::presence_authorized("", ""));
}

TEST(HttpRouter, UnknownPathsAre404AndOtherMethods405) {
    session::SessionTable sessions;
    for (const char *p : {"/", "/nope", "/v1/clients/", "/v1/clients/a/b", "/healthz/x"})
        EXPECT_EQ(http::route_http("GET", p, sessions, "sc1").status, 404u) << p;
    EXPECT_EQ(http::route_http("OTHER", "/healthz", sessions, "sc1").status, 405u);
    EXPECT_EQ(http::route_http("GET", "/v1/sync", sessions, "sc1").status, 426u);
}

TEST(HttpRouter, ReadyzAndMetricsComeFromTheOpsEndpointsAndAre404Without) {
    session::SessionTable sessions;
    EXPECT_EQ(http::route_http("GET", "/readyz", sessions, "sc1").status, 404u);
    EXPECT_EQ(http::route_http("GET", "/metrics", sessions, "sc1").status, 404u);
    http::OpsEndpoints ops{[] { return http::HttpResponse{503, "{\"status\":\"not_ready\"}"}; },
                          [] { return http::HttpResponse{200, "livesync_x 1\n", "text/plain"}; }};
    EXPECT_EQ(http::route_http("GET", "/readyz", sessions, "sc1", ops).status, 503u);
    auto metrics = http::route_http("GET", "/metrics", sessions, "sc1", ops);
    EXPECT_EQ(metrics.status, 200u);
    EXPECT_EQ(metrics.content_type, "text/plain");
    EXPECT_EQ(http::route_http("OTHER", "/metrics", sessions, "sc1", ops).status, 405u);
}

}  // namespace
}  // namespace livesync
