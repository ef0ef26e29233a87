// SPDX-License-Identifier: GPL-2.0-only
// Default port of each server, shared by every binary so they always agree.
#pragma once

#include <cstdint>

namespace kecho::ports {

inline constexpr std::uint16_t kmod = 12345;    // kecho.ko (kecho's own default)
inline constexpr std::uint16_t user = 12346;    // user-echo-server --engine epoll
inline constexpr std::uint16_t bpf = 12347;     // echo-loader attach
inline constexpr std::uint16_t uring = 12348;   // user-echo-server --engine uring
inline constexpr std::uint16_t floor = 12349;   // user-echo-server --engine floor
inline constexpr std::uint16_t splice = 12350;  // user-echo-server --engine splice

}  // namespace kecho::ports
