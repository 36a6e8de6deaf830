// SPDX-License-Identifier: MIT
/*
 * CIDR networks (the admin port's allow list): what parses and what is
 * refused, prefix boundaries on both sides of every network tested, bare
 * addresses as single hosts, IPv4 clients seen through a dual-stack
 * listener (::ffff:a.b.c.d) matching IPv4 networks, and the text form.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ringer/cidr.h"

static struct sockaddr_storage ss;

/* An address as a sockaddr of its own family (a mapped IPv4 one stays IPv6). */
static const struct sockaddr *addr(const char *text, socklen_t *len)
{
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, text, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(5555);
		*len = sizeof(*in);
	} else {
		assert_int_equal(inet_pton(AF_INET6, text, &in6->sin6_addr), 1);
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(5555);
		*len = sizeof(*in6);
	}
	return (const struct sockaddr *)&ss;
}

static bool in(const char *net, const char *host)
{
	struct cidr n;
	socklen_t len;
	const struct sockaddr *a;

	assert_int_equal(cidr_parse(net, &n), 0);
	a = addr(host, &len);
	return cidr_match(&n, a, len);
}

static void refused(void **state)
{
	static const char *const bad[] = {
		"",
		"/8",
		"nonsense",
		"10.0.0.0/33",
		"::/129",
		"10.0.0.0/",
		"10.0.0.0/-1",
		"10.0.0.0/+8",
		"10.0.0.0/8x",
		"10.0.0/8",
		"10.0.0.0/8/8",
		"localhost",
		"10.0.0.0 /8",
		"[::1]/128",
		"::1/1280",
		"256.0.0.0/8",
	};
	struct cidr n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cidr_parse(bad[i], &n), -EINVAL);
	assert_int_equal(cidr_parse(NULL, &n), -EINVAL);
}

static void ipv4_networks(void **state)
{
	(void)state;
	assert_true(in("10.0.0.0/8", "10.0.0.0"));
	assert_true(in("10.0.0.0/8", "10.255.255.255"));
	assert_false(in("10.0.0.0/8", "11.0.0.0"));
	assert_false(in("10.0.0.0/8", "9.255.255.255"));
	assert_true(in("192.168.1.128/25", "192.168.1.200"));
	assert_false(in("192.168.1.128/25", "192.168.1.127"));
	/* A prefix ending at every bit of a byte: 7 of 8 kept, 1 of 8, all 8. */
	assert_true(in("10.0.0.0/15", "10.1.255.255"));
	assert_false(in("10.0.0.0/15", "10.2.0.0"));
	assert_true(in("10.128.0.0/9", "10.255.0.1"));
	assert_false(in("10.128.0.0/9", "10.127.0.1"));
	assert_true(in("10.7.0.0/16", "10.7.99.1"));
	assert_false(in("10.7.0.0/16", "10.6.99.1"));
	assert_true(in("10.3.4.5/31", "10.3.4.4"));
	assert_false(in("10.3.4.5/31", "10.3.4.6"));
	/* Host bits in the network are ignored: 10.1.2.3/8 is 10.0.0.0/8. */
	assert_true(in("10.1.2.3/8", "10.200.0.1"));
	assert_true(in("0.0.0.0/0", "203.0.113.9"));
	assert_false(in("0.0.0.0/0", "2001:db8::1")); /* every IPv4 host, no IPv6 one */
	/* A bare address is that host alone. */
	assert_true(in("127.0.0.1", "127.0.0.1"));
	assert_false(in("127.0.0.1", "127.0.0.2"));
	assert_true(in("127.0.0.1/32", "127.0.0.1"));
	assert_false(in("10.0.0.0/8", "::a00:1")); /* ::10.0.0.1, IPv4-compatible: not mapped */
}

static void ipv6_networks(void **state)
{
	(void)state;
	assert_true(in("::1", "::1"));
	assert_false(in("::1", "::2"));
	assert_true(in("fd00::/8", "fdff:ffff::1"));
	assert_false(in("fd00::/8", "fe00::1"));
	assert_true(in("2001:db8::/33", "2001:db8:7fff::1"));
	assert_false(in("2001:db8::/33", "2001:db8:8000::1"));
	assert_true(in("::/0", "2001:db8::1"));
	assert_true(in("::/0", "10.0.0.1")); /* every address, IPv4 ones too */
	assert_false(in("::1", "127.0.0.1"));
}

/* A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d: IPv4 networks match them. */
static void mapped_clients(void **state)
{
	(void)state;
	assert_true(in("127.0.0.0/8", "::ffff:127.0.0.1"));
	assert_true(in("127.0.0.0/8", "::ffff:127.9.9.9"));
	assert_false(in("127.0.0.0/8", "::ffff:128.0.0.1"));
	assert_true(in("10.0.0.0/8", "::ffff:10.0.0.1"));
	assert_false(in("::1", "::ffff:127.0.0.1"));
	/* ... and a mapped network written in IPv6 matches plain IPv4 clients. */
	assert_true(in("::ffff:10.0.0.0/104", "10.9.8.7"));
	assert_false(in("::ffff:10.0.0.0/104", "11.9.8.7"));
}

static void odd_sockaddrs(void **state)
{
	struct cidr n;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct sockaddr sa = {.sa_family = AF_UNIX};

	(void)state;
	assert_int_equal(cidr_parse("0.0.0.0/0", &n), 0);
	assert_true(cidr_match(&n, (struct sockaddr *)&sin, sizeof(sin)));
	assert_false(cidr_match(&n, (struct sockaddr *)&sin, sizeof(sin) - 1)); /* too short */
	assert_false(cidr_match(&n, &sa, sizeof(sa)));
	assert_false(cidr_match(&n, NULL, 0));
}

static void match_any(void **state)
{
	struct cidr nets[2];
	socklen_t len;
	const struct sockaddr *a;

	(void)state;
	assert_int_equal(cidr_parse("10.0.0.0/8", &nets[0]), 0);
	assert_int_equal(cidr_parse("::1", &nets[1]), 0);
	a = addr("::1", &len);
	assert_true(cidr_match_any(nets, 2, a, len));
	assert_false(cidr_match_any(nets, 1, a, len));
	a = addr("10.3.3.3", &len);
	assert_true(cidr_match_any(nets, 2, a, len));
	a = addr("192.0.2.1", &len);
	assert_false(cidr_match_any(nets, 2, a, len));
	assert_false(cidr_match_any(nets, 0, a, len));
}

static void text_form(void **state)
{
	static const char *const cases[][2] = {
		{"10.1.2.3/8", "10.0.0.0/8"},	  {"127.0.0.1", "127.0.0.1/32"},
		{"0.0.0.0/0", "0.0.0.0/0"},	  {"::1", "::1/128"},
		{"fd12:3456::1/16", "fd12::/16"}, {"::/0", "::/0"},
		{"10.1.0.0/15", "10.0.0.0/15"},	  {"fe80::ffff/127", "fe80::fffe/127"},
	};
	struct cidr n;
	char buf[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(cidr_parse(cases[i][0], &n), 0);
		assert_string_equal(cidr_str(&n, buf, sizeof(buf)), cases[i][1]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(refused),	 cmocka_unit_test(ipv4_networks),
		cmocka_unit_test(ipv6_networks), cmocka_unit_test(mapped_clients),
		cmocka_unit_test(odd_sockaddrs), cmocka_unit_test(match_any),
		cmocka_unit_test(text_form),
	};

	return cmocka_run_group_tests_name("cidr", tests, NULL, NULL);
}
