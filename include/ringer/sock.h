/* SPDX-License-Identifier: MIT */
#ifndef RINGER_SOCK_H
#define RINGER_SOCK_H

#include "ringer/net.h"

/* A listening socket on addr (SO_REUSEPORT, TCP_NODELAY inherited by accepted sockets): fd or -errno. */
int sock_listen(const struct net_addr *addr, int backlog);
/*
 * TCP keepalive on a listener (accepted sockets inherit it, as they inherit
 * TCP_NODELAY): probes after idle_s seconds of silence, every intvl_s, and
 * the connection is reset after cnt unanswered ones; idle_s 0 turns it off.
 * Returns 0 or -errno.
 */
int sock_keepalive(int fd, unsigned idle_s, unsigned intvl_s, unsigned cnt);
/*
 * TCP_USER_TIMEOUT on a listener (inherited by accepted sockets too): data
 * unacknowledged for ms resets the connection; 0 leaves it to the kernel's
 * retransmissions. Returns 0 or -errno.
 */
int sock_user_timeout(int fd, unsigned ms);
/* 0 when nothing is bound to addr (a port in use by another process: -EADDRINUSE). */
int sock_probe_free(const struct net_addr *addr);
/* 0 and the bound address when fd is a listening TCP socket; else -EPROTOTYPE, -EINVAL or -errno. */
int sock_listener_addr(int fd, struct net_addr *addr);

#endif
