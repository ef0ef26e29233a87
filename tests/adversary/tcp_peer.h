// SPDX-License-Identifier: GPL-2.0-only
// One TCP connection spoken by hand over a RawLink: the client sends whatever segments a case asks
// for (out of order, overlapping, duplicated, urgent, into a closed window, a reset) and checks every
// byte the server sends back at its stream position: the echo of stream offset N must be the byte
// sent at offset N, once. Neither side offers window scaling, SACK or timestamps.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "raw_link.h"

namespace kecho::adversary {

using std::chrono::milliseconds;

class TcpPeer {
public:
    TcpPeer(RawLink& link, std::uint16_t server_port, std::uint16_t client_port, std::uint32_t iss, std::string stream);
    TcpPeer(TcpPeer&& other) noexcept;
    TcpPeer& operator=(TcpPeer&&) = delete;
    // A connection that did not close cleanly is reset, so no server state outlives its case.
    ~TcpPeer();

    // The three-way handshake, announcing `window`. False (fault() says why) without a SYN-ACK.
    bool connect(std::uint16_t window = max_window);

    // Stream bytes [from, to) in one segment. With `urgent` the segment is marked urgent, its
    // urgent byte `urgent_at` bytes into it (the pointer names the byte after it, as Linux sends).
    void send_bytes(std::size_t from, std::size_t to);
    void send_urgent(std::size_t from, std::size_t to, std::size_t urgent_at);
    // A reset at the sequence number the server expects next.
    void send_reset();
    // From now on every segment announces `window`; announce_window also says so at once in a pure
    // ACK. A kernel takes a smaller window only from a segment that acknowledges new data or
    // advances the sequence number (6.1's tcp_may_update_window; 6.12 also takes a bare shrink):
    // close a window with set_window before the ACK of new echo bytes.
    void set_window(std::uint16_t window) { window_ = window; }
    void announce_window(std::uint16_t window);

    // Reads what the server sends for `duration`: echo bytes are checked and acknowledged, its
    // acknowledgements and window recorded, a reset noted.
    void pump(milliseconds duration);
    // Sends, in order and within the server's window, every stream byte before `to` it has not
    // acknowledged, until it has acknowledged them all (true) or `timeout` passes.
    bool deliver(std::size_t to, milliseconds timeout);
    // Waits until the first `bytes` bytes of the echo have arrived (true), or a fault, a reset or
    // the timeout.
    bool await_echo(std::size_t bytes, milliseconds timeout);
    // After the whole echo: our FIN, the server's FIN acknowledged (true). Otherwise a reset ends
    // the connection and the reason is a fault.
    bool close(milliseconds timeout);

    std::size_t echoed() const { return echoed_; }  // echo bytes received in order
    std::size_t acked() const { return acked_; }    // stream bytes the server acknowledged
    bool reset_by_server() const { return reset_by_server_; }
    // The first thing wrong with the echo (empty: nothing yet).
    const std::string& fault() const { return fault_; }
    const std::string& stream() const { return stream_; }

    static constexpr std::uint16_t max_window = 65535;
    static constexpr std::size_t mss = 1400;

private:
    void on_segment(const Segment& s);
    void take_echo(std::uint32_t seq, const std::string& payload);
    void send_ack();
    void send_data(std::size_t from, std::size_t to, std::uint8_t extra_flags, std::uint16_t urgent);
    Segment header(std::uint8_t flags) const;
    void note_fault(const std::string& what);
    std::string where_from(std::size_t at, const std::string& got) const;

    RawLink& link_;
    std::uint16_t server_port_, client_port_;
    std::uint32_t iss_, irs_ = 0;
    std::string stream_;
    std::string echo_;          // the echo, at its stream positions
    std::vector<bool> have_;    // which echo positions arrived
    std::size_t echoed_ = 0;    // echo bytes in order
    std::size_t acked_ = 0;     // stream bytes the server acknowledged
    std::size_t next_new_ = 0;  // deliver(): the next stream byte it sends
    std::size_t sent_end_ = 0;  // the end of the furthest segment sent
    std::uint16_t server_window_ = 0;
    std::uint16_t window_ = max_window;
    bool connected_ = false, closed_ = false;
    bool fin_sent_ = false, fin_acked_ = false, server_fin_ = false;
    bool reset_by_server_ = false;
    std::string fault_;
};

}  // namespace kecho::adversary
