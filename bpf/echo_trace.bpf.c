// SPDX-License-Identifier: GPL-2.0
/*
 * Where an exchange's time goes, on one TCP port, whatever server listens
 * there: static tracepoints only (tp_btf), nothing attached to the server.
 *
 * An exchange starts when a payload segment reaches a socket whose local
 * port is trace_port (tcp_probe) and no exchange of that connection is open;
 * it ends when the client (the socket whose remote port is trace_port)
 * first reads bytes back. In between: data_ready on the accepted socket
 * (where the sockmap verdict runs), the server's first read (user space,
 * kmod), the socket's psock work item queued and started (the sockmap's
 * egress runs in a kworker), and the echo's arrival at the client. With
 * one message in flight per connection that is every exchange.
 *
 * A connection is named by the client's address and port, as both ends see
 * them (last 32 bits of the address: IPv4, v4-mapped and IPv6 alike).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>

#include "echo_trace.h"

#define MSG_PEEK_FLAG 2
#define SK_USER_DATA_FLAG_BITS 7UL

const volatile __u16 trace_port; /* set by the loader (echo-loader trace --port) */

/* Records the ring buffer refused (user space too slow). */
__u64 records_lost = 0;

/* Resets sent on trace_port: [side][reason] (echo_trace.h). */
__u64 resets_sent[ECHO_TRACE_RESET_SIDES][ECHO_TRACE_RESET_REASONS] = {};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ECHO_TRACE_MAX_OPEN);
	__type(key, __u64);
	__type(value, struct echo_trace_record);
} open_exchanges SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, ECHO_TRACE_RECORDS_BYTES);
} records SEC(".maps");

static __always_inline __u64 client_key(__be32 addr, __u16 port)
{
	return ((__u64)addr << 16) | port;
}

/*
 * The key of a server-side socket on trace_port, or 0 for any other socket.
 * CO-RE reads: sk may be a tracepoint's argument or a pointer read from a psock.
 */
static __always_inline __u64 server_side_key(const struct sock *sk)
{
	if (BPF_CORE_READ(sk, __sk_common.skc_num) != trace_port)
		return 0;
	if (BPF_CORE_READ(sk, __sk_common.skc_family) == 10 /* AF_INET6 */)
		return client_key(BPF_CORE_READ(sk, __sk_common.skc_v6_daddr.in6_u.u6_addr32[3]),
				  bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport)));
	return client_key(BPF_CORE_READ(sk, __sk_common.skc_daddr),
			  bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport)));
}

/* The key of a client-side socket connected to trace_port, or 0. */
static __always_inline __u64 client_side_key(const struct sock *sk)
{
	if (bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport)) != trace_port)
		return 0;
	if (BPF_CORE_READ(sk, __sk_common.skc_family) == 10 /* AF_INET6 */)
		return client_key(
			BPF_CORE_READ(sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[3]),
			BPF_CORE_READ(sk, __sk_common.skc_num));
	return client_key(BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr),
			  BPF_CORE_READ(sk, __sk_common.skc_num));
}

static __always_inline struct echo_trace_record *open_exchange(__u64 key)
{
	return key ? bpf_map_lookup_elem(&open_exchanges, &key) : NULL;
}

/* Payload bytes of a segment tcp_rcv_established is given (skb->data is its TCP header). */
static __always_inline __u32 payload_bytes(const struct sk_buff *skb)
{
	__u8 doff_byte = 0;

	bpf_probe_read_kernel(&doff_byte, 1, skb->data + 12);
	return skb->len - (doff_byte >> 4) * 4;
}

SEC("tp_btf/tcp_probe")
int BPF_PROG(trace_segment, struct sock *sk, const struct sk_buff *skb)
{
	struct echo_trace_record *open, fresh = {};
	__u64 now = bpf_ktime_get_ns();
	__u64 key;

	if (payload_bytes(skb) == 0)
		return 0;
	key = server_side_key(sk);
	if (key) {
		fresh.arrived = now;
		fresh.client_port = key & 0xffff;
		if (sk->sk_socket) {
			fresh.flags = ECHO_TRACE_ACCEPTED_FIRST;
			fresh.readable = now;
		}
		bpf_map_update_elem(&open_exchanges, &key, &fresh, BPF_NOEXIST);
		return 0;
	}
	open = open_exchange(client_side_key(sk));
	if (open && !open->echoed)
		open->echoed = now;
	return 0;
}

SEC("tp_btf/sk_data_ready")
int BPF_PROG(trace_readable, const struct sock *sk)
{
	struct echo_trace_record *open = open_exchange(server_side_key(sk));

	if (open && !open->readable && sk->sk_socket)
		open->readable = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(trace_read, struct sock *sk, int ret, int flags)
{
	struct echo_trace_record *open;
	__u64 key;

	if (ret <= 0 || (flags & MSG_PEEK_FLAG))
		return 0;
	open = open_exchange(server_side_key(sk));
	if (open) {
		if (!open->server_read)
			open->server_read = bpf_ktime_get_ns();
		return 0;
	}
	key = client_side_key(sk);
	open = open_exchange(key);
	if (!open)
		return 0;
	open->client_read = bpf_ktime_get_ns();
	if (bpf_ringbuf_output(&records, open, sizeof(*open), 0))
		__sync_fetch_and_add(&records_lost, 1);
	bpf_map_delete_elem(&open_exchanges, &key);
	return 0;
}

/*
 * The exchange whose socket owns this work item, when it is a psock's
 * (sk_psock.work; the socket's sk_user_data points back at its psock).
 */
static __always_inline struct echo_trace_record *psock_exchange(struct work_struct *work)
{
	struct sk_psock *psock;
	struct sock *sk;
	unsigned long user_data;

	psock = (void *)work - bpf_core_field_offset(struct sk_psock, work);
	sk = BPF_CORE_READ(psock, sk);
	if (!sk)
		return NULL;
	user_data = (unsigned long)BPF_CORE_READ(sk, sk_user_data);
	if ((user_data & ~SK_USER_DATA_FLAG_BITS) != (unsigned long)psock)
		return NULL;
	return open_exchange(server_side_key(sk));
}

SEC("tp_btf/workqueue_queue_work")
int BPF_PROG(trace_work_queued, int req_cpu, struct pool_workqueue *pwq, struct work_struct *work)
{
	struct echo_trace_record *open = psock_exchange(work);

	if (open && open->readable && !open->work_queued)
		open->work_queued = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/workqueue_execute_start")
int BPF_PROG(trace_work_started, struct work_struct *work)
{
	struct echo_trace_record *open = psock_exchange(work);

	if (open && open->work_queued && !open->work_started)
		open->work_started = bpf_ktime_get_ns();
	return 0;
}

#define TCP_TIME_WAIT 6
#define TCP_NEW_SYN_RECV 12

/*
 * A socket's local port, also after close gave it back (inet_put_port zeroes
 * skc_num before tcp_disconnect's reset is sent); timewait and request sockets
 * have no inet_sport and keep skc_num.
 */
static __always_inline __u16 local_port(const struct sock *sk)
{
	__u8 state = BPF_CORE_READ(sk, __sk_common.skc_state);

	if (state == TCP_TIME_WAIT || state == TCP_NEW_SYN_RECV)
		return BPF_CORE_READ(sk, __sk_common.skc_num);
	return bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport));
}

/* Which side of trace_port a socket is: ECHO_TRACE_RESET_SERVER_ or _CLIENT_ABORT, or -1. */
static __always_inline int side_of(const struct sock *sk)
{
	if (local_port(sk) == trace_port)
		return ECHO_TRACE_RESET_SERVER_ABORT;
	if (bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport)) == trace_port)
		return ECHO_TRACE_RESET_CLIENT_ABORT;
	return -1;
}

/* Whether the segment a reset answers was to or from trace_port. */
static __always_inline bool segment_of_port(const struct sk_buff *skb)
{
	const struct tcphdr *th =
		(void *)(BPF_CORE_READ(skb, head) + BPF_CORE_READ(skb, transport_header));

	return bpf_ntohs(BPF_CORE_READ(th, dest)) == trace_port ||
	       bpf_ntohs(BPF_CORE_READ(th, source)) == trace_port;
}

/* Left out by the loader where the tracepoint has no reason (before 6.10). */
SEC("tp_btf/tcp_send_reset")
int BPF_PROG(trace_reset, const struct sock *sk, const struct sk_buff *skb, int reason)
{
	int side;

	if (sk) {
		side = side_of(sk);
		if (side >= 0 && skb) /* the _ANSWER that follows each _ABORT */
			side++;
	} else
		side = skb && segment_of_port(skb) ? ECHO_TRACE_RESET_NO_SOCKET : -1;
	if (side < 0)
		return 0;
	if (reason < 0 || reason >= ECHO_TRACE_RESET_REASONS)
		reason = ECHO_TRACE_RESET_REASONS - 1;
	__sync_fetch_and_add(&resets_sent[side][reason], 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
