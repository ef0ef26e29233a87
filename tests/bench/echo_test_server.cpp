// SPDX-License-Identifier: GPL-2.0-only
// A tiny echo server for the bench's own tests: correct by default, or deliberately faulty so the
// tests can prove the bench catches it. Blocking, one thread per connection: simple enough to be
// obviously right. Prints "listening on <address>" once ready.
//
//   echo_test_server --port N [--fault none|corrupt|drop] [--fault-offset K]
//     corrupt: flips the byte at stream offset K of every connection
//     drop:    silently leaves out the byte at stream offset K of every connection
//   [--stall-ms S --stall-every-ms P]: stops answering for S ms at the start of every P ms (a server
//     that stalls, e.g. 200 ms once a second: what open-loop latency must show and closed loop hides)
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <iostream>
#include <string>
#include <thread>

#include "kecho/cli.h"
#include "kecho/error.h"
#include "kecho/net.h"

namespace {

enum class Fault { none, corrupt, drop };

// A periodic stall: nothing is echoed during the first stall_ms of every every_ms since start.
struct Stall {
    long stall_ms = 0, every_ms = 1000;
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();

    void wait_out() const {
        if (stall_ms <= 0) return;
        auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
        long phase = static_cast<long>(ms % every_ms);
        if (phase < stall_ms) std::this_thread::sleep_for(std::chrono::milliseconds(stall_ms - phase));
    }
};

bool send_all(int fd, const char* data, std::size_t length) {
    while (length > 0) {
        ssize_t w = ::send(fd, data, length, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        data += w;
        length -= static_cast<std::size_t>(w);
    }
    return true;
}

void serve(kecho::UniqueFd fd, Fault fault, std::uint64_t fault_offset, const Stall& stall) {
    kecho::set_nodelay(fd.get());
    char buf[65536];
    std::uint64_t offset = 0;
    for (;;) {
        ssize_t r = ::recv(fd.get(), buf, sizeof(buf), 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        stall.wait_out();
        auto n = static_cast<std::size_t>(r);
        std::size_t skip = n;  // index of a byte to leave out, n = none
        if (fault_offset >= offset && fault_offset < offset + n) {
            std::size_t at = static_cast<std::size_t>(fault_offset - offset);
            if (fault == Fault::corrupt) buf[at] = static_cast<char>(buf[at] ^ 0x5a);
            if (fault == Fault::drop) skip = at;
        }
        offset += n;
        bool ok = skip == n ? send_all(fd.get(), buf, n)
                            : send_all(fd.get(), buf, skip) && send_all(fd.get(), buf + skip + 1, n - skip - 1);
        if (!ok) break;
    }
    ::shutdown(fd.get(), SHUT_WR);
}

}  // namespace

int main(int argc, char** argv) {
    int port = 0;
    std::string fault_name = "none";
    std::uint64_t fault_offset = 3000;
    CLI::App app{"echo server for the bench tests (optionally faulty)"};
    app.name("echo_test_server");
    app.add_option("--port", port, "port on 127.0.0.1")->required()->transform(kecho::cli::port_transformer(""));
    app.add_option("--fault", fault_name, "none, corrupt or drop")->check(CLI::IsMember({"none", "corrupt", "drop"}));
    app.add_option("--fault-offset", fault_offset, "stream offset of the faulty byte");
    Stall stall;
    app.add_option("--stall-ms", stall.stall_ms, "stop answering for this many ms at the start of every period")
        ->check(CLI::Range(0L, 60000L));
    app.add_option("--stall-every-ms", stall.every_ms, "the stall's period in ms")->check(CLI::Range(1L, 600000L));
    if (int rc = kecho::cli::parse(app, argc, argv); rc >= 0) return rc;
    Fault fault = fault_name == "corrupt" ? Fault::corrupt : fault_name == "drop" ? Fault::drop : Fault::none;
    try {
        auto address = kecho::parse_address("127.0.0.1", static_cast<std::uint16_t>(port));
        kecho::ListenOptions lo;
        lo.nonblocking = false;
        kecho::UniqueFd listener = kecho::make_listener(address, lo);
        std::cout << "listening on " << address.to_string() << std::endl;
        for (;;) {
            int fd = ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE) continue;
                kecho::throw_errno("accept", errno);
            }
            std::thread(serve, kecho::UniqueFd(fd), fault, fault_offset, stall).detach();
        }
    } catch (const kecho::Error& e) {
        std::cerr << "echo_test_server: " << e.what() << "\n";
        return 1;
    }
}
