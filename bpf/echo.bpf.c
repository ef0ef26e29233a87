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
 *    without the bytes of a retransmission it had already redirected;
 *  - echo_meter (sk_msg on echo_sockets) counts the bytes actually queued
 *    for egress, so received - echoed is what the kernel still holds.
 *
 * Portable to 6.1: only CO-RE reads, helpers older than 5.10.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "echo.h"

/* Knobs, set by the loader between open and load. */
const volatile __u32 echo_port = 12347;
const volatile __u64 max_pending = ECHO_DEFAULT_MAX_PENDING;

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

SEC("sockops")
int echo_sockops(struct bpf_sock_ops *skops)
{
	struct echo_counters *c;
	__u64 cookie;
	long err;

	if (skops->op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		return 1;
	/* local_port is in host byte order; sockets of other ports stay out. */
	if (skops->local_port != echo_port)
		return 1;

	cookie = bpf_get_socket_cookie(skops);
	err = bpf_sock_hash_update(skops, &echo_sockets, &cookie, BPF_NOEXIST);
	if (err)
		__sync_fetch_and_add(&sockops_insert_failures, 1);
	c = counters();
	if (c)
		c->value[err ? ECHO_INSERT_FAILED : ECHO_INSERTED]++;
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

#define RCV_SHUTDOWN 1
/* bpf_skb_adjust_room removes at most this many bytes per call. */
#define MAX_TRIM_STEP 4095
#define MAX_TRIM_STEPS 256

/*
 * Bytes at the start of this skb that the verdict was already given. TCP
 * queues a retransmission that covers received bytes and new ones
 * (seq < rcv_nxt < end_seq) whole, and the verdict is given whole skbs
 * (tcp_read_skb), so without this its old bytes were echoed twice. The skb
 * ends at rcv_nxt at the latest (one before it once the peer's FIN is in):
 * exactly there when it is the only skb queued, as it is after accept (every
 * arrival runs the verdict). copied_seq is where the bytes given so far end.
 * With several skbs queued (before accept) the result is smaller than the
 * truth, never larger: new bytes are never trimmed.
 */
static __always_inline __u32 already_redirected(struct __sk_buff *skb, struct tcp_sock *tp)
{
	__u32 end = tp->rcv_nxt;
	__s32 old;

	if (tp->inet_conn.icsk_inet.sk.sk_shutdown & RCV_SHUTDOWN)
		end--;
	old = (__s32)(tp->copied_seq - (end - skb->len));
	return old > 0 ? (__u32)old : 0;
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

SEC("sk_skb")
int echo_verdict(struct __sk_buff *skb)
{
	struct echo_counters *c = counters();
	__u64 cookie = bpf_get_socket_cookie(skb);
	struct bpf_sock *sk = skb->sk;
	/* The socket's TCP state, for the guard and the trim (null: neither applies). */
	struct tcp_sock *tp = sk ? bpf_skc_to_tcp_sock(sk) : NULL;
	long verdict;
	__u32 old;

	if (c)
		c->value[ECHO_RX_BYTES] += skb->len;
	/*
	 * An empty skb (the peer's FIN after its data) has nothing to echo;
	 * redirected, it costs a kworker run whose send fails with EPIPE.
	 */
	if (skb->len == 0)
		return SK_DROP;
	/*
	 * Egress redirect has no flow control: drop (the loader resets the
	 * connection) instead of queueing without bound for a non-reader.
	 */
	if (tp && over_limit(skb, tp, cookie, c))
		return SK_DROP;
	old = tp && skb->len ? already_redirected(skb, tp) : 0;
	if (old) {
		if (c)
			c->value[ECHO_DUPLICATE_BYTES] += old < skb->len ? old : skb->len;
		if (old >= skb->len)
			return SK_DROP; /* nothing new in it */
		if (!trim_front(skb, old)) {
			/* The echo cannot stay exact: reset rather than repeat bytes. */
			ask_for_reset(cookie, 0, c);
			return SK_DROP;
		}
	}

	/* flags 0: egress of the socket found by cookie, i.e. this one. */
	verdict = bpf_sk_redirect_hash(skb, &echo_sockets, &cookie, 0);
	if (verdict != SK_PASS && c)
		c->value[ECHO_REDIRECT_FAILED]++;
	return verdict;
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
