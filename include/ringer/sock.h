/* SPDX-License-Identifier: MIT */
#ifndef RINGER_SOCK_H
#define RINGER_SOCK_H

#include "ringer/net.h"

/* A listening socket on addr (SO_REUSEPORT, TCP_NODELAY inherited by accepted sockets): fd or -errno. */
int sock_listen(const struct net_addr *addr, int backlog);
/* 0 when nothing is bound to addr (a port in use by another process: -EADDRINUSE). */
int sock_probe_free(const struct net_addr *addr);

#endif
