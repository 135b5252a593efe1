#include "sidecar/net/client_address.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace livesync::net {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// Parses an address into family + 16 bytes; an IPv4-mapped IPv6 address becomes IPv4.
bool parse_address(std::string_view text, int &family, std::array<unsigned char, 16> &bytes) {
    if (text.empty() || text.size() > 45) return false;
    char buf[46];
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    bytes.fill(0);
    if (inet_pton(AF_INET, buf, bytes.data()) == 1) {
        family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, buf, bytes.data()) != 1) return false;
    static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(bytes.data(), kMapped, 12) == 0) {
        std::memmove(bytes.data(), bytes.data() + 12, 4);
        std::memset(bytes.data() + 4, 0, 12);
        family = AF_INET;
    } else {
        family = AF_INET6;
    }
    return true;
}

bool in_network(const Cidr &n, int family, const std::array<unsigned char, 16> &bytes) {
    if (n.family != family) return false;
    int full = n.prefix_bits / 8, rest = n.prefix_bits % 8;
    if (std::memcmp(n.net.data(), bytes.data(), static_cast<size_t>(full)) != 0) return false;
    if (rest == 0) return true;
    unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
    return (n.net[static_cast<size_t>(full)] & mask) == (bytes[static_cast<size_t>(full)] & mask);
}

}  // namespace

std::optional<std::string> canonical_address(std::string_view text) {
    int family = 0;
    std::array<unsigned char, 16> bytes;
    if (!parse_address(text, family, bytes)) return std::nullopt;
    char out[INET6_ADDRSTRLEN];
    if (inet_ntop(family, bytes.data(), out, sizeof out) == nullptr) return std::nullopt;
    return std::string(out);
}

std::optional<TrustedProxies> TrustedProxies::parse(std::string_view list, std::string *error) {
    TrustedProxies out;
    if (trim(list).empty()) return out;
    while (true) {
        auto comma = list.find(',');
        std::string_view entry = trim(list.substr(0, comma));
        auto bad = [&](const std::string &why) {
            *error = "--trusted-proxies: \"" + std::string(entry) + "\" " + why +
                     " (give CIDRs such as 10.0.0.0/8,127.0.0.1,::1/128)";
            return std::nullopt;
        };
        if (entry.empty()) return bad("is empty");
        auto slash = entry.find('/');
        Cidr c;
        if (!parse_address(entry.substr(0, slash), c.family, c.net)) return bad("is not an IP address or CIDR");
        int max_bits = c.family == AF_INET ? 32 : 128;
        c.prefix_bits = max_bits;
        if (slash != std::string_view::npos) {
            std::string_view bits = entry.substr(slash + 1);
            int n = -1;
            auto [end, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), n);
            if (bits.empty() || ec != std::errc() || end != bits.data() + bits.size() || n < 0 || n > max_bits)
                return bad("has a bad prefix length (0 to " + std::to_string(max_bits) + ")");
            c.prefix_bits = n;
        }
        // Keep only the network part, so 10.1.2.3/8 means 10.0.0.0/8 as everyone reads it.
        for (int i = c.prefix_bits; i < 128; ++i) c.net[static_cast<size_t>(i / 8)] &= static_cast<unsigned char>(~(0x80 >> (i % 8)));
        out.networks_.push_back(c);
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    return out;
}

bool TrustedProxies::contains(std::string_view address) const {
    int family = 0;
    std::array<unsigned char, 16> bytes;
    if (!parse_address(address, family, bytes)) return false;
    for (const Cidr &n : networks_)
        if (in_network(n, family, bytes)) return true;
    return false;
}

std::string TrustedProxies::client_address(const std::string &peer, std::string_view forwarded_for) const {
    std::string client = canonical_address(peer).value_or(peer);
    if (!contains(client)) return client;
    while (!forwarded_for.empty()) {
        auto comma = forwarded_for.rfind(',');
        std::string_view hop = trim(comma == std::string_view::npos ? forwarded_for : forwarded_for.substr(comma + 1));
        auto address = canonical_address(hop);
        if (!address) break;
        client = *address;
        if (!contains(client)) break;
        if (comma == std::string_view::npos) break;
        forwarded_for = forwarded_for.substr(0, comma);
    }
    return client;
}

}  // namespace livesync::net
