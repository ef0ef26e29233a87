// SPDX-License-Identifier: GPL-2.0-only
#include "cases.h"

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <initializer_list>
#include <thread>
#include <utility>
#include <vector>

namespace kecho::adversary {
namespace {

using namespace std::chrono_literals;

// Bytes echoed first, after accept: their echo proves the server accepted the connection.
constexpr std::size_t accept_proof = 256;

std::string random_stream(std::mt19937& rng, std::size_t n) {
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng() & 0xff);
    return s;
}

// The state letter of /proc/PID/stat ('T': stopped), or 0 when it cannot be read.
char process_state(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    const auto paren = text.rfind(')');
    return paren != std::string::npos && paren + 2 < text.size() ? text[paren + 2] : 0;
}

std::string describe_failure(const Connection& c) {
    const TcpPeer& p = c.peer;
    const std::size_t total = p.stream().size();
    if (!p.fault().empty()) return p.fault();
    const std::string progress = std::to_string(p.echoed()) + " of " + std::to_string(total) + " echo bytes, " +
                                 std::to_string(p.acked()) + " acknowledged";
    if (p.reset_by_server()) return "the server reset the connection (" + progress + ")";
    return "the echo stopped short (" + progress + ")";
}

// --- the cases -----------------------------------------------------------------------------------

using Segments = std::initializer_list<std::pair<std::size_t, std::size_t>>;

// A case that is a fixed list of segments: [from, to) of its `length` bytes, sent in this order.
Outcome scripted(Session& s, std::size_t length, Segments segments) {
    Connection c = s.open(length);
    for (const auto& [from, to] : segments) c.send(from, to);
    return s.finish(c);
}

// A tiling of the stream with random cuts and as many segments again at random places, overlapping
// it and each other, all in a shuffled order; the segments that start the stream go last, so
// everything else waits out of order until the gap fills.
Outcome overlap_shuffled(Session& s) {
    constexpr std::size_t length = 12000;
    Connection c = s.open(length);
    auto& rng = s.rng();
    std::vector<std::pair<std::size_t, std::size_t>> segments;
    for (std::size_t at = 0; at < length;) {
        const std::size_t end = std::min(length, at + 1 + rng() % 1500);
        segments.emplace_back(at, end);
        at = end;
    }
    for (std::size_t i = 0, n = segments.size(); i < n; ++i) {
        const std::size_t from = rng() % length;
        segments.emplace_back(from, std::min(length, from + 1 + rng() % 2000));
    }
    std::shuffle(segments.begin(), segments.end(), rng);
    std::stable_partition(segments.begin(), segments.end(), [](const auto& seg) { return seg.first != 0; });
    for (const auto& [from, to] : segments) c.send(from, to);
    return s.finish(c);
}

// The client's window closes while the server has its echo to send, then reopens: nothing may
// come while it is closed, everything after. 60,000 bytes: more than a socket's first send buffer.
Outcome zero_window(Session& s) {
    constexpr std::size_t length = 60000;
    Connection c = s.open(length, 0);
    c.peer.deliver(c.base + length, 1500ms);  // what the server takes while it cannot echo
    s.resume();
    c.peer.pump(500ms);
    if (c.peer.echoed() > c.base)
        return {false, std::to_string(c.peer.echoed() - c.base) + " echo bytes came into a closed window"};
    c.peer.announce_window(TcpPeer::max_window);
    return s.finish(c);
}

// Urgent bytes mid-stream (a segment's last byte, then one inside a segment): echoed inline, in
// place, like every other byte.
Outcome urgent_data(Session& s) {
    Connection c = s.open(3000);
    c.peer.send_urgent(c.base, c.base + 1000, 999);
    c.peer.send_urgent(c.base + 1000, c.base + 1500, 200);
    c.send(1500, 3000);
    return s.finish(c);
}

// A reset after data: the server survives it, and the next connection echoes exactly.
Outcome reset_after_data(Session& s) {
    constexpr std::size_t length = 20000;
    {
        Connection c = s.open(length);
        c.peer.deliver(c.base + length, 2s);
        c.peer.send_reset();
        s.resume();
        c.peer.pump(100ms);
    }
    Connection next = s.open(30000);
    next.send(0, 30000);
    Outcome o = s.finish(next);
    if (o.passed) o.detail = "after a reset that followed " + std::to_string(length) + " bytes, " + o.detail;
    return o;
}

constexpr Case cases[] = {
    {"overlap-two", "two overlapping out-of-order segments, then the gap filler",
     [](Session& s) {
         return scripted(s, 2500, {{1000, 2000}, {1500, 2500}, {0, 1000}});
     }},
    // The smallest reproduction of the first sockmap trim's misplaced bytes (6.18).
    {"overlap-three", "three overlapping out-of-order segments, a filler overlapping them",
     [](Session& s) {
         return scripted(s, 2500, {{2000, 2500}, {1000, 1500}, {1400, 2100}, {0, 1100}});
     }},
    {"overlap-shuffled", "a random tiling plus random overlapping segments, shuffled", overlap_shuffled},
    {"gap-fill-spanning", "a gap filler covering several queued segments and reaching into one",
     [](Session& s) {
         return scripted(s, 2300, {{1000, 1200}, {1300, 1500}, {1600, 1800}, {1900, 2100}, {0, 2000}, {2000, 2300}});
     }},
    {"exact-duplicates", "every segment twice, out of order and in order, then all once more",
     [](Session& s) {
         return scripted(
             s, 3000,
             {{1000, 2000}, {1000, 2000}, {2000, 2600}, {2000, 2600}, {0, 1000}, {0, 1000}, {0, 2600}, {2600, 3000}});
     }},
    {"partial-retransmission", "segments repeating part of what arrived, with new bytes",
     [](Session& s) {
         return scripted(s, 3000, {{0, 1000}, {500, 1500}, {1200, 2500}, {0, 2500}, {2400, 3000}});
     }},
    {"zero-window", "the client's window closed while the echo waits, then reopened", zero_window},
    {"urgent-data", "urgent bytes mid-stream, echoed inline", urgent_data},
    {"reset-after-data", "a reset after data; the next connection echoes exactly", reset_after_data},
};

}  // namespace

const char* phase_name(Phase phase) {
    return phase == Phase::before_accept ? "before-accept" : "after-accept";
}

Session::Session(RawLink& link, std::uint16_t port, pid_t pause_pid, Phase phase, std::uint32_t seed)
    : link_(link), port_(port), pause_pid_(pause_pid), phase_(phase), rng_(seed) {}

Session::~Session() {
    resume();
}

void Session::stop_server() {
    if (pause_pid_ <= 0) return;  // unknown (kecho.ko): the segments race its accept instead
    if (::kill(pause_pid_, SIGSTOP) != 0)
        throw CaseFailed{"cannot stop the server (pid " + std::to_string(pause_pid_) + "): is it running?", true};
    stopped_ = true;
    for (int i = 0; i < 100 && process_state(pause_pid_) != 'T'; ++i) std::this_thread::sleep_for(10ms);
}

void Session::resume() {
    if (stopped_) ::kill(pause_pid_, SIGCONT);
    stopped_ = false;
}

Connection Session::open(std::size_t bytes, std::uint16_t window) {
    const bool after = phase_ == Phase::after_accept;
    const std::size_t base = after ? accept_proof : 0;
    const auto client_port = static_cast<std::uint16_t>(20000 + rng_() % 40000);
    Connection c{
        TcpPeer(link_, port_, client_port, static_cast<std::uint32_t>(rng_()), random_stream(rng_, base + bytes)),
        base};
    if (!after) stop_server();
    if (!c.peer.connect(after ? TcpPeer::max_window : window)) throw CaseFailed{c.peer.fault(), true};
    if (after) {
        // The acknowledgement of this echo announces `window`: it acknowledges new data, so every
        // kernel takes it, a closed window included (TcpPeer::set_window).
        c.peer.send_bytes(0, base);
        c.peer.set_window(window);
        if (!c.peer.deliver(base, 5s) || !c.peer.await_echo(base, 5s))
            throw CaseFailed{"the exchange before the case failed: " + describe_failure(c)};
    }
    return c;
}

Outcome Session::finish(Connection& c) {
    resume();
    TcpPeer& p = c.peer;
    const std::size_t total = p.stream().size();
    if (p.deliver(total, 10s) && p.await_echo(total, 10s) && p.close(5s))
        return {true, std::to_string(total) + " bytes echoed once, in order"};
    return {false, describe_failure(c)};
}

std::span<const Case> all_cases() {
    return cases;
}

}  // namespace kecho::adversary
