// SPDX-License-Identifier: GPL-2.0-only
// The io_uring engine. Where the kernel has them: one multishot accept per listener, one multishot
// recv per connection filling buffers from a provided-buffer ring (in bundles from 6.10: one
// completion per socket read, however many buffers it filled), and the echo sent straight out
// of those buffers (no copy): while a send is in flight the buffers received meanwhile are held,
// and the next send takes all of them at once (one sendmsg with an iovec per buffer), so a stream
// is echoed in large sends without a copy. One send in flight per connection keeps the bytes in
// order; every submission and completion of a turn shares one io_uring_enter. Older kernels get single-shot
// accept/recv, or per-connection receive buffers when there are no buffer rings (detected at run time).
#include <liburing.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "buffer_ring.h"
#include "kecho/error.h"
#include "kecho/net.h"
#include "log.h"
#include "loop.h"
#include "out_buffer.h"

namespace kecho::userserver {
namespace {

constexpr unsigned sq_entries = 512;
constexpr unsigned cq_entries = 8192;
constexpr unsigned buffer_count = 256;  // provided buffers per thread (a power of two)
constexpr unsigned buffer_size = 16 * 1024;
constexpr unsigned own_buffer_size = 16 * 1024;  // per connection, only without buffer rings
constexpr std::uint16_t buffer_group = 0;
constexpr int drain_timeout_ms = 500;

// Receive bundles (kernel 6.10): one recv fills as many provided buffers as the data needs, so a
// stream costs one completion per socket read rather than one per 16 KiB. Liburing 2.3 predates
// them; these are the kernel's fixed uapi values.
#ifndef IORING_RECVSEND_BUNDLE
constexpr unsigned IORING_RECVSEND_BUNDLE = 1U << 4;  // sqe->ioprio
#endif
#ifndef IORING_FEAT_RECVSEND_BUNDLE
constexpr unsigned IORING_FEAT_RECVSEND_BUNDLE = 1U << 14;  // io_uring_params.features
#endif
// The most one armed bundle recv may take: its length (per pass) and its total (sqe->optlen, in
// file_index's place), so it ends after one bundle of at most this and the loop re-arms it in its
// next turn. One connection thus takes at most this much of the ring per turn, and a paused one
// none. Uncapped, a bundle took every free buffer, and the kernel could hold such a bundle's
// completion (and all the buffers) for seconds while every other connection met an empty ring
// (docs/uring-streaming.md). A kernel that refuses either (EINVAL) gets no bundles.
constexpr unsigned bundle_limit = 256 * 1024;
// The buffer ring has more entries than there are buffers, so an entry the kernel took from stays
// as it was (which buffer, and the length the kernel used) until this many more buffers were given
// back: far more than can come back between a buffer's consumption and its completion, which the
// same turn handles. That is how the buffers of a bundle are found: the ring entries after the one
// the completion names. The first one's length is read from its entry, not assumed: some kernels
// shorten the head entry to the bytes the socket held and may leave it shortened.
constexpr unsigned ring_entries = 4 * buffer_count;

struct Connection;

// An operation's user_data (its tag): a connection's operation is the connection's pointer (8-byte
// aligned) with the operation in the low bits; the loop's own operations are small numbers no
// pointer is.
enum class ConnectionOp : std::uint64_t { recv = 1, send = 2 };
enum class LoopOp : std::uint64_t {
    accept = 8,
    stop = 16,
    accept_resume = 24,
    ignore = 32,  // cancellations: their outcome shows on the cancelled operation
};
constexpr std::uint64_t op_bits = 7;
constexpr std::uint64_t loop_tags_below = 64;

std::uint64_t tag(Connection* c, ConnectionOp op) {
    return reinterpret_cast<std::uintptr_t>(c) | static_cast<std::uint64_t>(op);
}
std::uint64_t tag(LoopOp op) {
    return static_cast<std::uint64_t>(op);
}
bool is_loop_tag(std::uint64_t tag) {
    return tag < loop_tags_below;
}
Connection* connection_of(std::uint64_t tag) {
    return reinterpret_cast<Connection*>(tag & ~op_bits);
}
ConnectionOp op_of(std::uint64_t tag) {
    return static_cast<ConnectionOp>(tag & op_bits);
}

// The io_uring instance, exited (every operation ended, every registration dropped) when it goes.
struct Ring {
    io_uring raw{};
    bool up = false;
    Ring() = default;
    Ring(const Ring&) = delete;
    Ring& operator=(const Ring&) = delete;
    ~Ring() {
        if (up) io_uring_queue_exit(&raw);
    }
};

// Bytes received into a provided buffer and not yet sent back.
struct HeldBuffer {
    int id;
    std::size_t length;
};

struct Connection {
    explicit Connection(int descriptor) : fd(descriptor) {}

    UniqueFd fd;
    // Unsent bytes wait either in provided buffers (`held`, no copy) or, when the ring runs low or
    // there is no ring, copied into `queued`; never both (`held` is used only while `queued` is
    // empty), so their order is kept.
    std::vector<HeldBuffer> held;
    std::size_t held_bytes = 0;
    OutBuffer queued;
    // The send in flight: from provided buffers (`in_flight`) or from our copy (`sending`).
    std::vector<HeldBuffer> in_flight;
    OutBuffer sending;
    std::vector<iovec> iov;  // what the sendmsg in flight reads; msg points into it
    std::size_t iov_first = 0;
    msghdr msg{};
    std::size_t send_left = 0;
    std::unique_ptr<char[]> own_buffer;
    std::uint64_t echoed = 0;
    std::size_t index = 0;  // position in UringLoop::connections_
    int error = 0;
    bool recv_armed = false;
    bool send_inflight = false;
    bool received_any = false;
    bool peer_closed = false;
    bool paused = false;
    bool was_paused = false;   // single-shot recv from the first pause on (see pause_if_full())
    bool recv_bundle = false;  // the recv armed is a multishot recv in bundles
    bool starved = false;      // recv ended for lack of buffers; re-armed once some come back
    bool closing = false;
    bool cancelled = false;
    std::string peer;

    std::size_t unsent() const { return held_bytes + queued.size() + (send_inflight ? send_left : 0); }
    bool idle() const { return !recv_armed && !send_inflight; }
};

int read_io_uring_disabled() {
    std::ifstream in("/proc/sys/kernel/io_uring_disabled");
    int value = 0;
    if (in >> value) return value;
    return 0;
}

[[noreturn]] void throw_setup_error(int err) {
    const std::string fix = "; use --engine epoll";
    int disabled = read_io_uring_disabled();
    if (err == EPERM && disabled == 2)
        throw Error("io_uring is disabled on this host (sysctl kernel.io_uring_disabled=2)" + fix);
    if (err == EPERM && disabled == 1)
        throw Error("io_uring is restricted to root and kernel.io_uring_group (sysctl kernel.io_uring_disabled=1)" +
                    fix);
    if (err == EPERM || err == ENOSYS)
        throw Error(errno_message("io_uring is unavailable", err) +
                    " (kernel without io_uring, or blocked by seccomp/container policy)" + fix);
    if (err == ENOMEM)
        throw Error(errno_message("cannot set up io_uring", err) + " (locked-memory limit too low? ulimit -l)" + fix);
    throw Error(errno_message("cannot set up io_uring", err) + fix);
}

class UringLoop final : public Loop {
public:
    explicit UringLoop(LoopContext context) : context_(std::move(context)) {
        setup_ring();
        // io_uring waits for readiness itself; a non-blocking listener would only add EAGAINs.
        set_nonblocking(context_.listener.get(), false);
        auto features = context_.config->uring_features;
        bool automatic = features == UringFeatures::automatic || features == UringFeatures::bundle ||
                         features == UringFeatures::no_bundle;
        if (context_.config->uring_features != UringFeatures::no_buffer_ring)
            buffers_ = BufferRing::make(ring_.raw, ring_entries, buffer_count, buffer_size, buffer_group);
        multishot_accept_ = automatic;
        multishot_recv_ = automatic && buffers_ != nullptr;
        // Bundles where the kernel has them (unless no_bundle), and only where this loop is the
        // ring's single issuer with deferred task work (always so on 6.10+): every buffer consumed
        // in a turn then completes in that turn (ring_entries).
        bundle_recv_ = multishot_recv_ && deferred_task_run_ && (ring_features_ & IORING_FEAT_RECVSEND_BUNDLE) &&
                       features != UringFeatures::no_bundle;
    }

    void run() override {
        if (context_.config->verbose) {
            log_line(std::string("io_uring: ") + (multishot_accept_ ? "multishot" : "single-shot") + " accept, " +
                     (multishot_recv_ ? "multishot" : "single-shot") + " recv" +
                     (bundle_recv_ ? " in bundles of at most " + std::to_string(bundle_limit / 1024) + " KiB, "
                                   : std::string(", ")) +
                     (buffers_ ? std::to_string(buffer_count) + " provided buffers of " +
                                     std::to_string(buffer_size / 1024) + " KiB"
                               : std::string("a receive buffer per connection")) +
                     (deferred_task_run_ ? ", deferred task work" : ""));
        }
        io_uring_prep_poll_add(get_sqe(), context_.stop_fd, POLLIN);
        io_uring_sqe_set_data64(last_sqe_, tag(LoopOp::stop));
        arm_accept();
        while (!stopping_) turn(nullptr);
        drain();
    }

private:
    // ---- setup ----

    void setup_ring() {
        // Best first: one thread submits and reaps (6.1+), then cooperative task work (5.19+).
        const unsigned attempts[] = {
            IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
            IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN,
            IORING_SETUP_CQSIZE,
            0,
        };
        int ret = -EINVAL;
        for (unsigned flags : attempts) {
            io_uring_params params{};
            params.flags = flags;
            params.cq_entries = cq_entries;
            ret = io_uring_queue_init_params(sq_entries, &ring_.raw, &params);
            if (ret == 0) {
                ring_.up = true;
                deferred_task_run_ = flags & IORING_SETUP_DEFER_TASKRUN;
                ring_features_ = params.features;
                return;
            }
            if (ret != -EINVAL) break;
        }
        throw_setup_error(-ret);
    }

    // ---- the loop ----

    // Submits what is queued, waits for at least one completion (bounded by `timeout` if given)
    // and handles every completion there is.
    void turn(__kernel_timespec* timeout) {
        publish_buffers();
        rearm_starved();
        publish_buffers();
        io_uring_cqe* cqe = nullptr;
        int ret = timeout ? io_uring_submit_and_wait_timeout(&ring_.raw, &cqe, 1, timeout, nullptr)
                          : io_uring_submit_and_wait(&ring_.raw, 1);
        if (ret < 0 && ret != -EINTR && ret != -ETIME && ret != -EBUSY && ret != -EAGAIN)
            throw_errno("io_uring_enter failed", -ret);
        unsigned head;
        unsigned seen = 0;
        io_uring_for_each_cqe(&ring_.raw, head, cqe) {
            ++seen;
            handle(cqe->user_data, cqe->res, cqe->flags);
        }
        io_uring_cq_advance(&ring_.raw, seen);
        dead_.clear();
    }

    // After a stop: cancel everything and wait (bounded) until the kernel no longer uses our
    // buffers, so they can be freed safely.
    void drain() {
        io_uring_prep_cancel64(get_sqe(), 0, IORING_ASYNC_CANCEL_ANY);
        io_uring_sqe_set_data64(last_sqe_, tag(LoopOp::ignore));
        __kernel_timespec step{0, 50 * 1000 * 1000};
        for (int waited = 0; waited < drain_timeout_ms && busy(); waited += 50) turn(&step);
    }

    bool busy() const {
        if (accept_armed_) return true;
        for (const auto& connection : connections_)
            if (!connection->idle()) return true;
        return false;
    }

    io_uring_sqe* get_sqe() {
        // Unbatched (measuring knob): the operation prepared before this one goes in now, alone.
        if (context_.config->uring_submit == UringSubmit::each && io_uring_sq_ready(&ring_.raw) > 0)
            io_uring_submit(&ring_.raw);
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_.raw);
        if (!sqe) {
            io_uring_submit(&ring_.raw);  // the queue is full: hand it to the kernel and go on
            sqe = io_uring_get_sqe(&ring_.raw);
        }
        if (!sqe) throw Error("io_uring submission queue stays full");
        last_sqe_ = sqe;
        return sqe;
    }

    void handle(std::uint64_t user_data, int res, unsigned flags) {
        if (is_loop_tag(user_data)) {
            switch (static_cast<LoopOp>(user_data)) {
                case LoopOp::accept:
                    on_accept(res, flags);
                    return;
                case LoopOp::stop:
                    stopping_ = true;
                    return;
                case LoopOp::accept_resume:
                    accept_paused_ = false;
                    arm_accept();
                    return;
                case LoopOp::ignore:
                    return;
            }
            return;
        }
        Connection* connection = connection_of(user_data);
        if (op_of(user_data) == ConnectionOp::recv)
            on_recv(connection, res, flags);
        else
            on_send(connection, res);
        settle(connection);
    }

    // ---- accepting ----

    void arm_accept() {
        if (stopping_ || accept_armed_ || accept_paused_) return;
        io_uring_sqe* sqe = get_sqe();
        if (multishot_accept_)
            io_uring_prep_multishot_accept(sqe, context_.listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
        else
            io_uring_prep_accept(sqe, context_.listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
        io_uring_sqe_set_data64(sqe, tag(LoopOp::accept));
        accept_armed_ = true;
    }

    void on_accept(int res, unsigned flags) {
        if (!(flags & IORING_CQE_F_MORE)) accept_armed_ = false;
        if (res >= 0) {
            accepted_any_ = true;
            add_connection(res);
        } else if (res == -EINVAL && multishot_accept_ && !accepted_any_) {
            multishot_accept_ = false;  // kernel older than 5.19
        } else if (res != -ECANCELED && AcceptErrors::should_pause(-res) && !accept_armed_) {
            accept_paused_ = true;
            accept_pause_ = {0, AcceptErrors::pause_ms * 1000L * 1000L};
            io_uring_prep_timeout(get_sqe(), &accept_pause_, 0, 0);
            io_uring_sqe_set_data64(last_sqe_, tag(LoopOp::accept_resume));
        }
        arm_accept();
    }

    void add_connection(int fd) {
        set_nodelay(fd);
        auto connection = std::make_unique<Connection>(fd);
        connection->queued.set_growth_limit(context_.config->max_buffer + buffer_size);
        connection->sending.set_growth_limit(context_.config->max_buffer + buffer_size);
        if (!buffers_) connection->own_buffer.reset(new char[own_buffer_size]);
        if (context_.config->verbose) {
            SocketAddress address;
            address.length = sizeof(address.storage);
            if (::getpeername(fd, address.get(), &address.length) == 0) connection->peer = address.to_string();
            log_line("connection from " + connection->peer);
        }
        connection->index = connections_.size();
        Connection* raw = connection.get();
        connections_.push_back(std::move(connection));
        arm_recv(raw);
    }

    // ---- receiving ----

    void arm_recv(Connection* c) {
        if (stopping_ || c->recv_armed || c->closing || c->peer_closed || c->paused || c->starved) return;
        io_uring_sqe* sqe = get_sqe();
        if (buffers_) {
            const bool multishot = multishot_recv_ && !c->was_paused;
            c->recv_bundle = multishot && bundle_recv_;
            if (multishot)
                io_uring_prep_recv_multishot(sqe, c->fd.get(), nullptr, c->recv_bundle ? bundle_limit : 0, 0);
            else
                io_uring_prep_recv(sqe, c->fd.get(), nullptr, 0, 0);
            sqe->flags |= IOSQE_BUFFER_SELECT;
            sqe->buf_group = buffer_group;
            if (c->recv_bundle) {
                sqe->ioprio |= IORING_RECVSEND_BUNDLE;
                sqe->file_index = bundle_limit;  // optlen: the total
            }
        } else {
            io_uring_prep_recv(sqe, c->fd.get(), c->own_buffer.get(), own_buffer_size, 0);
        }
        io_uring_sqe_set_data64(sqe, tag(c, ConnectionOp::recv));
        c->recv_armed = true;
    }

    void on_recv(Connection* c, int res, unsigned flags) {
        bool more = flags & IORING_CQE_F_MORE;
        if (!more) c->recv_armed = false;
        int buffer = -1;
        if (flags & IORING_CQE_F_BUFFER) buffer = static_cast<int>(flags >> IORING_CQE_BUFFER_SHIFT);
        if (res > 0) {
            c->received_any = true;
            if (buffer < 0)
                take(c, c->own_buffer.get(), static_cast<std::size_t>(res), -1);
            else
                take_buffers(c, buffer, static_cast<std::size_t>(res));
            send_pending(c);
            if (c->paused && more) {
                // The multishot recv of a paused connection ran on (the cancel missed it while it
                // ran): ask again. (A bundle recv also ends by itself within bundle_limit.)
                cancel(c, ConnectionOp::recv);
            }
            pause_if_full(c);
        } else {
            if (buffer >= 0) buffers_->taken();
            release(buffer);
            if (res == 0) {
                c->peer_closed = true;
            } else if (res == -ENOBUFS) {
                if (!c->closing && !c->starved) {
                    c->starved = true;
                    starved_.push_back(c);
                }
            } else if (res == -EINVAL && c->recv_bundle && !c->received_any && !more) {
                refuse_bundles();  // no length or total on a multishot recv (kernel before 6.17)
            } else if (res == -EINVAL && multishot_recv_ && !c->received_any && !more) {
                multishot_recv_ = false;  // kernel older than 6.0: single-shot from now on
            } else if (res != -ECANCELED) {
                fail(c, -res);
            }
        }
        if (!c->recv_armed) arm_recv(c);
    }

    void refuse_bundles() {
        if (!bundle_recv_) return;
        bundle_recv_ = false;
        if (context_.config->verbose)
            log_line("io_uring: the kernel refuses a capped multishot recv: no receive bundles");
    }

    // The provided buffers one completion filled: `first`, and with bundles the ring entries after
    // it, each filled to its entry's length but the last.
    void take_buffers(Connection* c, int first, std::size_t n) {
        unsigned position = buffers_->position_of(first);
        for (unsigned taken = 0; n > 0; ++taken) {
            const io_uring_buf& entry = buffers_->entry(position++);
            if (entry.len == 0 || taken == buffer_count) {  // cannot happen with a sane kernel
                fail(c, EIO);
                return;
            }
            int id = entry.bid;
            std::size_t length = std::min<std::size_t>(n, entry.len);
            buffers_->taken();
            take(c, buffers_->data(id), length, id);
            n -= length;
        }
    }

    // Keeps n received bytes for the echo: in their provided buffer `buffer` (held until sent,
    // no copy), or copied.
    void take(Connection* c, const char* data, std::size_t n, int buffer) {
        if (c->closing) {
            release(buffer);
            return;
        }
        // Hold the provided buffer until it is sent, but only while most buffers are free, so
        // clients that do not read can never hold the whole ring: past that, copy.
        if (buffer >= 0 && c->queued.empty() && buffers_->available() >= buffer_count / 2) {
            c->held.push_back({buffer, n});
            c->held_bytes += n;
        } else {
            copy_held(c);  // what is held goes out first
            c->queued.append(data, n);
            release(buffer);
        }
    }

    void pause_if_full(Connection* c) {
        if (c->unsent() > context_.config->max_buffer && !c->paused && !c->closing) {
            // Stop reading: TCP flow control now holds the peer until the echo drains. A multishot
            // recv that keeps finding data is not cancellable (the cancel misses it while it
            // runs), so it may go on until its bundle_limit (bundles) or the ring runs dry (one
            // buffer per completion); it is not re-armed while paused, and from then on this
            // connection re-arms single-shot, which stops exactly when asked.
            c->paused = true;
            c->was_paused = true;
            if (c->recv_armed) cancel(c, ConnectionOp::recv);
        }
    }

    // Moves the held buffers' bytes into `queued` and gives the buffers back to the ring.
    void copy_held(Connection* c) {
        for (const HeldBuffer& h : c->held) {
            c->queued.append(buffers_->data(h.id), h.length);
            release(h.id);
        }
        c->held.clear();
        c->held_bytes = 0;
    }

    // ---- sending ----

    // Starts a send of everything waiting, unless one is in flight (its completion comes back here).
    void send_pending(Connection* c) {
        if (c->send_inflight || c->closing) return;
        c->iov.clear();
        c->iov_first = 0;
        c->send_left = 0;
        if (!c->held.empty()) {
            std::swap(c->in_flight, c->held);
            for (const HeldBuffer& h : c->in_flight) c->iov.push_back({buffers_->data(h.id), h.length});
            c->send_left = std::exchange(c->held_bytes, 0);
        } else if (!c->queued.empty()) {
            std::swap(c->sending, c->queued);  // the bytes in flight must not move: appends go to `queued`
            c->iov.push_back({const_cast<char*>(c->sending.data()), c->sending.size()});
            c->send_left = c->sending.size();
        } else {
            return;
        }
        c->send_inflight = true;
        submit_send(c);
    }

    void submit_send(Connection* c) {
        io_uring_sqe* sqe = get_sqe();
        // MSG_WAITALL: the kernel retries a partial send itself, so one send completes all of it.
        constexpr int flags = MSG_WAITALL | MSG_NOSIGNAL;
        const iovec& first = c->iov[c->iov_first];
        if (c->iov_first + 1 == c->iov.size()) {
            // One buffer (every request-response exchange): a plain send, cheaper than sendmsg.
            io_uring_prep_send(sqe, c->fd.get(), first.iov_base, first.iov_len, flags);
        } else {
            c->msg = {};
            c->msg.msg_iov = c->iov.data() + c->iov_first;
            c->msg.msg_iovlen = c->iov.size() - c->iov_first;
            io_uring_prep_sendmsg(sqe, c->fd.get(), &c->msg, flags);
        }
        io_uring_sqe_set_data64(sqe, tag(c, ConnectionOp::send));
    }

    // Skips what a partial send took.
    static void advance(Connection* c, std::size_t sent) {
        c->send_left -= sent;
        while (sent > 0) {
            iovec& first = c->iov[c->iov_first];
            std::size_t step = std::min(sent, first.iov_len);
            first.iov_base = static_cast<char*>(first.iov_base) + step;
            first.iov_len -= step;
            sent -= step;
            if (first.iov_len == 0) ++c->iov_first;
        }
    }

    void on_send(Connection* c, int res) {
        if (res > 0) c->echoed += static_cast<unsigned>(res);
        if (res > 0 && static_cast<std::size_t>(res) < c->send_left && !c->closing && !stopping_) {
            advance(c, static_cast<std::size_t>(res));
            submit_send(c);
            return;
        }
        c->send_inflight = false;
        c->send_left = 0;
        for (const HeldBuffer& h : c->in_flight) release(h.id);
        c->in_flight.clear();
        c->sending.clear();
        if (res <= 0) {
            if (res != -ECANCELED || !c->closing) fail(c, res == 0 ? EPIPE : -res);
            return;
        }
        send_pending(c);
        if (c->paused && c->unsent() <= context_.config->max_buffer / 2) {
            c->paused = false;
            arm_recv(c);
        }
    }

    // ---- closing ----

    void fail(Connection* c, int err) {
        if (c->error == 0) c->error = err;
        c->closing = true;
        cancel_all(c);
    }

    void cancel(Connection* c, ConnectionOp op) {
        io_uring_prep_cancel64(get_sqe(), tag(c, op), 0);
        io_uring_sqe_set_data64(last_sqe_, tag(LoopOp::ignore));
    }

    void cancel_all(Connection* c) {
        if (c->cancelled) return;
        c->cancelled = true;
        if (c->recv_armed) cancel(c, ConnectionOp::recv);
        if (c->send_inflight) cancel(c, ConnectionOp::send);
    }

    // Closes a connection once the peer has closed and everything was echoed, or after a failure,
    // as soon as no operation of it is in flight any more.
    void settle(Connection* c) {
        if (!c->closing && c->peer_closed && c->unsent() == 0) {
            c->closing = true;
            cancel_all(c);
        }
        if (!c->closing || !c->idle()) return;
        if (context_.config->verbose) {
            std::string how = c->error == 0 ? std::string("peer closed") : errno_message("failed", c->error);
            log_line("closed " + c->peer + ": " + std::to_string(c->echoed) + " bytes echoed (" + how + ")");
        }
        if (c->starved) std::erase(starved_, c);
        for (const HeldBuffer& h : c->held) release(h.id);
        std::size_t index = c->index;
        dead_.push_back(std::move(connections_[index]));
        if (index + 1 != connections_.size()) {
            connections_[index] = std::move(connections_.back());
            connections_[index]->index = index;
        }
        connections_.pop_back();
        dead_.back()->fd.reset();
    }

    // ---- provided buffers ----

    // A buffer back to the kernel (id -1, no buffer: nothing).
    void release(int id) {
        if (id >= 0) buffers_->give_back(id);
    }

    void publish_buffers() {
        if (buffers_) buffers_->publish();
    }

    void rearm_starved() {
        while (!starved_.empty() && buffers_ && buffers_->available() > 0) {
            Connection* c = starved_.back();
            starved_.pop_back();
            c->starved = false;
            arm_recv(c);
        }
    }

    LoopContext context_;
    // Destroyed in reverse: the ring exits first (ending every operation, the kernel then touches no
    // buffer or socket of ours), then the connections close, then the buffers are unmapped.
    std::unique_ptr<BufferRing> buffers_;  // null without provided-buffer rings
    std::vector<std::unique_ptr<Connection>> connections_;
    std::vector<std::unique_ptr<Connection>> dead_;  // freed after the turn that closed them
    Ring ring_;
    io_uring_sqe* last_sqe_ = nullptr;
    std::vector<Connection*> starved_;
    __kernel_timespec accept_pause_{};
    unsigned ring_features_ = 0;  // IORING_FEAT_* of the kernel
    bool deferred_task_run_ = false;
    bool bundle_recv_ = false;
    bool multishot_accept_ = false;
    bool multishot_recv_ = false;
    bool accept_armed_ = false;
    bool accepted_any_ = false;
    bool accept_paused_ = false;
    bool stopping_ = false;
};

}  // namespace

std::unique_ptr<Loop> make_uring_loop(LoopContext context) {
    return std::make_unique<UringLoop>(std::move(context));
}

}  // namespace kecho::userserver
