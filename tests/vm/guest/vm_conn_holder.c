// SPDX-License-Identifier: GPL-2.0
/*
 * vm-conn-holder: the guest-side helper for the checks bench has no workload
 * for. It opens N connections to an echo server and keeps them all open,
 * checks that every one of them echoes a message byte-exact (NUL bytes
 * included) while all N are open, then optionally runs a command (rmmod
 * kecho) while still holding them, times it, and waits until the server has
 * closed every connection.
 *
 *   vm-conn-holder --port P --connections N [--timeout S] [-- CMD ARGS...]
 *
 * Prints one line that the guest plan parses:
 *   HOLDER connected=N echoed=N cmd_rc=R cmd_ms=T closed=N close_ms=T
 * (cmd_* and close* only with a command). Exit 0 when every connection
 * echoed (and, with a command, it exited 0 and every connection was closed
 * by the server), 1 otherwise, 2 on bad arguments.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MSG_LEN 64

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Every connection's message differs and holds NUL and high bytes. */
static void fill_message(unsigned char *msg, int index)
{
	for (int i = 0; i < MSG_LEN; i++)
		msg[i] = (unsigned char)(index * 31 + i * 7);
	msg[0] = 0;
	msg[MSG_LEN - 1] = 0xff;
	memcpy(msg + 8, &index, sizeof(index));
}

static int usage(const char *why)
{
	fprintf(stderr,
		"vm-conn-holder: %s\n"
		"usage: vm-conn-holder --port P --connections N [--timeout S] [-- CMD ARGS...]\n",
		why);
	return 2;
}

static int connect_one(const struct sockaddr_in *addr)
{
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads every echo back; returns how many matched byte for byte. */
static int check_echoes(const int *fds, int n, double deadline)
{
	unsigned char(*got)[MSG_LEN] = calloc(n, MSG_LEN);
	int *have = calloc(n, sizeof(int));
	struct pollfd *pfd = calloc(n, sizeof(*pfd));
	int echoed = 0, done = 0;

	if (!got || !have || !pfd) {
		fprintf(stderr, "vm-conn-holder: out of memory\n");
		exit(1);
	}
	while (done < n && now_ms() < deadline) {
		int k = 0;

		for (int i = 0; i < n; i++)
			if (have[i] >= 0 && have[i] < MSG_LEN)
				pfd[k++] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
		if (poll(pfd, k, 100) < 0 && errno != EINTR)
			break;
		for (int j = 0, i = 0; j < k; j++) {
			if (!pfd[j].revents)
				continue;
			while (fds[i] != pfd[j].fd)
				i++;
			ssize_t r = recv(fds[i], got[i] + have[i], MSG_LEN - have[i], MSG_DONTWAIT);

			if (r > 0) {
				have[i] += r;
				if (have[i] == MSG_LEN) {
					unsigned char want[MSG_LEN];

					fill_message(want, i);
					echoed += memcmp(want, got[i], MSG_LEN) == 0;
					done++;
				}
			} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
				have[i] = -1; /* closed or reset before the echo */
				done++;
			}
		}
	}
	free(got);
	free(have);
	free(pfd);
	return echoed;
}

/* Waits until the server closed (FIN or RST) every connection. */
static int wait_closed(const int *fds, int n, double deadline)
{
	struct pollfd *pfd = calloc(n, sizeof(*pfd));
	char *open = calloc(n, 1);
	int closed = 0;

	if (!pfd || !open) {
		fprintf(stderr, "vm-conn-holder: out of memory\n");
		exit(1);
	}
	memset(open, 1, n);
	while (closed < n && now_ms() < deadline) {
		int k = 0;

		for (int i = 0; i < n; i++)
			if (open[i])
				pfd[k++] = (struct pollfd){ .fd = fds[i],
							    .events = POLLIN | POLLRDHUP };
		if (poll(pfd, k, 50) < 0 && errno != EINTR)
			break;
		for (int j = 0, i = 0; j < k; j++) {
			char byte;

			while (fds[i] != pfd[j].fd)
				i++;
			if (!pfd[j].revents)
				continue;
			ssize_t r = recv(fds[i], &byte, 1, MSG_DONTWAIT);

			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
				open[i] = 0;
				closed++;
			}
		}
	}
	free(pfd);
	free(open);
	return closed;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	int port = 0, n = 0, timeout_s = 60, connected = 0;
	char **cmd = NULL;
	struct rlimit rl;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			cmd = argv + i + 1;
			break;
		}
		if (i + 1 >= argc)
			return usage("missing value after an option");
		if (!strcmp(argv[i], "--port"))
			port = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--connections"))
			n = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--timeout"))
			timeout_s = atoi(argv[++i]);
		else
			return usage("unknown option");
	}
	if (port < 1 || port > 65535 || n < 1 || n > 100000 || timeout_s < 1 || (cmd && !cmd[0]))
		return usage("--port 1-65535 and --connections 1-100000 are required");

	/* Room for n sockets: raise the soft limit up to the hard one. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 16) {
		rl.rlim_cur = rl.rlim_max < (rlim_t)n + 16 ? rl.rlim_max : (rlim_t)n + 16;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	addr.sin_port = htons(port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	int *fds = calloc(n, sizeof(int));
	double deadline = now_ms() + timeout_s * 1e3;

	if (!fds)
		return usage("out of memory");
	for (int i = 0; i < n && now_ms() < deadline; i++) {
		fds[i] = connect_one(&addr);
		if (fds[i] < 0) {
			fprintf(stderr,
				"vm-conn-holder: connection %d of %d to port %d failed: %s\n",
				i + 1, n, port, strerror(errno));
			break;
		}
		connected++;
	}
	/* All n are open; only now does each one send its message. */
	for (int i = 0; i < connected; i++) {
		unsigned char msg[MSG_LEN];

		fill_message(msg, i);
		if (send(fds[i], msg, MSG_LEN, MSG_NOSIGNAL) != MSG_LEN)
			fprintf(stderr, "vm-conn-holder: send on connection %d failed: %s\n", i,
				strerror(errno));
	}
	int echoed = connected == n ? check_echoes(fds, n, deadline) : 0;
	int ok = echoed == n;

	printf("HOLDER connected=%d echoed=%d", connected, echoed);
	if (cmd && ok) {
		double start = now_ms();
		pid_t pid = fork();
		int status = 0;

		if (pid == 0) {
			execvp(cmd[0], cmd);
			_exit(127);
		}
		waitpid(pid, &status, 0);
		double cmd_ms = now_ms() - start;
		int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		int closed = wait_closed(fds, n, now_ms() + 10e3);
		double close_ms = now_ms() - start;

		printf(" cmd_rc=%d cmd_ms=%.0f closed=%d close_ms=%.0f", rc, cmd_ms, closed,
		       close_ms);
		ok = rc == 0 && closed == n;
	}
	printf("\n");
	fflush(stdout);
	for (int i = 0; i < connected; i++)
		close(fds[i]);
	free(fds);
	return ok ? 0 : 1;
}
