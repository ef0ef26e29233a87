/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Types and constants shared by echo.bpf.c and echo-loader: fixed-width
 * types only, no pointers, no bool, so both sides see the same layout.
 */
#ifndef KECHO_ECHO_H
#define KECHO_ECHO_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Default size of the socket hash (one entry per echoed connection). */
#define ECHO_DEFAULT_MAX_SOCKETS 65536
/* Default pending-bytes limit: received but not yet acknowledged by the peer. */
#define ECHO_DEFAULT_MAX_PENDING (16ULL << 20)
/* Most accept threads the loader runs (one echo_loader_stats slot each, and one for its main
 * thread). */
#define ECHO_MAX_THREADS 64
/* Ring buffer carrying over-limit reports to the loader. */
#define ECHO_EVENTS_BYTES (256 * 1024)

/* Per-CPU counters kept by the BPF programs (summed over CPUs by the loader). */
enum echo_counter {
	ECHO_INSERTED = 0,     /* sockets inserted by sockops */
	ECHO_INSERT_FAILED,    /* sockops insert failures */
	ECHO_RX_BYTES,	       /* bytes seen by the verdict program */
	ECHO_ECHOED_BYTES,     /* bytes metered on egress by sk_msg */
	ECHO_REDIRECT_FAILED,  /* verdicts whose redirect failed */
	ECHO_OVER_LIMIT,       /* segments dropped by the pending-bytes guard */
	ECHO_EVENTS_LOST,      /* over-limit reports the ring buffer refused */
	ECHO_OVER_LIMIT_BYTES, /* bytes of those segments (acknowledged to the peer, never queued)
				*/
	ECHO_DUPLICATE_BYTES,  /* bytes of retransmissions already redirected, not echoed again */
	ECHO_UNPLACED,	       /* connections reset: a byte could not be placed in the stream */
	ECHO_COUNTER_MAX,
};

struct echo_counters {
	__u64 value[ECHO_COUNTER_MAX];
};

/* One over-limit report: the connection the loader must reset. */
struct echo_event {
	__u64 cookie;
	__u64 pending; /* bytes_received - bytes_acked when reported */
};

/*
 * Kept by the loader in the object's .bss (memory-mapped), one slot per
 * accept thread and one for the main thread (each written by its own thread only), summed by
 * `echo-loader stats` through the map id: the user-space side of the counters.
 */
struct echo_loader_stats {
	__u64 accepted;		  /* connections accepted */
	__u64 active;		  /* connections open right now */
	__u64 inserted_by_loader; /* missed by sockops, inserted after accept */
	__u64 fallback;		  /* echoed in user space (could not be inserted) */
	__u64 fallback_bytes;	  /* bytes echoed in user space */
	__u64 guard_resets;	  /* connections reset by the pending-bytes guard */
	__u64 drain_timeouts;	  /* closes whose drain did not finish in time */
	__u64 closed;		  /* connections closed */
	__u64 drain_checks;	  /* "all echoed?" checks of closing connections */
};

#endif /* KECHO_ECHO_H */
