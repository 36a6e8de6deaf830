// SPDX-License-Identifier: MIT
/* Networks in CIDR notation and address membership (include/ringer/cidr.h). */
#include "ringer/cidr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "ringer/cli.h"

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static bool is_v4(const uint8_t a[16])
{
	return !memcmp(a, v4_mapped, sizeof(v4_mapped));
}

/* The first bits of a[] kept, the rest cleared. */
static void clear_host_bits(uint8_t a[16], unsigned bits)
{
	for (unsigned i = 0; i < 16; i++) {
		unsigned keep = bits > i * 8 ? bits - i * 8 : 0;

		if (keep < 8)
			a[i] &= (uint8_t)(0xff00u >> keep);
	}
}

int cidr_parse(const char *s, struct cidr *out)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = s ? strchr(s, '/') : NULL;
	size_t hlen = slash ? (size_t)(slash - s) : (s ? strlen(s) : 0);
	struct in_addr a4;
	unsigned max;
	uint64_t bits;

	memset(out, 0, sizeof(*out));
	if (!hlen || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hlen);
	host[hlen] = 0;
	if (inet_pton(AF_INET, host, &a4) == 1) {
		memcpy(out->addr, v4_mapped, sizeof(v4_mapped));
		memcpy(out->addr + 12, &a4, 4);
		max = 32;
	} else if (inet_pton(AF_INET6, host, out->addr) == 1) {
		max = 128;
	} else {
		return -EINVAL;
	}
	bits = max;
	if (slash && parse_uint(slash + 1, 0, max, false, &bits))
		return -EINVAL;
	/* An IPv4 network counts its bits after the 96 of the mapped prefix. */
	out->bits = (uint8_t)(bits + 128 - max);
	clear_host_bits(out->addr, out->bits);
	return 0;
}

bool cidr_match(const struct cidr *n, const struct sockaddr *addr, socklen_t len)
{
	uint8_t a[16];

	if (!addr)
		return false;
	if (addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		memcpy(a, v4_mapped, sizeof(v4_mapped));
		memcpy(a + 12, &((const struct sockaddr_in *)addr)->sin_addr, 4);
	} else if (addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		memcpy(a, &((const struct sockaddr_in6 *)addr)->sin6_addr, 16);
	} else {
		return false;
	}
	clear_host_bits(a, n->bits);
	return !memcmp(a, n->addr, sizeof(a));
}

bool cidr_match_any(const struct cidr *nets, unsigned count, const struct sockaddr *addr,
		    socklen_t len)
{
	for (unsigned i = 0; i < count; i++)
		if (cidr_match(&nets[i], addr, len))
			return true;
	return false;
}

const char *cidr_str(const struct cidr *n, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	bool v4 = is_v4(n->addr) && n->bits >= 96;

	if (v4)
		inet_ntop(AF_INET, n->addr + 12, host, sizeof(host));
	else
		inet_ntop(AF_INET6, n->addr, host, sizeof(host));
	snprintf(buf, len, "%s/%u", host, v4 ? n->bits - 96u : n->bits);
	return buf;
}
