/* SPDX-License-Identifier: MIT */
#ifndef RINGER_SOCK_H
#define RINGER_SOCK_H

#include "ringer/net.h"

/* A listening socket on addr (SO_REUSEPORT, TCP_NODELAY inherited by accepted sockets): fd or -errno. */
int sock_listen(const struct net_addr *addr, int backlog);

#endif
