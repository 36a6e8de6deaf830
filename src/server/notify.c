// SPDX-License-Identifier: MIT
/*
 * The service manager's conventions, kept out of main.c: sd_notify(3) as a
 * dozen lines of our own (no libsystemd), socket activation
 * (sd_listen_fds(3): LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES) and the
 * session log's reopen on SIGUSR1 (logrotate's convention).
 *
 * The notifications main sends, and when (a handover's pair at the end):
 *
 *   start   ... every shard serves -> [MAINPID=<pid>] READY=1, STATUS=...
 *   serving STATUS=N connections, M listeners   every NOTIFY_STATUS_MS
 *   SIGHUP  RELOADING=1 MONOTONIC_USEC=<now>, the reload (taken or refused),
 *           READY=1
 *   SIGTERM STOPPING=1, then the drain
 *   handover: the newer ringer sends MAINPID=<its pid> and READY=1 once it
 *           serves; the older one drains without STOPPING=1 (the service
 *           goes on in the newer one). The unit needs NotifyAccess=all.
 *
 * Every send is one non-blocking datagram: a manager that is slow or gone
 * costs a lost status line, never a stalled main thread.
 */
#include "notify.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ringer/shard.h"
#include "ringer/sock.h"

#define SD_LISTEN_FDS_START 3
#define SD_LISTEN_MAX	    256 /* more than any configuration listens on */

static struct {
	int fd; /* -1: no NOTIFY_SOCKET */
	struct sockaddr_un sa;
	socklen_t sa_len;
	uint64_t next_status_ms;
} notifier = {.fd = -1};

/* The inherited listeners: fd, and whether some listener took it. */
static struct {
	int n;
	int fd[SD_LISTEN_MAX];
	bool taken[SD_LISTEN_MAX];
	char *names; /* LISTEN_FDNAMES, for the warnings; may be NULL */
} inherited;

/* NOTIFY_SOCKET: "/path" or "@abstract" (the '@' stands for the leading NUL). */
static void notify_open(const char *path)
{
	size_t len = strlen(path);

	if (len < 2 || len >= sizeof(notifier.sa.sun_path) || (path[0] != '/' && path[0] != '@'))
		return;
	notifier.sa.sun_family = AF_UNIX;
	memcpy(notifier.sa.sun_path, path, len);
	if (path[0] == '@')
		notifier.sa.sun_path[0] = 0;
	/* A path counts its NUL; an abstract name is exactly its bytes. */
	notifier.sa_len =
		(socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/'));
	notifier.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
}

/* LISTEN_PID must be ours (the variables may have leaked from a parent); LISTEN_FDS from 3 on. */
static void listen_fds_read(void)
{
	const char *pid_s = getenv("LISTEN_PID"), *n_s = getenv("LISTEN_FDS");
	const char *names = getenv("LISTEN_FDNAMES");
	char *end;
	long pid, n;

	if (!pid_s || !n_s)
		return;
	errno = 0;
	pid = strtol(pid_s, &end, 10);
	if (errno || *end || pid != (long)getpid())
		return;
	n = strtol(n_s, &end, 10);
	if (errno || *end || n <= 0)
		return;
	if (n > SD_LISTEN_MAX) {
		fprintf(stderr, "ringer: LISTEN_FDS=%ld: only the first %d are used\n", n,
			SD_LISTEN_MAX);
		n = SD_LISTEN_MAX;
	}
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;

		/* Ours now: nothing ringer runs later inherits them. */
		if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
			continue;
		inherited.fd[inherited.n++] = fd;
	}
	if (names)
		inherited.names = strdup(names);
}

void notify_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");

	if (path)
		notify_open(path);
	listen_fds_read();
	unsetenv("NOTIFY_SOCKET");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
}

bool notify_enabled(void)
{
	return notifier.fd >= 0;
}

int notify_send(const char *msg)
{
	ssize_t n;

	if (notifier.fd < 0)
		return 0;
	n = sendto(notifier.fd, msg, strlen(msg), MSG_DONTWAIT | MSG_NOSIGNAL,
		   (const struct sockaddr *)&notifier.sa, notifier.sa_len);
	return n < 0 ? -errno : 0;
}

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/*
 * "N connections, M listeners": connections in any TCP state over every
 * shard and listener (both sides of a proxy), and the listeners served now
 * (a configuration file's each, less those a reload retired; the admin port
 * is not one).
 */
static void status_text(char *buf, size_t len, const struct config *cfg, const struct shard *shards)
{
	static struct stats total;
	const struct shard *s0 = &shards[0];
	unsigned listeners = !__atomic_load_n(&s0->retire_first, __ATOMIC_RELAXED);
	unsigned more = __atomic_load_n(&s0->n_more_pub, __ATOMIC_ACQUIRE);
	int64_t conns = 0;

	memset(&total, 0, sizeof(total));
	for (unsigned i = 0; i < cfg->shards; i++)
		shard_stats_sum(&shards[i], &total);
	for (int s = 0; s < TCP_STATE_COUNT; s++)
		conns += total.by_state[s];
	for (unsigned k = 0; k < more; k++)
		listeners += !__atomic_load_n(&s0->more[k].retire, __ATOMIC_RELAXED);
	snprintf(buf, len, "STATUS=%" PRId64 " connection%s, %u listener%s", conns,
		 conns == 1 ? "" : "s", listeners, listeners == 1 ? "" : "s");
}

void notify_ready(bool mainpid, const struct config *cfg, const struct shard *shards)
{
	char msg[192], status[128];

	if (notifier.fd < 0)
		return;
	status_text(status, sizeof(status), cfg, shards);
	/* MAINPID first: systemd then takes READY=1 from the service's new main process. */
	if (mainpid)
		snprintf(msg, sizeof(msg), "MAINPID=%d\nREADY=1\n%s", (int)getpid(), status);
	else
		snprintf(msg, sizeof(msg), "READY=1\n%s", status);
	notify_send(msg);
	notifier.next_status_ms = mono_us() / 1000 + NOTIFY_STATUS_MS;
}

void notify_reloading(void)
{
	char msg[80];

	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, mono_us());
	notify_send(msg);
}

void notify_reloaded(void)
{
	notify_send("READY=1");
}

void notify_stopping(void)
{
	notify_send("STOPPING=1\nSTATUS=draining");
}

int notify_timeout_ms(uint64_t now_ms)
{
	if (notifier.fd < 0)
		return -1;
	return notifier.next_status_ms > now_ms ? (int)(notifier.next_status_ms - now_ms) : 0;
}

void notify_status_tick(uint64_t now_ms, const struct config *cfg, const struct shard *shards)
{
	char msg[128];

	if (notifier.fd < 0 || now_ms < notifier.next_status_ms)
		return;
	notifier.next_status_ms = now_ms + NOTIFY_STATUS_MS;
	status_text(msg, sizeof(msg), cfg, shards);
	notify_send(msg);
}

/* ---- socket activation ---------------------------------------------------------------- */

/* Same family, port and address (IPv6: the scope too): what getsockname() says of it. */
static bool addr_equal(const struct net_addr *a, const struct net_addr *b)
{
	const struct sockaddr *x = (const struct sockaddr *)&a->ss;
	const struct sockaddr *y = (const struct sockaddr *)&b->ss;

	if (x->sa_family != y->sa_family)
		return false;
	if (x->sa_family == AF_INET) {
		const struct sockaddr_in *p = (const void *)x, *q = (const void *)y;

		return p->sin_port == q->sin_port && p->sin_addr.s_addr == q->sin_addr.s_addr;
	}
	if (x->sa_family == AF_INET6) {
		const struct sockaddr_in6 *p = (const void *)x, *q = (const void *)y;

		return p->sin6_port == q->sin6_port && p->sin6_scope_id == q->sin6_scope_id &&
		       !memcmp(&p->sin6_addr, &q->sin6_addr, sizeof(p->sin6_addr));
	}
	return false;
}

/* The index of the inherited listening TCP socket bound to a, or -1. */
static int inherited_find(const struct net_addr *a)
{
	for (int i = 0; i < inherited.n; i++) {
		struct net_addr b;

		if (inherited.fd[i] >= 0 && !sock_listener_addr(inherited.fd[i], &b) &&
		    addr_equal(a, &b))
			return i;
	}
	return -1;
}

bool sd_listen_has(const struct net_addr *a)
{
	return inherited_find(a) >= 0;
}

int sd_listen_fd_take(const struct net_addr *a)
{
	int i = inherited_find(a), fd;

	if (i < 0)
		return -1;
	fd = fcntl(inherited.fd[i], F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	inherited.taken[i] = true;
	return fd;
}

/* LISTEN_FDNAMES's i-th name (colon-separated), or "" */
static void fd_name(int i, char *buf, size_t len)
{
	const char *p = inherited.names;

	buf[0] = 0;
	for (; p && i > 0; i--) {
		p = strchr(p, ':');
		p = p ? p + 1 : NULL;
	}
	if (p)
		snprintf(buf, len, " (%.*s)", (int)strcspn(p, ":"), p);
}

int sd_listen_close_unused(void)
{
	int closed = 0;

	for (int i = 0; i < inherited.n; i++) {
		char what[80] = "not a listening TCP socket", name[72];
		struct net_addr b;

		if (inherited.fd[i] < 0)
			continue;
		if (!inherited.taken[i]) {
			if (!sock_listener_addr(inherited.fd[i], &b))
				net_addr_str(&b, what, sizeof(what));
			fd_name(i, name, sizeof(name));
			fprintf(stderr,
				"ringer: warning: inherited socket fd %d%s on %s matches no listen "
				"address: closed\n",
				inherited.fd[i], name, what);
			closed++;
		}
		/* Taken ones live on in the shards' own descriptors. */
		close(inherited.fd[i]);
		inherited.fd[i] = -1;
	}
	free(inherited.names);
	inherited.names = NULL;
	return closed;
}

/* ---- the session log's reopen ------------------------------------------------------------ */

/*
 * One entry per configuration whose log was reopened (the flags' listener,
 * and each of a configuration file's that has a log): main's thread only,
 * but for behind, which the shards count down.
 */
#define REOPEN_MAX 64

static struct reopen {
	struct config *cfg;
	int behind; /* shards still writing to old_fd (atomic: they count down) */
	int old_fd; /* the descriptor before the last reopen; -1: none waiting */
	bool again; /* a SIGUSR1 came while old_fd waited: reopen once it is closed */
} reopens[REOPEN_MAX];

static struct reopen *reopen_of(struct config *cfg, bool make)
{
	for (int i = 0; i < REOPEN_MAX; i++) {
		if (reopens[i].cfg == cfg)
			return &reopens[i];
		if (!reopens[i].cfg && make) {
			reopens[i] = (struct reopen){.cfg = cfg, .old_fd = -1};
			/* Before any shard can see a new descriptor: see log_reopen_start(). */
			cfg->log_behind = &reopens[i].behind;
			return &reopens[i];
		}
	}
	return NULL;
}

int log_reopen_start(struct config *cfg, unsigned writers)
{
	struct reopen *r;
	int fd, ret;

	if (!cfg->log_path || !strcmp(cfg->log_path, "-") || cfg->log_fd < 0) {
		fprintf(stderr, "ringer: SIGUSR1: no --log FILE to reopen (the stats dump is on "
				"SIGUSR2)\n");
		return -ENOENT;
	}
	r = reopen_of(cfg, true);
	if (!r)
		return -ENOSPC;
	if (r->old_fd >= 0) {
		r->again = true; /* the shards are still leaving the one before */
		return 0;
	}
	fd = open(cfg->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = -errno;
		fprintf(stderr, "ringer: SIGUSR1: cannot reopen --log %s, the old file stays: %s\n",
			cfg->log_path, strerror(-ret));
		return ret;
	}
	r->old_fd = cfg->log_fd;
	/* The count first: a shard that sees the new descriptor counts itself off. */
	__atomic_store_n(&r->behind, (int)writers, __ATOMIC_RELEASE);
	__atomic_store_n(&cfg->log_fd, fd, __ATOMIC_RELEASE);
	log_reopen_poll(cfg, writers);
	return 0;
}

bool log_reopen_poll(struct config *cfg, unsigned writers)
{
	struct reopen *r = reopen_of(cfg, false);

	if (!r || r->old_fd < 0)
		return false;
	if (__atomic_load_n(&r->behind, __ATOMIC_ACQUIRE) > 0)
		return true;
	close(r->old_fd);
	r->old_fd = -1;
	fprintf(stderr, "ringer: reopened --log %s\n", cfg->log_path);
	if (r->again) {
		r->again = false;
		log_reopen_start(cfg, writers);
	}
	return r->old_fd >= 0;
}

void log_reopen_end(struct config *cfg)
{
	struct reopen *r = reopen_of(cfg, false);

	if (r && r->old_fd >= 0)
		close(r->old_fd);
	if (r)
		r->old_fd = -1;
}
