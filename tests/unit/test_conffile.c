// SPDX-License-Identifier: MIT
/*
 * The configuration file (src/server/conffile.c): every flag of config.c's
 * table has a directive that sets the same as the flag, units and quoting,
 * inheritance, includes, every error at its FILE:LINE, and -T's output
 * loading back to the same configuration.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conffile.h"
#include "ringer/config.h"

static char err[512];

static int load(const char *text, struct conf_set *s)
{
	err[0] = 0;
	return conffile_load_text("t.conf", text, strlen(text), 0, s, err, sizeof(err));
}

#define LOAD_OK(text, s)                                                 \
	do {                                                             \
		if (load(text, s))                                       \
			fail_msg("unexpected error: %s\n%s", err, text); \
	} while (0)

/*
 * Two configurations are the same: every byte of the structs but the
 * pointers, whose strings are compared instead. A string field added to
 * struct config and not listed here shows as a difference: list it.
 */
static bool same_cfg(const struct config *a, const struct config *b, char *why, size_t len)
{
	static struct config x, y;
	const size_t ptrs[] = {
		offsetof(struct config, log_path),	   offsetof(struct config, body),
		offsetof(struct config, upstreams_path),   offsetof(struct config, handover_path),
		offsetof(struct config, upstream_ca),	   offsetof(struct config, upstream_cert),
		offsetof(struct config, upstream_key),	   offsetof(struct config, tls.ciphers),
		offsetof(struct config, tls.ciphersuites), offsetof(struct config, tls.groups),
		offsetof(struct config, tls.alpn),	   offsetof(struct config, tls.ca),
		offsetof(struct config, tls.crl),	   offsetof(struct config, tls.keylog),
		offsetof(struct config, conf_path),	   offsetof(struct config, user),
		offsetof(struct config, check_http),
	};
	const unsigned char *p, *q;

	memcpy(&x, a, sizeof(x));
	memcpy(&y, b, sizeof(y));
	for (unsigned i = 0; i < TLS_MAX_CERTS; i++) {
		if (!x.tls.cert[i] != !y.tls.cert[i] ||
		    (x.tls.cert[i] && strcmp(x.tls.cert[i], y.tls.cert[i])) ||
		    !x.tls.key[i] != !y.tls.key[i] ||
		    (x.tls.key[i] && strcmp(x.tls.key[i], y.tls.key[i]))) {
			snprintf(why, len, "tls certificate %u differs", i);
			return false;
		}
		x.tls.cert[i] = y.tls.cert[i] = x.tls.key[i] = y.tls.key[i] = NULL;
	}
	for (unsigned i = 0; i < sizeof(ptrs) / sizeof(ptrs[0]); i++) {
		const char **s = (const char **)((char *)&x + ptrs[i]);
		const char **t = (const char **)((char *)&y + ptrs[i]);

		/* conf_path: where a configuration came from, not what it is */
		if (ptrs[i] != offsetof(struct config, conf_path) &&
		    (!*s != !*t || (*s && strcmp(*s, *t)))) {
			snprintf(why, len, "the string at offset %zu: '%s' and '%s'", ptrs[i],
				 *s ? *s : "(null)", *t ? *t : "(null)");
			return false;
		}
		*s = *t = NULL;
	}
	p = (const unsigned char *)&x;
	q = (const unsigned char *)&y;
	for (size_t i = 0; i < sizeof(x); i++) {
		if (p[i] != q[i]) {
			snprintf(why, len, "byte %zu of struct config (%u and %u)", i, p[i], q[i]);
			return false;
		}
	}
	return true;
}

/* What a flag needs around it to be accepted on its own. */
enum ctx { C_ANY, C_HTTP, C_PROXY, C_TLS, C_HPROXY };

struct sample {
	const char *flag, *val; /* val NULL: a flag without a value ("on" in the file) */
	enum ctx ctx;
	const char *before, *before_val; /* a flag it needs given first */
	const char *after, *after_val;	 /* ... or after it */
};

static char upstreams_path[64];

/*
 * A value for every flag. A flag config.c gains without a sample here fails
 * the table test below, and so does one without a directive.
 */
static const struct sample samples[] = {
	{"--listen", "127.0.0.1:7005", C_ANY, NULL, NULL, NULL, NULL},
	{"--stats-interval", "7", C_ANY, NULL, NULL, NULL, NULL},
	{"--mode", "http", C_ANY, NULL, NULL, NULL, NULL},
	{"--shards", "3", C_ANY, NULL, NULL, NULL, NULL},
	{"--max-conns", "123", C_ANY, NULL, NULL, NULL, NULL},
	{"--buf-size", "8k", C_ANY, NULL, NULL, NULL, NULL},
	{"--buf-count", "512", C_ANY, NULL, NULL, NULL, NULL},
	{"--ring-entries", "256", C_ANY, NULL, NULL, NULL, NULL},
	{"--drain-timeout", "1234", C_ANY, NULL, NULL, NULL, NULL},
	{"--idle-timeout", "2345", C_ANY, NULL, NULL, NULL, NULL},
	{"--send-timeout", "3456", C_ANY, NULL, NULL, NULL, NULL},
	{"--body", "hi \"there\" \\ # not a comment", C_HTTP, NULL, NULL, NULL, NULL},
	{"--body-size", "100", C_HTTP, NULL, NULL, NULL, NULL},
	{"--header-timeout", "4567", C_HTTP, NULL, NULL, NULL, NULL},
	{"--methods", "GET,POST", C_HTTP, NULL, NULL, NULL, NULL},
	{"--echo-body", NULL, C_HTTP, NULL, NULL, NULL, NULL},
	{"--body-timeout", "5678", C_HTTP, NULL, NULL, NULL, NULL},
	{"--body-min-rate", "99", C_HTTP, NULL, NULL, NULL, NULL},
	{"--upstream", "127.0.0.1:7009,weight=3,maxconn=5,resolve,tls,sni=x.example,verify=none",
	 C_PROXY, NULL, NULL, NULL, NULL},
	{"--connect-timeout", "111", C_PROXY, NULL, NULL, NULL, NULL},
	{"--connect-retries", "1", C_PROXY, NULL, NULL, NULL, NULL},
	{"--balance", "source", C_PROXY, NULL, NULL, NULL, NULL},
	{"--half-close-timeout", "222", C_PROXY, NULL, NULL, NULL, NULL},
	{"--fail-threshold", "4", C_PROXY, NULL, NULL, NULL, NULL},
	{"--down-time", "333", C_PROXY, NULL, NULL, NULL, NULL},
	{"--check", NULL, C_PROXY, NULL, NULL, NULL, NULL},
	{"--upstreams-file", upstreams_path, C_PROXY, NULL, NULL, NULL, NULL},
	{"--queue-timeout", "444", C_PROXY, NULL, NULL, NULL, NULL},
	{"--accept-proxy", NULL, C_ANY, NULL, NULL, NULL, NULL},
	{"--send-proxy", "v2", C_PROXY, NULL, NULL, NULL, NULL},
	{"--log", "/tmp/ringer-test.log", C_PROXY, NULL, NULL, NULL, NULL},
	{"--check-interval", "555", C_PROXY, NULL, NULL, NULL, NULL},
	{"--resolve-interval", "777", C_PROXY, NULL, NULL, NULL, NULL},
	{"--check-fall", "5", C_PROXY, NULL, NULL, NULL, NULL},
	{"--check-rise", "6", C_PROXY, NULL, NULL, NULL, NULL},
	{"--admin", "127.0.0.1:7010", C_ANY, NULL, NULL, NULL, NULL},
	{"--handover", "/tmp/ringer-test.sock", C_ANY, NULL, NULL, NULL, NULL},
	{"--recv-bundle", "on", C_ANY, NULL, NULL, NULL, NULL},
	{"--keepalive", "30,5,3", C_ANY, NULL, NULL, NULL, NULL},
	{"--tcp-user-timeout", "666", C_ANY, NULL, NULL, NULL, NULL},
	{"--no-pin", NULL, C_ANY, NULL, NULL, NULL, NULL},
	{"--tls-cert", "c1.pem", C_TLS, NULL, NULL, "--tls-key", "k1.pem"},
	{"--tls-key", "k1.pem", C_TLS, "--tls-cert", "c1.pem", NULL, NULL},
	{"--tls-strict-sni", NULL, C_TLS, NULL, NULL, NULL, NULL},
	{"--tls-min", "1.3", C_ANY, NULL, NULL, NULL, NULL},
	{"--tls-ciphers", "ECDHE-RSA-AES128-GCM-SHA256", C_TLS, NULL, NULL, NULL, NULL},
	{"--tls-ciphersuites", "TLS_AES_128_GCM_SHA256", C_TLS, NULL, NULL, NULL, NULL},
	{"--tls-groups", "X25519", C_TLS, NULL, NULL, NULL, NULL},
	{"--tls-alpn", "http/1.1", C_TLS, NULL, NULL, NULL, NULL},
	{"--tls-tickets", "3", C_ANY, NULL, NULL, NULL, NULL},
	{"--tls-verify-client", "required", C_TLS, "--tls-ca", "ca.pem", NULL, NULL},
	{"--tls-ca", "ca.pem", C_TLS, NULL, NULL, NULL, NULL},
	{"--tls-crl", "crl.pem", C_TLS, "--tls-ca", "ca.pem", NULL, NULL},
	{"--tls-keylog", "/tmp/ringer-keys", C_TLS, NULL, NULL, NULL, NULL},
	{"--tls-handshake-timeout", "777", C_ANY, NULL, NULL, NULL, NULL},
	{"--tls-max-handshakes", "77", C_ANY, NULL, NULL, NULL, NULL},
	{"--admin-tls", NULL, C_TLS, "--admin", "127.0.0.1:7011", NULL, NULL},
	{"--upstream-ca", "ca.pem", C_PROXY, NULL, NULL, NULL, NULL},
	{"--upstream-cert", "uc.pem", C_PROXY, NULL, NULL, "--upstream-key", "uk.pem"},
	{"--upstream-key", "uk.pem", C_PROXY, "--upstream-cert", "uc.pem", NULL, NULL},
	{"--quiet", NULL, C_ANY, NULL, NULL, NULL, NULL},
	{"--user", "nobody", C_ANY, NULL, NULL, NULL, NULL},
	{"--no-ring-restrict", NULL, C_ANY, NULL, NULL, NULL, NULL},
	{"--admin-allow", "10.0.0.0/8", C_ANY, "--admin", "127.0.0.1:7012", NULL, NULL},
	{"--upstream-group", "api=127.0.0.1:7013,weight=2,[::1]:7014,maxconn=3", C_HPROXY, NULL,
	 NULL, NULL, NULL},
	{"--route", "Api.Example.com/v1=api", C_HPROXY, "--upstream-group", "api=127.0.0.1:7015",
	 NULL, NULL},
	{"--upstream-timeout", "1500", C_HPROXY, NULL, NULL, NULL, NULL},
	{"--max-body", "3m", C_HPROXY, NULL, NULL, NULL, NULL},
	{"--check-http", "GET /health", C_HPROXY, NULL, NULL, NULL, NULL},
	{"--pool-size", "9", C_HPROXY, NULL, NULL, NULL, NULL},
	{"--pool-idle-timeout", "2500", C_HPROXY, NULL, NULL, NULL, NULL},
	{"--forwarded", "rfc7239", C_HPROXY, NULL, NULL, NULL, NULL},
};

static const char *const no_directive[] = {"--help", "--version", "--config", "--test-config",
					   "--print-config"};

static const struct sample *sample_of(const char *flag)
{
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
		if (!strcmp(samples[i].flag, flag))
			return &samples[i];
	return NULL;
}

/* "name value;" into the block text of the directive's scope. */
static void add_directive(char *blocks[4], const char *flag, const char *val)
{
	enum conf_scope scope;
	const char *name = conffile_directive(flag, &scope);
	char *b = blocks[scope];

	assert_non_null(name);
	b += strlen(b);
	b += sprintf(b, "\t%s ", name);
	if (!val) {
		strcpy(b, "on;\n");
		return;
	}
	*b++ = '"';
	for (; *val; val++) {
		if (*val == '"' || *val == '\\')
			*b++ = '\\';
		*b++ = *val;
	}
	strcpy(b, "\";\n");
}

static void argv_add(char **argv, int *argc, const char *flag, const char *val)
{
	argv[(*argc)++] = (char *)flag;
	if (val)
		argv[(*argc)++] = (char *)val;
}

/* One flag on the command line and its directive in a file give the same configuration. */
static void one(const char *flag, const struct sample *s)
{
	static char g[4096], u[4096], l[4096], text[16384];
	char *blocks[4] = {NULL, g, l, u}, *argv[32] = {"ringer"}, why[256];
	const char *mode = s->ctx == C_HTTP	? "http"
			   : s->ctx == C_PROXY	? "proxy"
			   : s->ctx == C_HPROXY ? "http-proxy"
						: "echo";
	bool upstreams = s->ctx == C_PROXY || s->ctx == C_HPROXY;
	bool own_up = !strcmp(flag, "--upstream") || !strcmp(flag, "--upstreams-file");
	struct config want;
	struct conf_set set;
	int argc = 1;

	g[0] = u[0] = l[0] = 0;
	if (strcmp(flag, "--listen")) {
		argv_add(argv, &argc, "--listen", "127.0.0.1:7000");
		strcat(l, "\tbind 127.0.0.1:7000;\n");
	}
	if (strcmp(flag, "--mode")) {
		argv_add(argv, &argc, "--mode", mode);
		sprintf(l + strlen(l), "\tmode %s;\n", mode);
	}
	if (upstreams) {
		strcat(l, "\tproxy_pass up;\n");
		if (!own_up) {
			argv_add(argv, &argc, "--upstream", "127.0.0.1:7001");
			strcat(u, "\tserver 127.0.0.1:7001;\n");
		}
	}
	if (s->ctx == C_TLS) {
		argv_add(argv, &argc, "--tls-cert", "c0.pem");
		argv_add(argv, &argc, "--tls-key", "k0.pem");
		strcat(l, "\ttls-cert c0.pem;\n\ttls-key k0.pem;\n");
	}
	if (s->before) {
		argv_add(argv, &argc, s->before, s->before_val);
		add_directive(blocks, s->before, s->before_val);
	}
	argv_add(argv, &argc, flag, s->val);
	add_directive(blocks, flag, s->val);
	if (s->after) {
		argv_add(argv, &argc, s->after, s->after_val);
		add_directive(blocks, s->after, s->after_val);
	}
	config_defaults(&want);
	if (config_parse(&want, argc, argv, err, sizeof(err)))
		fail_msg("%s %s: the flag itself is refused: %s", flag, s->val ? s->val : "", err);
	snprintf(text, sizeof(text), "global {\n%s}\n%s%s%s\nlistener l {\n%s}\n", g,
		 upstreams ? "upstream up {\n" : "", upstreams ? u : "", upstreams ? "}" : "", l);
	LOAD_OK(text, &set);
	assert_int_equal(set.n, 1);
	if (!same_cfg(&want, &set.l[0].cfg, why, sizeof(why)))
		fail_msg("%s: the directive sets something else than the flag: %s\n%s", flag, why,
			 text);
	conffile_free(&set);
}

static void every_flag_has_its_directive(void **state)
{
	size_t n;
	const struct cli_opt *opts = config_options(&n);
	unsigned tested = 0;
	FILE *f;

	(void)state;
	snprintf(upstreams_path, sizeof(upstreams_path), "/tmp/conffile-ups-%d", (int)getpid());
	f = fopen(upstreams_path, "w");
	assert_non_null(f);
	fputs("127.0.0.1:7002,weight=2\n", f);
	fclose(f);
	for (size_t i = 0; i < n; i++) {
		const char *flag = opts[i].name;
		const struct sample *s = sample_of(flag);
		bool none = false;

		for (size_t k = 0; k < sizeof(no_directive) / sizeof(no_directive[0]); k++)
			none |= !strcmp(flag, no_directive[k]);
		if (none) {
			assert_null(conffile_directive(flag, NULL));
			continue;
		}
		if (!conffile_directive(flag, NULL))
			fail_msg("%s has no directive in conffile.c's table", flag);
		if (!s)
			fail_msg("%s has no sample value in test_conffile.c", flag);
		if (!s->val != !opts[i].has_arg)
			fail_msg("%s: the sample and the flag disagree on a value", flag);
		one(flag, s);
		tested++;
	}
	unlink(upstreams_path);
	assert_true(tested >= 55);
}

static void units_and_names(void **state)
{
	struct conf_set s;

	(void)state;
	LOAD_OK("global { stats_interval 2m; drain-timeout 1500ms; buf-size 1m; }\n"
		"listener a { bind 127.0.0.1:7000; idle-timeout 30s; send_timeout 2m;\n"
		"  tcp-user-timeout 0; tls-handshake-timeout 250; }\n"
		"listener b { bind 127.0.0.1:7001; mode http; body-min-rate 2k; body-size 1m;\n"
		"  header-timeout 1s; }\n",
		&s);
	assert_int_equal(s.l[0].cfg.stats_interval_s, 120);
	assert_int_equal(s.l[0].cfg.drain_ms, 1500);
	assert_int_equal(s.l[0].cfg.buf_size, 1 << 20);
	assert_int_equal(s.l[0].cfg.idle_ms, 30000);
	assert_int_equal(s.l[0].cfg.send_ms, 120000);
	assert_int_equal(s.l[0].cfg.user_timeout_ms, 0);
	assert_int_equal(s.l[0].cfg.tls.handshake_ms, 250);
	assert_int_equal(s.l[1].cfg.body_rate, 2048);
	assert_int_equal(s.l[1].cfg.body_size, 1 << 20);
	assert_int_equal(s.l[1].cfg.header_ms, 1000);
	/* The global block's settings are every listener's. */
	assert_int_equal(s.l[1].cfg.stats_interval_s, 120);
	conffile_free(&s);
	LOAD_OK("global { stats-interval 3000ms; }\nlistener a { bind 127.0.0.1:7000; }\n", &s);
	assert_int_equal(s.l[0].cfg.stats_interval_s, 3);
	conffile_free(&s);
}

static void strings_and_comments(void **state)
{
	struct conf_set s;

	(void)state;
	LOAD_OK("# a comment line\n"
		"listener \"a\" { # after a brace\n"
		"  bind 127.0.0.1:7000; # after a directive\n"
		"  mode http;\n"
		"  body \"say \\\"hi\\\" \\\\ {;} # kept\";\n"
		"}\n",
		&s);
	assert_string_equal(s.l[0].name, "a");
	assert_string_equal(s.l[0].cfg.body, "say \"hi\" \\ {;} # kept");
	conffile_free(&s);
	/* Several words of a server are the flag's comma-separated options. */
	LOAD_OK("upstream u { server 127.0.0.1:7001 weight=7 maxconn=9; server 127.0.0.1:7002; }\n"
		"listener p { bind 127.0.0.1:7000; mode proxy; proxy_pass u; }\n",
		&s);
	assert_int_equal(s.l[0].cfg.n_upstreams, 2);
	assert_int_equal(s.l[0].cfg.upstreams[0].weight, 7);
	assert_int_equal(s.l[0].cfg.upstreams[0].maxconn, 9);
	assert_string_equal(s.l[0].upstream, "u");
	conffile_free(&s);
}

static void inheritance(void **state)
{
	struct conf_set s;

	(void)state;
	LOAD_OK("defaults { idle-timeout 5s; header-timeout 2s; accept-proxy on; tls-ciphers "
		"ECDHE-RSA-AES128-GCM-SHA256;\n"
		"  tls-cert d.pem; tls-key d.key; connect-timeout 1s; }\n"
		"upstream u { server 127.0.0.1:7009; }\n"
		"listener e { bind 127.0.0.1:7000; idle-timeout 1s; accept-proxy off; }\n"
		"listener h { bind 127.0.0.1:7001; mode http; tls-cert h.pem; tls-key h.key; }\n"
		"listener p { bind 127.0.0.1:7002; mode proxy; proxy_pass u; }\n",
		&s);
	/* A listener's own directive wins, off included. */
	assert_int_equal(s.l[0].cfg.idle_ms, 1000);
	assert_false(s.l[0].cfg.accept_proxy);
	assert_int_equal(s.l[1].cfg.idle_ms, 5000);
	assert_true(s.l[1].cfg.accept_proxy);
	/* http defaults reach http listeners only; proxy ones proxy listeners only. */
	assert_int_equal(s.l[1].cfg.header_ms, 2000);
	assert_int_equal(s.l[2].cfg.connect_ms, 1000);
	assert_int_equal(s.l[0].cfg.connect_ms, 3000);
	/* The listener's certificate replaces the pair in defaults; the ciphers still come. */
	assert_int_equal(s.l[1].cfg.tls.n_certs, 1);
	assert_string_equal(s.l[1].cfg.tls.cert[0], "h.pem");
	assert_string_equal(s.l[1].cfg.tls.key[0], "h.key");
	assert_string_equal(s.l[1].cfg.tls.ciphers, "ECDHE-RSA-AES128-GCM-SHA256");
	assert_string_equal(s.l[0].cfg.tls.cert[0], "d.pem");
	conffile_free(&s);
	/*
	 * http-proxy listeners take the proxy defaults, the request limits of http
	 * and their own; the others skip what is not theirs.
	 */
	LOAD_OK("defaults { header-timeout 2s; connect-timeout 1s; upstream-timeout 7s; "
		"forwarded rfc7239;\n"
		"  send-proxy v2; methods GET; route /x=default; }\n"
		"upstream u { server 127.0.0.1:7009; }\n"
		"listener hp { bind 127.0.0.1:7000; mode http-proxy; proxy_pass u; }\n"
		"listener p { bind 127.0.0.1:7001; mode proxy; proxy_pass u; }\n"
		"listener h { bind 127.0.0.1:7002; mode http; }\n",
		&s);
	assert_int_equal(s.l[0].cfg.header_ms, 2000);
	assert_int_equal(s.l[0].cfg.connect_ms, 1000);
	assert_int_equal(s.l[0].cfg.upstream_ms, 7000);
	assert_int_equal(s.l[0].cfg.forwarded, FORWARDED_RFC7239);
	assert_int_equal(s.l[0].cfg.n_routes, 1);
	assert_int_equal(s.l[0].cfg.send_proxy, 0);
	assert_int_equal(s.l[0].cfg.methods, 0);
	assert_int_equal(s.l[1].cfg.send_proxy, 2);
	assert_int_equal(s.l[1].cfg.connect_ms, 1000);
	assert_int_equal(s.l[1].cfg.header_ms, 10000);
	assert_int_equal(s.l[1].cfg.n_routes, 0);
	assert_int_equal(s.l[2].cfg.header_ms, 2000);
	assert_int_equal(s.l[2].cfg.methods, 1);
	assert_int_equal(s.l[2].cfg.upstream_ms, 60000);
	conffile_free(&s);
	/* TLS-only defaults skip a listener without a certificate. */
	LOAD_OK("defaults { tls-ciphers ECDHE-RSA-AES128-GCM-SHA256; }\n"
		"listener e { bind 127.0.0.1:7000; }\n",
		&s);
	assert_false(s.l[0].cfg.tls_on);
	assert_null(s.l[0].cfg.tls.ciphers);
	conffile_free(&s);
	/* Several binds: cfg.listen is the first. */
	LOAD_OK("listener e { bind 127.0.0.1:7003; bind [::1]:7004; }\n", &s);
	assert_int_equal(s.l[0].n_binds, 2);
	assert_int_equal(net_addr_port(&s.l[0].cfg.listen), 7003);
	assert_int_equal(s.l[0].bind_line[1], 1);
	conffile_free(&s);
}

struct bad {
	const char *text;
	unsigned line;
	const char *needle;
};

static const struct bad bads[] = {
	{"listener a {\n bind 127.0.0.1:7000;\n frobnicate 3;\n}\n", 3,
	 "unknown directive 'frobnicate'"},
	{"global {\n buf-count 3;\n}\nlistener a { bind 127.0.0.1:7000; }\n", 2,
	 "buf-count: 3 is not a power of two"},
	{"listener a {\n bind 127.0.0.1:7000;\n max-conns lots;\n}\n", 3,
	 "max-conns: 'lots' is not a whole number"},
	{"listener a {\n bind 127.0.0.1:7000;\n idle-timeout 30x;\n}\n", 3,
	 "a duration is a number with ms, s or m"},
	{"global {\n stats-interval 1500ms;\n}\nlistener a { bind 127.0.0.1:7000; }\n", 2,
	 "whole seconds"},
	{"listener a {\n bind 127.0.0.1:7000;\n idle-timeout 100000m;\n}\n", 3,
	 "(written '100000m')"},
	/* 2^34 + 1 gibibytes wrap to exactly 2^30 in 64 bits: too large, not 1g. */
	{"listener a {\n bind 127.0.0.1:7000;\n mode http;\n body-min-rate 17179869185g;\n}\n", 4,
	 "body-min-rate: '17179869185g' is too large"},
	{"upstream u {\n server 127.0.0.1:1\n server 127.0.0.1:2;\n}\n", 2,
	 "';' missing after 'server 127.0.0.1:1'"},
	{"listener a {\n bind 127.0.0.1:7000;\n mode echo\n}\n", 3,
	 "';' missing after 'mode echo'"},
	{"listener a {\n mode echo\n bind 127.0.0.1:7000;\n}\n", 2,
	 "';' missing after 'mode echo'"},
	{"listener a {\n bind 127.0.0.1:7000;\n\n", 1, "listener 'a' opened here is not closed"},
	{"listener a { bind 127.0.0.1:7000; }\n}\n", 2, "a '}' with no block open"},
	{"mode echo;\nlistener a { bind 127.0.0.1:7000; }\n", 1, "mode outside a block"},
	{"listener a {\n bind 127.0.0.1:7000;\n shards 2;\n}\n", 3, "shards is process-wide"},
	{"global {\n idle-timeout 1s;\n}\nlistener a { bind 127.0.0.1:7000; }\n", 2,
	 "idle-timeout is set per listener"},
	{"listener a {\n bind 127.0.0.1:7000;\n server 127.0.0.1:1;\n}\n", 3,
	 "server describes upstream servers"},
	{"defaults {\n bind 127.0.0.1:7000;\n}\nlistener a { bind 127.0.0.1:7001; }\n", 2,
	 "bind goes in a listener block"},
	{"upstream u {\n server 127.0.0.1:1;\n proxy_pass u;\n}\n", 3,
	 "proxy_pass goes in a listener block"},
	{"server {\n}\n", 1, "'server' is a directive, not a block"},
	{"frontend x {\n}\n", 1, "unknown block 'frontend'"},
	{"listener a {\n listener b {\n", 2, "blocks do not nest"},
	{"listener a {\n bind 127.0.0.1:7000;\n mode proxy;\n proxy_pass nowhere;\n}\n", 4,
	 "proxy_pass nowhere: no upstream block of that name"},
	{"listener a {\n bind 127.0.0.1:7000;\n mode proxy;\n}\n", 1,
	 "mode proxy: it needs proxy_pass NAME"},
	{"upstream u { server 127.0.0.1:1; }\nlistener a {\n bind 127.0.0.1:7000;\n proxy_pass "
	 "u;\n}"
	 "\n",
	 4, "proxy_pass needs mode proxy"},
	{"upstream u {\n balance leastconn;\n}\nlistener a { bind 127.0.0.1:7000; }\n", 1,
	 "upstream 'u' has no server"},
	{"upstream u {\n server 127.0.0.1:1;\n balance fastest;\n}\n", 3,
	 "balance: 'fastest' is not one of"},
	{"listener a { bind 127.0.0.1:7000; }\nlistener b {\n bind 127.0.0.1:7000;\n}\n", 3,
	 "listener 'a' binds that address already (t.conf:1)"},
	{"listener a {\n bind 127.0.0.1:7000;\n bind 127.0.0.1:7000;\n}\n", 3,
	 "binds that address"},
	{"listener a { bind 0.0.0.0:7000; }\nlistener b {\n bind 127.0.0.1:7000;\n}\n", 3,
	 "binds that address"},
	{"global { admin 127.0.0.1:7001; }\nlistener a { bind 127.0.0.1:7000;\n bind "
	 "127.0.0.1:7001;"
	 " }\n",
	 3, "the admin port's address"},
	{"listener a {\n bind 127.0.0.1:7000;\n idle-timeout 1s;\n idle-timeout 2s;\n}\n", 4,
	 "idle-timeout is given twice in listener 'a' (first at t.conf:3)"},
	{"listener a { bind 127.0.0.1:7000; }\nlistener a { bind 127.0.0.1:7001; }\n", 2,
	 "listener 'a' is defined twice"},
	{"global { shards 1; }\n", 1, "no listener"},
	{"listener a {\n bind 127.0.0.1:7000;\n mode http;\n body \"no end;\n}\n", 4,
	 "a quoted string is not closed"},
	{"listener a {\n bind 127.0.0.1:7000;\n mode http;\n body \"a\\nb\";\n}\n", 4,
	 "'\\' goes before"},
	{"listener a {\n bind 127.0.0.1:7000;\n header-timeout 1s;\n}\n", 3,
	 "header-timeout/body-timeout/body-min-rate need mode http or http-proxy"},
	{"listener a {\n bind 127.0.0.1:7000;\n mode http;\n pool-size 3;\n}\n", 4,
	 "pool-size describes upstream servers"},
	{"listener a {\n bind 127.0.0.1:7000;\n mode http;\n route /=default;\n}\n", 4,
	 "upstream-group/route/upstream-timeout/max-body/check-http/pool-size/pool-idle-timeout/"
	 "forwarded need mode http-proxy"},
	{"listener a {\n bind 127.0.0.1:7000;\n mode http-proxy;\n}\n", 1,
	 "listener 'a' is mode http-proxy: it needs proxy_pass NAME"},
	{"upstream u { server 127.0.0.1:1; }\nlistener a {\n bind 127.0.0.1:7000;\n mode "
	 "http;\n proxy_pass u;\n}\n",
	 5, "proxy_pass needs mode proxy or http-proxy (listener 'a' is mode http)"},
	/* A route to a group no server is in: at that route, not at the last one. */
	{"upstream u {\n server 127.0.0.1:1;\n server 127.0.0.1:2 group=api;\n}\n"
	 "listener a {\n bind 127.0.0.1:7000;\n mode http-proxy;\n proxy_pass u;\n"
	 " route /v1 api;\n route /v2=apj;\n route /v3 default;\n}\n",
	 10, "route /v2=apj: no upstream group apj"},
	{"upstream u {\n server 127.0.0.1:1;\n}\nlistener a {\n bind 127.0.0.1:7000;\n mode "
	 "http-proxy;\n proxy_pass u;\n route a b c;\n}\n",
	 8, "route takes [HOST][/PREFIX] GROUP"},
	/* Groups in an upstream block a proxy listener names: the server line at fault. */
	{"upstream u {\n server 127.0.0.1:1 group=a;\n server 127.0.0.1:2;\n}\n"
	 "listener a {\n bind 127.0.0.1:7000;\n mode proxy;\n proxy_pass u;\n}\n",
	 2, "server 127.0.0.1:1,group=a: groups need mode http-proxy"},
	{"upstream u {\n server 127.0.0.1:1;\n}\nlistener a {\n bind 127.0.0.1:7000;\n mode "
	 "http-proxy;\n proxy_pass u;\n send-proxy v1;\n}\n",
	 8, "send-proxy: not with mode http-proxy"},
	{"upstream u {\n server 127.0.0.1:1;\n check-http GET /health;\n}\n", 3,
	 "check-http takes one value"},
	{"upstream u {\n server 127.0.0.1:1;\n check-http \"GET health\";\n}\n", 3,
	 "check-http: 'GET health' is not \"METHOD PATH\""},
	{"listener a {\n bind 127.0.0.1:7000;\n tls-cert c.pem;\n}\n", 3,
	 "tls-cert c.pem has no "
	 "tls-key"},
	{"defaults {\n max-conns 0;\n}\nlistener a { bind 127.0.0.1:7000; }\n", 2,
	 "max-conns: '0' is not a whole number from 1 to 1048576, in listener 'a'"},
	{"listener a {\n bind nowhere;\n}\n", 2, "bind: 'nowhere' is not ADDR:PORT"},
	{"listener a {\n bind 127.0.0.1:7000;\n no-pin on;\n}\n", 3, "no-pin is process-wide"},
	{"global {\n no-pin maybe;\n}\n", 2, "no-pin takes on or off, not 'maybe'"},
	{"listener a {\n bind 127.0.0.1:7000;\n include x.conf;\n}\n", 3,
	 "include x.conf: No such "
	 "file"},
	{"listener a {\n bind 127.0.0.1:7000;\n ;\n}\n", 3, "a ';' with no directive before it"},
	{"listener a {\n bind 127.0.0.1:7000;\n mode echo {\n}\n", 3, "'mode' is a directive"},
	{"listener a {\n bind 127.0.0.1:7000;\n}\nlistener\n", 4, "';' missing after 'listener'"},
	{"global;\n", 1, "global needs a block"},
	{"listener a;\n", 1, "listener needs a block"},
	{"listener a { bind 127.0.0.1:7000; }\nx\001y;\n", 2, "a control byte (0x01)"},
};

static void errors_say_where(void **state)
{
	struct conf_set s;
	char prefix[32];

	(void)state;
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		const struct bad *b = &bads[i];

		if (load(b->text, &s) != -EINVAL)
			fail_msg("accepted:\n%s", b->text);
		snprintf(prefix, sizeof(prefix), "t.conf:%u: ", b->line);
		if (strncmp(err, prefix, strlen(prefix)) || !strstr(err, b->needle))
			fail_msg("'%s' is not '%s...%s' for:\n%s", err, prefix, b->needle, b->text);
		assert_null(s.l);
		assert_int_equal(s.n, 0);
	}
}

static char dir[64];

static void put(const char *name, const char *text)
{
	char path[160];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void includes(void **state)
{
	struct conf_set s;
	char path[160];

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/conffile-test-%d", (int)getpid());
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/conf.d", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	/* Relative to the including file, in glob(3)'s order, inside a block too. */
	put("main.conf", "include conf.d/*.conf;\ninclude conf.d/none-*.conf;\n"
			 "listener z {\n include z-binds;\n}\n");
	put("conf.d/b.conf", "listener b { bind 127.0.0.1:7002; }\n");
	put("conf.d/a.conf", "global { shards 2; }\nlistener a { bind 127.0.0.1:7001; }\n");
	put("z-binds", "bind 127.0.0.1:7003;\nmode http;\n");
	snprintf(path, sizeof(path), "%s/main.conf", dir);
	if (conffile_load(path, &s, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.l[0].name, "a");
	assert_string_equal(s.l[1].name, "b");
	assert_string_equal(s.l[2].name, "z");
	assert_int_equal(s.l[2].cfg.mode, MODE_HTTP);
	assert_int_equal(s.l[1].cfg.shards, 2);
	assert_non_null(strstr(s.l[0].file, "conf.d/a.conf"));
	conffile_free(&s);
	/* An error in an included file names that file and its line. */
	put("conf.d/b.conf", "listener b {\n bind 127.0.0.1:7002;\n bogus 1;\n}\n");
	assert_int_equal(conffile_load(path, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "conf.d/b.conf:3: unknown directive 'bogus'"));
	/* A loop, however long, is an error at the include that closes it. */
	put("conf.d/b.conf", "include ../loop.conf;\n");
	put("loop.conf", "include conf.d/b.conf;\n");
	assert_int_equal(conffile_load(path, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "loop.conf:1: include"));
	assert_non_null(strstr(err, "an include loop"));
	put("self.conf", "include self.conf;\n");
	snprintf(path, sizeof(path), "%s/self.conf", dir);
	assert_int_equal(conffile_load(path, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "an include loop"));
	/* A '}' in an included file cannot close the block the include is in. */
	put("z-binds", "bind 127.0.0.1:7003;\n}\n");
	snprintf(path, sizeof(path), "%s/conf.d/b.conf", dir);
	put("conf.d/b.conf", "listener b { bind 127.0.0.1:7002; }\n");
	snprintf(path, sizeof(path), "%s/main.conf", dir);
	assert_int_equal(conffile_load(path, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "z-binds:2: a '}' in an included file"));
	/* A missing file. */
	snprintf(path, sizeof(path), "%s/nope.conf", dir);
	assert_int_equal(conffile_load(path, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "nope.conf: cannot open"));
	/* Text in memory may refuse includes (the fuzz target does). */
	assert_int_equal(conffile_load_text("m.conf", "include x;", 10, CONF_NO_INCLUDE, &s, err,
					    sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "m.conf:1: include is not allowed here"));
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		assert_int_equal(system(cmd), 0);
	}
}

/* Whether the block of text that starts with head holds needle before its "}". */
static bool block_has(const char *text, const char *head, const char *needle)
{
	const char *b = strstr(text, head), *end, *n;

	assert_non_null(b);
	end = strstr(b, "\n}\n");
	assert_non_null(end);
	n = strstr(b, needle);
	return n && n < end;
}

/* -T: the text loads back to the same configuration and prints the same text again. */
static void print_round_trip(void **state)
{
	static const char *const texts[] = {
		"global { shards 2; no-pin on; buf-size 4k; admin 127.0.0.1:7100; stats-interval "
		"90s; handover /tmp/x.sock; }\n"
		"defaults { idle-timeout 1500ms; keepalive off; }\n"
		"upstream back { server 127.0.0.1:7001 weight=3 maxconn=4 resolve; server "
		"127.0.0.1:7002 "
		"tls sni=b.example verify=none;\n"
		"  balance leastconn; check on; check-interval 250ms; upstream-ca \"/etc/my "
		"ca.pem\"; "
		"}\n"
		"upstream spare { server [::1]:7003; }\n"
		"listener e { bind 127.0.0.1:7000; bind [::1]:7000; accept-proxy on; }\n"
		"listener h { bind 127.0.0.1:7010; mode http; methods GET,HEAD; body \"a \\\"b\\\" "
		"c\";\n"
		"  tls-cert c.pem; tls-key k.pem; tls-cert c2.pem; tls-key k2.pem; "
		"tls-verify-client "
		"optional; tls-ca ca.pem; }\n"
		"listener h2 { bind 127.0.0.1:7011; mode http; body-size 1k; echo-body on; }\n"
		"listener p { bind 127.0.0.1:7020; mode proxy; proxy_pass back; send-proxy v1; log "
		"-; }\n",
		"listener only { bind 0.0.0.0:0; }\n",
		"upstream api { server 127.0.0.1:7001 group=v1; upstream-group "
		"v2=127.0.0.1:7002,weight=2,127.0.0.1:7003;\n"
		"  server 127.0.0.1:7004; check-http \"GET /health\"; pool-size 8; "
		"pool-idle-timeout 30s; }\n"
		"upstream l4 { server 127.0.0.1:7005; }\n"
		"listener hp { bind 127.0.0.1:7030; mode http-proxy; proxy_pass api; route "
		"Api.example.com/v1 v1;\n"
		"  route \"/a;b\" v2; route *.example.org=default; route =v1; upstream-timeout 5s; "
		"max-body 1m;\n"
		"  forwarded none; header-timeout 2s; }\n"
		"listener p { bind 127.0.0.1:7031; mode proxy; proxy_pass l4; }\n",
	};

	(void)state;
	for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
		struct conf_set a, b;
		char *one = NULL, *two = NULL, why[256];
		size_t one_len = 0, two_len = 0;
		FILE *f;

		LOAD_OK(texts[t], &a);
		f = open_memstream(&one, &one_len);
		conffile_print(f, &a);
		fclose(f);
		if (conffile_load_text("t.conf", one, one_len, 0, &b, err, sizeof(err)))
			fail_msg("-T's output does not load: %s\n%s", err, one);
		f = open_memstream(&two, &two_len);
		conffile_print(f, &b);
		fclose(f);
		assert_string_equal(one, two);
		assert_int_equal(a.n, b.n);
		assert_int_equal(a.n_u, b.n_u);
		for (unsigned i = 0; i < a.n; i++) {
			if (!same_cfg(&a.l[i].cfg, &b.l[i].cfg, why, sizeof(why)))
				fail_msg("listener %s differs after -T: %s\n%s", a.l[i].name, why,
					 one);
			assert_int_equal(a.l[i].n_binds, b.l[i].n_binds);
			assert_memory_equal(a.l[i].binds, b.l[i].binds,
					    a.l[i].n_binds * sizeof(a.l[i].binds[0]));
		}
		/* Defaults are filled in. */
		assert_non_null(strstr(one, "\tring-entries 1024;\n"));
		assert_non_null(strstr(one, "\tsend-timeout 1m;\n"));
		/* http-proxy's directives where they mean something, and only there. */
		if (t == 2) {
			static const char *const want[] = {
				"\tserver 127.0.0.1:7001 weight=1 group=v1;\n",
				"\tserver 127.0.0.1:7002 weight=2 group=v2;\n",
				"\tserver 127.0.0.1:7003 weight=1 group=v2;\n",
				"\tserver 127.0.0.1:7004 weight=1;\n",
				"\tcheck-http \"GET /health\";\n",
				"\tpool-size 8;\n",
				"\tpool-idle-timeout 30s;\n",
				"\troute api.example.com/v1 v1;\n",
				"\troute \"/a;b\" v2;\n",
				"\troute *.example.org default;\n",
				"\troute \"\" v1;\n",
				"\tupstream-timeout 5s;\n",
				"\tmax-body 1m;\n",
				"\tforwarded none;\n",
				"\theader-timeout 2s;\n",
				"\tbody-min-rate 500;\n",
				"\tconnect-timeout 3s;\n",
			};

			for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++)
				if (!strstr(one, want[w]))
					fail_msg("-T lacks '%s':\n%s", want[w], one);
			/* l4's block and listener p: no http-proxy directive, no http one. */
			assert_false(block_has(one, "upstream l4 {", "pool-size"));
			assert_true(block_has(one, "upstream api {", "pool-size"));
			assert_false(block_has(one, "listener hp {", "send-proxy"));
			assert_true(block_has(one, "listener p {", "send-proxy"));
			assert_false(block_has(one, "listener p {", "upstream-timeout"));
			assert_false(block_has(one, "listener p {", "header-timeout"));
			assert_int_equal(a.l[0].cfg.n_routes, 4);
			assert_int_equal(a.l[0].cfg.n_upstreams, 4);
			assert_int_equal(a.l[0].cfg.max_body, 1 << 20);
		}
		free(one);
		free(two);
		conffile_free(&a);
		conffile_free(&b);
	}
}

/* -c refuses other flags beside it; -t says ok or where it is wrong. */
static void main_part(void **state)
{
	char path[64], *argv[8] = {"ringer", "-c", path, "--shards", "2"};
	struct config cfg;
	struct conf_set set = {0};
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/conffile-main-%d.conf", (int)getpid());
	f = fopen(path, "w");
	fputs("listener a { bind 127.0.0.1:0; mode http; }\n", f);
	fclose(f);
	config_defaults(&cfg);
	assert_int_equal(config_parse(&cfg, 5, argv, err, sizeof(err)), 0);
	assert_int_equal(conffile_main(&cfg, &set, 5, argv), 2);
	config_defaults(&cfg);
	assert_int_equal(config_parse(&cfg, 3, argv, err, sizeof(err)), 0);
	assert_int_equal(conffile_main(&cfg, &set, 3, argv), -1);
	assert_int_equal(cfg.mode, MODE_HTTP);
	assert_int_equal(set.n, 1);
	conffile_free(&set);
	argv[3] = "-t";
	config_defaults(&cfg);
	assert_int_equal(config_parse(&cfg, 4, argv, err, sizeof(err)), 0);
	assert_int_equal(conffile_main(&cfg, &set, 4, argv), 0);
	conffile_free(&set);
	f = fopen(path, "w");
	fputs("listener a { bind 127.0.0.1:0; mode gopher; }\n", f);
	fclose(f);
	config_defaults(&cfg);
	assert_int_equal(config_parse(&cfg, 4, argv, err, sizeof(err)), 0);
	assert_int_equal(conffile_main(&cfg, &set, 4, argv), 1);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_flag_has_its_directive),
		cmocka_unit_test(units_and_names),
		cmocka_unit_test(strings_and_comments),
		cmocka_unit_test(inheritance),
		cmocka_unit_test(errors_say_where),
		cmocka_unit_test(includes),
		cmocka_unit_test(print_round_trip),
		cmocka_unit_test(main_part),
	};

	return cmocka_run_group_tests_name("conffile", tests, NULL, NULL);
}
