// SPDX-License-Identifier: GPL-2.0
/*
 * In-kernel TCP echo: every byte a connection receives is redirected to the
 * egress of the same socket, user space never touches it.
 *
 *  - echo_sockops inserts passively established sockets on the echo port
 *    into echo_sockets (a SOCKHASH keyed by socket cookie);
 *  - echo_verdict (sk_skb verdict on echo_sockets) redirects each received
 *    skb to the egress of its own socket, unless the peer stopped reading
 *    (pending-bytes guard: the cookie goes to the loader, which resets it),
 *    without the bytes it already echoed: each skb is placed in the stream by
 *    its own sequence number against the connection's echo_positions record;
 *    a byte it cannot place ends that connection's echo and asks for a reset
 *    (echo_verdict_pr is the same where the kernel lacks bpf_cast_to_kern_ctx);
 *  - echo_meter (sk_msg on echo_sockets) counts the bytes actually queued
 *    for egress, so received - echoed is what the kernel still holds.
 *
 * Portable to 6.1: only CO-RE reads, helpers older than 5.10; the one kfunc
 * (6.2+) is in a program of its own that the loader leaves out where the
 * kernel lacks it.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "echo.h"

/* Knobs, set by the loader between open and load. */
const volatile __u32 echo_port; /* bpf's port in the server registry unless told */
const volatile __u64 max_pending = ECHO_DEFAULT_MAX_PENDING;
/* sockops puts sockets in echo_sockets (0: the loader does, after accept). */
const volatile __u32 sockops_inserts = 1;

/* Written by the loader through the mmapped .bss, read by `echo-loader stats`. */
struct echo_loader_stats loader_stats[ECHO_MAX_THREADS + 1] = {};

/*
 * Failed sockops inserts since load, read by the loader through the mmapped
 * .bss: while it is 0, every accepted socket is in the map (sockops has run
 * before accept() returns) and the loader skips its per-connection lookup.
 */
__u64 sockops_insert_failures = 0;

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, ECHO_DEFAULT_MAX_SOCKETS);
	__type(key, __u64);   /* socket cookie */
	__type(value, __u64); /* socket (fd when inserted from user space) */
} echo_sockets SEC(".maps");

/*
 * How far one connection's echo has got, keyed by socket cookie: created by
 * the verdict's first skb of the connection, deleted by sockops when the
 * socket closes. Socket storage would need no deletion, but sk_skb programs
 * cannot use it.
 */
struct echo_position {
	__u32 next_seq; /* the sequence number of the next byte to echo */
	__u32 broken;	/* a byte was lost to the echo: nothing after it is sent */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ECHO_DEFAULT_MAX_SOCKETS);
	__type(key, __u64); /* socket cookie */
	__type(value, struct echo_position);
} echo_positions SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct echo_counters);
} echo_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, ECHO_EVENTS_BYTES);
} echo_events SEC(".maps");

static __always_inline struct echo_counters *counters(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&echo_counters, &zero);
}

#define TCP_CLOSE 7 /* include/net/tcp_states.h */

/* Puts a passively established socket of the echo port into echo_sockets. */
static __always_inline void insert_socket(struct bpf_sock_ops *skops, __u64 cookie)
{
	long err = bpf_sock_hash_update(skops, &echo_sockets, &cookie, BPF_NOEXIST);
	struct echo_counters *c = counters();

	if (err)
		__sync_fetch_and_add(&sockops_insert_failures, 1);
	if (c)
		c->value[err ? ECHO_INSERT_FAILED : ECHO_INSERTED]++;
}

SEC("sockops")
int echo_sockops(struct bpf_sock_ops *skops)
{
	__u64 cookie;

	/* local_port is in host byte order; sockets of other ports stay out. */
	if (skops->local_port != echo_port)
		return 1;
	cookie = bpf_get_socket_cookie(skops);
	switch (skops->op) {
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		if (sockops_inserts)
			insert_socket(skops, cookie);
		/* Told of its state changes, to delete its echo position at close. */
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags |
							 BPF_SOCK_OPS_STATE_CB_FLAG);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (skops->args[1] == TCP_CLOSE)
			bpf_map_delete_elem(&echo_positions, &cookie);
		break;
	}
	return 1;
}

/* Asks the loader to reset the connection (it reads echo_events). */
static __always_inline void ask_for_reset(__u64 cookie, __u64 pending, struct echo_counters *c)
{
	struct echo_event *event = bpf_ringbuf_reserve(&echo_events, sizeof(*event), 0);

	if (!event) {
		if (c)
			c->value[ECHO_EVENTS_LOST]++;
		return;
	}
	event->cookie = cookie;
	event->pending = pending;
	bpf_ringbuf_submit(event, 0);
}

/* The peer stopped reading: received - acknowledged exceeds the limit. */
static __always_inline int over_limit(struct __sk_buff *skb, struct tcp_sock *tp, __u64 cookie,
				      struct echo_counters *c)
{
	__u64 pending = tp->bytes_received - tp->bytes_acked;

	if (pending <= max_pending)
		return 0;

	if (c) {
		c->value[ECHO_OVER_LIMIT]++;
		c->value[ECHO_OVER_LIMIT_BYTES] += skb->len;
	}
	ask_for_reset(cookie, pending, c);
	return 1;
}

/* bpf_skb_adjust_room removes at most this many bytes per call. */
#define MAX_TRIM_STEP 4095
#define MAX_TRIM_STEPS 256

/* Sequence numbers compare modulo 2^32. */
static __always_inline bool seq_after(__u32 a, __u32 b)
{
	return (__s32)(a - b) > 0;
}

/* Removes the first `bytes` bytes of the skb; false if it could not. */
static __always_inline bool trim_front(struct __sk_buff *skb, __u32 bytes)
{
	for (int i = 0; i < MAX_TRIM_STEPS && bytes > 0; i++) {
		__u32 step = bytes < MAX_TRIM_STEP ? bytes : MAX_TRIM_STEP;

		if (bpf_skb_adjust_room(skb, -(__s32)step, 0, 0))
			return false;
		bytes -= step;
	}
	return bytes == 0;
}

/*
 * The connection's record, created at its first skb: nothing before
 * copied_seq was given to anyone (the loader never reads, and the verdict sees
 * a socket's bytes from its first), so its echo starts there.
 */
static __always_inline struct echo_position *position_of(__u64 cookie, struct tcp_sock *tp)
{
	struct echo_position *pos = bpf_map_lookup_elem(&echo_positions, &cookie);
	struct echo_position first = {};

	if (pos || !tp)
		return pos;
	first.next_seq = tp->copied_seq;
	if (bpf_map_update_elem(&echo_positions, &cookie, &first, BPF_NOEXIST))
		return NULL;
	return bpf_map_lookup_elem(&echo_positions, &cookie);
}

/*
 * A byte of this skb cannot be placed in the stream, or is lost to the echo:
 * nothing more of the connection is sent (a gap must never close over wrong
 * bytes), and the loader resets it.
 */
static __always_inline int give_up(__u64 cookie, struct echo_position *pos, struct echo_counters *c,
				   bool unplaced)
{
	if (c && unplaced && !(pos && pos->broken))
		c->value[ECHO_UNPLACED]++;
	if (pos)
		pos->broken = 1;
	ask_for_reset(cookie, 0, c);
	return SK_DROP;
}

/*
 * The verdict proper, for an skb whose first byte has sequence number `seq`
 * (seq_known false: it could not be read). TCP queues a segment that overlaps
 * bytes it already has whole, and moves several such skbs to the receive queue
 * at once when a gap fills (tcp_ofo_queue); the verdict is given whole skbs
 * (tcp_read_skb). So each skb is placed by its own sequence number against the
 * connection's record: bytes before the record's next_seq were echoed and are
 * trimmed, the rest is echoed and moves the record on. A start after next_seq,
 * or an end past rcv_nxt, means the number read is not the skb's: the
 * connection is reset rather than echoed wrong.
 */
static __always_inline int echo_skb(struct __sk_buff *skb, __u32 seq, bool seq_known)
{
	struct echo_counters *c = counters();
	__u64 cookie = bpf_get_socket_cookie(skb);
	struct bpf_sock *sk = skb->sk;
	struct tcp_sock *tp = sk ? bpf_skc_to_tcp_sock(sk) : NULL;
	struct echo_position *pos;
	__u32 len = skb->len, old;
	long verdict;

	if (c)
		c->value[ECHO_RX_BYTES] += len;
	/* The peer's FIN: nothing to echo (redirected, its send fails with EPIPE). */
	if (len == 0)
		return SK_DROP;
	pos = position_of(cookie, tp);
	/*
	 * Egress redirect has no flow control: drop (the loader resets the
	 * connection) instead of queueing without bound for a non-reader. Checked
	 * before the connection's broken mark, which the guard sets: every segment
	 * dropped until the reset lands counts as the guard's.
	 */
	if (pos && tp && over_limit(skb, tp, cookie, c)) {
		pos->broken = 1;
		return SK_DROP;
	}
	if (!pos || pos->broken || !seq_known || !tp)
		return give_up(cookie, pos, c, !(pos && pos->broken));
	if (seq_after(seq, pos->next_seq) || seq_after(seq + len, tp->rcv_nxt))
		return give_up(cookie, pos, c, true);
	old = pos->next_seq - seq;
	if (old >= len) {
		if (c)
			c->value[ECHO_DUPLICATE_BYTES] += len;
		return SK_DROP; /* nothing new in it */
	}
	if (old) {
		if (!trim_front(skb, old))
			return give_up(cookie, pos, c, true);
		if (c)
			c->value[ECHO_DUPLICATE_BYTES] += old;
	}
	pos->next_seq = seq + len;

	/* flags 0: egress of the socket found by cookie, i.e. this one. */
	verdict = bpf_sk_redirect_hash(skb, &echo_sockets, &cookie, 0);
	if (verdict != SK_PASS) {
		if (c)
			c->value[ECHO_REDIRECT_FAILED]++;
		return give_up(cookie, pos, c, false);
	}
	return verdict;
}

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym __weak;

/* TCP_SKB_CB(skb)->seq, read from the kernel's sk_buff (bpf_cast_to_kern_ctx: 6.2+). */
SEC("sk_skb")
int echo_verdict(struct __sk_buff *skb)
{
	struct sk_buff *kskb = bpf_cast_to_kern_ctx(skb);

	return echo_skb(skb, ((struct tcp_skb_cb *)kskb->cb)->seq, true);
}

/*
 * The same for kernels without that kfunc (6.1): the context is the kernel's
 * sk_buff, read with bpf_probe_read_kernel (needs CAP_PERFMON, as loading does).
 */
SEC("sk_skb")
int echo_verdict_pr(struct __sk_buff *skb)
{
	__u32 seq = 0;
	long err = bpf_probe_read_kernel(&seq, sizeof(seq),
					 (void *)skb + bpf_core_field_offset(struct sk_buff, cb) +
						 bpf_core_field_offset(struct tcp_skb_cb, seq));

	return echo_skb(skb, seq, err == 0);
}

SEC("sk_msg")
int echo_meter(struct sk_msg_md *msg)
{
	struct echo_counters *c = counters();

	if (c)
		c->value[ECHO_ECHOED_BYTES] += msg->size;
	return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
