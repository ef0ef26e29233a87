// SPDX-License-Identifier: GPL-2.0
/*
 * kecho: a TCP echo server in the kernel.
 *
 * One kthread accepts; every connection gets its own work item on a CMWQ
 * workqueue (bound per-CPU with bench=1, unbound otherwise). The work item
 * never sleeps on the socket: the socket's data_ready, write_space and
 * state_change callbacks queue it, it moves bytes with non-blocking
 * recvmsg/sendmsg until the socket would block, then returns. A thousand idle
 * connections therefore hold no worker, and max_active only bounds how many
 * connections are being served at the same instant, never how many are open.
 *
 * A connection whose peer does not read its echo is not read either: the
 * unsent bytes stay in the connection's buffer, so TCP flow control stops
 * the peer instead of kernel memory growing.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ktime.h>
#include <linux/kthread.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/tcp.h>
#include <linux/workqueue.h>
#include <net/sock.h>
#include <net/tcp.h>
#include <uapi/linux/in.h>
#include <uapi/linux/in6.h>

/*
 * The default port is kmod's in the server registry, servers.def: Kbuild finds it in
 * common/include/kecho/, and every copy of this directory carries it beside this file.
 */
#define KECHO_SERVER(mode, engine, default_port, ...) kecho_port_##mode = default_port,
enum kecho_registry_ports {
#include "servers.def"
};
#undef KECHO_SERVER

static ushort port = kecho_port_kmod;
module_param(port, ushort, 0444);
MODULE_PARM_DESC(port, "TCP port to listen on, 1-65535 (default: kmod's in `bench servers`)");

static int backlog = 128;
module_param(backlog, int, 0444);
MODULE_PARM_DESC(backlog, "listen backlog, at least 1 (default 128)");

static bool bench;
module_param(bench, bool, 0444);
MODULE_PARM_DESC(bench, "1: bound per-CPU workqueue, 0: unbound workqueue (default 0)");

/* Bytes moved per recvmsg/sendmsg; also the most a connection holds unsent. */
#define KECHO_BUF_SIZE 8192
/* Receive+send rounds before a work item yields to other connections. */
#define KECHO_BUDGET 16
/*
 * After the peer's FIN: how long the echo still unacknowledged may make no
 * progress before TCP gives up on the connection (TCP_USER_TIMEOUT).
 */
#define KECHO_DRAIN_TIMEOUT_MS 60000

struct kecho_conn {
	struct socket *sock;
	struct work_struct work;
	struct list_head node; /* on kecho_conns while open */
	void (*saved_data_ready)(struct sock *sk);
	void (*saved_write_space)(struct sock *sk);
	void (*saved_state_change)(struct sock *sk);
	size_t len;  /* bytes in buf */
	size_t sent; /* of those, already sent */
	bool eof;    /* the peer sent FIN */
	bool dead;   /* closed; the pending run only frees */
	u8 *buf;
};

static struct socket *kecho_listen_sock;
static struct task_struct *kecho_accept_task;
static struct workqueue_struct *kecho_wq;
static LIST_HEAD(kecho_conns);
static DEFINE_SPINLOCK(kecho_conns_lock);

static void kecho_conn_queue(struct sock *sk)
{
	struct kecho_conn *conn;

	read_lock_bh(&sk->sk_callback_lock);
	conn = sk->sk_user_data;
	if (conn)
		queue_work(kecho_wq, &conn->work);
	read_unlock_bh(&sk->sk_callback_lock);
}

static void kecho_data_ready(struct sock *sk)
{
	kecho_conn_queue(sk);
}

static void kecho_write_space(struct sock *sk)
{
	/* Wait for a useful amount of room, as sk_stream_write_space does. */
	if (!sk_stream_is_writeable(sk) || !sk->sk_socket)
		return;
	clear_bit(SOCK_NOSPACE, &sk->sk_socket->flags);
	kecho_conn_queue(sk);
}

static void kecho_state_change(struct sock *sk)
{
	kecho_conn_queue(sk);
}

static void kecho_conn_attach(struct kecho_conn *conn)
{
	struct sock *sk = conn->sock->sk;

	write_lock_bh(&sk->sk_callback_lock);
	conn->saved_data_ready = sk->sk_data_ready;
	conn->saved_write_space = sk->sk_write_space;
	conn->saved_state_change = sk->sk_state_change;
	sk->sk_user_data = conn;
	sk->sk_data_ready = kecho_data_ready;
	sk->sk_write_space = kecho_write_space;
	sk->sk_state_change = kecho_state_change;
	write_unlock_bh(&sk->sk_callback_lock);
}

/*
 * After this returns no callback of ours runs or will run for this socket:
 * callbacks hold sk_callback_lock for reading while they look at sk_user_data.
 */
static void kecho_conn_detach(struct kecho_conn *conn)
{
	struct sock *sk = conn->sock->sk;

	write_lock_bh(&sk->sk_callback_lock);
	if (sk->sk_user_data == conn) {
		sk->sk_user_data = NULL;
		sk->sk_data_ready = conn->saved_data_ready;
		sk->sk_write_space = conn->saved_write_space;
		sk->sk_state_change = conn->saved_state_change;
	}
	write_unlock_bh(&sk->sk_callback_lock);
}

static void kecho_conn_free(struct kecho_conn *conn)
{
	kfree(conn->buf);
	kfree(conn);
}

/*
 * Called by the work item when the connection is over. Whoever takes the
 * connection off kecho_conns owns its teardown: this work item, or
 * kecho_close_all() at unload.
 */
static void kecho_conn_close(struct kecho_conn *conn)
{
	bool owner;

	/* Detached first, so that no callback queues work on a draining wq. */
	kecho_conn_detach(conn);
	spin_lock(&kecho_conns_lock);
	owner = !list_empty(&conn->node);
	list_del_init(&conn->node);
	spin_unlock(&kecho_conns_lock);
	if (!owner)
		return;

	sock_release(conn->sock);
	conn->sock = NULL;
	/*
	 * A callback may have queued this work again before the detach. Nothing
	 * can queue it any more, so if it is pending, that run frees the memory.
	 */
	if (work_pending(&conn->work))
		conn->dead = true;
	else
		kecho_conn_free(conn);
}

/* Sends what is left in the buffer: 0 when all of it went out. */
static int kecho_conn_send(struct kecho_conn *conn)
{
	struct msghdr msg = { .msg_flags = MSG_DONTWAIT | MSG_NOSIGNAL };
	struct kvec vec;
	int ret;

	while (conn->sent < conn->len) {
		vec.iov_base = conn->buf + conn->sent;
		vec.iov_len = conn->len - conn->sent;
		ret = kernel_sendmsg(conn->sock, &msg, &vec, 1, vec.iov_len);
		if (ret < 0)
			return ret; /* -EAGAIN: write_space queues us */
		conn->sent += ret;  /* a short send is simply continued */
	}
	conn->len = 0;
	conn->sent = 0;
	return 0;
}

/*
 * True while echoed bytes are still unacknowledged after the peer's FIN; an
 * ACK that frees them then queues the work (tcp_check_space() calls
 * write_space while SOCK_NOSPACE is set). The socket is released, and its FIN
 * sent, only once every byte is acknowledged. Released with bytes in flight,
 * on 6.1 under TCP memory pressure (where tcp_send_fin() tacks the FIN onto
 * the last skb already sent and counts it as sent), an orphan was seen to stay
 * in LAST_ACK, every byte acknowledged but the FIN, with no timer armed: the
 * FIN never went out and the peer waited for end-of-file forever (verify's
 * mixed-64, docs/kernels.md). With nothing in flight tcp_close() queues a FIN
 * skb of its own, sent at once and retransmitted on the RTO timer.
 */
static bool kecho_conn_draining(struct kecho_conn *conn)
{
	struct sock *sk = conn->sock->sk;

	if (!READ_ONCE(sk->sk_wmem_queued))
		return false;
	set_bit(SOCK_NOSPACE, &conn->sock->flags);
	/* Pairs with the barrier in tcp_check_space(): an ACK between the
	 * check above and the set_bit still finds the flag, or we see it here.
	 */
	smp_mb__after_atomic();
	return READ_ONCE(sk->sk_wmem_queued) != 0;
}

static void kecho_conn_work(struct work_struct *work)
{
	struct kecho_conn *conn = container_of(work, struct kecho_conn, work);
	struct msghdr msg = { .msg_flags = MSG_DONTWAIT | MSG_NOSIGNAL };
	struct kvec vec;
	int round;
	int ret;

	if (conn->dead) {
		kecho_conn_free(conn);
		return;
	}

	for (round = 0; round < KECHO_BUDGET; round++) {
		ret = kecho_conn_send(conn);
		if (ret == -EAGAIN)
			return;
		if (ret < 0)
			goto close;
		/* FIN: every byte received has been handed to TCP; once TCP
		 * has them acknowledged, close sends our FIN.
		 */
		if (conn->eof) {
			if (kecho_conn_draining(conn))
				return; /* write_space queues us */
			goto close;
		}

		vec.iov_base = conn->buf;
		vec.iov_len = KECHO_BUF_SIZE;
		ret = kernel_recvmsg(conn->sock, &msg, &vec, 1, KECHO_BUF_SIZE,
				     MSG_DONTWAIT | MSG_NOSIGNAL);
		if (ret == -EAGAIN)
			return; /* data_ready or state_change queues us */
		if (ret < 0)
			goto close; /* reset or error */
		if (ret == 0) {
			conn->eof = true;
			/* A peer that never reads its echo is not waited for forever. */
			tcp_sock_set_user_timeout(conn->sock->sk, KECHO_DRAIN_TIMEOUT_MS);
		}
		conn->len = ret;
	}
	/* Budget spent: let other connections run, then carry on. */
	queue_work(kecho_wq, &conn->work);
	return;

close:
	kecho_conn_close(conn);
}

static int kecho_conn_open(struct socket *sock)
{
	struct kecho_conn *conn;

	conn = kzalloc(sizeof(*conn), GFP_KERNEL);
	if (!conn)
		return -ENOMEM;
	conn->buf = kmalloc(KECHO_BUF_SIZE, GFP_KERNEL);
	if (!conn->buf) {
		kfree(conn);
		return -ENOMEM;
	}
	conn->sock = sock;
	INIT_WORK(&conn->work, kecho_conn_work);
	tcp_sock_set_nodelay(sock->sk);

	spin_lock(&kecho_conns_lock);
	list_add_tail(&conn->node, &kecho_conns);
	spin_unlock(&kecho_conns_lock);

	kecho_conn_attach(conn);
	/* Bytes (or a FIN) that arrived before the attach raised no callback. */
	queue_work(kecho_wq, &conn->work);
	return 0;
}

/* Set before unload shuts the listener down: the acceptor may see -EINVAL before kthread_stop(). */
static bool kecho_stopping;

static int kecho_accept_loop(void *unused)
{
	struct socket *sock;
	int err;

	while (!kthread_should_stop()) {
		err = kernel_accept(kecho_listen_sock, &sock, 0);
		if (err == -EAGAIN)
			continue; /* receive timeout: check for stop */
		if (err < 0) {
			/* -EINVAL once unload shut the listener down. */
			if (!READ_ONCE(kecho_stopping) && !kthread_should_stop())
				pr_warn_ratelimited("accept failed: %d\n", err);
			schedule_timeout_interruptible(HZ / 10);
			continue;
		}
		err = kecho_conn_open(sock);
		if (err) {
			pr_warn_ratelimited("dropping a connection: %d\n", err);
			sock_release(sock);
		}
	}
	return 0;
}

/* Closes every open connection; no new ones arrive (the acceptor stopped). */
static unsigned int kecho_close_all(void)
{
	struct kecho_conn *conn;
	unsigned int closed = 0;

	for (;;) {
		spin_lock(&kecho_conns_lock);
		conn = list_first_entry_or_null(&kecho_conns, struct kecho_conn, node);
		if (conn)
			list_del_init(&conn->node);
		spin_unlock(&kecho_conns_lock);
		if (!conn)
			break;
		/* Detach first so nothing queues the work, then wait it out. */
		kecho_conn_detach(conn);
		cancel_work_sync(&conn->work);
		sock_release(conn->sock);
		kecho_conn_free(conn);
		closed++;
		cond_resched();
	}
	return closed;
}

static int kecho_listen(struct socket **res)
{
	struct sockaddr_storage addr = {};
	struct socket *sock;
	int addrlen;
	int err;

	/* Dual stack when IPv6 is there (IPv4 arrives mapped), else IPv4. */
	err = sock_create_kern(&init_net, PF_INET6, SOCK_STREAM, IPPROTO_TCP, &sock);
	if (!err) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&addr;

		lock_sock(sock->sk);
		sock->sk->sk_ipv6only = false;
		release_sock(sock->sk);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_any;
		sin6->sin6_port = htons(port);
		addrlen = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&addr;

		err = sock_create_kern(&init_net, PF_INET, SOCK_STREAM, IPPROTO_TCP, &sock);
		if (err) {
			pr_err("cannot create the listening socket: %d\n", err);
			return err;
		}
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		sin->sin_port = htons(port);
		addrlen = sizeof(*sin);
	}

	sock_set_reuseaddr(sock->sk);
	/*
	 * Wake the acceptor every second so it sees kthread_should_stop().
	 * Urgent bytes are ordinary data to an echo (SO_OOBINLINE, inherited
	 * by every accepted socket): echoed in place, never dropped.
	 */
	lock_sock(sock->sk);
	sock->sk->sk_rcvtimeo = HZ;
	sock_set_flag(sock->sk, SOCK_URGINLINE);
	release_sock(sock->sk);

	err = kernel_bind(sock, (struct sockaddr *)&addr, addrlen);
	if (err) {
		pr_err("cannot bind port %u: %d%s\n", port, err,
		       err == -EADDRINUSE ? " (port in use)" : "");
		goto out_release_sock;
	}
	err = kernel_listen(sock, backlog);
	if (err) {
		pr_err("cannot listen on port %u: %d\n", port, err);
		goto out_release_sock;
	}
	*res = sock;
	return 0;

out_release_sock:
	sock_release(sock);
	return err;
}

static int __init kecho_init(void)
{
	int err;

	if (port == 0) {
		pr_err("invalid port=0: must be 1-65535\n");
		return -EINVAL;
	}
	if (backlog < 1) {
		pr_err("invalid backlog=%d: must be at least 1\n", backlog);
		return -EINVAL;
	}

	/* Work items never block on a socket; max_active only bounds how
	 * many connections are served at the same instant.
	 */
	kecho_wq = alloc_workqueue("kecho", bench ? 0 : WQ_UNBOUND, WQ_MAX_ACTIVE);
	if (!kecho_wq) {
		pr_err("cannot allocate the workqueue\n");
		return -ENOMEM;
	}

	err = kecho_listen(&kecho_listen_sock);
	if (err)
		goto out_destroy_wq;

	kecho_accept_task = kthread_run(kecho_accept_loop, NULL, "kecho-accept");
	if (IS_ERR(kecho_accept_task)) {
		err = PTR_ERR(kecho_accept_task);
		pr_err("cannot start the accept thread: %d\n", err);
		goto out_release_listen;
	}

	pr_info("echoing on port %u (backlog %d, %s workqueue)\n", port, backlog,
		bench ? "bound per-CPU" : "unbound");
	return 0;

out_release_listen:
	sock_release(kecho_listen_sock);
out_destroy_wq:
	destroy_workqueue(kecho_wq);
	return err;
}

static void __exit kecho_exit(void)
{
	ktime_t start = ktime_get();
	unsigned int closed;

	/* Shutting the listener down wakes the acceptor with -EINVAL. */
	WRITE_ONCE(kecho_stopping, true);
	kernel_sock_shutdown(kecho_listen_sock, SHUT_RDWR);
	kthread_stop(kecho_accept_task);
	sock_release(kecho_listen_sock);

	closed = kecho_close_all();
	/* Runs the frees of connections that closed themselves meanwhile. */
	destroy_workqueue(kecho_wq);
	pr_info("stopped, closed %u open connection%s in %lld ms\n", closed, closed == 1 ? "" : "s",
		ktime_ms_delta(ktime_get(), start));
}

module_init(kecho_init);
module_exit(kecho_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("TCP echo server: one work item per connection");
MODULE_AUTHOR("kecho-bpf");
