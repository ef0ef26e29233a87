// What every event loop of user-echo-server needs to know, parsed once by main.
#pragma once

#include <cstddef>
#include <string>

namespace kecho::userserver {

enum class Engine { epoll, uring, busypoll };

// Which io_uring features to use. `automatic` takes the best the kernel has; the others force the
// fallbacks so they can be tested on a kernel that has everything.
enum class UringFeatures { automatic, single_shot, no_buffer_ring };

struct Config {
    Engine engine = Engine::epoll;
    UringFeatures uring_features = UringFeatures::automatic;
    std::size_t max_buffer = 4 * 1024 * 1024;  // unsent bytes per connection before reading stops
    bool uring_submit_each = false;            // measuring knob: one io_uring_enter per operation
    bool verbose = false;
};

const char* engine_name(Engine engine);

}  // namespace kecho::userserver
