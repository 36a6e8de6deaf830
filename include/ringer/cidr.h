/* SPDX-License-Identifier: MIT */
#ifndef RINGER_CIDR_H
#define RINGER_CIDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * Networks in CIDR notation, and whether an address is inside one: the
 * admin port's allow list (--admin-allow). A pure module: values in,
 * values out.
 *
 * IPv4 networks are kept as IPv4-mapped IPv6 ones (::ffff:a.b.c.d, the
 * prefix length plus 96), so a client reaching a dual-stack listener as
 * ::ffff:127.0.0.1 is the same client as 127.0.0.1, and one comparison
 * serves both families.
 */
struct cidr {
	uint8_t addr[16]; /* the network, host bits cleared; IPv4 as ::ffff:a.b.c.d */
	uint8_t bits;	  /* prefix length over the 128 bits */
};

/*
 * "10.0.0.0/8", "fd00::/8", or a bare address ("192.0.2.7" is /32,
 * "2001:db8::1" is /128). Host bits beyond the prefix are ignored. Returns
 * 0, or -EINVAL for anything else (a prefix longer than the family has, a
 * name, an empty string).
 */
int cidr_parse(const char *s, struct cidr *out);

/* Whether addr (an AF_INET or AF_INET6 sockaddr of len bytes) lies in n. */
bool cidr_match(const struct cidr *n, const struct sockaddr *addr, socklen_t len);

/* Whether addr lies in any of the count networks. */
bool cidr_match_any(const struct cidr *nets, unsigned count, const struct sockaddr *addr,
		    socklen_t len);

/* "10.0.0.0/8", "::1/128" (an IPv4 network in IPv4 notation) into buf. */
const char *cidr_str(const struct cidr *n, char *buf, size_t len);

#endif
