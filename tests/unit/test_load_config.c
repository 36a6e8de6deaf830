// SPDX-License-Identifier: MIT
/*
 * ringer-load's flags (src/load/load_config.c) for what it sends in HTTP
 * mode: --method, --header, --body, --body-file, --requests-file and
 * --expect-status, each bad value refused in one line naming the flag, and
 * the requests they build; targets given as URLs, and the TLS flags.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "load_config.h"
#include "request.h"

#define MAX_ARGS 80

static char dir[64];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/ringer-test-load-config-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) ? -1 : 0;
}

/* A path in the test's directory. */
static const char *in_dir(const char *name)
{
	static char path[4][128];
	static unsigned k;
	char *p = path[k++ % 4];

	snprintf(p, sizeof(path[0]), "%s/%s", dir, name);
	return p;
}

static void write_file(const char *name, const char *text)
{
	FILE *f = fopen(in_dir(name), "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* Parses "--target 127.0.0.1:8080" and the NULL-terminated flags after it. */
static int parse(struct load_config *cfg, char *err, ...)
{
	char *argv[MAX_ARGS] = {"ringer-load", "--target", "127.0.0.1:8080"};
	int argc = 3;
	va_list ap;

	va_start(ap, err);
	while (argc < MAX_ARGS - 1 && (argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	load_config_defaults(cfg);
	err[0] = 0;
	return load_config_parse(cfg, argc, argv, err, 256);
}

/* Parses the NULL-terminated arguments as given, with no target added. */
static int parse_bare(struct load_config *cfg, char *err, ...)
{
	char *argv[MAX_ARGS] = {"ringer-load"};
	int argc = 1;
	va_list ap;

	va_start(ap, err);
	while (argc < MAX_ARGS - 1 && (argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	load_config_defaults(cfg);
	err[0] = 0;
	return load_config_parse(cfg, argc, argv, err, 256);
}

/* The single request the flags build, as a string. */
static const char *built(const struct load_config *cfg)
{
	static char out[4096];
	struct request_set s;
	char err[256];
	uint32_t len;
	const uint8_t *p;

	assert_int_equal(load_config_requests(cfg, &s, err, sizeof(err)), 0);
	p = request_run(&s, 0, 1, &len);
	assert_true(len < sizeof(out));
	memcpy(out, p, len);
	out[len] = 0;
	request_set_free(&s);
	return out;
}

static void defaults_send_one_get(void **state)
{
	struct load_config cfg;
	char err[256];

	(void)state;
	assert_int_equal(parse(&cfg, err, NULL), 0);
	assert_string_equal(cfg.method, "GET");
	assert_int_equal(cfg.n_headers, 0);
	assert_false(cfg.expect_set);
	assert_true(load_status_ok(&cfg, 200) && load_status_ok(&cfg, 299));
	assert_false(load_status_ok(&cfg, 199) || load_status_ok(&cfg, 301) ||
		     load_status_ok(&cfg, 404) || load_status_ok(&cfg, 999));
	assert_string_equal(built(&cfg), "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n");
}

static void method_headers_and_body(void **state)
{
	struct load_config cfg;
	char err[256];

	(void)state;
	assert_int_equal(parse(&cfg, err, "--method", "POST", "--path", "/up", "--header",
			       "X-One: 1", "-H", "X-Two:two", "--body", "hello", NULL),
			 0);
	assert_string_equal(built(&cfg), "POST /up HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
					 "X-One: 1\r\nX-Two:two\r\nContent-Length: 5\r\n\r\nhello");
	/* A Host header replaces the default; a body with GET is allowed. */
	assert_int_equal(parse(&cfg, err, "--header", "Host: example.com", "--body", "", NULL), 0);
	assert_string_equal(built(&cfg),
			    "GET / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(parse(&cfg, err, "--host", "h.example", NULL), 0);
	assert_string_equal(built(&cfg), "GET / HTTP/1.1\r\nHost: h.example\r\n\r\n");
	write_file("body.json", "{\"k\": 1}\n");
	assert_int_equal(
		parse(&cfg, err, "--method", "PUT", "--body-file", in_dir("body.json"), NULL), 0);
	assert_string_equal(built(&cfg), "PUT / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
					 "Content-Length: 9\r\n\r\n{\"k\": 1}\n");
	assert_int_equal(parse(&cfg, err, "--method", "OPTIONS", "--path", "*", NULL), 0);
	assert_string_equal(built(&cfg), "OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n");
}

static void expect_status(void **state)
{
	struct load_config cfg;
	char err[256];

	(void)state;
	assert_int_equal(parse(&cfg, err, "--expect-status", "200,204,404", NULL), 0);
	assert_true(cfg.expect_set);
	assert_true(load_status_ok(&cfg, 200) && load_status_ok(&cfg, 204) &&
		    load_status_ok(&cfg, 404));
	assert_false(load_status_ok(&cfg, 201) || load_status_ok(&cfg, 500) ||
		     load_status_ok(&cfg, 999));
	assert_int_equal(parse(&cfg, err, "--expect-status", "503", NULL), 0);
	assert_true(load_status_ok(&cfg, 503));
	assert_false(load_status_ok(&cfg, 200));
}

struct refusal {
	const char *args[8];
	const char *err; /* the start of the message */
};

static void bad_values_name_their_flag(void **state)
{
	static char many[LOAD_MAX_HEADERS + 1][16];
	static const struct refusal r[] = {
		{{"--method", "G T"}, "--method: 'G T': not a method"},
		{{"--method", ""}, "--method: '': not a method"},
		{{"--method", "CONNECT"}, "--method: 'CONNECT': CONNECT opens a tunnel"},
		{{"--header", "X-A: b\r\nX-Injected: 1"}, "--header: 'X-A: b??X-Injected: 1': "},
		{{"--header", "no colon"}, "--header: 'no colon': not Name: value"},
		{{"--header", ": v"}, "--header: ': v': not Name: value"},
		{{"--header", "Content-Length: 3"},
		 "--header: 'Content-Length: 3': ringer-load frames"},
		{{"--header", "Host: a", "--header", "host: b"}, "--header: Host given twice"},
		{{"--host", "a", "--header", "Host: b"},
		 "--host and --header 'Host: ...': give one"},
		{{"--body", "x", "--body-file", "f"}, "--body and --body-file: give one"},
		{{"--body-file", ""}, "--body-file: an empty file name"},
		{{"--requests-file", "f", "--method", "POST"},
		 "--requests-file: not with --method"},
		{{"--requests-file", "f", "--path", "/a"}, "--requests-file: not with --method"},
		{{"--requests-file", "f", "--body", "b"}, "--requests-file: not with --method"},
		{{"--path", "*"}, "--path '*': a path must start with /"},
		{{"--path", "/a\tb"}, "--path '/a?b': a path holds no spaces"},
		{{"--mode", "echo", "--method", "POST"}, "--method/--header/--body/"},
		{{"--mode", "echo", "--expect-status", "200"}, "--method/--header/--body/"},
		{{"--expect-status", "20"}, "--expect-status: '20' is not a list of statuses"},
		{{"--expect-status", "600"}, "--expect-status: '600' is not a list"},
		{{"--expect-status", "099"}, "--expect-status: '099' is not a list"},
		{{"--expect-status", "200,"}, "--expect-status: '200,' is not a list"},
		{{"--expect-status", "200;204"}, "--expect-status: '200;204' is not a list"},
		{{"--expect-status", "2xx"}, "--expect-status: '2xx' is not a list"},
		{{"--expect-status", ""}, "--expect-status: '' is not a list"},
	};
	char *argv[2 * (LOAD_MAX_HEADERS + 1) + 4] = {"ringer-load", "--target", "127.0.0.1:1"};
	struct load_config cfg;
	char err[256];
	int argc = 3;

	(void)state;
	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		const char *const *a = r[i].args;
		int ret = parse(&cfg, err, a[0], a[1], a[2], a[3], a[4], a[5], NULL);

		if (ret != -EINVAL || strncmp(err, r[i].err, strlen(r[i].err)))
			fail_msg("case %zu: got %d '%s', want '%s...'", i, ret, err, r[i].err);
		assert_null(strchr(err, '\n'));
	}
	/* 64 headers are fine, 65 are not. */
	for (int i = 0; i <= LOAD_MAX_HEADERS; i++) {
		snprintf(many[i], sizeof(many[i]), "X-%d: v", i);
		argv[argc++] = "--header";
		argv[argc++] = many[i];
	}
	load_config_defaults(&cfg);
	assert_int_equal(load_config_parse(&cfg, argc - 2, argv, err, sizeof(err)), 0);
	assert_int_equal(cfg.n_headers, LOAD_MAX_HEADERS);
	load_config_defaults(&cfg);
	assert_int_equal(load_config_parse(&cfg, argc, argv, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "--header: more than 64");
}

static void requests_files(void **state)
{
	struct load_config cfg;
	struct request_set s;
	char err[256];

	(void)state;
	/* The lines format: --host and --header go on each request, BODY-FILE beside the file. */
	write_file("b.txt", "body!");
	write_file("lines.txt", "GET /a\nHEAD /b\nPOST /c b.txt\n");
	assert_int_equal(parse(&cfg, err, "--requests-file", in_dir("lines.txt"), "--pipeline", "4",
			       "-H", "X-T: 1", NULL),
			 0);
	assert_int_equal(load_config_requests(&cfg, &s, err, sizeof(err)), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.window, 4);
	assert_int_equal(s.body_bytes, 5);
	assert_true(s.head[1]);
	request_set_free(&s);
	/* Raw requests are sent as written: --header and --host have nothing to add to. */
	write_file("raw.http", "GET / HTTP/1.1\nHost: a\n\n");
	assert_int_equal(parse(&cfg, err, "--requests-file", in_dir("raw.http"), NULL), 0);
	assert_int_equal(load_config_requests(&cfg, &s, err, sizeof(err)), 0);
	assert_true(s.raw);
	request_set_free(&s);
	assert_int_equal(
		parse(&cfg, err, "--requests-file", in_dir("raw.http"), "-H", "X: y", NULL), 0);
	assert_int_equal(load_config_requests(&cfg, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--header/--host: "));
	assert_non_null(strstr(err, "raw.http holds raw requests"));
	/* A file that is not there, a bad line, a missing body file: each says where. */
	assert_int_equal(parse(&cfg, err, "--requests-file", in_dir("none.txt"), NULL), 0);
	assert_int_equal(load_config_requests(&cfg, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--requests-file /tmp/"));
	assert_non_null(strstr(err, "none.txt: No such file or directory"));
	write_file("bad.txt", "GET /\n\nGET nopath\n");
	assert_int_equal(parse(&cfg, err, "--requests-file", in_dir("bad.txt"), NULL), 0);
	assert_int_equal(load_config_requests(&cfg, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "bad.txt:3: a path must start with /"));
	assert_int_equal(parse(&cfg, err, "--body-file", in_dir("none.bin"), NULL), 0);
	assert_int_equal(load_config_requests(&cfg, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--body-file /tmp/"));
}

static void urls_set_mode_path_host_and_tls(void **state)
{
	struct load_config cfg;
	char err[256], addr[64];

	(void)state;
	/* https: TLS, the path with its query (no fragment), Host as written, no SNI for an IP. */
	assert_int_equal(
		parse_bare(&cfg, err, "https://127.0.0.1:8443/a/b?c=1#top", "--mode", "http", NULL),
		0);
	assert_true(cfg.has_url && cfg.tls);
	assert_int_equal(cfg.mode, LOAD_HTTP);
	assert_int_equal(cfg.n_targets, 1);
	assert_string_equal(net_addr_str(&cfg.target, addr, sizeof(addr)), "127.0.0.1:8443");
	assert_string_equal(cfg.path, "/a/b?c=1");
	assert_null(cfg.sni);
	assert_string_equal(cfg.tls_s.alpn, "http/1.1");
	assert_false(cfg.tls_s.verify);
	assert_false(cfg.tls_s.resume);
	assert_string_equal(built(&cfg), "GET /a/b?c=1 HTTP/1.1\r\nHost: 127.0.0.1:8443\r\n\r\n");
	/* Default ports; a name is the SNI; --target takes a URL too. */
	assert_int_equal(parse_bare(&cfg, err, "--target", "https://localhost", NULL), 0);
	assert_int_equal(net_addr_port(&cfg.target), 443);
	assert_string_equal(cfg.path, "/");
	assert_string_equal(cfg.sni, "localhost");
	assert_string_equal(built(&cfg), "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
	assert_int_equal(parse_bare(&cfg, err, "http://localhost?q", NULL), 0);
	assert_false(cfg.tls);
	assert_int_equal(net_addr_port(&cfg.target), 80);
	assert_string_equal(built(&cfg), "GET /?q HTTP/1.1\r\nHost: localhost\r\n\r\n");
	assert_int_equal(parse_bare(&cfg, err, "https://[::1]:9443/x", "--sni", "a.test", NULL), 0);
	assert_string_equal(net_addr_str(&cfg.target, addr, sizeof(addr)), "[::1]:9443");
	assert_string_equal(cfg.sni, "a.test");
	assert_string_equal(built(&cfg), "GET /x HTTP/1.1\r\nHost: [::1]:9443\r\n\r\n");
	/* --host still names the Host header; a requests file goes with a URL whose path is /. */
	assert_int_equal(parse_bare(&cfg, err, "http://127.0.0.1:81/", "--host", "h.example", NULL),
			 0);
	assert_string_equal(built(&cfg), "GET / HTTP/1.1\r\nHost: h.example\r\n\r\n");
	assert_int_equal(
		parse_bare(&cfg, err, "https://127.0.0.1:81", "--requests-file", "r.txt", NULL), 0);
	/* HOST:PORT as a bare argument, as with --target; --tls for echo, the host name as SNI. */
	assert_int_equal(parse_bare(&cfg, err, "127.0.0.1:7", "--mode", "echo", NULL), 0);
	assert_false(cfg.has_url || cfg.tls);
	assert_int_equal(
		parse_bare(&cfg, err, "--tls", "--target", "localhost:7", "--mode", "echo", NULL),
		0);
	assert_true(cfg.tls);
	assert_int_equal(cfg.mode, LOAD_ECHO);
	assert_string_equal(cfg.sni, "localhost");
	assert_null(cfg.tls_s.alpn);
	assert_int_equal(parse_bare(&cfg, err, "--tls", "127.0.0.1:7", NULL), 0);
	assert_null(cfg.sni);
	assert_string_equal(cfg.tls_s.alpn, "http/1.1");
}

static void parse_url_refusals(void **state)
{
	static const struct {
		const char *url;
		const char *why;
	} r[] = {
		{"ftp://127.0.0.1/", "not a URL: only http:// and https://"},
		{"http://", "no host"},
		{"http:///a", "no host"},
		{"http://:80/", "no host"},
		{"http://user:pw@127.0.0.1/", "a user name in the URL is not supported"},
		{"http://[::1/", "an IPv6 address without its ]"},
		{"http://[::1]x/", "something between ] and the port"},
		{"http://[nope]/", "not an IPv6 address between [ and ]"},
		{"http://a b/", "not a host name or address"},
		{"http://h:/", "an empty port"},
		{"http://h:0/", "a port is a number 1..65535"},
		{"http://h:65536/", "a port is a number 1..65535"},
		{"http://h:99999999999999999999/", "a port is a number 1..65535"},
		{"http://h:8x/", "a port is a number 1..65535"},
		{"http://h/a b", "a space or control byte in the path (encode it as %20)"},
		{"http://h/a\tb", "a space or control byte in the path (encode it as %20)"},
	};
	struct load_url u;

	(void)state;
	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		const char *why = load_parse_url(r[i].url, &u);

		if (!why || strcmp(why, r[i].why))
			fail_msg("case %zu '%s': got '%s', want '%s'", i, r[i].url,
				 why ? why : "(accepted)", r[i].why);
	}
	assert_null(load_parse_url("HTTPS://Example.COM:8443", &u));
	assert_true(u.tls);
	assert_string_equal(u.host, "Example.COM");
	assert_string_equal(u.authority, "Example.COM:8443");
	assert_string_equal(u.addr, "Example.COM:8443");
	assert_string_equal(u.path, "/");
	assert_null(load_parse_url("http://[::1]", &u));
	assert_string_equal(u.addr, "[::1]:80");
	assert_string_equal(u.authority, "[::1]");
}

static void tls_flags(void **state)
{
	struct load_config cfg;
	char err[256];

	(void)state;
	assert_int_equal(parse_bare(&cfg, err, "https://localhost:1/", "--tls-min", "1.2",
				    "--tls-max", "1.3", "--tls-resume", "tickets", "--cacert",
				    "ca.pem", "--cert", "c.pem", "--key", "k.pem", "--alpn",
				    "h2,http/1.1", "--tls-ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256",
				    "--tls-ciphersuites", "TLS_AES_128_GCM_SHA256", "--tls-groups",
				    "X25519", "--tls-keylog", "keys.txt", NULL),
			 0);
	assert_int_equal(cfg.tls_s.min_version, 12);
	assert_int_equal(cfg.tls_s.max_version, 13);
	assert_true(cfg.tls_s.resume);
	assert_true(cfg.tls_s.verify);
	assert_string_equal(cfg.tls_s.ca, "ca.pem");
	assert_string_equal(cfg.tls_s.cert, "c.pem");
	assert_string_equal(cfg.tls_s.key, "k.pem");
	assert_string_equal(cfg.tls_s.alpn, "h2,http/1.1");
	assert_string_equal(cfg.tls_s.ciphers, "ECDHE-ECDSA-AES128-GCM-SHA256");
	assert_string_equal(cfg.tls_s.ciphersuites, "TLS_AES_128_GCM_SHA256");
	assert_string_equal(cfg.tls_s.groups, "X25519");
	assert_string_equal(cfg.tls_s.keylog, "keys.txt");
	assert_string_equal(cfg.sni, "localhost");
	/* --insecure is the default said aloud; --alpn none offers nothing. */
	assert_int_equal(parse_bare(&cfg, err, "https://127.0.0.1:1/", "--insecure", "--alpn",
				    "none", "--tls-resume", "off", NULL),
			 0);
	assert_false(cfg.tls_s.verify || cfg.tls_s.resume);
	assert_null(cfg.tls_s.alpn);
}

static void tls_and_url_refusals(void **state)
{
	static const struct refusal r[] = {
		{{NULL}, "a target is required: a URL"},
		{{"127.0.0.1:1", "--sni", "a"}, "--sni/--alpn/--tls-*/--insecure/--cacert/"},
		{{"127.0.0.1:1", "--cacert", "ca.pem"}, "--sni/--alpn/--tls-*/--insecure/"},
		{{"http://127.0.0.1/", "--tls-resume", "tickets"}, "--sni/--alpn/--tls-*/"},
		{{"https://127.0.0.1/", "--insecure", "--cacert", "ca.pem"},
		 "--insecure and --cacert: choose one"},
		{{"https://127.0.0.1/", "--cert", "c.pem"}, "--cert and --key: a client"},
		{{"https://127.0.0.1/", "--key", "k.pem"}, "--cert and --key: a client"},
		{{"https://127.0.0.1/", "--tls-min", "1.3", "--tls-max", "1.2"},
		 "--tls-min 1.3 is above --tls-max 1.2"},
		{{"https://127.0.0.1/", "--tls-min", "1.1"}, "--tls-min: '1.1' is not 1.2 or 1.3"},
		{{"https://127.0.0.1/", "--tls-resume", "yes"},
		 "--tls-resume: 'yes' is not off or tickets"},
		{{"https://127.0.0.1/", "--alpn", "a b"}, "--alpn: 'a b' is not a list"},
		{{"https://127.0.0.1/", "--alpn", "h2,"}, "--alpn: 'h2,' is not a list"},
		{{"https://127.0.0.1/", "--sni", "a b"}, "--sni: 'a b' is not a host name"},
		{{"https://127.0.0.1/", "--cacert", ""}, "--cacert: an empty file name"},
		{{"https://127.0.0.1/", "--tls-groups", ""}, "--tls-groups: an empty list"},
		{{"https://127.0.0.1/", "--mode", "echo"}, "--mode echo: a URL is an http target"},
		{{"https://127.0.0.1/a", "--path", "/b"}, "--path: the URL gives the path (/a)"},
		{{"https://127.0.0.1/a", "--requests-file", "r"},
		 "--requests-file: the file gives"},
		{{"http://127.0.0.1/", "--tls"}, "--tls: the URL says http://"},
		{{"https://127.0.0.1/", "http://127.0.0.1/"},
		 "the target: 'http://127.0.0.1/': a URL is the only target"},
		{{"127.0.0.1:1", "--target", "http://127.0.0.1/"},
		 "--target: 'http://127.0.0.1/': a URL is the only target"},
		{{"http://127.0.0.1/", "127.0.0.1:1"}, "the target: '127.0.0.1:1': a URL is the"},
		{{"--target", "http://127.0.0.1:0/"}, "--target: 'http://127.0.0.1:0/': a port is"},
		{{"ws://127.0.0.1/"}, "the target: 'ws://127.0.0.1/': not a URL"},
		{{"nonsense"}, "the target: 'nonsense' is not HOST:PORT"},
	};
	struct load_config cfg;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		const char *const *a = r[i].args;
		int ret = parse_bare(&cfg, err, a[0], a[1], a[2], a[3], a[4], a[5], NULL);

		if (ret != -EINVAL || strncmp(err, r[i].err, strlen(r[i].err)))
			fail_msg("case %zu: got %d '%s', want '%s...'", i, ret, err, r[i].err);
		assert_null(strchr(err, '\n'));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_send_one_get),
		cmocka_unit_test(method_headers_and_body),
		cmocka_unit_test(expect_status),
		cmocka_unit_test(bad_values_name_their_flag),
		cmocka_unit_test(requests_files),
		cmocka_unit_test(urls_set_mode_path_host_and_tls),
		cmocka_unit_test(parse_url_refusals),
		cmocka_unit_test(tls_flags),
		cmocka_unit_test(tls_and_url_refusals),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
