// SPDX-License-Identifier: GPL-2.0-only
// What `attach` checks before touching anything, so the user gets one clear line.
#pragma once

namespace kecho::loader {

// Throws Error unless this process may load and attach the echo (CAP_SYS_ADMIN, or CAP_BPF +
// CAP_PERFMON + CAP_NET_ADMIN).
void require_privileges();

// Throws Error unless the kernel has sockhash, sk_skb, sk_msg and sockops support.
void require_sockmap_support();

}  // namespace kecho::loader
