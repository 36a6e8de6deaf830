// SPDX-License-Identifier: MIT
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* How long proc_stat waits for the dump it asked for: generous, for a loaded machine. */
#define PROC_STAT_WAIT_MS 10000

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *harness_bin(const char *env_name)
{
	const char *p = getenv(env_name);

	if (!p || !*p) {
		fprintf(stderr, "harness: %s is not set (run through meson test)\n", env_name);
		exit(1);
	}
	return p;
}

/* What a sanitizer prints when it reports (ASan, LSan, UBSan, TSan). */
static const char *const sanitizer_marks[] = {
	"ERROR: AddressSanitizer",    "ERROR: LeakSanitizer",	  "runtime error:",
	"UndefinedBehaviorSanitizer", "WARNING: ThreadSanitizer",
};

static bool has_sanitizer_mark(const char *text)
{
	for (size_t i = 0; i < sizeof(sanitizer_marks) / sizeof(sanitizer_marks[0]); i++)
		if (strstr(text, sanitizer_marks[i]))
			return true;
	return false;
}

/*
 * Bytes that no longer fit are dropped, but counted and searched for a
 * sanitizer report (with the previous read's tail, in case one is split).
 */
static void lose(struct proc *p, char *carry, size_t *lost, const char *data, size_t n)
{
	char scan[4096 + 48];
	size_t c = strlen(carry), keep;

	memcpy(scan, carry, c);
	memcpy(scan + c, data, n);
	scan[c + n] = 0;
	for (size_t i = 0; i < c + n; i++)
		if (!scan[i])
			scan[i] = ' ';
	if (has_sanitizer_mark(scan))
		p->lost_sanitizer = true;
	keep = c + n < 47 ? c + n : 47;
	memcpy(carry, scan + c + n - keep, keep);
	carry[keep] = 0;
	*lost += n;
}

static void read_into(struct proc *p, int fd, char *buf, size_t cap, size_t *len, int which)
{
	for (;;) {
		ssize_t n;

		if (*len + 1 >= cap) {
			char sink[4096];

			/* Full: keep reading so the child never blocks on a pipe. */
			n = read(fd, sink, sizeof(sink));
			if (n <= 0)
				return;
			if (!(which ? p->err_lost : p->out_lost))
				snprintf(p->carry[which], sizeof(p->carry[which]), "%s",
					 buf + *len - 47);
			lose(p, p->carry[which], which ? &p->err_lost : &p->out_lost, sink,
			     (size_t)n);
			continue;
		}
		n = read(fd, buf + *len, cap - 1 - *len);
		if (n <= 0)
			return;
		*len += (size_t)n;
		buf[*len] = 0;
	}
}

void proc_drain(struct proc *p)
{
	if (p->out_fd >= 0)
		read_into(p, p->out_fd, p->out, sizeof(p->out), &p->out_len, 0);
	if (p->err_fd >= 0)
		read_into(p, p->err_fd, p->err, sizeof(p->err), &p->err_len, 1);
}

int proc_start(struct proc *p, char *const argv[], bool want_port, int timeout_ms)
{
	int out[2], err[2];
	int64_t deadline;

	memset(p, 0, sizeof(*p));
	p->port = -1;
	if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
		return -errno;
	p->pid = fork();
	if (p->pid < 0)
		return -errno;
	if (p->pid == 0) {
		dup2(out[1], 1);
		dup2(err[1], 2);
		execv(argv[0], argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	p->out_fd = out[0];
	p->err_fd = err[0];
	fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
	fcntl(p->err_fd, F_SETFL, O_NONBLOCK);
	if (!want_port)
		return 0;
	deadline = now_ms() + timeout_ms;
	while (now_ms() < deadline) {
		struct pollfd pfd = {.fd = p->out_fd, .events = POLLIN};
		char *line, *colon;

		poll(&pfd, 1, 50);
		proc_drain(p);
		line = strstr(p->out, "listening on ");
		if (line && strchr(line, '\n')) {
			colon = strrchr(strtok(line + 13, "\n"), ':');
			p->port = colon ? atoi(colon + 1) : -1;
			/* strtok cut the buffer; keep the rest readable. */
			p->out[strlen(p->out)] = '\n';
			return p->port > 0 ? 0 : -EPROTO;
		}
		if (waitpid(p->pid, NULL, WNOHANG) == p->pid) {
			p->pid = 0;
			return -ECHILD;
		}
	}
	return -ETIMEDOUT;
}

int proc_wait(struct proc *p, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	int status;

	if (p->pid <= 0)
		return -1;
	while (now_ms() < deadline) {
		pid_t r = waitpid(p->pid, &status, WNOHANG);

		proc_drain(p);
		if (r == p->pid) {
			p->pid = 0;
			proc_drain(p);
			if (WIFEXITED(status))
				return WEXITSTATUS(status);
			return 128 + WTERMSIG(status);
		}
		usleep(10000);
	}
	return -1;
}

/* The newest stats dump on p's stdout and how many there are (*count), or NULL. */
static const char *newest_dump(const struct proc *p, unsigned *count)
{
	const char *dump = NULL;

	*count = 0;
	for (const char *at = strstr(p->out, "ringer stats ("); at;
	     at = strstr(at + 1, "ringer stats (")) {
		dump = at;
		(*count)++;
	}
	return dump;
}

/*
 * SIGUSR2, then the dump it asked for: one more than there were, printed
 * whole (its cqes_per_loop line, after every counter, ended). Waited for,
 * not slept on: a loaded machine may take longer to print it, and a read
 * too early would find the previous dump's figures.
 */
long long proc_stat(struct proc *p, const char *name)
{
	int64_t deadline = now_ms() + PROC_STAT_WAIT_MS;
	const char *dump, *end;
	unsigned before, count;
	unsigned long long n;
	char key[64];

	proc_drain(p);
	newest_dump(p, &before);
	kill(p->pid, SIGUSR2);
	for (;;) {
		struct pollfd pfd = {.fd = p->out_fd, .events = POLLIN};

		proc_drain(p);
		dump = newest_dump(p, &count);
		end = count > before ? strstr(dump, "\n  cqes_per_loop ") : NULL;
		if (end && strchr(end + 1, '\n'))
			break;
		if (now_ms() >= deadline)
			return -1;
		poll(&pfd, 1, 10);
	}
	/* At a line's start: "requests" also ends the description "... requests answered". */
	snprintf(key, sizeof(key), "\n  %s ", name);
	dump = strstr(dump, key);
	if (!dump || dump > end || sscanf(dump + strlen(key), "%llu", &n) != 1)
		return -1;
	return (long long)n;
}

int proc_stop(struct proc *p, int sig, int timeout_ms)
{
	int ret;

	if (p->pid <= 0)
		return -1;
	kill(p->pid, sig);
	ret = proc_wait(p, timeout_ms);
	if (ret < 0 && p->pid > 0) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		p->pid = 0;
	}
	if (p->out_fd >= 0)
		close(p->out_fd);
	if (p->err_fd >= 0)
		close(p->err_fd);
	p->out_fd = p->err_fd = -1;
	return ret;
}

/* The figure of counter name in the dump that starts at dump, or -1. */
static long long dump_figure(const char *dump, const char *name)
{
	const char *next = strstr(dump + 1, "ringer stats (");
	unsigned long long n;
	char key[64];
	const char *at;

	snprintf(key, sizeof(key), "\n  %s ", name);
	at = strstr(dump, key);
	if (!at || (next && at > next) || sscanf(at + strlen(key), "%llu", &n) != 1)
		return -1;
	return (long long)n;
}

/* The last stats dump on p's stdout, or NULL. */
static const char *last_dump(struct proc *p)
{
	const char *dump = NULL;

	proc_drain(p);
	for (const char *at = strstr(p->out, "ringer stats ("); at;
	     at = strstr(at + 1, "ringer stats ("))
		dump = at;
	return dump;
}

long long proc_final_stat(struct proc *p, const char *name)
{
	const char *dump = last_dump(p);

	return dump ? dump_figure(dump, name) : -1;
}

int ringer_exit_check(struct proc *p, int status, int want_status, long long stale_max)
{
	const char *dump = last_dump(p);
	long long illegal = -1, stale = -1;
	int bad = 0;

	if (status != want_status) {
		fprintf(stderr, "ringer exit check: exit status %d, wanted %d\n", status,
			want_status);
		bad = 1;
	}
	if (p->out_lost) {
		fprintf(stderr,
			"ringer exit check: %zu bytes of stdout did not fit; "
			"the final dump may be lost\n",
			p->out_lost);
		bad = 1;
	} else if (!dump) {
		fprintf(stderr, "ringer exit check: no stats dump on stdout\n");
		bad = 1;
	} else {
		illegal = dump_figure(dump, "illegal");
		stale = dump_figure(dump, "stale");
		if (illegal != 0 || stale < 0 || stale > stale_max) {
			fprintf(stderr,
				"ringer exit check: final dump has illegal %lld (wanted 0), "
				"stale %lld (wanted at most %lld)\n",
				illegal, stale, stale_max);
			bad = 1;
		}
	}
	if (p->lost_sanitizer || has_sanitizer_mark(p->out) || has_sanitizer_mark(p->err)) {
		fprintf(stderr, "ringer exit check: a sanitizer reported\n");
		bad = 1;
	}
	if (bad)
		fprintf(stderr, "ringer's stderr:\n%s\n", p->err);
	return bad ? -1 : 0;
}

int ringer_stop(struct proc *p, int sig, int timeout_ms, long long stale_max)
{
	int status = proc_stop(p, sig, timeout_ms);

	return ringer_exit_check(p, status, 0, stale_max);
}

long proc_rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

int ipv6_loopback(void)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), ret = 0;

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)))
		ret = -errno;
	close(fd);
	return ret;
}

void raise_nofile(unsigned want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur < want) {
		rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int tcp_connect(const char *host, int port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (strchr(host, ':')) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return -EINVAL;
		len = sizeof(*in6);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
			return -EINVAL;
		len = sizeof(*in);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&ss, len)) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

static int wait_fd(int fd, short ev, int64_t deadline)
{
	struct pollfd pfd = {.fd = fd, .events = ev};
	int64_t left = deadline - now_ms();
	int r;

	if (left <= 0)
		return -ETIMEDOUT;
	r = poll(&pfd, 1, (int)left);
	if (r < 0)
		return -errno;
	return r == 0 ? -ETIMEDOUT : 0;
}

int send_all(int fd, const void *buf, size_t len, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				int r = wait_fd(fd, POLLOUT, deadline);

				if (r)
					return r;
				continue;
			}
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int recv_all(int fd, void *buf, size_t len, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	char *p = buf;

	while (len) {
		ssize_t n = recv(fd, p, len, MSG_DONTWAIT);

		if (n == 0)
			return -EPIPE;
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				int r = wait_fd(fd, POLLIN, deadline);

				if (r)
					return r;
				continue;
			}
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int wait_eof(int fd, int timeout_ms, size_t *discarded)
{
	int64_t deadline = now_ms() + timeout_ms;
	char buf[65536];

	if (discarded)
		*discarded = 0;
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n == 0)
			return 0;
		if (n > 0) {
			if (discarded)
				*discarded += (size_t)n;
			continue;
		}
		if (errno == EAGAIN || errno == EINTR) {
			int r = wait_fd(fd, POLLIN, deadline);

			if (r)
				return r;
			continue;
		}
		return -errno;
	}
}

int echo_stream(int fd, uint64_t total, size_t chunk, int timeout_ms, uint64_t *bad_at)
{
	int64_t deadline = now_ms() + timeout_ms;
	uint64_t sent = 0, got = 0, seed = (uint64_t)fd * 7919 + total;
	char *out = malloc(chunk), *in = malloc(chunk);
	int ret = 0;

	if (!out || !in) {
		ret = -ENOMEM;
		goto out_free;
	}
	while (got < total) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN | (sent < total ? POLLOUT : 0)};
		int64_t left = deadline - now_ms();

		if (left <= 0) {
			ret = -ETIMEDOUT;
			break;
		}
		if (poll(&pfd, 1, (int)left) < 0) {
			ret = -errno;
			break;
		}
		if ((pfd.revents & POLLOUT) && sent < total) {
			size_t n = total - sent < chunk ? (size_t)(total - sent) : chunk;
			ssize_t w;

			for (size_t i = 0; i < n; i++)
				out[i] = (char)pattern_byte(seed, sent + i);
			w = send(fd, out, n, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w < 0 && errno != EAGAIN) {
				ret = -errno;
				break;
			}
			if (w > 0)
				sent += (uint64_t)w;
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = recv(fd, in, chunk, MSG_DONTWAIT);

			if (r == 0) {
				ret = -EPIPE;
				break;
			}
			if (r < 0) {
				if (errno == EAGAIN)
					continue;
				ret = -errno;
				break;
			}
			for (ssize_t i = 0; i < r; i++) {
				if ((uint8_t)in[i] != pattern_byte(seed, got + (uint64_t)i)) {
					if (bad_at)
						*bad_at = got + (uint64_t)i;
					ret = -EILSEQ;
					goto out_free;
				}
			}
			got += (uint64_t)r;
		}
	}
out_free:
	free(out);
	free(in);
	return ret;
}

/* Fills ss from a numeric host (IPv4 or IPv6 literal) and port; returns its length or -EINVAL. */
static int addr_fill(const char *host, int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(host, ':')) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return -EINVAL;
		return (int)sizeof(*in6);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
			return -EINVAL;
		return (int)sizeof(*in);
	}
}

int tcp_listen(const char *host, int port, int backlog, int *bound)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, len, one = 1, e;

	len = addr_fill(host, port, &ss);
	if (len < 0)
		return len;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, (socklen_t)len) || listen(fd, backlog))
		goto out_close;
	sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl))
		goto out_close;
	if (bound)
		*bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							: ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
out_close:
	e = -errno;
	close(fd);
	return e;
}

int tcp_connect_from(const char *src, const char *host, int port)
{
	struct sockaddr_storage local, remote;
	int fd, llen, rlen, one = 1, e;

	llen = addr_fill(src, 0, &local);
	rlen = addr_fill(host, port, &remote);
	if (llen < 0 || rlen < 0)
		return -EINVAL;
	fd = socket(remote.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&local, (socklen_t)llen) ||
	    connect(fd, (struct sockaddr *)&remote, (socklen_t)rlen)) {
		e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

int proc_wait_port(struct proc *p, const char *prefix, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;

	for (;;) {
		const char *line = strstr(p->out, prefix), *nl, *colon;

		if (line && (nl = strchr(line, '\n'))) {
			colon = NULL;
			for (const char *c = line; c < nl; c++)
				if (*c == ':')
					colon = c;
			return colon ? atoi(colon + 1) : -EPROTO;
		}
		if (now_ms() >= deadline)
			return -ETIMEDOUT;
		usleep(10000);
		proc_drain(p);
	}
}

int http_get(const char *host, int port, const char *path, char *buf, size_t len, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	char req[512];
	size_t got = 0;
	int fd, r;

	if (len == 0)
		return -ENOSPC;
	fd = tcp_connect(host, port);
	if (fd < 0)
		return fd;
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path,
		 host);
	r = send_all(fd, req, strlen(req), timeout_ms);
	while (r == 0) {
		ssize_t n = recv(fd, buf + got, len - 1 - got, MSG_DONTWAIT);

		if (n == 0)
			break;
		if (n > 0) {
			got += (size_t)n;
			if (got == len - 1)
				r = -ENOSPC;
			continue;
		}
		if (errno != EAGAIN && errno != EINTR)
			r = -errno;
		else
			r = wait_fd(fd, POLLIN, deadline);
	}
	close(fd);
	buf[got] = 0;
	return r ? r : (int)got;
}

int metric_value(const char *text, const char *series, double *val)
{
	size_t n = strlen(series);

	for (const char *line = text; line && *line;) {
		if (!strncmp(line, series, n) && line[n] == ' ') {
			*val = strtod(line + n + 1, NULL);
			return 0;
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return -ENOENT;
}
