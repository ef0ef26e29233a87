/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by echo_trace.bpf.c and `echo-loader trace`: where the first echo of
 * each new connection to one port spends its time, for any server on that
 * port. Fixed-width types only.
 */
#ifndef KECHO_ECHO_TRACE_H
#define KECHO_ECHO_TRACE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Connections being traced at once (an LRU hash: the oldest unfinished go first). */
#define ECHO_TRACE_MAX_OPEN 65536
/* Ring buffer of finished records. */
#define ECHO_TRACE_RECORDS_BYTES (4 * 1024 * 1024)

/*
 * Resets the kernel sent on the port (tcp_send_reset, 6.10+: with its reason), by
 * side and by enum sk_rst_reason value (the last slot takes larger values). An
 * abort is a socket's own (tcp_send_active_reset: its owner closed or
 * disconnected it, or the kernel gave up on it); an answer replies to a segment
 * the socket could not take.
 */
enum echo_trace_reset_side {
	ECHO_TRACE_RESET_SERVER_ABORT = 0, /* the socket whose local port is the traced one */
	ECHO_TRACE_RESET_SERVER_ANSWER,
	ECHO_TRACE_RESET_CLIENT_ABORT, /* a socket connected to the traced port */
	ECHO_TRACE_RESET_CLIENT_ANSWER,
	ECHO_TRACE_RESET_NO_SOCKET, /* the answer to a segment of the port no socket took */
	ECHO_TRACE_RESET_SIDES,
};
#define ECHO_TRACE_RESET_REASONS 32

/* record.flags */
#define ECHO_TRACE_ACCEPTED_FIRST 1 /* the server had accepted before the bytes arrived */

/*
 * One connection's first exchange, in CLOCK_MONOTONIC nanoseconds (0: the
 * event did not happen). Sent when the client first reads its echo.
 */
struct echo_trace_record {
	__u64 arrived;	    /* the first payload segment reaches the server's socket */
	__u64 readable;	    /* data_ready on an accepted socket (bpf: the verdict runs then) */
	__u64 server_read;  /* the server's first recvmsg returning bytes (user space, kmod) */
	__u64 work_queued;  /* the socket's psock work item is queued (sockmap egress) */
	__u64 work_started; /* a kworker starts that work item */
	__u64 echoed;	    /* the first echoed segment reaches the client's socket */
	__u64 client_read;  /* the client's first recvmsg returning bytes */
	__u32 client_port;
	__u32 flags;
};

#endif /* KECHO_ECHO_TRACE_H */
