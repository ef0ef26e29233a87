// SPDX-License-Identifier: GPL-2.0-only
// A retransmission that covers bytes the server already has and new ones (seq < rcv_nxt < end_seq)
// is queued whole by TCP; the echo must send the old bytes once. The test forges one: it copies the
// client's last segment (sequence and acknowledgement numbers, window, timestamps) from a packet
// socket on the loopback, and sends through a raw socket a segment that starts `overlap` bytes before
// the client's next sequence number, carrying those bytes again and the next bytes the client sends;
// the bytes after it check that the trim kept the kernel's count of handed-over bytes right.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "loader_fixture.h"
#include "socket_io.h"

namespace kecho::bpftest {
namespace {

class Retransmit : public BpfTest {};

// What a forged segment copies from the client's last one.
struct LastSegment {
    bool seen = false;
    std::uint32_t next_seq = 0;  // the client's next sequence number
    std::uint32_t ack = 0;
    std::uint16_t window = 0;           // network order, as sent
    std::vector<std::uint8_t> options;  // timestamps and padding, as sent
};

// Every IPv4 packet on the loopback, from now on.
UniqueFd capture_loopback() {
    UniqueFd fd(::socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_IP)));
    if (!fd) return fd;
    sockaddr_ll at{};
    at.sll_family = AF_PACKET;
    at.sll_protocol = htons(ETH_P_IP);
    at.sll_ifindex = static_cast<int>(::if_nametoindex("lo"));
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&at), sizeof(at)) != 0) fd.reset();
    return fd;
}

// The last captured TCP segment from port `from` to port `to`.
LastSegment last_segment(int capture, std::uint16_t from, std::uint16_t to) {
    LastSegment last;
    std::uint8_t packet[70000];
    for (int i = 0; i < 100000; ++i) {
        ssize_t n = ::recv(capture, packet, sizeof(packet), 0);
        if (n <= 0) break;
        const auto* ip = reinterpret_cast<const iphdr*>(packet);
        const std::size_t ip_len = ip->ihl * 4u;
        if (ip->protocol != IPPROTO_TCP || static_cast<std::size_t>(n) < ip_len + sizeof(tcphdr)) continue;
        const auto* tcp = reinterpret_cast<const tcphdr*>(packet + ip_len);
        if (ntohs(tcp->source) != from || ntohs(tcp->dest) != to) continue;
        const std::size_t tcp_len = tcp->doff * 4u;
        const std::size_t payload = ntohs(ip->tot_len) - ip_len - tcp_len;
        last.seen = true;
        last.next_seq = ntohl(tcp->seq) + static_cast<std::uint32_t>(payload) + (tcp->syn || tcp->fin ? 1u : 0u);
        last.ack = ntohl(tcp->ack_seq);
        last.window = tcp->window;
        last.options.assign(packet + ip_len + sizeof(tcphdr), packet + ip_len + tcp_len);
    }
    return last;
}

std::uint16_t tcp_checksum(const std::vector<std::uint8_t>& segment, std::uint32_t src, std::uint32_t dst) {
    std::uint32_t sum = 0;
    auto add16 = [&sum](std::uint32_t v) { sum += v & 0xffff; };
    add16(ntohl(src) >> 16), add16(ntohl(src)), add16(ntohl(dst) >> 16), add16(ntohl(dst));
    add16(IPPROTO_TCP), add16(static_cast<std::uint32_t>(segment.size()));
    for (std::size_t i = 0; i < segment.size(); i += 2)
        add16((segment[i] << 8) | (i + 1 < segment.size() ? segment[i + 1] : 0));
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return htons(static_cast<std::uint16_t>(~sum));
}

// Sends from 127.0.0.1:from to 127.0.0.1:to a segment with `last`'s acknowledgement, window and
// options, starting at `seq`, carrying `payload`.
bool forge_segment(const LastSegment& last, std::uint16_t from, std::uint16_t to, std::uint32_t seq,
                   const std::string& payload) {
    UniqueFd raw(::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW));
    if (!raw) return false;
    const std::uint32_t loopback = htonl(INADDR_LOOPBACK);
    std::vector<std::uint8_t> segment(sizeof(tcphdr) + last.options.size() + payload.size());
    auto* tcp = reinterpret_cast<tcphdr*>(segment.data());
    tcp->source = htons(from);
    tcp->dest = htons(to);
    tcp->seq = htonl(seq);
    tcp->ack_seq = htonl(last.ack);
    tcp->doff = static_cast<std::uint16_t>((sizeof(tcphdr) + last.options.size()) / 4);
    tcp->ack = 1;
    tcp->psh = 1;
    tcp->window = last.window;
    std::memcpy(segment.data() + sizeof(tcphdr), last.options.data(), last.options.size());
    std::memcpy(segment.data() + sizeof(tcphdr) + last.options.size(), payload.data(), payload.size());
    tcp->check = tcp_checksum(segment, loopback, loopback);

    std::vector<std::uint8_t> packet(sizeof(iphdr) + segment.size());
    auto* ip = reinterpret_cast<iphdr*>(packet.data());
    ip->version = 4;
    ip->ihl = 5;
    ip->ttl = 64;
    ip->protocol = IPPROTO_TCP;
    ip->saddr = loopback;
    ip->daddr = loopback;
    ip->tot_len = htons(static_cast<std::uint16_t>(packet.size()));  // the kernel fills in the checksum
    std::memcpy(packet.data() + sizeof(iphdr), segment.data(), segment.size());
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_addr.s_addr = loopback;
    return ::sendto(raw.get(), packet.data(), packet.size(), 0, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)) ==
           static_cast<ssize_t>(packet.size());
}

// Echoes `first`, forges a segment repeating its last `overlap` bytes followed by `next`, sends `next`
// and then `more`, half-closes; returns what came back after `first` (until end-of-file).
std::string echo_across_forged_retransmission(const Loader& loader, const std::string& first, std::size_t overlap,
                                              const std::string& next, const std::string& more) {
    UniqueFd capture = capture_loopback();
    EXPECT_TRUE(capture.valid()) << "cannot open a packet socket on lo: " << std::strerror(errno);
    UniqueFd client = connect_to(loader.address());
    timeval wait{10, 0};
    ::setsockopt(client.get(), SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
    EXPECT_TRUE(test::send_all(client.get(), first));
    EXPECT_EQ(test::recv_exactly(client.get(), first.size()), first);
    // Let the client's last acknowledgement go out: the forged segment must carry its timestamp.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const std::uint16_t from = local_address(client.get()).port(), to = static_cast<std::uint16_t>(loader.port());
    LastSegment last = last_segment(capture.get(), from, to);
    EXPECT_TRUE(last.seen) << "no segment of the connection was captured";
    // The server has every byte before last.next_seq: the forged segment repeats `overlap` of them.
    EXPECT_TRUE(forge_segment(last, from, to, last.next_seq - static_cast<std::uint32_t>(overlap),
                              first.substr(first.size() - overlap) + next))
        << std::strerror(errno);
    EXPECT_TRUE(test::send_all(client.get(), next + more));  // `next` again, as a retransmission would
    ::shutdown(client.get(), SHUT_WR);
    return test::recv_exactly(client.get(), next.size() + overlap + more.size() + 1);
}

TEST_F(Retransmit, SegmentCoveringEchoedBytesIsEchoedOnlyForItsNewBytes) {
    Loader loader;
    ASSERT_TRUE(loader.ready()) << loader.output();
    std::uint64_t repeated = 0;
    // 1,000 old bytes: one trim step; 30,000: several (the kernel trims at most 4,095 at a time).
    for (std::size_t overlap : {std::size_t{1000}, std::size_t{30000}}) {
        SCOPED_TRACE("overlap " + std::to_string(overlap));
        const std::string first = random_bytes(40000, 1), next = random_bytes(3000, 2), more = random_bytes(50000, 3);
        const std::string rest = echo_across_forged_retransmission(loader, first, overlap, next, more);
        EXPECT_EQ(rest.size(), next.size() + more.size())
            << (rest.size() == next.size() + more.size() + overlap ? "the old bytes came twice" : "");
        EXPECT_TRUE(rest == next + more) << "the echo after the forged segment differs from what was sent";
        // The client's own `next` is old to the server too: it went out in one segment with the start
        // of `more`, so it was a second such retransmission.
        repeated += overlap + next.size();
    }
    auto j = nlohmann::json::parse(loader.run({"stats", "--json"}).out);
    EXPECT_EQ(j["bytes"]["retransmitted_not_echoed"], repeated) << j.dump();
}

}  // namespace
}  // namespace kecho::bpftest
