// SPDX-License-Identifier: GPL-2.0-only
// The reliability cases behind the stress workloads; verify.cpp's case table runs them.
#pragma once

#include "bench/verify.h"
#include "kecho/net.h"

namespace kecho::bench {

Verdict held(const SocketAddress& address, const CaseOptions& options);
Verdict churn(const SocketAddress& address, const CaseOptions& options);
Verdict half_close_many(const SocketAddress& address, const CaseOptions& options);
Verdict resets(const SocketAddress& address, const CaseOptions& options);
Verdict slow(const SocketAddress& address, const CaseOptions& options);
Verdict zero_length_writes(const SocketAddress& address, const CaseOptions& options);

// A fresh connection echoes 256 KiB byte-exact (the server still serves). Empty on success.
std::string still_serves(const SocketAddress& address);

}  // namespace kecho::bench
