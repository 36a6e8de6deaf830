/* SPDX-License-Identifier: MIT */
#ifndef RINGER_NET_H
#define RINGER_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct net_addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

/*
 * "127.0.0.1:80", "[::1]:80", "localhost:80", ":80" (all IPv4 addresses), "[::]:80".
 * Returns 0 or -EINVAL. Ports 0..65535.
 */
int net_addr_parse(const char *s, struct net_addr *a);
/* "127.0.0.1:80" / "[::1]:80" into buf. */
const char *net_addr_str(const struct net_addr *a, char *buf, size_t len);
uint16_t net_addr_port(const struct net_addr *a);
/*
 * As net_addr_parse, and a host name is looked up (getaddrinfo, the first
 * address). Returns 0, -EINVAL for a malformed string, or -ENOENT when the
 * name does not resolve (a message in err).
 */
int net_addr_resolve(const char *s, struct net_addr *a, char *err, size_t err_len);

#endif
