#include "bench/transfer.h"
#include "bench/clock.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "kecho/error.h"

namespace kecho::bench {
namespace {

enum class State { waiting, connecting, running, done };

struct Conn {
    UniqueFd fd;
    State state = State::waiting;
    bool write_shut = false;
    bool want_out = true;
};

std::string conn_prefix(const StreamSpec& s) {
    return "connection " + std::to_string(s.id) + ": ";
}

}  // namespace

std::vector<StreamOutcome> run_streams(const SocketAddress& address, const std::vector<StreamSpec>& specs,
                                       const TransferOptions& options) {
    std::vector<StreamOutcome> out(specs.size());
    std::vector<Conn> conns(specs.size());
    UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
    if (!ep) throw_errno("epoll_create1", errno);

    const auto deadline = Clock::now() + options.timeout;
    std::size_t next = 0, open = 0, connecting = 0, finished = 0;
    std::vector<std::uint8_t> send_buf(256 * 1024), recv_buf(256 * 1024);

    auto fail = [&](std::size_t i, const std::string& why) {
        if (conns[i].state == State::done) return;
        out[i].error = conn_prefix(specs[i]) + why;
        if (conns[i].state == State::connecting) --connecting;
        conns[i].fd.reset();
        conns[i].state = State::done;
        --open;
        ++finished;
    };
    auto finish = [&](std::size_t i) {
        out[i].complete = true;
        conns[i].fd.reset();
        conns[i].state = State::done;
        --open;
        ++finished;
    };
    auto update_events = [&](std::size_t i) {
        Conn& c = conns[i];
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP | (c.want_out ? EPOLLOUT : 0u);
        ev.data.u64 = i;
        ::epoll_ctl(ep.get(), EPOLL_CTL_MOD, c.fd.get(), &ev);
    };

    auto start_more = [&] {
        while (next < specs.size() && open < options.max_open && connecting < options.max_connecting) {
            std::size_t i = next++;
            Conn& c = conns[i];
            c.fd = UniqueFd(::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
            ++open;
            c.state = State::connecting;
            ++connecting;
            if (!c.fd) {
                fail(i, errno_message("cannot create a socket", errno));
                continue;
            }
            set_nodelay(c.fd.get());
            if (::connect(c.fd.get(), address.get(), address.length) != 0 && errno != EINPROGRESS) {
                fail(i, errno_message("cannot connect to " + address.to_string(), errno));
                continue;
            }
            epoll_event ev{};
            ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
            ev.data.u64 = i;
            ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, c.fd.get(), &ev);
        }
    };

    auto do_send = [&](std::size_t i) {
        Conn& c = conns[i];
        const StreamSpec& s = specs[i];
        StreamOutcome& o = out[i];
        while (o.sent < s.bytes) {
            std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(s.bytes - o.sent, send_buf.size()));
            if (s.write_chunk) n = std::min(n, s.write_chunk);
            Pattern(s.kind, s.id).fill(o.sent, send_buf.data(), n);
            ssize_t w = ::send(c.fd.get(), send_buf.data(), n, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EAGAIN || errno == EINTR) return;
                fail(i, errno_message(
                            "send failed after " + std::to_string(o.sent) + " of " + std::to_string(s.bytes) + " bytes",
                            errno));
                return;
            }
            o.sent += static_cast<std::uint64_t>(w);
        }
        if (s.half_close && !c.write_shut) {
            ::shutdown(c.fd.get(), SHUT_WR);
            c.write_shut = true;
        }
        c.want_out = false;
        update_events(i);
    };

    // Returns false when the connection ended (done or failed).
    auto do_recv = [&](std::size_t i) -> bool {
        Conn& c = conns[i];
        const StreamSpec& s = specs[i];
        StreamOutcome& o = out[i];
        for (int rounds = 0; rounds < 64; ++rounds) {
            ssize_t r = ::recv(c.fd.get(), recv_buf.data(), recv_buf.size(), 0);
            if (r < 0) {
                if (errno == EAGAIN || errno == EINTR) return true;
                fail(i, errno_message("receive failed after " + std::to_string(o.received) + " of " +
                                          std::to_string(s.bytes) + " bytes came back",
                                      errno));
                return false;
            }
            if (r == 0) {
                if (o.received == s.bytes && s.half_close) {
                    finish(i);
                } else {
                    fail(i, "server closed the connection after returning " + std::to_string(o.received) + " of " +
                                std::to_string(s.bytes) + " bytes (" + std::to_string(o.sent) + " sent)");
                }
                return false;
            }
            auto n = static_cast<std::uint64_t>(r);
            if (o.received + n > o.sent) {
                // More came back than we sent so far: the first surplus byte is the error.
                fail(i, "server returned more bytes than were sent: " + std::to_string(o.received + n) + " received, " +
                            std::to_string(o.sent) + " sent");
                return false;
            }
            if (auto m = Pattern(s.kind, s.id).check(o.received, recv_buf.data(), static_cast<std::size_t>(r))) {
                fail(i, m->describe());
                return false;
            }
            o.received += n;
            if (o.received == s.bytes && !s.half_close) {
                finish(i);
                return false;
            }
        }
        return true;
    };

    start_more();
    std::vector<epoll_event> events(256);
    while (finished < specs.size()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) break;
        int n = ::epoll_wait(ep.get(), events.data(), static_cast<int>(events.size()),
                             static_cast<int>(std::min<long long>(left, 1000)));
        if (n < 0) {
            if (errno == EINTR) continue;
            throw_errno("epoll_wait", errno);
        }
        for (int k = 0; k < n; ++k) {
            std::size_t i = events[k].data.u64;
            Conn& c = conns[i];
            if (c.state == State::done) continue;
            std::uint32_t ev = events[k].events;
            if (c.state == State::connecting) {
                int err = 0;
                socklen_t len = sizeof(err);
                ::getsockopt(c.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
                if (err != 0) {
                    fail(i, errno_message("cannot connect to " + address.to_string(), err));
                    continue;
                }
                if (!(ev & (EPOLLOUT | EPOLLIN))) continue;
                c.state = State::running;
                --connecting;
                if (specs[i].bytes == 0) {
                    if (specs[i].half_close) {
                        ::shutdown(c.fd.get(), SHUT_WR);
                        c.write_shut = true;
                    } else {
                        finish(i);
                        continue;
                    }
                }
            }
            if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
                if (!do_recv(i)) continue;
            }
            if (c.state == State::running && c.want_out && (ev & EPOLLOUT)) do_send(i);
        }
        start_more();
    }
    for (std::size_t i = 0; i < specs.size(); ++i) {
        if (conns[i].state == State::done) continue;
        if (conns[i].state == State::waiting) {
            out[i].error = conn_prefix(specs[i]) + "never started: timed out before its turn";
            continue;
        }
        std::string what = conns[i].state == State::connecting ? "timed out connecting" : "timed out";
        fail(i, what + " with " + std::to_string(out[i].received) + " of " + std::to_string(specs[i].bytes) +
                    " bytes returned (" + std::to_string(out[i].sent) + " sent)");
    }
    return out;
}

std::string first_error(const std::vector<StreamOutcome>& outcomes) {
    std::size_t failed = 0;
    std::string first;
    for (const auto& o : outcomes) {
        if (o.complete) continue;
        if (failed++ == 0) first = o.error;
    }
    if (failed == 0) return {};
    if (outcomes.size() == 1) return first;
    return std::to_string(failed) + " of " + std::to_string(outcomes.size()) + " connections failed; first: " + first;
}

std::vector<StreamSpec> half_close_specs(std::uint32_t count, std::uint64_t max_bytes, std::uint64_t& total) {
    std::vector<StreamSpec> specs;
    specs.reserve(count);
    for (std::uint32_t i = 0; i < count; ++i) {
        StreamSpec s;
        s.id = i + 1;
        s.bytes = 1 + (static_cast<std::uint64_t>(i) * 7919u) % max_bytes;  // varied, never 0
        s.half_close = true;
        total += s.bytes;
        specs.push_back(s);
    }
    return specs;
}

std::string echo_once(const SocketAddress& address, std::uint32_t id, std::uint64_t bytes) {
    StreamSpec spec;
    spec.id = id;
    spec.bytes = bytes;
    TransferOptions options;
    options.timeout = std::chrono::milliseconds(10000);
    auto outcomes = run_streams(address, {spec}, options);
    return outcomes[0].complete ? std::string() : outcomes[0].error;
}

}  // namespace kecho::bench
