// SPDX-License-Identifier: GPL-2.0-only
#include "tcp_peer.h"

#include <algorithm>
#include <utility>

namespace kecho::adversary {
namespace {

using clock = std::chrono::steady_clock;

// Where `seq` lies from `base`, in the sequence space's modular arithmetic.
std::int64_t distance(std::uint32_t seq, std::uint32_t base) {
    return static_cast<std::int32_t>(seq - base);
}

milliseconds left_until(clock::time_point deadline) {
    return std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(deadline - clock::now()));
}

}  // namespace

TcpPeer::TcpPeer(RawLink& link, std::uint16_t server_port, std::uint16_t client_port, std::uint32_t iss,
                 std::string stream)
    : link_(link),
      server_port_(server_port),
      client_port_(client_port),
      iss_(iss),
      stream_(std::move(stream)),
      echo_(stream_.size(), '\0'),
      have_(stream_.size(), false) {}

// Member by member, except that only the new owner resets the connection at its end.
TcpPeer::TcpPeer(TcpPeer&& other) noexcept
    : link_(other.link_),
      server_port_(other.server_port_),
      client_port_(other.client_port_),
      iss_(other.iss_),
      irs_(other.irs_),
      stream_(std::move(other.stream_)),
      echo_(std::move(other.echo_)),
      have_(std::move(other.have_)),
      echoed_(other.echoed_),
      acked_(other.acked_),
      next_new_(other.next_new_),
      sent_end_(other.sent_end_),
      server_window_(other.server_window_),
      window_(other.window_),
      connected_(std::exchange(other.connected_, false)),
      closed_(other.closed_),
      fin_sent_(other.fin_sent_),
      fin_acked_(other.fin_acked_),
      server_fin_(other.server_fin_),
      reset_by_server_(other.reset_by_server_),
      fault_(std::move(other.fault_)) {}

TcpPeer::~TcpPeer() {
    if (!connected_ || closed_ || reset_by_server_) return;
    try {
        send_reset();
    } catch (...) {  // a destructor reports nothing: the case already has its verdict
    }
}

bool TcpPeer::connect(std::uint16_t window) {
    window_ = window;
    Segment syn;
    syn.seq = iss_;
    syn.flags = flag_syn;
    syn.window = window;
    syn.mss = 1460;
    for (int attempt = 0; attempt < 3; ++attempt) {
        link_.send(client_port_, server_port_, syn);
        const auto deadline = clock::now() + milliseconds(1000);
        while (auto s = link_.receive(server_port_, client_port_, left_until(deadline))) {
            if (s->has(flag_rst)) {
                note_fault("the server refused the connection (reset): is it listening on port " +
                           std::to_string(server_port_) + "?");
                return false;
            }
            if (s->has(flag_syn) && s->has(flag_ack) && s->ack == iss_ + 1) {
                irs_ = s->seq;
                server_window_ = s->window;
                connected_ = true;
                send_ack();
                return true;
            }
        }
    }
    note_fault("no SYN-ACK from port " + std::to_string(server_port_) +
               " in 3 s: is the server listening there, and is the client address routed out of the "
               "capture interface without being local?");
    return false;
}

Segment TcpPeer::header(std::uint8_t flags) const {
    Segment s;
    s.seq = iss_ + 1 + static_cast<std::uint32_t>(acked_) + (fin_acked_ ? 1 : 0);
    s.ack = irs_ + 1 + static_cast<std::uint32_t>(echoed_) + (server_fin_ ? 1 : 0);
    s.flags = static_cast<std::uint8_t>(flags | flag_ack);
    s.window = window_;
    return s;
}

void TcpPeer::send_ack() {
    link_.send(client_port_, server_port_, header(0));
}

void TcpPeer::send_data(std::size_t from, std::size_t to, std::uint8_t extra_flags, std::uint16_t urgent) {
    Segment s = header(static_cast<std::uint8_t>(flag_psh | extra_flags));
    s.seq = iss_ + 1 + static_cast<std::uint32_t>(from);
    s.urgent = urgent;
    s.payload = stream_.substr(from, to - from);
    link_.send(client_port_, server_port_, s);
    sent_end_ = std::max(sent_end_, to);
}

void TcpPeer::send_bytes(std::size_t from, std::size_t to) {
    send_data(from, to, 0, 0);
}

void TcpPeer::send_urgent(std::size_t from, std::size_t to, std::size_t urgent_at) {
    send_data(from, to, flag_urg, static_cast<std::uint16_t>(urgent_at + 1));
}

void TcpPeer::send_reset() {
    Segment s;
    s.seq = iss_ + 1 + static_cast<std::uint32_t>(acked_);
    s.flags = flag_rst;
    link_.send(client_port_, server_port_, s);
    closed_ = true;
}

void TcpPeer::announce_window(std::uint16_t window) {
    set_window(window);
    send_ack();
}

void TcpPeer::note_fault(const std::string& what) {
    if (fault_.empty()) fault_ = what;
}

// Names where the bytes that came at `at` were sent, when they are a stretch of the stream.
std::string TcpPeer::where_from(std::size_t at, const std::string& got) const {
    const std::string probe = got.substr(0, std::min<std::size_t>(got.size(), 16));
    if (probe.size() < 4) return "";
    const std::size_t origin = stream_.find(probe);
    if (origin == std::string::npos) return " (bytes never sent)";
    if (origin < at) return " (the stream's bytes from offset " + std::to_string(origin) + ": sent again)";
    return " (the stream's bytes from offset " + std::to_string(origin) + ": bytes skipped)";
}

void TcpPeer::take_echo(std::uint32_t seq, const std::string& payload) {
    const std::int64_t start = distance(seq, irs_ + 1);
    for (std::size_t i = 0; i < payload.size(); ++i) {
        const std::int64_t pos = start + static_cast<std::int64_t>(i);
        if (pos < 0) continue;  // the SYN's place: a retransmission reaching back, nothing to check
        const auto at = static_cast<std::size_t>(pos);
        if (at >= stream_.size()) {
            note_fault("the echo is longer than the stream: a byte came at offset " + std::to_string(at) + " of " +
                       std::to_string(stream_.size()) + " sent");
            break;
        }
        if (have_[at]) {
            if (echo_[at] != payload[i]) note_fault("offset " + std::to_string(at) + " came twice, different");
            continue;
        }
        echo_[at] = payload[i];
        have_[at] = true;
        if (payload[i] != stream_[at])
            note_fault("wrong byte at offset " + std::to_string(at) + where_from(at, payload.substr(i)));
    }
    while (echoed_ < have_.size() && have_[echoed_]) ++echoed_;
}

void TcpPeer::on_segment(const Segment& s) {
    if (s.has(flag_rst)) {
        reset_by_server_ = true;
        return;
    }
    if (s.has(flag_ack)) {
        const std::int64_t at = distance(s.ack, iss_ + 1);
        if (fin_sent_ && at == static_cast<std::int64_t>(stream_.size()) + 1) {
            fin_acked_ = true;
            acked_ = stream_.size();
        } else if (at > static_cast<std::int64_t>(acked_) && at <= static_cast<std::int64_t>(stream_.size())) {
            acked_ = static_cast<std::size_t>(at);
        }
        server_window_ = s.window;
    }
    const bool probe = distance(s.seq, irs_ + 1) < static_cast<std::int64_t>(echoed_);
    if (!s.payload.empty()) take_echo(s.seq, s.payload);
    if (s.has(flag_fin)) {
        const std::int64_t fin_at = distance(s.seq, irs_ + 1) + static_cast<std::int64_t>(s.payload.size());
        if (fin_at < static_cast<std::int64_t>(stream_.size()))
            note_fault("the server closed after " + std::to_string(fin_at) + " of " + std::to_string(stream_.size()) +
                       " echo bytes");
        if (fin_at == static_cast<std::int64_t>(echoed_)) server_fin_ = true;
    }
    if (!s.payload.empty() || s.has(flag_fin) || probe) send_ack();
}

void TcpPeer::pump(milliseconds duration) {
    const auto deadline = clock::now() + duration;
    while (auto s = link_.receive(server_port_, client_port_, left_until(deadline))) on_segment(*s);
}

bool TcpPeer::deliver(std::size_t to, milliseconds timeout) {
    const auto deadline = clock::now() + timeout;
    auto last_progress = clock::now();
    std::size_t last_acked = acked_;
    next_new_ = std::max(acked_, sent_end_);  // what the case sent may still be acknowledged
    while (acked_ < to) {
        if (reset_by_server_ || clock::now() > deadline) return false;
        const std::size_t window_end = acked_ + server_window_;
        while (next_new_ < to && next_new_ < window_end) {
            const std::size_t end = std::min({to, next_new_ + mss, window_end});
            send_data(next_new_, end, 0, 0);
            next_new_ = end;
        }
        pump(milliseconds(5));
        if (acked_ != last_acked) {
            last_acked = acked_;
            last_progress = clock::now();
        } else if (clock::now() - last_progress > milliseconds(100)) {
            // Nothing acknowledged for a while: go back to where the server is, probing a closed window.
            next_new_ = acked_;
            if (server_window_ == 0) send_data(acked_, acked_ + 1, 0, 0);
            last_progress = clock::now();
        }
    }
    return true;
}

bool TcpPeer::await_echo(std::size_t bytes, milliseconds timeout) {
    const auto deadline = clock::now() + timeout;
    while (echoed_ < bytes && fault_.empty() && !reset_by_server_ && clock::now() < deadline) pump(milliseconds(10));
    return echoed_ >= bytes && fault_.empty() && !reset_by_server_;
}

bool TcpPeer::close(milliseconds timeout) {
    fin_sent_ = true;
    Segment fin = header(flag_fin);
    fin.seq = iss_ + 1 + static_cast<std::uint32_t>(stream_.size());
    const auto deadline = clock::now() + timeout;
    auto next_fin = clock::now();
    while (!(server_fin_ && fin_acked_)) {
        if (reset_by_server_) {
            note_fault("the server reset the connection at its end");
            return false;
        }
        if (clock::now() > deadline) {
            note_fault(std::string("no ") + (fin_acked_ ? "FIN" : "acknowledgement of our FIN") +
                       " from the server within " + std::to_string(timeout.count()) + " ms");
            send_reset();
            return false;
        }
        if (clock::now() >= next_fin && !fin_acked_) {
            link_.send(client_port_, server_port_, fin);
            next_fin = clock::now() + milliseconds(300);
        }
        pump(milliseconds(10));
    }
    send_ack();
    closed_ = true;
    return fault_.empty();
}

}  // namespace kecho::adversary
