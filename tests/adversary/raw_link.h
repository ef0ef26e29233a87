// SPDX-License-Identifier: GPL-2.0-only
// A TCP client's wire with no kernel TCP behind it: IPv4 segments go out through a raw socket and
// the server's replies are read from a packet socket on the interface they leave by. The client's
// address must be routed out of that interface without being local (in a network namespace of the
// test's own: `ip route add 192.0.2.2/32 dev lo`): the kernel then drops the replies on arrival
// instead of answering them with resets, and only this program speaks for the client.
#pragma once

#include <netinet/in.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "kecho/unique_fd.h"

namespace kecho::adversary {

// TCP header flags (RFC 9293 order).
enum SegmentFlag : std::uint8_t {
    flag_fin = 0x01,
    flag_syn = 0x02,
    flag_rst = 0x04,
    flag_psh = 0x08,
    flag_ack = 0x10,
    flag_urg = 0x20,
};

struct Segment {
    std::uint32_t seq = 0;
    std::uint32_t ack = 0;
    std::uint8_t flags = 0;
    std::uint16_t window = 0;  // unscaled: neither side offers window scaling
    std::uint16_t urgent = 0;  // urgent pointer, with flag_urg
    std::uint16_t mss = 0;     // MSS option when not 0 (SYN only)
    std::string payload;

    bool has(SegmentFlag flag) const { return (flags & flag) != 0; }
};

// One client address and one server address; ports are per connection.
class RawLink {
public:
    // Throws kecho::Error (no CAP_NET_RAW, no such interface).
    RawLink(in_addr client, in_addr server, const std::string& interface);

    void send(std::uint16_t client_port, std::uint16_t server_port, const Segment& segment);
    // The next segment from the server's port to the client's, waiting at most `wait`; segments of
    // other connections are passed over.
    std::optional<Segment> receive(std::uint16_t server_port, std::uint16_t client_port,
                                   std::chrono::milliseconds wait);

    // Every segment sent and received is printed to stderr (--trace).
    void set_trace(bool on) { trace_ = on; }

    in_addr client() const { return client_; }
    in_addr server() const { return server_; }

private:
    in_addr client_{};
    in_addr server_{};
    UniqueFd raw_;      // IP_HDRINCL sends
    UniqueFd capture_;  // outgoing IPv4 packets on the interface
    bool trace_ = false;
};

}  // namespace kecho::adversary
