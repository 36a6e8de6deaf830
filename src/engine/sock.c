// SPDX-License-Identifier: MIT
/*
 * Socket setup done with plain syscalls at startup, never on the hot path:
 * the listeners. Everything a connection does afterwards goes through the ring.
 */
#include "ringer/sock.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

int sock_listen(const struct net_addr *addr, int backlog)
{
	int fd, one = 1, ret;

	fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/*
	 * TCP_NODELAY on the listener: Linux copies it to every accepted socket,
	 * which matters because direct descriptors cannot take a setsockopt.
	 * Without it, a message larger than one receive buffer is echoed in two
	 * sends and Nagle holds the second until the peer's delayed ACK (40 ms).
	 */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
		goto out_errno;
	if (bind(fd, (const struct sockaddr *)&addr->ss, addr->len) || listen(fd, backlog))
		goto out_errno;
	return fd;

out_errno:
	ret = -errno;
	close(fd);
	return ret;
}

/*
 * Every listener sets SO_REUSEPORT, so a second process binding the same
 * port would silently take a share of the new connections. Before the
 * listeners are made, one bind without SO_REUSEPORT (SO_REUSEADDR only, so
 * TIME_WAIT leftovers do not count) tells whether anything listens there.
 */
int sock_probe_free(const struct net_addr *addr)
{
	int fd, one = 1, ret = 0;

	fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&addr->ss, addr->len))
		ret = -errno;
	close(fd);
	return ret;
}

int sock_keepalive(int fd, unsigned idle_s, unsigned intvl_s, unsigned cnt)
{
	int one = 1, zero = 0, idle = (int)idle_s, intvl = (int)intvl_s, n = (int)cnt;

	/* Off: a listener handed over from a ringer that had it on must lose it. */
	if (!idle_s)
		return setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &zero, sizeof(zero)) ? -errno : 0;
	if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl)) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &n, sizeof(n)))
		return -errno;
	return 0;
}

int sock_user_timeout(int fd, unsigned ms)
{
	int v = (int)ms;

	return setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &v, sizeof(v)) ? -errno : 0;
}

/*
 * A listener received from another process (a handover) is checked, not
 * trusted: a TCP socket in the listening state, and where it is bound.
 */
int sock_listener_addr(int fd, struct net_addr *addr)
{
	int v, proto;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len))
		return -errno;
	len = sizeof(proto);
	if (v != SOCK_STREAM || getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) ||
	    proto != IPPROTO_TCP)
		return -EPROTOTYPE;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len))
		return -errno;
	if (!v)
		return -EINVAL;
	addr->len = sizeof(addr->ss);
	if (getsockname(fd, (struct sockaddr *)&addr->ss, &addr->len))
		return -errno;
	return 0;
}
