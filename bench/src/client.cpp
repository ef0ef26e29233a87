// SPDX-License-Identifier: GPL-2.0-only
#include "bench/client.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <random>

#include "kecho/error.h"

namespace kecho::bench {
// Named, not anonymous: Driver::Impl (external linkage) holds Conns, and GCC rejects an anonymous
// type there once a unity build includes this file (-Wsubobject-linkage).
namespace driver_detail {

enum class State { waiting, connecting, running, idle, done };

struct Conn {
    Plan plan;
    UniqueFd fd;
    State state = State::waiting;
    Outcome out;
    std::uint64_t send_limit = 0;                // bytes the started messages allow
    std::uint64_t started = 0, completed = 0;    // messages
    std::vector<Clock::time_point> starts;       // ring: latency start of each outstanding message
    Clock::time_point next_read{}, next_send{};  // paced read; a message held back by send_at
    std::uint32_t events = 0;                    // registered with epoll
    bool write_shut = false, want_out = false;
    std::minstd_rand sizes;  // Plan::varied_sizes

    // At most `limit` bytes: all of it, or a random size from 1 when the plan varies sizes.
    std::size_t size_up_to(std::size_t limit) { return plan.varied_sizes && limit > 1 ? 1 + sizes() % limit : limit; }

    bool paced() const { return plan.reading.every.count() > 0; }
    bool reads_on_event() const { return plan.reading.enabled && !paced(); }
    bool messages() const { return plan.message > 0 && plan.in_flight > 0; }
};

// The pending error of a socket (SO_ERROR), 0 when none.
int socket_error(int fd) {
    int err = 0;
    socklen_t len = sizeof(err);
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    return err;
}

std::string sent_and_back(const Conn& c) {
    std::string of = c.plan.bytes == unbounded ? "" : " of " + std::to_string(c.plan.bytes);
    return std::to_string(c.out.received) + of + " bytes returned (" + std::to_string(c.out.sent) + " sent)";
}

}  // namespace driver_detail
using namespace driver_detail;

void Tally::merge(const Tally& other) {
    messages += other.messages;
    bytes_sent += other.bytes_sent;
    bytes_received += other.bytes_received;
    latency_ns.merge(other.latency_ns);
}

struct Driver::Impl {
    SocketAddress address;
    DriverOptions options;
    UniqueFd ep;
    std::vector<Conn> conns;
    std::vector<std::size_t> waiting;
    std::size_t waiting_pos = 0, open = 0, connecting = 0, active = 0;
    std::vector<std::uint8_t> scratch = std::vector<std::uint8_t>(256 * 1024);
    Tally tally;
    bool timed = false;  // some connection reads paced or waits for send_at

    bool counting() const { return !options.measuring || options.measuring->load(std::memory_order_relaxed); }

    void set_events(std::size_t i, bool add = false) {
        Conn& c = conns[i];
        std::uint32_t want = (c.reads_on_event() ? EPOLLIN | EPOLLRDHUP : 0u) | (c.want_out ? EPOLLOUT : 0u);
        if (c.state == State::connecting) want = EPOLLOUT;
        if (!add && want == c.events) return;
        epoll_event ev{};
        ev.events = want;
        ev.data.u64 = i;
        ::epoll_ctl(ep.get(), add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c.fd.get(), &ev);
        c.events = want;
    }

    void end(std::size_t i, bool keep_open) {
        Conn& c = conns[i];
        if (c.state == State::connecting) --connecting;
        --active;
        if (keep_open) {
            ::epoll_ctl(ep.get(), EPOLL_CTL_DEL, c.fd.get(), nullptr);
            c.state = State::idle;
            return;
        }
        c.fd.reset();
        c.state = State::done;
        --open;
    }

    void fail(std::size_t i, const std::string& why, int err = 0) {
        Conn& c = conns[i];
        if (c.state == State::done || c.state == State::idle) return;
        c.out.error = "connection " + std::to_string(c.plan.id) + ": " + why;
        c.out.reset = err == ECONNRESET || err == EPIPE;
        end(i, false);
    }

    void finish(std::size_t i) {
        conns[i].out.complete = true;
        end(i, conns[i].plan.keep_open);
    }

    // Starts the messages the in-flight limit and the schedule allow; sets how far sending may go.
    void start_messages(std::size_t i, Clock::time_point now) {
        Conn& c = conns[i];
        if (!c.messages()) {
            c.send_limit = c.plan.bytes;
            return;
        }
        c.next_send = {};
        while (c.started < c.completed + c.plan.in_flight && c.started * c.plan.message < c.plan.bytes) {
            Clock::time_point at = options.send_at ? options.send_at(i, c.started) : now;
            if (at > now) {
                c.next_send = at;
                timed = true;
                break;
            }
            c.starts[c.started % c.plan.in_flight] = at;
            ++c.started;
        }
        c.send_limit = std::min(c.plan.bytes, c.started * c.plan.message);
    }

    void begin(std::size_t i) {
        Conn& c = conns[i];
        c.state = State::running;
        ++active;
        if (c.messages()) c.starts.resize(c.plan.in_flight);
        if (c.paced()) timed = true;
        start_messages(i, Clock::now());
        send(i);
    }

    void send(std::size_t i) {
        Conn& c = conns[i];
        Pattern pattern(c.plan.kind, c.plan.id);
        c.want_out = false;
        while (c.out.sent < c.send_limit) {
            std::size_t n =
                static_cast<std::size_t>(std::min<std::uint64_t>(c.send_limit - c.out.sent, scratch.size()));
            if (c.plan.write_chunk) n = std::min(n, c.size_up_to(c.plan.write_chunk));
            pattern.fill(c.out.sent, scratch.data(), n);
            ssize_t w = ::send(c.fd.get(), scratch.data(), n, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
                c.want_out = true;
                break;
            }
            if (w < 0) {
                int err = errno;
                return fail(i, errno_message("send failed after " + sent_and_back(c), err), err);
            }
            c.out.sent += static_cast<std::uint64_t>(w);
            c.out.last_send = Clock::now();
            if (counting()) tally.bytes_sent += static_cast<std::uint64_t>(w);
        }
        if (c.out.sent == c.plan.bytes && c.plan.half_close && !c.write_shut) {
            ::shutdown(c.fd.get(), SHUT_WR);
            c.write_shut = true;
        }
        if (c.out.sent == c.plan.bytes && c.out.received == c.plan.bytes && !c.plan.half_close) return finish(i);
        set_events(i);
    }

    // Checks and counts `n` received bytes; false when the connection failed.
    bool take(std::size_t i, std::size_t n) {
        Conn& c = conns[i];
        if (c.out.received + n > c.out.sent)
            return fail(i, "server returned more bytes than were sent: " + std::to_string(c.out.received + n) +
                               " received, " + std::to_string(c.out.sent) + " sent"),
                   false;
        if (auto m = Pattern(c.plan.kind, c.plan.id).check(c.out.received, scratch.data(), n))
            return fail(i, m->describe()), false;
        c.out.received += n;
        const bool count = counting();
        if (count) tally.bytes_received += n;
        if (!c.messages()) return true;
        const auto now = Clock::now();
        while (c.out.received >= (c.completed + 1) * c.plan.message) {
            if (count) {
                auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    now - c.starts[c.completed % c.plan.in_flight]);
                tally.latency_ns.record(static_cast<std::uint64_t>(std::max<std::int64_t>(ns.count(), 0)));
                ++tally.messages;
            }
            ++c.completed;
        }
        start_messages(i, now);
        return true;
    }

    // One recv of at most `limit` bytes; false when the connection ended or nothing was there.
    bool receive_once(std::size_t i, std::size_t limit, bool& more) {
        Conn& c = conns[i];
        ssize_t r = ::recv(c.fd.get(), scratch.data(), limit, MSG_DONTWAIT);
        more = r == static_cast<ssize_t>(limit);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) return false;
        if (r < 0) {
            int err = errno;
            return fail(i, errno_message("receive failed after " + sent_and_back(c), err), err), false;
        }
        if (r == 0) {
            if (c.plan.half_close && c.out.received == c.plan.bytes) return finish(i), false;
            return fail(i, "server closed the connection after " + sent_and_back(c)), false;
        }
        if (!take(i, static_cast<std::size_t>(r))) return false;
        if (c.out.received == c.plan.bytes && c.out.sent == c.plan.bytes && !c.plan.half_close) return finish(i), false;
        return true;
    }

    void receive(std::size_t i) {
        bool more = true;
        for (int rounds = 0; rounds < 16 && more; ++rounds)
            if (!receive_once(i, conns[i].size_up_to(scratch.size()), more)) break;
        if (conns[i].state == State::running) send(i);
    }

    // A connection that does not read on events learns of a reset or close from EPOLLERR/EPOLLHUP.
    void hangup(std::size_t i) {
        if (int err = socket_error(conns[i].fd.get()))
            return fail(i, errno_message("connection failed after " + sent_and_back(conns[i]), err), err);
        fail(i, "server closed the connection after " + sent_and_back(conns[i]));
    }

    void connected(std::size_t i, std::uint32_t ev) {
        if (int err = socket_error(conns[i].fd.get()))
            return fail(i, errno_message("cannot connect to " + address.to_string(), err), err);
        if (!(ev & (EPOLLOUT | EPOLLIN))) return;
        --connecting;
        --active;  // begin() counts it again
        begin(i);
    }

    void on_event(std::size_t i, std::uint32_t ev) {
        Conn& c = conns[i];
        if (c.state == State::connecting) return connected(i, ev);
        if (c.state != State::running) return;
        if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
            if (c.reads_on_event())
                receive(i);
            else if (ev & (EPOLLHUP | EPOLLERR))
                hangup(i);
        }
        if (c.state == State::running && (ev & EPOLLOUT)) send(i);
    }

    void start_waiting() {
        while (waiting_pos < waiting.size() && open < options.max_open && connecting < options.max_connecting) {
            std::size_t i = waiting[waiting_pos++];
            Conn& c = conns[i];
            c.fd = UniqueFd(::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
            c.state = State::connecting;
            ++open, ++connecting, ++active;
            if (!c.fd) {
                fail(i, errno_message("cannot create a socket", errno));
                continue;
            }
            set_nodelay(c.fd.get());
            c.sizes.seed(c.plan.varied_sizes);
            if (c.plan.receive_buffer)  // before connect: it decides the window scale offered
                ::setsockopt(c.fd.get(), SOL_SOCKET, SO_RCVBUF, &c.plan.receive_buffer, sizeof(int));
            if (::connect(c.fd.get(), address.get(), address.length) != 0 && errno != EINPROGRESS) {
                int err = errno;
                fail(i, errno_message("cannot connect to " + address.to_string(), err), err);
                continue;
            }
            set_events(i, true);
        }
    }

    // Paced reads and scheduled messages that are due; returns when the next one is.
    Clock::time_point run_timers(Clock::time_point now) {
        Clock::time_point wake = Clock::time_point::max();
        for (std::size_t i = 0; i < conns.size(); ++i) {
            Conn& c = conns[i];
            if (c.state != State::running) continue;
            if (c.paced() && now >= c.next_read) {
                bool more = false;
                c.next_read = now + c.plan.reading.every;
                if (c.plan.reading.enabled) receive_once(i, std::min(c.plan.reading.chunk, scratch.size()), more);
            }
            if (c.next_send != Clock::time_point{} && now >= c.next_send) {
                start_messages(i, now);
                send(i);
            }
            if (c.state != State::running) continue;
            if (c.paced()) wake = std::min(wake, c.next_read);
            if (c.next_send != Clock::time_point{}) wake = std::min(wake, c.next_send);
        }
        return wake;
    }
};

Driver::Driver(const SocketAddress& address, DriverOptions options) : impl_(std::make_unique<Impl>()) {
    impl_->address = address;
    impl_->options = std::move(options);
    impl_->ep = UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
    if (!impl_->ep) throw_errno("epoll_create1 failed", errno);
}

Driver::~Driver() = default;

std::size_t Driver::add(const Plan& plan) {
    impl_->conns.push_back({plan});
    impl_->waiting.push_back(impl_->conns.size() - 1);
    return impl_->conns.size() - 1;
}

std::size_t Driver::adopt(const Plan& plan, UniqueFd fd) {
    std::size_t i = impl_->conns.size();
    impl_->conns.push_back({plan, std::move(fd)});
    ++impl_->open;
    impl_->conns[i].state = State::running;
    impl_->set_events(i, true);
    impl_->begin(i);
    return i;
}

void Driver::run(Clock::time_point deadline, const std::function<bool()>& stop) {
    Impl& d = *impl_;
    std::vector<epoll_event> events(256);
    d.start_waiting();
    while (d.active > 0) {
        auto now = Clock::now();
        if (now >= deadline || (stop && stop())) return;
        auto wake = std::min(deadline, now + std::chrono::milliseconds(50));
        if (d.timed) wake = std::min(wake, d.run_timers(now));
        // Nanosecond timeout (epoll_pwait2): an open-loop message leaves on time, not up to 1 ms late.
        auto wait_ns = std::max<long long>(std::chrono::duration_cast<std::chrono::nanoseconds>(wake - now).count(), 0);
        timespec timeout{static_cast<time_t>(wait_ns / 1'000'000'000), static_cast<long>(wait_ns % 1'000'000'000)};
        int n = ::epoll_pwait2(d.ep.get(), events.data(), static_cast<int>(events.size()), &timeout, nullptr);
        if (n < 0 && errno != EINTR) throw_errno("epoll_wait failed", errno);
        for (int k = 0; k < n; ++k) d.on_event(events[k].data.u64, events[k].events);
        d.start_waiting();
    }
}

void Driver::expire() {
    for (std::size_t i = 0; i < impl_->conns.size(); ++i) {
        Conn& c = impl_->conns[i];
        if (c.state == State::waiting) {
            c.out.error = "connection " + std::to_string(c.plan.id) + ": never started: timed out before its turn";
            c.state = State::done;
        } else if (c.state == State::connecting || c.state == State::running) {
            std::string what = c.state == State::connecting ? "timed out connecting" : "timed out";
            impl_->fail(i, what + " with " + sent_and_back(c));
        }
    }
}

void Driver::extend(std::size_t index, std::uint64_t bytes) {
    Conn& c = impl_->conns[index];
    if (c.state != State::idle) return;
    c.plan.bytes += bytes;
    c.out.complete = false;
    c.events = 0;
    c.state = State::running;
    impl_->set_events(index, true);
    ++impl_->active;
    impl_->start_messages(index, Clock::now());
    impl_->send(index);
}

void Driver::stop_sending(std::size_t index) {
    Conn& c = impl_->conns[index];
    if (c.state != State::running) return;
    c.plan.bytes = c.out.sent;
    c.plan.reading = {};
    c.send_limit = c.out.sent;
    if (c.out.received == c.plan.bytes) return impl_->finish(index);
    impl_->set_events(index);
}

UniqueFd Driver::release(std::size_t index) {
    Conn& c = impl_->conns[index];
    if (c.state == State::running || c.state == State::connecting) impl_->end(index, true);  // out of epoll, idle
    if (c.fd) --impl_->open;
    c.state = State::done;
    return std::move(c.fd);
}

const Outcome& Driver::outcome(std::size_t index) const {
    return impl_->conns[index].out;
}

std::vector<Outcome> Driver::outcomes() const {
    std::vector<Outcome> all;
    for (const auto& c : impl_->conns) all.push_back(c.out);
    return all;
}

std::size_t Driver::size() const {
    return impl_->conns.size();
}
Tally& Driver::tally() {
    return impl_->tally;
}

std::vector<Outcome> run_streams(const SocketAddress& address, const std::vector<Plan>& plans,
                                 std::chrono::milliseconds timeout, std::size_t max_open) {
    DriverOptions options;
    options.max_open = max_open;
    Driver driver(address, options);
    for (const auto& p : plans) driver.add(p);
    driver.run(Clock::now() + timeout);
    driver.expire();
    return driver.outcomes();
}

std::string first_error(const std::vector<Outcome>& outcomes) {
    std::size_t failed = 0;
    std::string first;
    for (const auto& o : outcomes)
        if (!o.complete && failed++ == 0) first = o.error;
    if (failed == 0) return {};
    if (outcomes.size() == 1) return first;
    return std::to_string(failed) + " of " + std::to_string(outcomes.size()) + " connections failed; first: " + first;
}

namespace {

void set_timeouts(int fd, std::chrono::milliseconds wait) {
    timeval tv{static_cast<time_t>(wait.count() / 1000), static_cast<suseconds_t>(wait.count() % 1000 * 1000)};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

}  // namespace

BlockingConnection::BlockingConnection(const SocketAddress& address, std::uint32_t id, PatternKind kind,
                                       std::chrono::milliseconds wait)
    : fd_(connect_to(address, static_cast<int>(wait.count()))), pattern_(kind, id), wait_(wait) {
    set_nodelay(fd_.get());
    set_timeouts(fd_.get(), wait);
}

BlockingConnection::BlockingConnection(UniqueFd fd, std::uint32_t id, std::chrono::milliseconds wait)
    : fd_(std::move(fd)), pattern_(PatternKind::mixed, id), wait_(wait) {
    set_nonblocking(fd_.get(), false);
    set_timeouts(fd_.get(), wait);
}

bool BlockingConnection::waited_enough(const char* what, std::uint64_t got, std::uint64_t want) {
    if (keep_waiting_) return !keep_waiting_();
    throw Error(std::string("no ") + what + " progress within " + std::to_string(wait_.count()) + " ms (" +
                std::to_string(got) + " of " + std::to_string(want) + " bytes)");
}

bool BlockingConnection::send_all(const std::uint8_t* data, std::size_t length) {
    std::size_t done = 0;
    do {
        ssize_t w = ::send(fd_.get(), data + done, length - done, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) {
            if (waited_enough("send", done, length)) return false;
            continue;
        }
        if (w < 0) throw_errno("send failed after " + std::to_string(sent_ + done) + " bytes", errno);
        done += static_cast<std::size_t>(w);
    } while (done < length);
    return true;
}

bool BlockingConnection::send(std::size_t length) {
    if (buffer_.size() < length) buffer_.resize(length);
    pattern_.fill(sent_, buffer_.data(), length);
    if (!send_all(buffer_.data(), length)) return false;
    sent_ += length;
    return true;
}

bool BlockingConnection::send_text(const std::string& text) {
    return send_all(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
}

bool BlockingConnection::receive(
    std::uint64_t length, const std::function<std::optional<std::string>(const std::uint8_t*, std::size_t)>& check) {
    if (buffer_.size() < 64 * 1024) buffer_.resize(64 * 1024);
    std::uint64_t got = 0;
    while (got < length) {
        auto want = static_cast<std::size_t>(std::min<std::uint64_t>(buffer_.size(), length - got));
        ssize_t r = ::recv(fd_.get(), buffer_.data(), want, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno == EAGAIN) {
            if (waited_enough("echo", got, length)) return false;
            continue;
        }
        if (r < 0) throw_errno("receive failed after " + std::to_string(received_ + got) + " bytes", errno);
        if (r == 0)
            throw Error("server closed the connection after returning " + std::to_string(received_ + got) + " bytes");
        if (auto error = check(buffer_.data(), static_cast<std::size_t>(r))) throw Error(*error);
        got += static_cast<std::uint64_t>(r);
        received_ += static_cast<std::uint64_t>(r);
    }
    return true;
}

bool BlockingConnection::expect(std::uint64_t length) {
    return receive(length, [&](const std::uint8_t* data, std::size_t n) -> std::optional<std::string> {
        if (auto m = pattern_.check(received_, data, n)) return m->describe();
        return std::nullopt;
    });
}

bool BlockingConnection::expect_text(const std::string& text, Clock::time_point* first_byte) {
    std::uint64_t at = 0;
    return receive(text.size(), [&](const std::uint8_t* data, std::size_t n) -> std::optional<std::string> {
        if (first_byte && at == 0) *first_byte = Clock::now();
        for (std::size_t k = 0; k < n; ++k, ++at)
            if (data[k] != static_cast<std::uint8_t>(text[at]))
                return "echo differs from the message at offset " + std::to_string(at);
        return std::nullopt;
    });
}

}  // namespace kecho::bench
