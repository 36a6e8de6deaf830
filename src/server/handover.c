// SPDX-License-Identifier: MIT
/*
 * --handover PATH: the conversation between a newer ringer (N) and the older
 * one (O) that serves the port, over a Unix SOCK_SEQPACKET socket at PATH
 * (one message per send, so no framing), every message one struct ho_msg:
 *
 *   N                                       O (main thread, polling PATH)
 *   connect(PATH) ----------------------->  accept; the peer must be our
 *                                           user or root (SO_PEERCRED)
 *   HELLO {pid} ------------------------->
 *                <------------------------  OFFER {pid, mode, listeners,
 *                                           admin?, their addresses}
 *                <------------------------  FDS {first, count} + SCM_RIGHTS,
 *                                           up to 128 descriptors a message:
 *                                           shard 0..n-1's listeners, then
 *                                           the admin listener
 *   checks them against its flags
 *   (handover_check); no:
 *   REFUSE {why} ------------------------>  logs why; serves on
 *   yes: starts its shards on them (extra
 *   shards get new SO_REUSEPORT listeners
 *   that join the group), listens on PATH
 *   itself (the same path, a new socket)
 *   SERVING {pid} ----------------------->  stops listening on PATH, drains
 *                                           (SIGTERM's path) and exits 0
 *
 * Nothing is lost because nothing is closed that N does not also hold: once
 * N has them, both processes reference the same listening sockets and accept
 * from the same queues, and when O's drain cancels its accepts and closes its
 * descriptors the sockets live on in N. A conversation that ends any other
 * way (N refuses, exits, hangs up, or takes longer than HO_TIMEOUT_MS) leaves
 * O serving as before; a newer ringer that refuses exits 1.
 *
 * Shard count: a shard serves exactly one listener. N with more shards than O
 * had listeners makes the extra ones; N with fewer is refused, because a
 * listener nobody serves would be closed by O with connections in its accept
 * queue, and the kernel resets those (it moves them to another listener of
 * the group only with the host-wide sysctl net.ipv4.tcp_migrate_req).
 *
 * The first three fields of struct ho_msg (magic, version, type) never move,
 * so two ringers of different protocol versions can tell each other so.
 */
#include "handover.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "ringer/sock.h"

#ifndef RINGER_VERSION
#define RINGER_VERSION "0.1.0"
#endif

#define HO_MAGIC	  "RNGRHOVR"
#define HO_VERSION	  1
#define HO_FDS_PER_MSG	  128	/* SCM_MAX_FD is 253 */
#define HO_MAX_LISTENERS  4096	/* more than --shards allows: a sanity bound on an offer */
#define HO_TIMEOUT_MS	  30000 /* O waits this long for N to serve after it connected */
#define HO_RECV_TIMEOUT_S 10	/* N waits this long for each of O's answers */

enum ho_type {
	HO_HELLO = 1,
	HO_OFFER,
	HO_FDS,
	HO_REFUSE,
	HO_SERVING,
};

struct ho_msg {
	char magic[8];
	uint32_t version;
	uint32_t type;
	int32_t pid;
	uint32_t mode;	    /* OFFER: the sender's --mode */
	uint32_t listeners; /* OFFER: traffic listeners, one per shard */
	uint32_t admin;	    /* OFFER: 1 when an admin listener follows them */
	uint32_t first;	    /* FDS: index of the first descriptor carried */
	uint32_t count;	    /* FDS: descriptors carried */
	uint32_t listen_len;
	uint32_t admin_len;
	struct sockaddr_storage listen;
	struct sockaddr_storage admin_addr;
	char text[160]; /* REFUSE: why; OFFER: the sender's version */
};

static int fail(int ret, char *err, size_t err_len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(int ret, char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
	return ret;
}

static void msg_init(struct ho_msg *m, uint32_t type)
{
	memset(m, 0, sizeof(*m));
	memcpy(m->magic, HO_MAGIC, sizeof(m->magic));
	m->version = HO_VERSION;
	m->type = type;
	m->pid = (int32_t)getpid();
}

/* One message, with nfds descriptors attached. Returns 0 or -errno. */
static int msg_send(int fd, struct ho_msg *m, const int *fds, unsigned nfds, int flags)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * HO_FDS_PER_MSG)];
	} ctl;
	struct iovec iov = {m, sizeof(*m)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n;

	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	n = sendmsg(fd, &mh, MSG_NOSIGNAL | flags);
	if (n < 0)
		return -errno;
	return n == (ssize_t)sizeof(*m) ? 0 : -EIO;
}

static void close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
}

/*
 * One message and the descriptors it carries (at most max; *nfds of them).
 * Returns 0, -EAGAIN (nothing yet, or SO_RCVTIMEO passed), -EPIPE (the peer
 * hung up), -EPROTONOSUPPORT (another protocol version), -EPROTO (not ours,
 * or more descriptors than expected: those are closed), or -errno.
 */
static int msg_recv(int fd, struct ho_msg *m, int *fds, unsigned max, unsigned *nfds, int flags)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * HO_FDS_PER_MSG)];
	} ctl;
	struct iovec iov = {m, sizeof(*m)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl)};
	struct cmsghdr *c;
	ssize_t n;
	int ret = 0;

	*nfds = 0;
	n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | flags);
	if (n < 0)
		return -errno;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int d;

			memcpy(&d, CMSG_DATA(c) + i * sizeof(int), sizeof(d));
			if (*nfds < max) {
				fds[(*nfds)++] = d;
			} else {
				close(d);
				ret = -EPROTO;
			}
		}
	}
	if (!ret && n == 0)
		ret = -EPIPE;
	else if (!ret && (size_t)n >= offsetof(struct ho_msg, type) &&
		 !memcmp(m->magic, HO_MAGIC, sizeof(m->magic)) && m->version != HO_VERSION)
		ret = -EPROTONOSUPPORT;
	else if (!ret && ((size_t)n != sizeof(*m) || memcmp(m->magic, HO_MAGIC, sizeof(m->magic)) ||
			  (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))))
		ret = -EPROTO;
	if (ret) {
		close_fds(fds, *nfds);
		*nfds = 0;
	}
	return ret;
}

/* ---- the newer ringer ---------------------------------------------------------------------- */

int handover_connect(const char *path, int *fd)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = HO_RECV_TIMEOUT_S};
	size_t len = strlen(path);
	int s, ret;

	*fd = -1;
	if (len >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	memcpy(a.sun_path, path, len + 1);
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) ||
	    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv))) {
		ret = -errno;
		close(s);
		return ret;
	}
	*fd = s;
	return 0;
}

static int recv_fail(int ret, char *err, size_t err_len, const char *what)
{
	switch (ret) {
	case -EAGAIN:
		return fail(ret, err, err_len, "no %s within %d s", what, HO_RECV_TIMEOUT_S);
	case -EPIPE:
		return fail(ret, err, err_len, "it hung up before sending the %s", what);
	case -EPROTONOSUPPORT:
		return fail(ret, err, err_len,
			    "it speaks another handover protocol version (this ringer: %d)",
			    HO_VERSION);
	case -EPROTO:
		return fail(ret, err, err_len, "a malformed %s", what);
	}
	return fail(ret, err, err_len, "receiving the %s: %s", what, strerror(-ret));
}

int handover_receive(int fd, struct handover_offer *o, char *err, size_t err_len)
{
	int fds[HO_FDS_PER_MSG], ret;
	unsigned total, got = 0, k;
	struct ho_msg m;
	struct ucred cr;
	socklen_t len = sizeof(cr);

	memset(o, 0, sizeof(*o));
	o->admin_fd = -1;
	/* Whom we talk to, for the messages, before it says so itself. */
	if (!getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len))
		o->pid = cr.pid;
	msg_init(&m, HO_HELLO);
	ret = msg_send(fd, &m, NULL, 0, 0);
	if (ret)
		return fail(ret, err, err_len, "asking for the listeners: %s", strerror(-ret));
	ret = msg_recv(fd, &m, fds, HO_FDS_PER_MSG, &k, 0);
	if (ret)
		return recv_fail(ret, err, err_len, "offer");
	close_fds(fds, k);
	m.text[sizeof(m.text) - 1] = 0;
	if (m.type == HO_REFUSE)
		return fail(-EPERM, err, err_len, "it refused: %s", m.text);
	if (m.type != HO_OFFER || k || m.listeners < 1 || m.listeners > HO_MAX_LISTENERS ||
	    m.admin > 1 || m.listen_len > sizeof(m.listen) || m.admin_len > sizeof(m.admin_addr))
		return fail(-EPROTO, err, err_len, "a malformed offer");
	o->mode = m.mode;
	snprintf(o->version, sizeof(o->version), "%.*s", (int)sizeof(o->version) - 1, m.text);
	memcpy(&o->listen.ss, &m.listen, sizeof(m.listen));
	o->listen.len = m.listen_len;
	memcpy(&o->admin.ss, &m.admin_addr, sizeof(m.admin_addr));
	o->admin.len = m.admin_len;
	o->fds = malloc(m.listeners * sizeof(*o->fds));
	if (!o->fds)
		return fail(-ENOMEM, err, err_len, "out of memory");
	o->n = m.listeners;
	for (unsigned i = 0; i < o->n; i++)
		o->fds[i] = -1;
	total = m.listeners + m.admin;
	while (got < total) {
		ret = msg_recv(fd, &m, fds, HO_FDS_PER_MSG, &k, 0);
		if (ret)
			return recv_fail(ret, err, err_len, "listeners");
		if (m.type != HO_FDS || m.first != got || m.count != k || !k || k > total - got) {
			close_fds(fds, k);
			return fail(-EPROTO, err, err_len,
				    "a malformed message among the listeners (%u of %u received)",
				    got, total);
		}
		for (unsigned i = 0; i < k; i++, got++) {
			if (got < o->n)
				o->fds[got] = fds[i];
			else
				o->admin_fd = fds[i];
		}
	}
	return 0;
}

/* want's port 0 takes any port; otherwise family, address and port are equal. */
static bool addr_match(const struct net_addr *want, const struct net_addr *got)
{
	if (want->ss.ss_family != got->ss.ss_family)
		return false;
	if (want->ss.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)&want->ss, *b = (const void *)&got->ss;

		return a->sin_addr.s_addr == b->sin_addr.s_addr &&
		       (!a->sin_port || a->sin_port == b->sin_port);
	}
	if (want->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)&want->ss, *b = (const void *)&got->ss;

		return !memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr)) &&
		       (!a->sin6_port || a->sin6_port == b->sin6_port);
	}
	return false;
}

/* fd is a TCP listener bound exactly where the offer says. */
static bool listener_at(int fd, const struct net_addr *where)
{
	struct net_addr got;

	return sock_listener_addr(fd, &got) == 0 && addr_match(where, &got);
}

int handover_check(const struct handover_offer *o, const struct config *cfg, char *err,
		   size_t err_len)
{
	char a[80], b[80];

	if (o->n > cfg->shards)
		return fail(-EINVAL, err, err_len,
			    "--shards %u is fewer than its %u listeners: a shard serves one "
			    "listener, and a listener left unserved would be closed with "
			    "connections in its queue; give --shards %u or more",
			    cfg->shards, o->n, o->n);
	if (!addr_match(&cfg->listen, &o->listen))
		return fail(-EINVAL, err, err_len, "it listens on %s, this one on %s (--listen)",
			    net_addr_str(&o->listen, a, sizeof(a)),
			    net_addr_str(&cfg->listen, b, sizeof(b)));
	for (unsigned i = 0; i < o->n; i++)
		if (!listener_at(o->fds[i], &o->listen))
			return fail(-EINVAL, err, err_len,
				    "descriptor %u it sent is not a TCP listener on %s", i,
				    net_addr_str(&o->listen, a, sizeof(a)));
	if (o->admin_fd < 0)
		return 0; /* an --admin of ours, if any, is a new listener (and probed) */
	if (!cfg->admin_set)
		return fail(-EINVAL, err, err_len, "it serves an admin port on %s: give --admin %s",
			    net_addr_str(&o->admin, a, sizeof(a)), a);
	if (!addr_match(&cfg->admin, &o->admin))
		return fail(-EINVAL, err, err_len, "its admin port is %s, this one's --admin %s",
			    net_addr_str(&o->admin, a, sizeof(a)),
			    net_addr_str(&cfg->admin, b, sizeof(b)));
	if (!listener_at(o->admin_fd, &o->admin))
		return fail(-EINVAL, err, err_len,
			    "the admin descriptor it sent is not a TCP listener on %s",
			    net_addr_str(&o->admin, a, sizeof(a)));
	return 0;
}

void handover_refuse(int fd, const char *why)
{
	struct ho_msg m;

	msg_init(&m, HO_REFUSE);
	snprintf(m.text, sizeof(m.text), "%s", why);
	msg_send(fd, &m, NULL, 0, 0);
}

int handover_serving(int fd)
{
	struct ho_msg m;

	msg_init(&m, HO_SERVING);
	return msg_send(fd, &m, NULL, 0, 0);
}

void handover_offer_close(struct handover_offer *o)
{
	for (unsigned i = 0; o->fds && i < o->n; i++)
		if (o->fds[i] >= 0)
			close(o->fds[i]);
	if (o->admin_fd >= 0)
		close(o->admin_fd);
	free(o->fds);
	o->fds = NULL;
	o->n = 0;
	o->admin_fd = -1;
}

/* ---- the older ringer ---------------------------------------------------------------------- */

void handover_server_init(struct handover_server *h)
{
	memset(h, 0, sizeof(*h));
	h->lfd = -1;
	h->cfd = -1;
	h->admin_fd = -1;
}

int handover_listen(struct handover_server *h, const char *path, char *err, size_t err_len)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	size_t len = strlen(path);
	struct stat st;
	int fd, ret;

	if (len >= sizeof(a.sun_path) || len >= sizeof(h->path))
		return fail(-ENAMETOOLONG, err, err_len, "%s: too long for a Unix socket", path);
	memcpy(a.sun_path, path, len + 1);
	/* A stale socket (its ringer is gone, or it is the one handing over to us) goes. */
	if (!lstat(path, &st)) {
		if (!S_ISSOCK(st.st_mode))
			return fail(-EEXIST, err, err_len, "%s exists and is not a socket", path);
		if (unlink(path) && errno != ENOENT)
			return fail(-errno, err, err_len, "cannot remove the old socket %s: %s",
				    path, strerror(errno));
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return fail(-errno, err, err_len, "socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 8) || stat(path, &st)) {
		ret = -errno;
		close(fd);
		return fail(ret, err, err_len, "cannot listen on %s: %s", path, strerror(-ret));
	}
	h->lfd = fd;
	h->dev = st.st_dev;
	h->ino = st.st_ino;
	memcpy(h->path, path, len + 1);
	return 0;
}

int handover_pollfd(const struct handover_server *h, struct pollfd *p)
{
	p->fd = h->cfd >= 0 ? h->cfd : h->lfd;
	p->events = POLLIN;
	p->revents = 0;
	return p->fd >= 0;
}

int handover_timeout_ms(const struct handover_server *h, uint64_t now_ms)
{
	if (h->cfd < 0)
		return -1;
	if (h->deadline_ms <= now_ms)
		return 0;
	return h->deadline_ms - now_ms > INT_MAX ? INT_MAX : (int)(h->deadline_ms - now_ms);
}

static void end_conversation(struct handover_server *h, const char *why)
{
	if (why)
		fprintf(stderr, "ringer: handover: pid %d %s; serving on\n", (int)h->peer, why);
	close(h->cfd);
	h->cfd = -1;
	h->peer = 0;
	h->offered = false;
}

static void accept_one(struct handover_server *h, uint64_t now_ms)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	int fd = accept4(h->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	/* Our listeners go to our own user (or root), never to whoever can reach the path. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) ||
	    (cr.uid != geteuid() && cr.uid != 0)) {
		fprintf(stderr, "ringer: handover: refused a connection from uid %u\n",
			(unsigned)cr.uid);
		close(fd);
		return;
	}
	h->cfd = fd;
	h->peer = cr.pid;
	h->offered = false;
	h->deadline_ms = now_ms + HO_TIMEOUT_MS;
}

/* OFFER, then the descriptors in FDS messages: the listeners in shard order, then the admin's. */
static int send_offer(struct handover_server *h)
{
	unsigned total = h->n + (h->admin_fd >= 0);
	int fds[HO_FDS_PER_MSG], ret;
	struct ho_msg m;

	msg_init(&m, HO_OFFER);
	m.mode = h->mode;
	m.listeners = h->n;
	m.admin = h->admin_fd >= 0;
	memcpy(&m.listen, &h->listen.ss, sizeof(m.listen));
	m.listen_len = h->listen.len;
	memcpy(&m.admin_addr, &h->admin.ss, sizeof(m.admin_addr));
	m.admin_len = h->admin.len;
	snprintf(m.text, sizeof(m.text), "%s", RINGER_VERSION);
	ret = msg_send(h->cfd, &m, NULL, 0, MSG_DONTWAIT);
	for (unsigned first = 0; !ret && first < total;) {
		unsigned k = total - first < HO_FDS_PER_MSG ? total - first : HO_FDS_PER_MSG;

		for (unsigned i = 0; i < k; i++)
			fds[i] = first + i < h->n ? h->fds[first + i] : h->admin_fd;
		msg_init(&m, HO_FDS);
		m.first = first;
		m.count = k;
		ret = msg_send(h->cfd, &m, fds, k, MSG_DONTWAIT);
		first += k;
	}
	return ret;
}

pid_t handover_service(struct handover_server *h, short revents, uint64_t now_ms)
{
	struct ho_msg m;
	unsigned k;
	pid_t pid;
	int ret;

	if (h->cfd < 0) {
		if (h->lfd >= 0 && (revents & POLLIN))
			accept_one(h, now_ms);
		return 0;
	}
	if (!revents) {
		if (now_ms >= h->deadline_ms)
			end_conversation(h, "did not start serving within 30 s");
		return 0;
	}
	ret = msg_recv(h->cfd, &m, NULL, 0, &k, MSG_DONTWAIT);
	if (ret == -EAGAIN)
		return 0;
	if (ret) {
		end_conversation(h, ret == -EPIPE	      ? "hung up before serving"
				    : ret == -EPROTONOSUPPORT ? "speaks another handover version"
							      : "broke the handover protocol");
		return 0;
	}
	m.text[sizeof(m.text) - 1] = 0;
	switch (m.type) {
	case HO_HELLO:
		if (h->offered)
			break;
		h->peer = m.pid;
		fprintf(stderr, "ringer: handover: pid %d asks for the listeners\n", (int)h->peer);
		ret = send_offer(h);
		if (ret) {
			end_conversation(h, "could not be sent the listeners");
			return 0;
		}
		h->offered = true;
		return 0;
	case HO_REFUSE:
		fprintf(stderr, "ringer: handover: pid %d refused to take over: %s\n", (int)h->peer,
			m.text);
		end_conversation(h, NULL);
		return 0;
	case HO_SERVING:
		if (!h->offered)
			break;
		pid = h->peer;
		end_conversation(h, NULL);
		/* PATH is the newer ringer's now: stop listening, and never remove it. */
		close(h->lfd);
		h->lfd = -1;
		h->path[0] = 0;
		return pid;
	}
	end_conversation(h, "broke the handover protocol");
	return 0;
}

void handover_server_close(struct handover_server *h)
{
	struct stat st;

	if (h->cfd >= 0)
		close(h->cfd);
	if (h->lfd >= 0)
		close(h->lfd);
	h->cfd = h->lfd = -1;
	if (h->path[0] && !lstat(h->path, &st) && st.st_dev == h->dev && st.st_ino == h->ino)
		unlink(h->path);
	h->path[0] = 0;
}
