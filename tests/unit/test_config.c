// SPDX-License-Identifier: MIT
/* Command-line parsing: good flags land in the config, bad ones give a message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ringer/config.h"

static char err[256];

static int parse(struct config *cfg, const char *const *args)
{
	char *argv[64] = {"ringer"};
	int argc = 1;

	while (*args && argc < 63)
		argv[argc++] = (char *)*args++;
	config_defaults(cfg);
	err[0] = 0;
	return config_parse(cfg, argc, argv, err, sizeof(err));
}

#define PARSE_OK(...)                                          \
	do {                                                   \
		const char *a_[] = {__VA_ARGS__, NULL};        \
		if (parse(&cfg, a_))                           \
			fail_msg("unexpected error: %s", err); \
	} while (0)

#define PARSE_BAD(needle, ...)                                            \
	do {                                                              \
		const char *a_[] = {__VA_ARGS__, NULL};                   \
		assert_int_equal(parse(&cfg, a_), -EINVAL);               \
		if (!strstr(err, needle))                                 \
			fail_msg("message '%s' lacks '%s'", err, needle); \
	} while (0)

static void defaults(void **state)
{
	struct config cfg;
	const char *none[] = {NULL};

	(void)state;
	assert_int_equal(parse(&cfg, none), 0);
	assert_int_equal(cfg.mode, MODE_ECHO);
	assert_int_equal(net_addr_port(&cfg.listen), 9000);
	/* Vanished peers go: keepalive is on unless turned off. */
	assert_int_equal(cfg.ka_idle_s, 60);
	assert_int_equal(cfg.ka_intvl_s, 10);
	assert_int_equal(cfg.ka_cnt, 6);
	/* A black-holed path goes when a silent one does: the keepalive's 2 minutes. */
	assert_int_equal(cfg.user_timeout_ms, 120000);
	assert_int_equal(cfg.shards, 0);
	assert_true(cfg.max_conns > 0);
	assert_int_equal(cfg.buf_count & (cfg.buf_count - 1), 0);
	assert_true(cfg.pin);
	/* Slow requests are cut by default: headers in 10 s, bodies at 500 bytes/s. */
	assert_int_equal(cfg.header_ms, 10000);
	assert_int_equal(cfg.body_ms, 10000);
	assert_int_equal(cfg.body_rate, 500);
}

static void good_flags(void **state)
{
	struct config cfg;
	char buf[64];

	(void)state;
	PARSE_OK("--listen", "127.0.0.1:0", "--mode", "http", "--shards", "3", "--max-conns", "100",
		 "--buf-size", "4k", "--buf-count", "512", "--ring-entries", "256",
		 "--drain-timeout=250", "--idle-timeout", "1000", "--body", "hi", "--no-pin",
		 "--quiet");
	assert_string_equal(net_addr_str(&cfg.listen, buf, sizeof(buf)), "127.0.0.1:0");
	assert_int_equal(cfg.mode, MODE_HTTP);
	assert_int_equal(cfg.shards, 3);
	assert_int_equal(cfg.max_conns, 100);
	assert_int_equal(cfg.buf_size, 4096);
	assert_int_equal(cfg.buf_count, 512);
	assert_int_equal(cfg.ring_entries, 256);
	assert_int_equal(cfg.drain_ms, 250);
	assert_int_equal(cfg.idle_ms, 1000);
	assert_string_equal(cfg.body, "hi");
	assert_false(cfg.pin);
	assert_true(cfg.quiet);

	PARSE_OK("--mode", "http", "--body-size", "1m");
	assert_true(cfg.body_filler);
	assert_int_equal(cfg.body_size, 1 << 20);

	PARSE_OK("--mode", "proxy", "--upstream", "127.0.0.1:80", "--upstream", "[::1]:81");
	assert_int_equal(cfg.n_upstreams, 2);
	assert_int_equal(net_addr_port(&cfg.upstreams[1].addr), 81);

	PARSE_OK("--help");
	assert_true(cfg.help);
	PARSE_OK("-V");
	assert_true(cfg.version);
}

static void addresses(void **state)
{
	struct net_addr a;
	char buf[64];

	(void)state;
	assert_int_equal(net_addr_parse("[::1]:8080", &a), 0);
	assert_int_equal(a.ss.ss_family, AF_INET6);
	assert_string_equal(net_addr_str(&a, buf, sizeof(buf)), "[::1]:8080");
	assert_int_equal(net_addr_parse(":80", &a), 0);
	assert_string_equal(net_addr_str(&a, buf, sizeof(buf)), "0.0.0.0:80");
	assert_int_equal(net_addr_parse("localhost:1", &a), 0);
	assert_string_equal(net_addr_str(&a, buf, sizeof(buf)), "127.0.0.1:1");
	assert_int_equal(net_addr_parse("[::]:0", &a), 0);
	assert_int_equal(net_addr_parse("127.0.0.1", &a), -EINVAL);
	assert_int_equal(net_addr_parse("127.0.0.1:", &a), -EINVAL);
	assert_int_equal(net_addr_parse("127.0.0.1:65536", &a), -EINVAL);
	assert_int_equal(net_addr_parse("127.0.0.1:-1", &a), -EINVAL);
	assert_int_equal(net_addr_parse("::1:80", &a), -EINVAL);
	assert_int_equal(net_addr_parse("[::1]80", &a), -EINVAL);
	assert_int_equal(net_addr_parse("300.1.1.1:80", &a), -EINVAL);
	assert_int_equal(net_addr_parse("", &a), -EINVAL);
}

static void numbers(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(parse_uint("42", 0, 100, false, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(parse_uint("16k", 0, 1 << 20, true, &v), 0);
	assert_int_equal(v, 16384);
	assert_int_equal(parse_uint("16k", 0, 1 << 20, false, &v), -EINVAL);
	assert_int_equal(parse_uint("101", 0, 100, false, &v), -ERANGE);
	assert_int_equal(parse_uint("-1", 0, 100, false, &v), -EINVAL);
	assert_int_equal(parse_uint("1x", 0, 100, true, &v), -EINVAL);
	assert_int_equal(parse_uint("99999999999999999999999", 0, UINT64_MAX, false, &v), -EINVAL);
	assert_int_equal(parse_uint("18446744073709551615k", 0, UINT64_MAX, true, &v), -ERANGE);
}

static void bad_flags(void **state)
{
	struct config cfg;

	(void)state;
	PARSE_BAD("unknown option '--nope'", "--nope");
	PARSE_BAD("unknown option '--nope'", "--nope=3");
	PARSE_BAD("--shards needs a value", "--shards");
	PARSE_BAD("--shards: '0'", "--shards", "0");
	PARSE_BAD("--shards: 'x'", "--shards", "x");
	PARSE_BAD("--max-conns", "--max-conns", "-5");
	PARSE_BAD("not a power of two", "--buf-count", "1000");
	PARSE_BAD("not a power of two", "--ring-entries", "1000");
	/* 4 x 32768 completion entries is more than the kernel allows: refused here, not at startup. */
	PARSE_BAD("from 8 to 16384", "--ring-entries", "32768");
	PARSE_OK("--keepalive", "off");
	assert_int_equal(cfg.ka_idle_s, 0);
	PARSE_OK("--keepalive", "30,5,4");
	assert_int_equal(cfg.ka_idle_s, 30);
	assert_int_equal(cfg.ka_cnt, 4);
	PARSE_BAD("--keepalive", "--keepalive", "60,10");
	PARSE_BAD("--keepalive", "--keepalive", "0,10,6");
	PARSE_BAD("--keepalive", "--keepalive", "60,-1,6");
	PARSE_BAD("--keepalive", "--keepalive", "on");
	/* TCP_USER_TIMEOUT: the keepalive's span unless given; 0 is the kernel's own. */
	PARSE_OK("--keepalive", "10,5,3");
	assert_int_equal(cfg.user_timeout_ms, 25000);
	PARSE_OK("--keepalive", "off");
	assert_int_equal(cfg.user_timeout_ms, 120000);
	PARSE_OK("--keepalive", "10,5,3", "--tcp-user-timeout", "2000");
	assert_int_equal(cfg.user_timeout_ms, 2000);
	PARSE_OK("--tcp-user-timeout", "0");
	assert_int_equal(cfg.user_timeout_ms, 0);
	PARSE_BAD("--tcp-user-timeout: '2s'", "--tcp-user-timeout", "2s");
	PARSE_BAD("--tcp-user-timeout: '-1'", "--tcp-user-timeout", "-1");
	PARSE_BAD("--tcp-user-timeout needs a value", "--tcp-user-timeout");
	PARSE_BAD("--buf-size", "--buf-size", "10");
	PARSE_BAD("--listen: 'nowhere'", "--listen", "nowhere");
	PARSE_BAD("--mode: 'ftp'", "--mode", "ftp");
	PARSE_BAD("conflict", "--mode", "http", "--body", "a", "--body-size", "3");
	PARSE_BAD("need --mode http", "--body", "a");
	PARSE_BAD("need --mode http", "--body-min-rate", "100");
	PARSE_BAD("--body-timeout: 'x'", "--mode", "http", "--body-timeout", "x");
	PARSE_BAD("--body-min-rate", "--mode", "http", "--body-min-rate", "-1");
	PARSE_OK("--mode", "http", "--body-timeout", "0", "--body-min-rate", "0");
	assert_int_equal(cfg.body_ms, 0);
	assert_int_equal(cfg.body_rate, 0);
	PARSE_BAD("need --mode proxy", "--upstream", "127.0.0.1:1");
	PARSE_BAD("need --mode proxy", "--connect-retries", "1");
	PARSE_BAD("need --mode proxy", "--balance", "leastconn");
	PARSE_BAD("--send-proxy needs --mode proxy", "--send-proxy", "v2");
	PARSE_BAD("need --mode proxy", "--check");
	PARSE_BAD("need --mode proxy", "--log", "-");
	PARSE_BAD("--send-proxy: 'v3' is not v1 or v2", "--mode", "proxy", "--upstream",
		  "127.0.0.1:1", "--send-proxy", "v3");
	PARSE_BAD("--check-interval", "--mode", "proxy", "--upstream", "127.0.0.1:1",
		  "--check-interval", "50");
	PARSE_BAD("--handover", "--handover", "");
	PARSE_BAD("--handover", "--handover",
		  "/tmp/"
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaa"
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock");
	PARSE_OK("--handover", "/run/ringer.sock");
	assert_string_equal(cfg.handover_path, "/run/ringer.sock");
	PARSE_BAD("maxconn=N", "--mode", "proxy", "--upstream", "127.0.0.1:1,maxconn=0");
	PARSE_BAD("maxconn=N", "--mode", "proxy", "--upstream", "127.0.0.1:1,color=red");
	PARSE_OK("--mode", "proxy", "--upstream", "127.0.0.1:1,weight=2,maxconn=7",
		 "--queue-timeout", "250");
	assert_int_equal(cfg.upstreams[0].maxconn, 7);
	assert_int_equal(cfg.upstreams[0].weight, 2);
	assert_int_equal(cfg.queue_ms, 250);
	PARSE_OK("--mode", "http", "--methods", "GET,HEAD,OPTIONS");
	assert_int_equal(cfg.methods, 1u << 0 | 1u << 1 | 1u << 6);
	PARSE_OK("--mode", "http", "--methods", "any");
	assert_int_equal(cfg.methods, 0);
	PARSE_BAD("--methods: 'get' is not one of", "--mode", "http", "--methods", "get");
	PARSE_BAD("need --mode http", "--methods", "GET");
	PARSE_OK("--mode", "http");
	assert_false(cfg.echo_body);
	PARSE_OK("--echo-body", "--mode", "http", "--methods", "GET,POST", "--body", "x");
	assert_true(cfg.echo_body);
	assert_int_equal(cfg.methods, 1u << 0 | 1u << 2);
	PARSE_BAD("--echo-body needs --mode http (it answers each HTTP request with that "
		  "request's body; --mode echo does not parse HTTP)",
		  "--echo-body");
	PARSE_BAD("--echo-body needs --mode http", "--mode", "echo", "--echo-body");
	PARSE_BAD("--mode proxy does not parse HTTP", "--mode", "proxy", "--upstream",
		  "127.0.0.1:1", "--echo-body");
	PARSE_BAD("takes no value", "--mode", "http", "--echo-body=1");
	PARSE_OK("--accept-proxy", "--mode", "http");
	assert_true(cfg.accept_proxy);
	PARSE_OK("--mode", "proxy", "--upstream", "127.0.0.1:1", "--send-proxy", "v1",
		 "--check-fall", "5");
	assert_int_equal(cfg.send_proxy, 1);
	assert_true(cfg.check);
	assert_int_equal(cfg.check_fall, 5);
	PARSE_BAD("needs at least one --upstream", "--mode", "proxy");
	PARSE_BAD("with a port", "--mode", "proxy", "--upstream", "127.0.0.1:0");
	PARSE_BAD("takes no value", "--quiet=1");
	PARSE_BAD("unexpected argument 'echo'", "echo");
	PARSE_BAD("same port", "--listen", "127.0.0.1:5000", "--admin", "127.0.0.1:5000");
}

/* --mode http-proxy: its flags, upstream groups and routes, and what it shares with the others. */
static void http_proxy_flags(void **state)
{
	struct config cfg;
	char buf[64];

	(void)state;
	PARSE_OK("--mode", "http-proxy", "--upstream", "127.0.0.1:80");
	assert_int_equal(cfg.mode, MODE_HTTP_PROXY);
	assert_string_equal(mode_name(cfg.mode), "http-proxy");
	/* The defaults config_defaults() gives. */
	assert_int_equal(cfg.upstream_ms, 60000);
	assert_int_equal(cfg.max_body, 0);
	assert_null(cfg.check_http);
	assert_false(cfg.check);
	assert_int_equal(cfg.pool_size, 1024);
	assert_int_equal(cfg.pool_idle_ms, 60000);
	assert_int_equal(cfg.forwarded, FORWARDED_X);
	assert_int_equal(cfg.n_routes, 0);
	assert_string_equal(cfg.upstreams[0].group, "");

	/* Each flag lands where the mode reads it. */
	PARSE_OK("--mode", "http-proxy", "--upstream", "127.0.0.1:80", "--upstream-timeout", "1500",
		 "--max-body", "2m", "--check-http", "HEAD /healthz?full=1", "--pool-size", "0",
		 "--pool-idle-timeout", "2500", "--forwarded", "rfc7239");
	assert_int_equal(cfg.upstream_ms, 1500);
	assert_int_equal(cfg.max_body, 2u << 20);
	assert_string_equal(cfg.check_http, "HEAD /healthz?full=1");
	assert_true(cfg.check);
	assert_int_equal(cfg.pool_size, 0);
	assert_int_equal(cfg.pool_idle_ms, 2500);
	assert_int_equal(cfg.forwarded, FORWARDED_RFC7239);
	PARSE_OK("--mode", "http-proxy", "--upstream", "127.0.0.1:80", "--forwarded", "none",
		 "--max-body", "17", "--pool-size", "4096");
	assert_int_equal(cfg.forwarded, FORWARDED_NONE);
	assert_int_equal(cfg.max_body, 17);
	assert_int_equal(cfg.pool_size, 4096);
	PARSE_OK("--mode", "http-proxy", "--upstream", "127.0.0.1:80", "--forwarded",
		 "x-forwarded");
	assert_int_equal(cfg.forwarded, FORWARDED_X);

	/* group= on --upstream, and --upstream-group's list: each address takes its options. */
	PARSE_OK("--mode", "http-proxy", "--upstream", "127.0.0.1:80,weight=2,group=web",
		 "--upstream-group",
		 "api=127.0.0.1:81,weight=3,maxconn=9,[::1]:82,127.0.0.1:83,tls", "--upstream",
		 "127.0.0.1:84", "--upstream-group", "default=127.0.0.1:85");
	assert_int_equal(cfg.n_upstreams, 6);
	assert_string_equal(cfg.upstreams[0].group, "web");
	assert_int_equal(cfg.upstreams[0].weight, 2);
	assert_string_equal(cfg.upstreams[1].name, "127.0.0.1:81");
	assert_string_equal(cfg.upstreams[1].group, "api");
	assert_int_equal(cfg.upstreams[1].weight, 3);
	assert_int_equal(cfg.upstreams[1].maxconn, 9);
	assert_string_equal(cfg.upstreams[2].name, "[::1]:82");
	assert_string_equal(cfg.upstreams[2].group, "api");
	assert_int_equal(cfg.upstreams[2].weight, 1);
	assert_int_equal(cfg.upstreams[2].maxconn, 0);
	assert_string_equal(net_addr_str(&cfg.upstreams[2].addr, buf, sizeof(buf)), "[::1]:82");
	assert_string_equal(cfg.upstreams[3].group, "api");
	assert_true(cfg.upstreams[3].tls);
	assert_false(cfg.upstreams[2].tls);
	assert_string_equal(cfg.upstreams[4].group, "");
	/* "default" names the upstreams without a group. */
	assert_string_equal(cfg.upstreams[5].group, "");
	assert_true(cfg.tls_upstreams);

	/* Routes: host in lower case, prefix as written, "default" and "" the same group. */
	PARSE_OK("--mode", "http-proxy", "--upstream", "127.0.0.1:80", "--route",
		 "API.Example.com/v1/=api", "--route", "*.static.example/=default", "--route",
		 "/img=", "--route", "[::1]=api", "--route", "10.0.0.1/a=b=api", "--upstream",
		 "127.0.0.1:81,group=api", "--route", "example.com=api");
	assert_int_equal(cfg.n_routes, 6);
	assert_string_equal(cfg.routes[0].host, "api.example.com");
	assert_string_equal(cfg.routes[0].prefix, "/v1/");
	assert_string_equal(cfg.routes[0].group, "api");
	assert_string_equal(cfg.routes[1].host, "*.static.example");
	assert_string_equal(cfg.routes[1].prefix, "/");
	assert_string_equal(cfg.routes[1].group, "");
	assert_string_equal(cfg.routes[2].host, "");
	assert_string_equal(cfg.routes[2].prefix, "/img");
	assert_string_equal(cfg.routes[2].group, "");
	assert_string_equal(cfg.routes[3].host, "[::1]");
	assert_string_equal(cfg.routes[3].prefix, "");
	/* GROUP follows the last '=': a prefix may hold one. */
	assert_string_equal(cfg.routes[4].prefix, "/a=b");
	assert_string_equal(cfg.routes[4].group, "api");
	assert_string_equal(cfg.routes[5].host, "example.com");
	assert_string_equal(cfg.routes[5].prefix, "");
	/* TLS to clients: http-proxy says http/1.1 in ALPN, as http does. */
	PARSE_OK("--mode", "http-proxy", "--upstream", "127.0.0.1:80", "--tls-cert", "c.pem",
		 "--tls-key", "k.pem");
	assert_string_equal(cfg.tls.alpn, "http/1.1");

	/* The proxy flags and the http request limits that make sense here are accepted. */
	PARSE_OK("--mode", "http-proxy", "--upstream", "127.0.0.1:80,maxconn=4", "--balance",
		 "leastconn", "--connect-timeout", "100", "--connect-retries", "1",
		 "--fail-threshold", "2", "--down-time", "300", "--check-interval", "500",
		 "--check-fall", "2", "--check-rise", "1", "--queue-timeout", "700", "--log", "-",
		 "--half-close-timeout", "800", "--accept-proxy", "--header-timeout", "900",
		 "--body-timeout", "1000", "--body-min-rate", "10");
	assert_int_equal(cfg.balance, BALANCE_LEASTCONN);
	assert_int_equal(cfg.connect_ms, 100);
	assert_int_equal(cfg.queue_ms, 700);
	assert_int_equal(cfg.half_close_ms, 800);
	assert_int_equal(cfg.header_ms, 900);
	assert_int_equal(cfg.body_ms, 1000);
	assert_int_equal(cfg.body_rate, 10);
	assert_true(cfg.check);
	assert_true(cfg.accept_proxy);
	PARSE_OK("--mode", "http-proxy", "--upstream", "127.0.0.1:80", "--upstream-ca", "ca.pem",
		 "--upstream-cert", "c.pem", "--upstream-key", "k.pem");
	assert_string_equal(cfg.upstream_key, "k.pem");

	/* Errors, each one line naming the flag. */
	PARSE_BAD("--mode http-proxy needs at least one --upstream", "--mode", "http-proxy");
	PARSE_BAD("--mode http-proxy needs at least one --upstream", "--mode", "http-proxy",
		  "--route", "/=default");
	PARSE_BAD("not one of echo, http, proxy, http-proxy", "--mode", "https-proxy");
	PARSE_BAD("--send-proxy: not with --mode http-proxy (pooled upstream connections carry "
		  "many clients' requests",
		  "--mode", "http-proxy", "--upstream", "127.0.0.1:80", "--send-proxy", "v1");
	PARSE_BAD("--body/--body-size/--methods/--echo-body need --mode http", "--mode",
		  "http-proxy", "--upstream", "127.0.0.1:80", "--body", "x");
	PARSE_BAD("need --mode http", "--mode", "http-proxy", "--upstream", "127.0.0.1:80",
		  "--methods", "GET");
	PARSE_BAD("--echo-body needs --mode http (it answers each HTTP request with that "
		  "request's body; --mode http-proxy forwards requests upstream)",
		  "--mode", "http-proxy", "--upstream", "127.0.0.1:80", "--echo-body");
	PARSE_BAD("--header-timeout/--body-timeout/--body-min-rate need --mode http or http-proxy",
		  "--mode", "proxy", "--upstream", "127.0.0.1:80", "--header-timeout", "5");
	PARSE_BAD("need --mode proxy or http-proxy", "--upstream", "127.0.0.1:1");
	PARSE_BAD("need --mode proxy or http-proxy", "--mode", "http", "--balance", "source");
	{
		static const char *const only[][2] = {
			{"--upstream-group", "a=127.0.0.1:1"},
			{"--route", "/=default"},
			{"--upstream-timeout", "5"},
			{"--max-body", "5"},
			{"--check-http", "GET /"},
			{"--pool-size", "5"},
			{"--pool-idle-timeout", "5"},
			{"--forwarded", "none"},
		};

		for (unsigned i = 0; i < sizeof(only) / sizeof(only[0]); i++) {
			PARSE_BAD("need --mode http-proxy", "--mode", "proxy", "--upstream",
				  "127.0.0.1:1", only[i][0], only[i][1]);
			PARSE_BAD("need --mode http-proxy", only[i][0], only[i][1]);
		}
	}
	PARSE_BAD("--upstream 127.0.0.1:1,group=a: groups need --mode http-proxy (--mode proxy "
		  "has one set of upstreams)",
		  "--mode", "proxy", "--upstream", "127.0.0.1:1,group=a");
	PARSE_BAD("group=NAME (1 to 31", "--mode", "http-proxy", "--upstream",
		  "127.0.0.1:1,group=a/b");
	PARSE_BAD("group=NAME (1 to 31", "--mode", "http-proxy", "--upstream",
		  "127.0.0.1:1,group=");
	PARSE_BAD("group=NAME (1 to 31", "--mode", "http-proxy", "--upstream",
		  "127.0.0.1:1,group=abcdefghijklmnopqrstuvwxyz012345");
	PARSE_OK("--mode", "http-proxy", "--upstream",
		 "127.0.0.1:1,group=abcdefghijklmnopqrstuvwxyz01234");
	assert_string_equal(cfg.upstreams[0].group, "abcdefghijklmnopqrstuvwxyz01234");
	PARSE_BAD("--upstream-group: 'api' is not NAME=HOST:PORT", "--mode", "http-proxy",
		  "--upstream-group", "api");
	PARSE_BAD("--upstream-group: 'a b=127.0.0.1:1' is not NAME=HOST:PORT", "--mode",
		  "http-proxy", "--upstream-group", "a b=127.0.0.1:1");
	PARSE_BAD("--upstream-group api: no HOST:PORT after '='", "--mode", "http-proxy",
		  "--upstream-group", "api=");
	PARSE_BAD("--upstream-group api: 'weight=2' is not HOST:PORT", "--mode", "http-proxy",
		  "--upstream-group", "api=weight=2,127.0.0.1:1");
	PARSE_BAD("--upstream-group api: no group= in it", "--mode", "http-proxy",
		  "--upstream-group", "api=127.0.0.1:1,group=web");
	PARSE_BAD("ends with ','", "--mode", "http-proxy", "--upstream-group", "api=127.0.0.1:1,");
	PARSE_BAD("with a port", "--mode", "http-proxy", "--upstream-group",
		  "api=127.0.0.1:1,127.0.0.1:0");
	PARSE_BAD("maxconn=N", "--mode", "http-proxy", "--upstream-group",
		  "api=127.0.0.1:1,color=red");
	PARSE_BAD("--route /v1=api: no upstream group api", "--mode", "http-proxy", "--upstream",
		  "127.0.0.1:1", "--route", "/v1=api");
	PARSE_BAD("--route /v1=default: no upstream group default", "--mode", "http-proxy",
		  "--upstream", "127.0.0.1:1,group=api", "--route", "/v1=");
	PARSE_BAD("--route: 'example.com' is not [HOST][/PREFIX]=GROUP", "--mode", "http-proxy",
		  "--upstream", "127.0.0.1:1", "--route", "example.com");
	PARSE_BAD("--route: 'example.com:8080/=default': a route's host has no port", "--mode",
		  "http-proxy", "--upstream", "127.0.0.1:1", "--route",
		  "example.com:8080/=default");
	PARSE_BAD("an IPv6 host is [ADDRESS] (no port)", "--mode", "http-proxy", "--upstream",
		  "127.0.0.1:1", "--route", "[::1]:80=default");
	PARSE_BAD("'[nope]' is not an IPv6 address", "--mode", "http-proxy", "--upstream",
		  "127.0.0.1:1", "--route", "[nope]=default");
	PARSE_BAD("'a..b' is not a host name", "--mode", "http-proxy", "--upstream", "127.0.0.1:1",
		  "--route", "a..b=default");
	PARSE_BAD("'*' is not a host name", "--mode", "http-proxy", "--upstream", "127.0.0.1:1",
		  "--route", "*.=default");
	PARSE_BAD("a path prefix holds no space, control byte", "--mode", "http-proxy",
		  "--upstream", "127.0.0.1:1", "--route", "/a b=default");
	PARSE_BAD("'a/b' is not a group's name", "--mode", "http-proxy", "--upstream",
		  "127.0.0.1:1", "--route", "x=a/b");
	PARSE_BAD("--route EXAMPLE.com/v1=default: that host and prefix are routed already",
		  "--mode", "http-proxy", "--upstream", "127.0.0.1:1", "--route",
		  "example.com/v1=default", "--route", "EXAMPLE.com/v1=default");
	PARSE_BAD("--upstream-timeout: '0' is not a whole number from 1 to 86400000", "--mode",
		  "http-proxy", "--upstream", "127.0.0.1:1", "--upstream-timeout", "0");
	PARSE_BAD("--upstream-timeout: '86400001'", "--mode", "http-proxy", "--upstream",
		  "127.0.0.1:1", "--upstream-timeout", "86400001");
	PARSE_BAD("--max-body: '1t' is not a size", "--mode", "http-proxy", "--upstream",
		  "127.0.0.1:1", "--max-body", "1t");
	PARSE_BAD("--max-body: '-1'", "--mode", "http-proxy", "--upstream", "127.0.0.1:1",
		  "--max-body", "-1");
	PARSE_BAD("--pool-size: '4097' is not a whole number from 0 to 4096", "--mode",
		  "http-proxy", "--upstream", "127.0.0.1:1", "--pool-size", "4097");
	PARSE_BAD("--pool-idle-timeout: '0'", "--mode", "http-proxy", "--upstream", "127.0.0.1:1",
		  "--pool-idle-timeout", "0");
	PARSE_BAD("--forwarded: 'X-Forwarded' is not x-forwarded, rfc7239 or none", "--mode",
		  "http-proxy", "--upstream", "127.0.0.1:1", "--forwarded", "X-Forwarded");
	{
		static const char *const bad_checks[] = {
			"GET",	  "GET health", "GET  /",  "GET /a b",
			" GET /", "GE(T /",	"GET /\t", ""};

		for (unsigned i = 0; i < sizeof(bad_checks) / sizeof(bad_checks[0]); i++)
			PARSE_BAD("--check-http: '", "--mode", "http-proxy", "--upstream",
				  "127.0.0.1:1", "--check-http", bad_checks[i]);
	}
	{
		char many[CONFIG_MAX_ROUTES + 1][16];
		const char *argv[2 * (CONFIG_MAX_ROUTES + 1) + 6] = {
			"ringer", "--mode", "http-proxy", "--upstream", "127.0.0.1:1"};
		int argc = 5;

		for (unsigned i = 0; i <= CONFIG_MAX_ROUTES; i++) {
			snprintf(many[i], sizeof(many[i]), "/r%u=", i);
			argv[argc++] = "--route";
			argv[argc++] = many[i];
		}
		config_defaults(&cfg);
		assert_int_equal(
			config_parse(&cfg, argc - 2, (char *const *)argv, err, sizeof(err)), 0);
		assert_int_equal(cfg.n_routes, CONFIG_MAX_ROUTES);
		config_defaults(&cfg);
		assert_int_equal(config_parse(&cfg, argc, (char *const *)argv, err, sizeof(err)),
				 -EINVAL);
		assert_non_null(strstr(err, "--route: at most 64 routes"));
	}
}

/* A reload: an upstream is its name and its group; moving it to another group retires it. */
static void reload_keeps_name_and_group(void **state)
{
	static struct upstream_set first, second;
	struct config_upstream next[3] = {0};
	int64_t active[CONFIG_MAX_UPSTREAMS] = {0};
	struct config cfg;
	char why[256];

	(void)state;
	PARSE_OK("--mode", "http-proxy", "--upstream", "127.0.0.1:1,group=a", "--upstream",
		 "127.0.0.1:2", "--route", "/a=a");
	config_initial_set(&cfg, &first);
	next[0] = first.up[0];
	next[1] = first.up[1];
	snprintf(next[0].group, sizeof(next[0].group), "b"); /* 127.0.0.1:1 moves to b */
	assert_int_equal(config_reload_set(&first, next, 2, active, &second), 0);
	assert_int_equal(second.n, 3);
	assert_false(second.enabled[0]); /* a's 127.0.0.1:1 retired */
	assert_string_equal(second.up[0].group, "a");
	assert_true(second.enabled[1]); /* the ungrouped one kept its slot */
	assert_string_equal(second.up[2].name, "127.0.0.1:1");
	assert_string_equal(second.up[2].group, "b");
	assert_true(second.enabled[2]);
	/* The same name in two groups is two upstreams, each kept in its slot. */
	next[2] = first.up[0];
	assert_int_equal(config_reload_set(&first, next, 3, active, &second), 0);
	assert_int_equal(second.n, 3);
	assert_true(second.enabled[0]);
	assert_string_equal(second.up[0].group, "a");
	assert_string_equal(second.up[2].group, "b");

	/* A reloaded set is checked against the mode and the routes. */
	assert_int_equal(config_check_groups(&cfg, next, 3, why, sizeof(why)), 0);
	assert_int_equal(config_check_groups(&cfg, next, 2, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "--route /a=a: no upstream group a"));
	PARSE_OK("--mode", "proxy", "--upstream", "127.0.0.1:1");
	assert_int_equal(config_check_groups(&cfg, next, 2, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "groups need --mode http-proxy"));
	assert_int_equal(config_check_groups(&cfg, next + 1, 1, why, sizeof(why)), 0);

	/* --upstreams-file lines take group= too, in http-proxy mode only. */
	{
		char path[] = "/tmp/ringer-test-groups-XXXXXX";
		int fd = mkstemp(path);
		FILE *f;

		assert_true(fd >= 0);
		f = fdopen(fd, "w");
		fputs("127.0.0.1:9001,group=api\n127.0.0.1:9002,weight=2\n", f);
		fclose(f);
		PARSE_OK("--mode", "http-proxy", "--upstreams-file", path, "--route", "/a=api");
		assert_int_equal(cfg.n_upstreams, 2);
		assert_string_equal(cfg.upstreams[0].group, "api");
		assert_string_equal(cfg.upstreams[1].group, "");
		PARSE_BAD("groups need --mode http-proxy", "--mode", "proxy", "--upstreams-file",
			  path);
		PARSE_BAD("--upstream-group: not with --upstreams-file", "--mode", "http-proxy",
			  "--upstreams-file", path, "--upstream-group", "b=127.0.0.1:1");
		PARSE_BAD("--route /b=b: no upstream group b", "--mode", "http-proxy",
			  "--upstreams-file", path, "--route", "/b=b");
		unlink(path);
	}
}

/* --upstreams-file and what a reload makes of the set. */
static void upstreams_file_and_reload(void **state)
{
	char path[] = "/tmp/ringer-test-upstreams-XXXXXX", why[256];
	struct config_upstream next[CONFIG_MAX_UPSTREAMS];
	static struct upstream_set first, second, third;
	int64_t active[CONFIG_MAX_UPSTREAMS] = {0};
	struct config cfg;
	int fd = mkstemp(path);
	FILE *f;

	(void)state;
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("# upstreams\n127.0.0.1:9001,weight=3\n\n  127.0.0.1:9002,maxconn=5  # two\n", f);
	fclose(f);
	PARSE_OK("--mode", "proxy", "--upstreams-file", path);
	assert_int_equal(cfg.n_upstreams, 2);
	assert_int_equal(cfg.upstreams[0].weight, 3);
	assert_int_equal(cfg.upstreams[1].maxconn, 5);
	PARSE_BAD("not with --upstreams-file", "--mode", "proxy", "--upstreams-file", path,
		  "--upstream", "127.0.0.1:1");
	PARSE_BAD("with --upstream", "--mode", "proxy", "--upstream", "127.0.0.1:1",
		  "--upstreams-file", path);

	/* A reload keeps 9002's slot, retires 9001's, gives 9003 a new one. */
	PARSE_OK("--mode", "proxy", "--upstreams-file", path);
	config_initial_set(&cfg, &first);
	assert_int_equal(config_read_upstreams(path, next, CONFIG_MAX_UPSTREAMS, why, sizeof(why)),
			 2);
	snprintf(next[0].name, sizeof(next[0].name), "127.0.0.1:9003");
	assert_int_equal(config_reload_set(&first, next, 2, active, &second), 0);
	assert_int_equal(second.n, 3);
	assert_int_equal(second.gen, first.gen + 1);
	assert_false(second.enabled[0]);
	assert_string_equal(second.up[1].name, "127.0.0.1:9002");
	assert_true(second.enabled[1]);
	assert_string_equal(second.up[2].name, "127.0.0.1:9003");
	assert_true(second.enabled[2]);

	/* A full table: a retired slot without sessions is reused, one with sessions is not. */
	memset(&third, 0, sizeof(third));
	third.n = CONFIG_MAX_UPSTREAMS;
	for (unsigned i = 0; i < CONFIG_MAX_UPSTREAMS; i++)
		snprintf(third.up[i].name, sizeof(third.up[i].name), "10.0.0.%u:1", i);
	active[0] = 1;
	snprintf(next[0].name, sizeof(next[0].name), "10.9.9.9:1");
	assert_int_equal(config_reload_set(&third, next, 1, active, &second), 0);
	assert_string_equal(second.up[1].name, "10.9.9.9:1");
	for (unsigned i = 1; i < CONFIG_MAX_UPSTREAMS; i++)
		active[i] = 1;
	assert_int_equal(config_reload_set(&third, next, 1, active, &second), -ENOSPC);

	/* A bad line says where. */
	f = fopen(path, "w");
	fputs("127.0.0.1:1\n127.0.0.1:nope\n", f);
	fclose(f);
	assert_int_equal(config_read_upstreams(path, next, CONFIG_MAX_UPSTREAMS, why, sizeof(why)),
			 -EINVAL);
	assert_non_null(strstr(why, ":2: "));
	f = fopen(path, "w");
	fputs("# nothing\n", f);
	fclose(f);
	assert_int_equal(config_read_upstreams(path, next, CONFIG_MAX_UPSTREAMS, why, sizeof(why)),
			 -EINVAL);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(upstreams_file_and_reload),
		cmocka_unit_test(defaults),
		cmocka_unit_test(good_flags),
		cmocka_unit_test(addresses),
		cmocka_unit_test(numbers),
		cmocka_unit_test(bad_flags),
		cmocka_unit_test(http_proxy_flags),
		cmocka_unit_test(reload_keeps_name_and_group),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
