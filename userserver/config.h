// SPDX-License-Identifier: GPL-2.0-only
// What every event loop of user-echo-server needs to know, parsed once by main.
#pragma once

#include <cstddef>

namespace kecho::userserver {

// floor: the busy-polling epoll loop (a measuring reference, see epoll_loop.cpp); splice: socket to
// pipe to socket with splice(2), the bytes never copied to user space.
enum class Engine { epoll, uring, floor, splice };

// Which io_uring features to use. `automatic` takes the best the kernel has, receive bundles
// included where it takes them capped (docs/uring-streaming.md); `bundle` is the same, named for
// A/B runs; the others force the fallbacks so they can be tested on a kernel that has everything
// (no_bundle: one buffer per completion, as before kernel 6.10).
enum class UringFeatures { automatic, bundle, no_bundle, single_shot, no_buffer_ring };

// batch: every submission of a loop turn shares one io_uring_enter; each: one per operation (a
// measuring knob that shows what batching saves).
enum class UringSubmit { batch, each };

struct Config {
    Engine engine = Engine::epoll;
    UringFeatures uring_features = UringFeatures::automatic;
    UringSubmit uring_submit = UringSubmit::batch;
    std::size_t max_buffer = 4 * 1024 * 1024;  // unsent bytes per connection before reading stops
    bool verbose = false;
};

const char* engine_name(Engine engine);

}  // namespace kecho::userserver
