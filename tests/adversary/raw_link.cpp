// SPDX-License-Identifier: GPL-2.0-only
#include "raw_link.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

#include "kecho/error.h"

namespace kecho::adversary {
namespace {

constexpr std::size_t max_packet = 65536 + 256;

std::uint16_t fold(std::uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(~sum);
}

// The TCP checksum over the IPv4 pseudo-header and the segment (header and payload).
std::uint16_t tcp_checksum(const std::vector<std::uint8_t>& segment, in_addr src, in_addr dst) {
    std::uint32_t sum = 0;
    auto add_be32 = [&sum](std::uint32_t network_order) {
        const std::uint32_t v = ntohl(network_order);
        sum += (v >> 16) + (v & 0xffff);
    };
    add_be32(src.s_addr);
    add_be32(dst.s_addr);
    sum += IPPROTO_TCP + static_cast<std::uint32_t>(segment.size());
    for (std::size_t i = 0; i < segment.size(); i += 2)
        sum += static_cast<std::uint32_t>(segment[i] << 8) | (i + 1 < segment.size() ? segment[i + 1] : 0u);
    return htons(fold(sum));
}

std::vector<std::uint8_t> tcp_bytes(std::uint16_t from, std::uint16_t to, const Segment& s) {
    const std::size_t options = s.mss ? 4 : 0;
    std::vector<std::uint8_t> bytes(sizeof(tcphdr) + options + s.payload.size());
    auto* th = reinterpret_cast<tcphdr*>(bytes.data());
    th->source = htons(from);
    th->dest = htons(to);
    th->seq = htonl(s.seq);
    th->ack_seq = htonl(s.has(flag_ack) ? s.ack : 0);
    th->doff = static_cast<std::uint16_t>((sizeof(tcphdr) + options) / 4);
    th->fin = s.has(flag_fin);
    th->syn = s.has(flag_syn);
    th->rst = s.has(flag_rst);
    th->psh = s.has(flag_psh);
    th->ack = s.has(flag_ack);
    th->urg = s.has(flag_urg);
    th->window = htons(s.window);
    th->urg_ptr = htons(s.urgent);
    std::uint8_t* at = bytes.data() + sizeof(tcphdr);
    if (s.mss) {
        const std::uint8_t mss[4] = {TCPOPT_MAXSEG, TCPOLEN_MAXSEG, static_cast<std::uint8_t>(s.mss >> 8),
                                     static_cast<std::uint8_t>(s.mss & 0xff)};
        std::memcpy(at, mss, sizeof(mss));
        at += sizeof(mss);
    }
    std::memcpy(at, s.payload.data(), s.payload.size());
    return bytes;
}

// The segment an IPv4 packet carries, when it is TCP from `from` to `to` on those ports.
std::optional<Segment> parse(const std::uint8_t* packet, std::size_t size, in_addr from, in_addr to,
                             std::uint16_t from_port, std::uint16_t to_port) {
    if (size < sizeof(iphdr)) return std::nullopt;
    const auto* ip = reinterpret_cast<const iphdr*>(packet);
    const std::size_t ip_len = ip->ihl * 4u;
    // A GSO packet on the loopback says its length in tot_len; the bytes read are the truth.
    const std::size_t total = std::min<std::size_t>(size, ntohs(ip->tot_len) ? ntohs(ip->tot_len) : size);
    if (ip->version != 4 || ip->protocol != IPPROTO_TCP || ip->saddr != from.s_addr || ip->daddr != to.s_addr ||
        total < ip_len + sizeof(tcphdr))
        return std::nullopt;
    const auto* th = reinterpret_cast<const tcphdr*>(packet + ip_len);
    const std::size_t tcp_len = th->doff * 4u;
    if (ntohs(th->source) != from_port || ntohs(th->dest) != to_port || total < ip_len + tcp_len) return std::nullopt;
    Segment s;
    s.seq = ntohl(th->seq);
    s.ack = ntohl(th->ack_seq);
    s.flags = static_cast<std::uint8_t>((th->fin ? flag_fin : 0) | (th->syn ? flag_syn : 0) | (th->rst ? flag_rst : 0) |
                                        (th->psh ? flag_psh : 0) | (th->ack ? flag_ack : 0) | (th->urg ? flag_urg : 0));
    s.window = ntohs(th->window);
    s.urgent = ntohs(th->urg_ptr);
    s.payload.assign(reinterpret_cast<const char*>(packet + ip_len + tcp_len), total - ip_len - tcp_len);
    return s;
}

// One line per segment: direction, ports, flags, relative numbers are left to the reader.
void print_segment(const char* direction, std::uint16_t port, const Segment& s) {
    std::string flags;
    for (auto [flag, letter] : {std::pair{flag_syn, 'S'},
                                {flag_fin, 'F'},
                                {flag_rst, 'R'},
                                {flag_psh, 'P'},
                                {flag_ack, '.'},
                                {flag_urg, 'U'}})
        if (s.has(flag)) flags += letter;
    std::fprintf(stderr, "%s %u [%s] seq %u ack %u win %u urg %u len %zu\n", direction, port, flags.c_str(), s.seq,
                 s.ack, s.window, s.urgent, s.payload.size());
}

}  // namespace

RawLink::RawLink(in_addr client, in_addr server, const std::string& interface) : client_(client), server_(server) {
    raw_.reset(::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW));
    if (!raw_) throw_errno("cannot open a raw socket (need CAP_NET_RAW: run as root)", errno);
    // ETH_P_ALL: a socket bound to one protocol sees packets arriving, never leaving.
    capture_.reset(::socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL)));
    if (!capture_) throw_errno("cannot open a packet socket (need CAP_NET_RAW: run as root)", errno);
    const unsigned index = ::if_nametoindex(interface.c_str());
    if (index == 0) throw_errno("no interface '" + interface + "'", errno);
    sockaddr_ll at{};
    at.sll_family = AF_PACKET;
    at.sll_protocol = htons(ETH_P_ALL);
    at.sll_ifindex = static_cast<int>(index);
    if (::bind(capture_.get(), reinterpret_cast<sockaddr*>(&at), sizeof(at)) != 0)
        throw_errno("cannot capture on " + interface, errno);
}

void RawLink::send(std::uint16_t client_port, std::uint16_t server_port, const Segment& segment) {
    std::vector<std::uint8_t> tcp = tcp_bytes(client_port, server_port, segment);
    reinterpret_cast<tcphdr*>(tcp.data())->check = tcp_checksum(tcp, client_, server_);
    std::vector<std::uint8_t> packet(sizeof(iphdr) + tcp.size());
    auto* ip = reinterpret_cast<iphdr*>(packet.data());
    ip->version = 4;
    ip->ihl = 5;
    ip->ttl = 64;
    ip->protocol = IPPROTO_TCP;
    ip->saddr = client_.s_addr;
    ip->daddr = server_.s_addr;
    ip->tot_len = htons(static_cast<std::uint16_t>(packet.size()));  // the kernel fills in the checksum
    std::memcpy(packet.data() + sizeof(iphdr), tcp.data(), tcp.size());
    if (trace_) print_segment("->", client_port, segment);
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_addr = server_;
    if (::sendto(raw_.get(), packet.data(), packet.size(), 0, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)) !=
        static_cast<ssize_t>(packet.size()))
        throw_errno("cannot send a raw segment", errno);
}

std::optional<Segment> RawLink::receive(std::uint16_t server_port, std::uint16_t client_port,
                                        std::chrono::milliseconds wait) {
    static thread_local std::vector<std::uint8_t> packet(max_packet);
    const auto deadline = std::chrono::steady_clock::now() + wait;
    for (;;) {
        sockaddr_ll from{};
        socklen_t from_len = sizeof(from);
        const ssize_t n = ::recvfrom(capture_.get(), packet.data(), packet.size(), MSG_TRUNC,
                                     reinterpret_cast<sockaddr*>(&from), &from_len);
        if (n > 0) {
            // Each packet shows twice on the loopback: leaving (ours) and arriving; take one.
            if (from.sll_pkttype != PACKET_OUTGOING || from.sll_protocol != htons(ETH_P_IP)) continue;
            if (static_cast<std::size_t>(n) > packet.size()) throw Error("a captured packet was truncated");
            auto s = parse(packet.data(), static_cast<std::size_t>(n), server_, client_, server_port, client_port);
            if (s && trace_) print_segment("<-", client_port, *s);
            if (s) return s;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) throw_errno("cannot read the packet socket", errno);
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return std::nullopt;
        pollfd p{capture_.get(), POLLIN, 0};
        ::poll(&p, 1, static_cast<int>(left.count()));
    }
}

}  // namespace kecho::adversary
