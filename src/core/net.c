// SPDX-License-Identifier: MIT
/* Socket addresses as both binaries write them on the command line. */
#include "ringer/net.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ringer/cli.h"

/* The host part of "host:port" (s up to colon) into host; false when it does not fit. */
static bool split_host(const char *s, const char *colon, char *host, size_t cap)
{
	size_t hlen = (size_t)(colon - s);

	if (hlen >= cap)
		return false;
	memcpy(host, s, hlen);
	host[hlen] = 0;
	return true;
}

int net_addr_parse(const char *s, struct net_addr *a)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *port_s;
	uint64_t port;
	size_t hlen;

	memset(a, 0, sizeof(*a));
	if (!s || !*s)
		return -EINVAL;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		hlen = (size_t)(close - s - 1);
		if (hlen == 0 || hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, hlen);
		host[hlen] = 0;
		port_s = close + 2;
		if (parse_uint(port_s, 0, 65535, false, &port))
			return -EINVAL;
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return -EINVAL;
		a->len = sizeof(*in6);
		return 0;
	}
	colon = strrchr(s, ':');
	if (!colon || strchr(s, ':') != colon)
		return -EINVAL;
	if (!split_host(s, colon, host, sizeof(host)))
		return -EINVAL;
	hlen = strlen(host);
	if (parse_uint(colon + 1, 0, 65535, false, &port))
		return -EINVAL;
	struct sockaddr_in *in = (struct sockaddr_in *)&a->ss;

	in->sin_family = AF_INET;
	in->sin_port = htons((uint16_t)port);
	if (hlen == 0)
		in->sin_addr.s_addr = htonl(INADDR_ANY);
	else if (!strcmp(host, "localhost"))
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
		return -EINVAL;
	a->len = sizeof(*in);
	return 0;
}

const char *net_addr_str(const struct net_addr *a, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a->ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&a->ss;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(in->sin_port));
	}
	return buf;
}

uint16_t net_addr_port(const struct net_addr *a)
{
	if (a->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
}

int net_addr_resolve(const char *s, struct net_addr *a, char *err, size_t err_len)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
	char host[256];
	const char *colon;
	int ret;

	if (net_addr_parse(s, a) == 0)
		return 0;
	colon = s ? strrchr(s, ':') : NULL;
	if (!colon || s[0] == '[' || colon == s || !split_host(s, colon, host, sizeof(host)))
		return -EINVAL;
	if (net_addr_parse(colon, a)) /* ":PORT" checks the port */
		return -EINVAL;
	ret = getaddrinfo(host, colon + 1, &hints, &res);
	if (ret) {
		snprintf(err, err_len, "cannot resolve '%s': %s", host, gai_strerror(ret));
		return -ENOENT;
	}
	memset(a, 0, sizeof(*a));
	memcpy(&a->ss, res->ai_addr, res->ai_addrlen);
	a->len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}
