// Which address a connection comes from, for rate limits, bans, anonymous ownership and
// the audit log. Behind a reverse proxy every peer is the proxy, so the proxy's word
// (X-Forwarded-For) is taken, but only from peers in --trusted-proxies: anyone else could
// write any address into the header and escape a ban or share someone's rate limit.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace livesync::net {

// One IPv4 or IPv6 network, e.g. 10.0.0.0/8, ::1/128; an address alone is a /32 or /128.
struct Cidr {
    int family = 0;                    // AF_INET or AF_INET6
    std::array<unsigned char, 16> net{};
    int prefix_bits = 0;
};

class TrustedProxies {
public:
    // "CIDR,CIDR,..." (spaces around commas allowed; empty: trust nobody). nullopt and
    // *error naming the bad entry on anything else.
    static std::optional<TrustedProxies> parse(std::string_view list, std::string *error);

    bool empty() const { return networks_.empty(); }
    // address in textual form (IPv4-mapped IPv6 counts as its IPv4 address).
    bool contains(std::string_view address) const;

    // The client's address: the peer unless the peer is trusted; then X-Forwarded-For is
    // walked from the right past every trusted hop, and the first untrusted address is
    // the client. A malformed entry stops the walk: the last address we could vouch
    // for is used. Addresses come out in canonical form (inet_ntop), so one client has
    // one spelling in bans and rate limits.
    std::string client_address(const std::string &peer, std::string_view forwarded_for) const;

private:
    std::vector<Cidr> networks_;
};

// The canonical text of an IP address (IPv4-mapped IPv6 as IPv4); nullopt when text is
// not an address.
std::optional<std::string> canonical_address(std::string_view text);

}  // namespace livesync::net
