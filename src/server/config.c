// SPDX-License-Identifier: MIT
#include "ringer/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "http_head.h" /* http_route_parse() */

#define DEFAULT_PORT 9000

static const char *const mode_names[] = {
	[MODE_ECHO] = "echo",
	[MODE_HTTP] = "http",
	[MODE_PROXY] = "proxy",
	[MODE_HTTP_PROXY] = "http-proxy",
};

static const char *const balance_names[] = {
	[BALANCE_ROUNDROBIN] = "roundrobin",
	[BALANCE_LEASTCONN] = "leastconn",
	[BALANCE_SOURCE] = "source",
};

const char *balance_name(enum balance_mode b)
{
	return (unsigned)b < sizeof(balance_names) / sizeof(balance_names[0]) ? balance_names[b]
									      : "?";
}

const char *mode_name(enum ringer_mode m)
{
	return (unsigned)m < sizeof(mode_names) / sizeof(mode_names[0]) ? mode_names[m] : "?";
}

void config_defaults(struct config *cfg)
{
	struct sockaddr_in *in;

	memset(cfg, 0, sizeof(*cfg));
	in = (struct sockaddr_in *)&cfg->listen.ss;
	in->sin_family = AF_INET;
	in->sin_port = htons(DEFAULT_PORT);
	in->sin_addr.s_addr = htonl(INADDR_ANY);
	cfg->listen.len = sizeof(*in);
	cfg->mode = MODE_ECHO;
	cfg->max_conns = 16384;
	cfg->buf_size = 16384;
	cfg->buf_count = 4096;
	cfg->ring_entries = 1024;
	cfg->drain_ms = 5000;
	cfg->connect_ms = 3000;
	cfg->connect_retries = 2;
	cfg->send_ms = 60000;
	cfg->header_ms = 10000;
	cfg->body_ms = 10000;
	cfg->body_rate = 500;
	cfg->ka_idle_s = 60;
	cfg->ka_intvl_s = 10;
	cfg->ka_cnt = 6;
	cfg->fail_threshold = 3;
	cfg->down_ms = 10000;
	cfg->check_ms = 2000;
	cfg->resolve_ms = 10000;
	cfg->queue_ms = 5000;
	cfg->upstream_ms = 60000;
	cfg->pool_size = 1024;
	cfg->pool_idle_ms = 60000;
	cfg->log_fd = -1;
	cfg->check_fall = 3;
	cfg->check_rise = 2;
	cfg->pin = true;
	tls_settings_defaults(&cfg->tls);
}

void config_usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s [options]\n"
		"An io_uring TCP server: echo backend, HTTP/1.1 responder, L4 proxy or\n"
		"HTTP/1.1 reverse proxy.\n"
		"\n"
		"  --listen ADDR:PORT     address to listen on (default 0.0.0.0:%d; [::1]:PORT "
		"for\n"
		"                         IPv6; port 0 picks a free port and prints it)\n"
		"  --mode MODE            echo | http | proxy | http-proxy (default echo)\n"
		"  --shards N             threads, one ring each, pinned one per CPU\n"
		"                         (default: the CPUs ringer may run on)\n"
		"  --no-pin               do not pin shard threads to CPUs\n"
		"  --max-conns N          connections per shard (default 16384); beyond it new\n"
		"                         connections are accepted and closed at once. In proxy\n"
		"                         mode it counts client sessions (each also holds an\n"
		"                         upstream connection)\n"
		"  --buf-size BYTES       size of one receive buffer (default 16k; k/m suffixes)\n"
		"  --buf-count N          receive buffers per shard, power of two (default 4096)\n"
		"  --ring-entries N       submission queue entries per shard, power of two up to\n"
		"                         16384 (the completion queue is 4x) (default 1024)\n"
		"  --drain-timeout MS     on SIGINT/SIGTERM, time open connections get to finish\n"
		"                         (default 5000)\n"
		"  --handover PATH        zero-downtime restart through the Unix socket PATH: a\n"
		"                         ringer started while an older one with the same PATH\n"
		"                         runs takes over its listeners (same --listen and\n"
		"                         --admin, --shards at least as many), then the older\n"
		"                         one drains and exits 0\n"
		"  --idle-timeout MS      close connections idle this long (default 0: never)\n"
		"  --send-timeout MS      reset a connection whose send has not moved this long\n"
		"                         (a peer that stopped reading; default 60000, 0: never)\n"
		"  --keepalive IDLE,INTVL,CNT|off\n"
		"                         TCP keepalive on accepted connections (and the proxy's\n"
		"                         upstream ones): probe after IDLE\n"
		"                         s of silence, every INTVL s, reset after CNT unanswered\n"
		"                         (default 60,10,6: a vanished peer goes after 2 minutes)\n"
		"  --tcp-user-timeout MS  reset a connection whose sent data has gone\n"
		"                         unacknowledged this long (TCP_USER_TIMEOUT: a\n"
		"                         black-holed path), on accepted and upstream sockets\n"
		"                         (default: the keepalive's span, IDLE+INTVLxCNT s,\n"
		"                         120000; 0: the kernel's, about 15 minutes)\n"
		"  --recv-bundle on|off   let one receive fill several buffers (kernel 6.10+;\n"
		"                         default off)\n"
		"  --admin [ADDR:]PORT    serve GET /metrics (Prometheus), /connections (JSON;\n"
		"                         ?verify=1 checks each against the kernel), /ready\n"
		"                         and a live dashboard at / on this address (a bare\n"
		"                         PORT: 127.0.0.1:PORT); GET and HEAD only\n"
		"  --admin-allow CIDR[,CIDR...]\n"
		"                         clients served the whole admin port (repeatable;\n"
		"                         default: loopback only); others get 403, except\n"
		"                         for /ready\n"
		"  --stats-interval S     print a line of figures on stderr every S seconds\n"
		"  --accept-proxy         every accepted connection starts with a PROXY protocol\n"
		"                         header (v1 or v2, HAProxy's), whose source address is\n"
		"                         then its peer; missing, malformed or not complete\n"
		"                         within 5 s: the connection is reset and counted\n"
		"  --quiet                print only the listening address\n"
		"  --user NAME            started as root: bind, then run as user NAME (its\n"
		"                         groups; root cannot be regained) before any ring\n"
		"  --no-ring-restrict     rings accept every io_uring opcode (debugging; by\n"
		"                         default only those ringer uses)\n"
		"  -h, --help             this text\n"
		"  -V, --version          the version\n"
		"  -c, --config FILE      read the listeners and every setting from FILE (man\n"
		"                         ringer: Configuration file); no other flag with it\n"
		"  -t, --test-config      check the file (-c, else " RINGER_CONF_DEFAULT ") and\n"
		"                         exit: 0 and 'FILE: syntax ok', or 1 and FILE:LINE: why\n"
		"  -T, --print-config     check it and print it with every default filled in\n"
		"http mode:\n"
		"  --body TEXT            the response body (default \"Hello, World!\")\n"
		"  --body-size BYTES      a body of BYTES filler bytes instead\n"
		"  --methods LIST|any     methods answered with the response, e.g. GET,HEAD,POST\n"
		"                         (of GET HEAD POST PUT DELETE PATCH OPTIONS); others get\n"
		"                         405 with Allow (default any: every method, as nginx's\n"
		"                         return 200; bodies are read and discarded)\n"
		"  --echo-body            a request with a body (Content-Length, 0 included,\n"
		"                         or chunked) gets 200 with exactly that body, streamed\n"
		"                         back as it arrives (chunked stays chunked), as\n"
		"                         application/octet-stream; HEAD, 405s and requests\n"
		"                         without a body get the response above\n"
		"  --header-timeout MS    a request's line and headers must arrive within MS of\n"
		"                         its first byte, else 408 and close (default 10000;\n"
		"                         0: no limit)\n"
		"  --body-timeout MS      a request body must make progress: MS to start, each\n"
		"  --body-min-rate BYTES  BYTES received extend it by a second, up to MS ahead;\n"
		"                         slower: 408 and close (defaults 10000 and 500 bytes/s,\n"
		"                         as Apache's mod_reqtimeout; timeout 0: no limit); these\n"
		"                         three apply to http-proxy's client requests too\n"
		"proxy and http-proxy modes (--send-proxy: proxy only):\n"
		"  --upstream HOST:PORT[,weight=N][,maxconn=N][,resolve][,tls[,sni=NAME]\n"
		"             [,verify=none]][,group=NAME]\n"
		"                         an upstream (IPv4, [IPv6] or a name resolved at\n"
		"                         startup), repeatable up to %d; weight 1..256 (default\n"
		"                         1); maxconn: sessions at once over all shards, more\n"
		"                         wait in a queue (default: no limit); resolve: the name\n"
		"                         is resolved again every --resolve-interval and at once\n"
		"                         after a failed connect, each address it gives a server\n"
		"                         (one gone drains as on a reload); tls: ringer\n"
		"                         speaks TLS to it, verifying its certificate and name\n"
		"                         (sni=NAME, default the host as written) unless\n"
		"                         verify=none; sessions resume on reconnects;\n"
		"                         group=NAME (http-proxy): a member of upstream group\n"
		"                         NAME ([A-Za-z0-9_.-], 1 to 31; default: the default\n"
		"                         group), which --route sends requests to\n"
		"  --resolve-interval MS  how often resolve upstreams' names are looked up\n"
		"                         (default 10000; a thread of its own, never a shard)\n"
		"  --upstream-ca FILE     CA certificates for tls upstreams (default: the\n"
		"                         system's store)\n"
		"  --upstream-cert FILE --upstream-key FILE\n"
		"                         a client certificate for tls upstreams (mTLS)\n"
		"  --upstreams-file FILE  upstreams, one HOST:PORT[,weight=N][,maxconn=N] a line\n"
		"                         (every --upstream option, group=NAME too; '#'\n"
		"                         comments); SIGHUP re-reads it: new sessions use\n"
		"                         the new set, existing ones go on; a bad file is\n"
		"                         refused and the set in use stays\n"
		"  --balance POLICY       roundrobin (weighted) | leastconn | source (client\n"
		"                         address hash) (default roundrobin)\n"
		"  --connect-timeout MS   upstream connect timeout (default 3000)\n"
		"  --connect-retries N    after a failed connect, try up to N further upstreams\n"
		"                         (default 2)\n"
		"  --half-close-timeout MS  a session with one direction finished may last this\n"
		"                         long (default 0: no limit; --idle-timeout still "
		"applies)\n"
		"  --fail-threshold N     consecutive connect failures that mark an upstream down\n"
		"                         (default 3)\n"
		"  --down-time MS         how long it stays down before it is tried again\n"
		"                         (default 10000)\n"
		"  --send-proxy v1|v2     start each upstream connection with a PROXY protocol\n"
		"                         header carrying the client's address\n"
		"  --queue-timeout MS     a client waiting for an upstream at its maxconn is\n"
		"                         closed after MS (default 5000)\n"
		"  --log FILE|-           one line per finished session (proxy) or request\n"
		"                         (http-proxy; man ringer: the formats)\n"
		"                         to FILE (appended) or stdout, written without blocking;\n"
		"                         SIGUSR1 reopens FILE (logrotate)\n"
		"  --check                active health checks: a TCP connect to each upstream\n"
		"                         every --check-interval MS (default 2000, at least\n"
		"                         100); --check-fall N\n"
		"                         failures in a row mark it down (default 3),\n"
		"                         --check-rise N successes up again (default 2); any of\n"
		"                         the three also turns checks on\n"
		"http-proxy mode (an HTTP/1.1 reverse proxy over pooled upstream connections):\n"
		"  --upstream-group NAME=HOST:PORT[,OPTS][,HOST:PORT[,OPTS]]...\n"
		"                         upstreams of group NAME: each HOST:PORT and the\n"
		"                         --upstream options after it, group=NAME added\n"
		"                         (repeatable)\n"
		"  --route [HOST][/PREFIX]=GROUP\n"
		"                         requests for HOST (a name, an address, or *.SUFFIX;\n"
		"                         no port) whose path starts with PREFIX go to GROUP's\n"
		"                         upstreams (the host's own routes first, then *.SUFFIX\n"
		"                         ones, then those without a host; the longest prefix\n"
		"                         wins); GROUP empty or default: the upstreams without\n"
		"                         a group; repeatable up to %d; a request no route\n"
		"                         takes goes to the default group, and without one\n"
		"                         gets 404\n"
		"  --upstream-timeout MS  a response head must arrive within MS of the request,\n"
		"                         else 504 (default 60000)\n"
		"  --max-body BYTES       request bodies larger get 413 (k/m/g suffixes;\n"
		"                         default 0: no limit)\n"
		"  --check-http \"METHOD PATH\"\n"
		"                         active health checks (as --check) are HTTP requests,\n"
		"                         e.g. \"GET /health\": a 2xx or 3xx status is up\n"
		"  --pool-size N          idle upstream connections kept per upstream and shard\n"
		"                         for the next requests (0 to 4096, default 1024; 0: a\n"
		"                         connection per request)\n"
		"  --pool-idle-timeout MS\n"
		"                         an idle pooled connection is closed after MS\n"
		"                         (default 60000)\n"
		"  --forwarded x-forwarded|rfc7239|none\n"
		"                         how the client is told upstream: X-Forwarded-For\n"
		"                         (appended), -Proto and -Host; Forwarded (RFC 7239);\n"
		"                         or neither (default x-forwarded); Via always\n"

		"TLS (every mode; OpenSSL in user space):\n"
		"  --tls-cert FILE        PEM certificate (and its chain): accepted connections\n"
		"                         speak TLS; repeatable, each with its --tls-key: chosen\n"
		"                         by SNI (exact name, wildcard, else the first); RSA and\n"
		"                         ECDSA certificates for the same names side by side\n"
		"  --tls-key FILE         PEM private key of the --tls-cert before it\n"
		"  --tls-strict-sni       a name no certificate carries: handshake refused\n"
		"  --tls-min 1.2|1.3      lowest version accepted (default 1.2)\n"
		"  --tls-ciphers LIST     TLS 1.2 ciphers (default ECDHE with AES-GCM/ChaCha20)\n"
		"  --tls-ciphersuites LIST  TLS 1.3 suites (default OpenSSL's)\n"
		"  --tls-groups LIST      key exchange groups (default X25519:P-256)\n"
		"  --tls-alpn LIST        protocols offered, e.g. http/1.1 (http mode default:\n"
		"                         http/1.1; never h2)\n"
		"  --tls-tickets N        session tickets per handshake (default 1; 0: none);\n"
		"                         every shard shares the keys, so any shard resumes\n"
		"  --tls-verify-client none|optional|required\n"
		"                         client certificates, checked against --tls-ca FILE\n"
		"                         (and --tls-crl FILE)\n"
		"  --tls-handshake-timeout MS  a handshake not done by then is reset (default\n"
		"                         10000)\n"
		"  --tls-max-handshakes N handshakes in progress per shard; beyond: reset\n"
		"                         (default 1024)\n"
		"  --tls-keylog FILE      append session secrets (SSLKEYLOGFILE format) for\n"
		"                         Wireshark; for debugging only\n"
		"  --admin-tls            the --admin port speaks TLS too, with the same\n"
		"                         certificates\n"
		"\n"
		"Signals: SIGUSR2 prints stats; SIGUSR1 reopens --log FILE (logrotate);\n"
		"SIGHUP re-reads --upstreams-file and the TLS certificates and keys;\n"
		"SIGINT/SIGTERM drain and exit 0. Under systemd: Type=notify (NOTIFY_SOCKET)\n"
		"and socket activation (LISTEN_FDS) need no flag.\n",
		prog, DEFAULT_PORT, CONFIG_MAX_UPSTREAMS, CONFIG_MAX_ROUTES);
}

/* Flags that take a value; the table keeps the parser a loop, not a chain of ifs. */
enum opt_id {
	OPT_LISTEN,
	OPT_MODE,
	OPT_SHARDS,
	OPT_MAX_CONNS,
	OPT_BUF_SIZE,
	OPT_BUF_COUNT,
	OPT_RING_ENTRIES,
	OPT_DRAIN,
	OPT_IDLE,
	OPT_SEND_TIMEOUT,
	OPT_BODY,
	OPT_BODY_SIZE,
	OPT_HEADER_TIMEOUT,
	OPT_METHODS,
	OPT_ECHO_BODY,
	OPT_STATS_INTERVAL,
	OPT_BODY_TIMEOUT,
	OPT_BODY_MIN_RATE,
	OPT_UPSTREAM,
	OPT_CONNECT_TIMEOUT,
	OPT_CONNECT_RETRIES,
	OPT_BALANCE,
	OPT_HALF_CLOSE,
	OPT_FAIL_THRESHOLD,
	OPT_DOWN_TIME,
	OPT_CHECK,
	OPT_UPSTREAMS_FILE,
	OPT_QUEUE_TIMEOUT,
	OPT_ACCEPT_PROXY,
	OPT_SEND_PROXY,
	OPT_LOG,
	OPT_CHECK_INTERVAL,
	OPT_RESOLVE_INTERVAL,
	OPT_CHECK_FALL,
	OPT_CHECK_RISE,
	OPT_ADMIN,
	OPT_HANDOVER,
	OPT_RECV_BUNDLE,
	OPT_KEEPALIVE,
	OPT_USER_TIMEOUT,
	OPT_NO_PIN,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_TLS_STRICT_SNI,
	OPT_TLS_MIN,
	OPT_TLS_CIPHERS,
	OPT_TLS_CIPHERSUITES,
	OPT_TLS_GROUPS,
	OPT_TLS_ALPN,
	OPT_TLS_TICKETS,
	OPT_TLS_VERIFY_CLIENT,
	OPT_TLS_CA,
	OPT_TLS_CRL,
	OPT_TLS_KEYLOG,
	OPT_TLS_HS_TIMEOUT,
	OPT_TLS_MAX_HS,
	OPT_ADMIN_TLS,
	OPT_ADMIN_ALLOW,
	OPT_UPSTREAM_CA,
	OPT_UPSTREAM_CERT,
	OPT_UPSTREAM_KEY,
	OPT_UPSTREAM_GROUP,
	OPT_ROUTE,
	OPT_UPSTREAM_TIMEOUT,
	OPT_MAX_BODY,
	OPT_CHECK_HTTP,
	OPT_POOL_SIZE,
	OPT_POOL_IDLE,
	OPT_FORWARDED,
	OPT_QUIET,
	OPT_USER,
	OPT_NO_RING_RESTRICT,
	OPT_HELP,
	OPT_VERSION,
	OPT_CONFIG,
	OPT_TEST_CONFIG,
	OPT_PRINT_CONFIG,
};

static const struct cli_opt options[] = {
	{"--listen", NULL, OPT_LISTEN, true},
	{"--stats-interval", NULL, OPT_STATS_INTERVAL, true},
	{"--mode", NULL, OPT_MODE, true},
	{"--shards", NULL, OPT_SHARDS, true},
	{"--max-conns", NULL, OPT_MAX_CONNS, true},
	{"--buf-size", NULL, OPT_BUF_SIZE, true},
	{"--buf-count", NULL, OPT_BUF_COUNT, true},
	{"--ring-entries", NULL, OPT_RING_ENTRIES, true},
	{"--drain-timeout", NULL, OPT_DRAIN, true},
	{"--idle-timeout", NULL, OPT_IDLE, true},
	{"--send-timeout", NULL, OPT_SEND_TIMEOUT, true},
	{"--body", NULL, OPT_BODY, true},
	{"--body-size", NULL, OPT_BODY_SIZE, true},
	{"--header-timeout", NULL, OPT_HEADER_TIMEOUT, true},
	{"--methods", NULL, OPT_METHODS, true},
	{"--echo-body", NULL, OPT_ECHO_BODY, false},
	{"--body-timeout", NULL, OPT_BODY_TIMEOUT, true},
	{"--body-min-rate", NULL, OPT_BODY_MIN_RATE, true},
	{"--upstream", NULL, OPT_UPSTREAM, true},
	{"--connect-timeout", NULL, OPT_CONNECT_TIMEOUT, true},
	{"--connect-retries", NULL, OPT_CONNECT_RETRIES, true},
	{"--balance", NULL, OPT_BALANCE, true},
	{"--half-close-timeout", NULL, OPT_HALF_CLOSE, true},
	{"--fail-threshold", NULL, OPT_FAIL_THRESHOLD, true},
	{"--down-time", NULL, OPT_DOWN_TIME, true},
	{"--check", NULL, OPT_CHECK, false},
	{"--upstreams-file", NULL, OPT_UPSTREAMS_FILE, true},
	{"--queue-timeout", NULL, OPT_QUEUE_TIMEOUT, true},
	{"--accept-proxy", NULL, OPT_ACCEPT_PROXY, false},
	{"--send-proxy", NULL, OPT_SEND_PROXY, true},
	{"--log", NULL, OPT_LOG, true},
	{"--check-interval", NULL, OPT_CHECK_INTERVAL, true},
	{"--resolve-interval", NULL, OPT_RESOLVE_INTERVAL, true},
	{"--check-fall", NULL, OPT_CHECK_FALL, true},
	{"--check-rise", NULL, OPT_CHECK_RISE, true},
	{"--admin", NULL, OPT_ADMIN, true},
	{"--handover", NULL, OPT_HANDOVER, true},
	{"--recv-bundle", NULL, OPT_RECV_BUNDLE, true},
	{"--keepalive", NULL, OPT_KEEPALIVE, true},
	{"--tcp-user-timeout", NULL, OPT_USER_TIMEOUT, true},
	{"--no-pin", NULL, OPT_NO_PIN, false},
	{"--tls-cert", NULL, OPT_TLS_CERT, true},
	{"--tls-key", NULL, OPT_TLS_KEY, true},
	{"--tls-strict-sni", NULL, OPT_TLS_STRICT_SNI, false},
	{"--tls-min", NULL, OPT_TLS_MIN, true},
	{"--tls-ciphers", NULL, OPT_TLS_CIPHERS, true},
	{"--tls-ciphersuites", NULL, OPT_TLS_CIPHERSUITES, true},
	{"--tls-groups", NULL, OPT_TLS_GROUPS, true},
	{"--tls-alpn", NULL, OPT_TLS_ALPN, true},
	{"--tls-tickets", NULL, OPT_TLS_TICKETS, true},
	{"--tls-verify-client", NULL, OPT_TLS_VERIFY_CLIENT, true},
	{"--tls-ca", NULL, OPT_TLS_CA, true},
	{"--tls-crl", NULL, OPT_TLS_CRL, true},
	{"--tls-keylog", NULL, OPT_TLS_KEYLOG, true},
	{"--tls-handshake-timeout", NULL, OPT_TLS_HS_TIMEOUT, true},
	{"--tls-max-handshakes", NULL, OPT_TLS_MAX_HS, true},
	{"--admin-tls", NULL, OPT_ADMIN_TLS, false},
	{"--admin-allow", NULL, OPT_ADMIN_ALLOW, true},
	{"--upstream-ca", NULL, OPT_UPSTREAM_CA, true},
	{"--upstream-cert", NULL, OPT_UPSTREAM_CERT, true},
	{"--upstream-key", NULL, OPT_UPSTREAM_KEY, true},
	{"--upstream-group", NULL, OPT_UPSTREAM_GROUP, true},
	{"--route", NULL, OPT_ROUTE, true},
	{"--upstream-timeout", NULL, OPT_UPSTREAM_TIMEOUT, true},
	{"--max-body", NULL, OPT_MAX_BODY, true},
	{"--check-http", NULL, OPT_CHECK_HTTP, true},
	{"--pool-size", NULL, OPT_POOL_SIZE, true},
	{"--pool-idle-timeout", NULL, OPT_POOL_IDLE, true},
	{"--forwarded", NULL, OPT_FORWARDED, true},
	{"--quiet", NULL, OPT_QUIET, false},
	{"--user", NULL, OPT_USER, true},
	{"--no-ring-restrict", NULL, OPT_NO_RING_RESTRICT, false},
	{"--help", "-h", OPT_HELP, false},
	{"--version", "-V", OPT_VERSION, false},
	{"--config", "-c", OPT_CONFIG, true},
	{"--test-config", "-t", OPT_TEST_CONFIG, false},
	{"--print-config", "-T", OPT_PRINT_CONFIG, false},
};

const struct cli_opt *config_options(size_t *n)
{
	*n = sizeof(options) / sizeof(options[0]);
	return options;
}

static int set_uint(const char *flag, const char *val, uint64_t min, uint64_t max, bool suffix,
		    unsigned *dst, char *err, size_t err_len)
{
	uint64_t v;

	if (parse_uint(val, min, max, suffix, &v))
		return cli_fail(err, err_len, "%s: '%s' is not a whole number from %llu to %llu",
				flag, val, (unsigned long long)min, (unsigned long long)max);
	*dst = (unsigned)v;
	return 0;
}

/* "off", or "IDLE,INTVL,CNT" in seconds, seconds and probes. */
static int parse_keepalive(struct config *cfg, const char *val, char *err, size_t err_len)
{
	unsigned long idle, intvl, cnt;
	char tail;

	if (!strcmp(val, "off")) {
		cfg->ka_idle_s = 0;
		return 0;
	}
	if (sscanf(val, "%lu,%lu,%lu%c", &idle, &intvl, &cnt, &tail) != 3 || val[0] == '-' ||
	    strchr(val, '-') || idle < 1 || idle > 86400 || intvl < 1 || intvl > 3600 || cnt < 1 ||
	    cnt > 100)
		return cli_fail(err, err_len,
				"--keepalive: '%s' is not off or IDLE,INTVL,CNT (seconds 1-86400, "
				"seconds 1-3600, probes 1-100)",
				val);
	cfg->ka_idle_s = (unsigned)idle;
	cfg->ka_intvl_s = (unsigned)intvl;
	cfg->ka_cnt = (unsigned)cnt;
	return 0;
}

/*
 * An upstream group's name: 1 to 31 of [A-Za-z0-9_.-]; "default" stands for
 * the upstreams without a group, so it is stored as the empty name.
 */
static bool group_name(const char *s, size_t len, char out[32])
{
	if (!len || len > 31)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.' || s[i] == '-'))
			return false;
	snprintf(out, 32, "%.*s", (int)len, s);
	if (!strcmp(out, "default"))
		out[0] = 0;
	return true;
}

/*
 * "HOST:PORT[,weight=N][,maxconn=N][,tls[,sni=NAME][,verify=none]][,group=NAME]":
 * the address is resolved now, so a bad name fails at startup.
 */
static int parse_upstream(struct config_upstream *u, const char *val, char *err, size_t err_len)
{
	char addr[sizeof(u->name)], why[160] = "";
	const char *comma = strchr(val, ',');
	size_t alen = comma ? (size_t)(comma - val) : strlen(val);
	uint64_t w = 1, maxconn = 0;
	bool tls = false, no_verify = false, tls_opt = false, resolve = false;
	char sni[sizeof(u->sni)] = "", group[sizeof(u->group)] = "";
	int ret;

	if (alen >= sizeof(addr))
		return cli_fail(err, err_len, "--upstream: '%s' is too long", val);
	memcpy(addr, val, alen);
	addr[alen] = 0;
	for (const char *opt = comma; opt; opt = strchr(opt + 1, ',')) {
		char one[128];
		size_t olen = strcspn(opt + 1, ",");

		snprintf(one, sizeof(one), "%.*s", (int)olen, opt + 1);
		if (!strncmp(one, "weight=", 7) && !parse_uint(one + 7, 1, 256, false, &w))
			continue;
		if (!strncmp(one, "maxconn=", 8) &&
		    !parse_uint(one + 8, 1, 1u << 20, false, &maxconn))
			continue;
		if (!strcmp(one, "tls")) {
			tls = true;
			continue;
		}
		if (!strcmp(one, "resolve")) {
			resolve = true;
			continue;
		}
		if (!strncmp(one, "sni=", 4) && one[4] && strlen(one + 4) < sizeof(sni)) {
			snprintf(sni, sizeof(sni), "%s", one + 4);
			tls_opt = true;
			continue;
		}
		if (!strcmp(one, "verify=none")) {
			no_verify = tls_opt = true;
			continue;
		}
		if (!strncmp(one, "group=", 6) && group_name(one + 6, strlen(one + 6), group))
			continue;
		return cli_fail(err, err_len,
				"--upstream: '%s': options are weight=N (1 to 256), maxconn=N "
				"(1 to 1048576), resolve, tls, sni=NAME, verify=none and "
				"group=NAME (1 to 31 of A-Z a-z 0-9 _ . -)",
				val);
	}
	if (tls_opt && !tls)
		return cli_fail(err, err_len, "--upstream: '%s': sni= and verify= go with tls",
				val);
	ret = net_addr_resolve(addr, &u->addr, why, sizeof(why));
	if (ret == -ENOENT)
		return cli_fail(err, err_len, "--upstream: %s", why);
	if (ret || net_addr_port(&u->addr) == 0)
		return cli_fail(err, err_len, "--upstream: '%s' is not HOST:PORT with a port", val);
	u->weight = (unsigned)w;
	u->maxconn = (unsigned)maxconn;
	snprintf(u->name, sizeof(u->name), "%s", addr);
	u->tls = tls;
	u->no_verify = no_verify;
	u->resolve = resolve;
	/* The name sent and verified: sni=, else the host as written when it is a name. */
	if (tls && !sni[0]) {
		struct in_addr a4;
		char host[sizeof(addr)];
		const char *colon = strrchr(addr, ':');

		snprintf(host, sizeof(host), "%.*s", colon ? (int)(colon - addr) : (int)alen, addr);
		if (host[0] != '[' && inet_pton(AF_INET, host, &a4) != 1)
			snprintf(sni, sizeof(sni), "%s", host);
	}
	snprintf(u->sni, sizeof(u->sni), "%s", sni);
	snprintf(u->group, sizeof(u->group), "%s", group);
	return 0;
}

/* Whether item (len bytes) of an --upstream-group list is an option, not an address. */
static bool upstream_option(const char *item, size_t len)
{
	size_t key = strspn(item, "abcdefghijklmnopqrstuvwxyz");

	if (key && key < len && item[key] == '=')
		return true;
	return (len == 3 && !strncmp(item, "tls", 3)) || (len == 7 && !strncmp(item, "resolve", 7));
}

/*
 * --upstream-group NAME=HOST:PORT[,opts][,HOST:PORT[,opts]]...: each address
 * (an item with ':' or starting with '[' that is not key=value) and the
 * options after it are one --upstream, with group=NAME.
 */
static int parse_upstream_group(struct config *cfg, const char *val, char *err, size_t err_len)
{
	const char *eq = strchr(val, '='), *p;
	char group[32], one[512];

	if (!eq || !group_name(val, (size_t)(eq - val), group))
		return cli_fail(err, err_len,
				"--upstream-group: '%s' is not NAME=HOST:PORT[,...] (NAME: 1 to 31 "
				"of A-Z a-z 0-9 _ . -)",
				val);
	for (p = eq + 1; *p;) {
		size_t len = strcspn(p, ","), olen;
		const char *next;

		if (upstream_option(p, len) || !len)
			return cli_fail(err, err_len,
					"--upstream-group %.*s: '%.*s' is not HOST:PORT (the "
					"options follow their address)",
					(int)(eq - val), val, (int)len, p);
		/* The address, then every option up to the next address. */
		for (next = p + len; *next == ',';) {
			size_t l = strcspn(next + 1, ",");

			if (!upstream_option(next + 1, l))
				break;
			if (!strncmp(next + 1, "group=", 6))
				return cli_fail(err, err_len,
						"--upstream-group %.*s: no group= in it (the group "
						"is %.*s)",
						(int)(eq - val), val, (int)(eq - val), val);
			next += 1 + l;
		}
		olen = (size_t)(next - p);
		if (olen + 40 > sizeof(one))
			return cli_fail(err, err_len, "--upstream-group: '%.*s' is too long",
					(int)olen, p);
		if (cfg->n_upstreams == CONFIG_MAX_UPSTREAMS)
			return cli_fail(err, err_len, "--upstream-group: at most %d upstreams",
					CONFIG_MAX_UPSTREAMS);
		snprintf(one, sizeof(one), "%.*s,group=%s", (int)olen, p,
			 group[0] ? group : "default");
		if (parse_upstream(&cfg->upstreams[cfg->n_upstreams], one, err, err_len))
			return -EINVAL;
		cfg->n_upstreams++;
		p = *next ? next + 1 : next;
		if (*next && !*p)
			return cli_fail(err, err_len, "--upstream-group: '%s' ends with ','", val);
	}
	if (p == eq + 1)
		return cli_fail(err, err_len, "--upstream-group %.*s: no HOST:PORT after '='",
				(int)(eq - val), val);
	return 0;
}

/*
 * --route [HOST][/PREFIX]=GROUP, parsed as the mode matches it (http_head.c);
 * "default" is the upstreams without a group. Whether GROUP has upstreams is
 * checked once every flag is in (config_check_groups()).
 */
static int parse_route(struct config *cfg, const char *val, char *err, size_t err_len)
{
	struct config_route r;

	if (cfg->n_routes == CONFIG_MAX_ROUTES)
		return cli_fail(err, err_len, "--route: at most %d routes", CONFIG_MAX_ROUTES);
	if (http_route_parse(val, &r, err, err_len))
		return -EINVAL;
	if (!strcmp(r.group, "default"))
		r.group[0] = 0;
	for (unsigned i = 0; i < cfg->n_routes; i++)
		if (!strcmp(cfg->routes[i].host, r.host) &&
		    !strcmp(cfg->routes[i].prefix, r.prefix))
			return cli_fail(err, err_len,
					"--route %s: that host and prefix are routed already", val);
	cfg->routes[cfg->n_routes++] = r;
	return 0;
}

/* --check-http "METHOD PATH": a token, one space, a path from '/' without spaces. */
static int parse_check_http(struct config *cfg, const char *val, char *err, size_t err_len)
{
	size_t m = strspn(val, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			       "!#$%&'*+-.^_`|~");
	const char *path = val + m + 1;
	bool ok = m && m <= 32 && val[m] == ' ' && path[0] == '/' && strlen(path) < 1024;

	for (const char *p = path; ok && *p; p++)
		ok = (unsigned char)*p > ' ' && *p != 0x7f;
	if (!ok)
		return cli_fail(err, err_len,
				"--check-http: '%s' is not \"METHOD PATH\" (e.g. \"GET /health\"; "
				"the path starts with '/', without spaces)",
				val);
	cfg->check_http = val;
	cfg->check = true;
	return 0;
}

/* "GET,HEAD,POST" into a bit mask in enum http_method's order; "any": 0. */
static int parse_methods(struct config *cfg, const char *val, char *err, size_t err_len)
{
	static const char *const names[] = {"GET",    "HEAD",  "POST",	 "PUT",
					    "DELETE", "PATCH", "OPTIONS"};
	unsigned mask = 0;

	if (!strcmp(val, "any")) {
		cfg->methods = 0;
		return 0;
	}
	for (const char *p = val; *p;) {
		size_t len = strcspn(p, ",");
		unsigned i;

		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strlen(names[i]) == len && !strncmp(p, names[i], len))
				break;
		if (i == sizeof(names) / sizeof(names[0]))
			return cli_fail(err, err_len,
					"--methods: '%.*s' is not one of GET HEAD POST PUT DELETE "
					"PATCH OPTIONS (or give 'any')",
					(int)len, p);
		mask |= 1u << i;
		p += len;
		if (*p == ',')
			p++;
	}
	if (!mask)
		return cli_fail(err, err_len, "--methods: a list like GET,HEAD, or any");
	cfg->methods = mask;
	return 0;
}

/* The TLS flags: they fill cfg->tls, checked whole by tls_ctx_new() at startup. */
static int apply_tls(struct config *cfg, enum opt_id id, const char *flag, const char *val,
		     char *err, size_t err_len)
{
	struct tls_settings *t = &cfg->tls;
	unsigned v = 0;

	switch (id) {
	case OPT_TLS_CERT:
		if (t->n_certs == TLS_MAX_CERTS)
			return cli_fail(err, err_len, "--tls-cert: at most %d certificates",
					TLS_MAX_CERTS);
		if (t->n_keys != t->n_certs)
			return cli_fail(err, err_len,
					"--tls-cert %s: the --tls-cert before it has no --tls-key",
					val);
		t->cert[t->n_certs++] = val;
		cfg->tls_on = true;
		return 0;
	case OPT_TLS_KEY:
		if (t->n_keys + 1 != t->n_certs)
			return cli_fail(err, err_len,
					"--tls-key %s: give it after its --tls-cert (one key each)",
					val);
		t->key[t->n_keys++] = val;
		return 0;
	case OPT_TLS_STRICT_SNI:
		t->strict_sni = true;
		return 0;
	case OPT_TLS_MIN:
		if (!strcmp(val, "1.2"))
			t->min_version = 12;
		else if (!strcmp(val, "1.3"))
			t->min_version = 13;
		else
			return cli_fail(err, err_len, "--tls-min: '%s' is not 1.2 or 1.3", val);
		return 0;
	case OPT_TLS_CIPHERS:
		t->ciphers = val;
		return 0;
	case OPT_TLS_CIPHERSUITES:
		t->ciphersuites = val;
		return 0;
	case OPT_TLS_GROUPS:
		t->groups = val;
		return 0;
	case OPT_TLS_ALPN:
		if (strstr(val, "h2"))
			return cli_fail(err, err_len,
					"--tls-alpn: '%s': ringer speaks HTTP/1.1, not h2", val);
		t->alpn = val;
		return 0;
	case OPT_TLS_TICKETS:
		if (set_uint(flag, val, 0, 16, false, &v, err, err_len))
			return -EINVAL;
		t->tickets = (int)v;
		return 0;
	case OPT_TLS_VERIFY_CLIENT:
		if (!strcmp(val, "none"))
			t->verify_client = TLS_VERIFY_NONE;
		else if (!strcmp(val, "optional"))
			t->verify_client = TLS_VERIFY_OPTIONAL;
		else if (!strcmp(val, "required"))
			t->verify_client = TLS_VERIFY_REQUIRED;
		else
			return cli_fail(err, err_len,
					"--tls-verify-client: '%s' is not none, optional or "
					"required",
					val);
		return 0;
	case OPT_TLS_CA:
		t->ca = val;
		return 0;
	case OPT_TLS_CRL:
		t->crl = val;
		return 0;
	case OPT_TLS_KEYLOG:
		t->keylog = val;
		return 0;
	case OPT_TLS_HS_TIMEOUT:
		return set_uint(flag, val, 1, 3600000, false, &t->handshake_ms, err, err_len);
	case OPT_TLS_MAX_HS:
		return set_uint(flag, val, 1, 1u << 20, false, &t->max_handshakes, err, err_len);
	default:
		return cli_fail(err, err_len, "internal: unhandled option %s", flag);
	}
}

/* --admin: ADDR:PORT binds where it says; a bare PORT is loopback's (127.0.0.1:PORT). */
static int parse_admin(const char *val, struct net_addr *a)
{
	char lo[32];

	if (*val && strlen(val) <= 5 && strspn(val, "0123456789") == strlen(val)) {
		snprintf(lo, sizeof(lo), "127.0.0.1:%s", val);
		val = lo;
	}
	return net_addr_parse(val, a);
}

/* --admin-allow CIDR[,CIDR...]: added to the networks given so far (the flag repeats). */
static int parse_admin_allow(struct config *cfg, const char *val, char *err, size_t err_len)
{
	for (const char *p = val;; p++) {
		size_t len = strcspn(p, ",");
		char one[64];

		if (cfg->n_admin_allow == CONFIG_MAX_ADMIN_ALLOW)
			return cli_fail(err, err_len, "--admin-allow: at most %d networks",
					CONFIG_MAX_ADMIN_ALLOW);
		snprintf(one, sizeof(one), "%.*s", (int)len, p);
		if (len >= sizeof(one) || cidr_parse(one, &cfg->admin_allow[cfg->n_admin_allow]))
			return cli_fail(err, err_len,
					"--admin-allow: '%.*s' is not an address or a network "
					"(A.B.C.D[/0-32] or an IPv6 address[/0-128])",
					(int)len, p);
		cfg->n_admin_allow++;
		p += len;
		if (!*p)
			return 0;
	}
}

/* Flags seen so far that belong to one mode (or conflict with each other). */
struct seen {
	bool body;	 /* --body or --body-size */
	bool http;	 /* any http-only flag */
	bool request;	 /* --header-timeout, --body-timeout, --body-min-rate: http, http-proxy */
	bool proxy;	 /* any flag of the modes with upstreams besides --upstream */
	bool http_proxy; /* any http-proxy-only flag */
};

static int apply(struct config *cfg, enum opt_id id, const char *flag, const char *val, char *err,
		 size_t err_len, struct seen *seen)
{
	uint64_t v;

	switch (id) {
	case OPT_LISTEN:
		if (net_addr_parse(val, &cfg->listen))
			return cli_fail(err, err_len,
					"--listen: '%s' is not ADDR:PORT (e.g. 127.0.0.1:9000 or "
					"[::1]:9000)",
					val);
		return 0;
	case OPT_MODE:
		for (unsigned m = 0; m < sizeof(mode_names) / sizeof(mode_names[0]); m++) {
			if (!strcmp(val, mode_names[m])) {
				cfg->mode = (enum ringer_mode)m;
				return 0;
			}
		}
		return cli_fail(err, err_len,
				"--mode: '%s' is not one of echo, http, proxy, http-proxy", val);
	case OPT_SHARDS:
		return set_uint(flag, val, 1, 1024, false, &cfg->shards, err, err_len);
	case OPT_MAX_CONNS:
		return set_uint(flag, val, 1, 1u << 20, false, &cfg->max_conns, err, err_len);
	case OPT_BUF_SIZE:
		return set_uint(flag, val, 64, 1u << 20, true, &cfg->buf_size, err, err_len);
	case OPT_BUF_COUNT:
		if (set_uint(flag, val, 1, 32768, false, &cfg->buf_count, err, err_len))
			return -EINVAL;
		if (cfg->buf_count & (cfg->buf_count - 1))
			return cli_fail(err, err_len, "--buf-count: %u is not a power of two",
					cfg->buf_count);
		return 0;
	case OPT_RING_ENTRIES:
		/* The completion queue is 4x the submission queue; the kernel allows 65,536. */
		if (set_uint(flag, val, 8, 16384, false, &cfg->ring_entries, err, err_len))
			return -EINVAL;
		if (cfg->ring_entries & (cfg->ring_entries - 1))
			return cli_fail(err, err_len, "--ring-entries: %u is not a power of two",
					cfg->ring_entries);
		return 0;
	case OPT_DRAIN:
		return set_uint(flag, val, 0, 3600000, false, &cfg->drain_ms, err, err_len);
	case OPT_IDLE:
		return set_uint(flag, val, 0, 86400000, false, &cfg->idle_ms, err, err_len);
	case OPT_SEND_TIMEOUT:
		return set_uint(flag, val, 0, 86400000, false, &cfg->send_ms, err, err_len);
	case OPT_CONNECT_TIMEOUT:
		seen->proxy = true;
		return set_uint(flag, val, 1, 3600000, false, &cfg->connect_ms, err, err_len);
	case OPT_BODY:
		if (seen->body)
			return cli_fail(err, err_len, "--body and --body-size conflict: give one");
		seen->body = seen->http = true;
		cfg->body = val;
		return 0;
	case OPT_BODY_SIZE:
		if (seen->body)
			return cli_fail(err, err_len, "--body and --body-size conflict: give one");
		seen->body = seen->http = true;
		if (parse_uint(val, 0, 64u << 20, true, &v))
			return cli_fail(err, err_len,
					"--body-size: '%s' is not a size from 0 to 64m", val);
		cfg->body_size = (size_t)v;
		cfg->body_filler = true;
		return 0;
	case OPT_UPSTREAMS_FILE: {
		int n;

		if (cfg->upstreams_path || cfg->n_upstreams)
			return cli_fail(
				err, err_len,
				"--upstreams-file: given twice, or with --upstream (the file "
				"holds them all)");
		n = config_read_upstreams(val, cfg->upstreams + cfg->n_upstreams,
					  CONFIG_MAX_UPSTREAMS - cfg->n_upstreams, err, err_len);
		if (n < 0)
			return n;
		cfg->n_upstreams += (unsigned)n;
		cfg->upstreams_path = val;
		return 0;
	}
	case OPT_UPSTREAM:
		if (cfg->upstreams_path)
			return cli_fail(
				err, err_len,
				"--upstream: not with --upstreams-file (the file holds them all)");
		if (cfg->n_upstreams == CONFIG_MAX_UPSTREAMS)
			return cli_fail(err, err_len, "--upstream: at most %d upstreams",
					CONFIG_MAX_UPSTREAMS);
		return parse_upstream(&cfg->upstreams[cfg->n_upstreams++], val, err, err_len);
	case OPT_METHODS:
		seen->http = true;
		return parse_methods(cfg, val, err, err_len);
	case OPT_ECHO_BODY:
		seen->http = true;
		cfg->echo_body = true;
		return 0;
	case OPT_HEADER_TIMEOUT:
		seen->request = true;
		return set_uint(flag, val, 0, 3600000, false, &cfg->header_ms, err, err_len);
	case OPT_STATS_INTERVAL:
		return set_uint(flag, val, 0, 3600, false, &cfg->stats_interval_s, err, err_len);
	case OPT_BODY_TIMEOUT:
		seen->request = true;
		return set_uint(flag, val, 0, 3600000, false, &cfg->body_ms, err, err_len);
	case OPT_BODY_MIN_RATE:
		seen->request = true;
		return set_uint(flag, val, 0, 1u << 30, false, &cfg->body_rate, err, err_len);
	case OPT_CONNECT_RETRIES:
		seen->proxy = true;
		return set_uint(flag, val, 0, CONFIG_MAX_UPSTREAMS, false, &cfg->connect_retries,
				err, err_len);
	case OPT_BALANCE:
		for (unsigned b = 0; b < sizeof(balance_names) / sizeof(balance_names[0]); b++) {
			if (!strcmp(val, balance_names[b])) {
				cfg->balance = (enum balance_mode)b;
				seen->proxy = true;
				return 0;
			}
		}
		return cli_fail(err, err_len,
				"--balance: '%s' is not one of roundrobin, leastconn, source", val);
	case OPT_HALF_CLOSE:
		seen->proxy = true;
		return set_uint(flag, val, 0, 86400000, false, &cfg->half_close_ms, err, err_len);
	case OPT_FAIL_THRESHOLD:
		seen->proxy = true;
		return set_uint(flag, val, 1, 1000000, false, &cfg->fail_threshold, err, err_len);
	case OPT_DOWN_TIME:
		seen->proxy = true;
		return set_uint(flag, val, 1, 86400000, false, &cfg->down_ms, err, err_len);
	case OPT_QUEUE_TIMEOUT:
		seen->proxy = true;
		return set_uint(flag, val, 1, 3600000, false, &cfg->queue_ms, err, err_len);
	case OPT_ACCEPT_PROXY:
		cfg->accept_proxy = true;
		return 0;
	case OPT_SEND_PROXY:
		if (!strcmp(val, "v1") || !strcmp(val, "1"))
			cfg->send_proxy = 1;
		else if (!strcmp(val, "v2") || !strcmp(val, "2"))
			cfg->send_proxy = 2;
		else
			return cli_fail(err, err_len, "--send-proxy: '%s' is not v1 or v2", val);
		return 0;
	case OPT_LOG:
		seen->proxy = true;
		if (!*val)
			return cli_fail(err, err_len, "--log: a file name, or - for stdout");
		cfg->log_path = val;
		return 0;
	case OPT_CHECK:
		seen->proxy = true;
		cfg->check = true;
		return 0;
	case OPT_CHECK_INTERVAL:
		seen->proxy = true;
		cfg->check = true;
		return set_uint(flag, val, 100, 3600000, false, &cfg->check_ms, err, err_len);
	case OPT_RESOLVE_INTERVAL:
		seen->proxy = true;
		return set_uint(flag, val, 100, 3600000, false, &cfg->resolve_ms, err, err_len);
	case OPT_CHECK_FALL:
		seen->proxy = true;
		cfg->check = true;
		return set_uint(flag, val, 1, 1000, false, &cfg->check_fall, err, err_len);
	case OPT_CHECK_RISE:
		seen->proxy = true;
		cfg->check = true;
		return set_uint(flag, val, 1, 1000, false, &cfg->check_rise, err, err_len);
	case OPT_ADMIN:
		if (parse_admin(val, &cfg->admin))
			return cli_fail(err, err_len, "--admin: '%s' is not PORT or ADDR:PORT",
					val);
		cfg->admin_set = true;
		return 0;
	case OPT_HANDOVER:
		/* A Unix socket's path: sun_path holds 108 bytes with the terminating NUL. */
		if (!*val || strlen(val) > 107)
			return cli_fail(
				err, err_len,
				"--handover: '%s' is not a Unix socket path of 1 to 107 bytes",
				val);
		cfg->handover_path = val;
		return 0;
	case OPT_KEEPALIVE:
		return parse_keepalive(cfg, val, err, err_len);
	case OPT_USER_TIMEOUT:
		cfg->user_timeout_set = true;
		return set_uint(flag, val, 0, 86400000, false, &cfg->user_timeout_ms, err, err_len);
	case OPT_RECV_BUNDLE:
		if (strcmp(val, "on") && strcmp(val, "off"))
			return cli_fail(err, err_len, "--recv-bundle: '%s' is not on or off", val);
		cfg->recv_bundle = !strcmp(val, "on");
		return 0;
	case OPT_NO_PIN:
		cfg->pin = false;
		return 0;
	case OPT_ADMIN_TLS:
		cfg->admin_tls = true;
		return 0;
	case OPT_ADMIN_ALLOW:
		return parse_admin_allow(cfg, val, err, err_len);
	case OPT_UPSTREAM_CA:
		seen->proxy = true;
		cfg->upstream_ca = val;
		return 0;
	case OPT_UPSTREAM_CERT:
		seen->proxy = true;
		cfg->upstream_cert = val;
		return 0;
	case OPT_UPSTREAM_KEY:
		seen->proxy = true;
		cfg->upstream_key = val;
		return 0;
	case OPT_UPSTREAM_GROUP:
		seen->http_proxy = true;
		if (cfg->upstreams_path)
			return cli_fail(
				err, err_len,
				"--upstream-group: not with --upstreams-file (the file holds them "
				"all, group=NAME on a line)");
		return parse_upstream_group(cfg, val, err, err_len);
	case OPT_ROUTE:
		seen->http_proxy = true;
		return parse_route(cfg, val, err, err_len);
	case OPT_UPSTREAM_TIMEOUT:
		seen->http_proxy = true;
		return set_uint(flag, val, 1, 86400000, false, &cfg->upstream_ms, err, err_len);
	case OPT_MAX_BODY:
		seen->http_proxy = true;
		if (parse_uint(val, 0, UINT64_MAX, true, &v))
			return cli_fail(err, err_len,
					"--max-body: '%s' is not a size in bytes (k, m or g after "
					"it; 0: no limit)",
					val);
		cfg->max_body = v;
		return 0;
	case OPT_CHECK_HTTP:
		seen->http_proxy = true;
		return parse_check_http(cfg, val, err, err_len);
	case OPT_POOL_SIZE:
		seen->http_proxy = true;
		return set_uint(flag, val, 0, 4096, false, &cfg->pool_size, err, err_len);
	case OPT_POOL_IDLE:
		seen->http_proxy = true;
		return set_uint(flag, val, 1, 86400000, false, &cfg->pool_idle_ms, err, err_len);
	case OPT_FORWARDED:
		seen->http_proxy = true;
		if (!strcmp(val, "x-forwarded"))
			cfg->forwarded = FORWARDED_X;
		else if (!strcmp(val, "rfc7239"))
			cfg->forwarded = FORWARDED_RFC7239;
		else if (!strcmp(val, "none"))
			cfg->forwarded = FORWARDED_NONE;
		else
			return cli_fail(err, err_len,
					"--forwarded: '%s' is not x-forwarded, rfc7239 or none",
					val);
		return 0;
	case OPT_TLS_CERT:
	case OPT_TLS_KEY:
	case OPT_TLS_STRICT_SNI:
	case OPT_TLS_MIN:
	case OPT_TLS_CIPHERS:
	case OPT_TLS_CIPHERSUITES:
	case OPT_TLS_GROUPS:
	case OPT_TLS_ALPN:
	case OPT_TLS_TICKETS:
	case OPT_TLS_VERIFY_CLIENT:
	case OPT_TLS_CA:
	case OPT_TLS_CRL:
	case OPT_TLS_KEYLOG:
	case OPT_TLS_HS_TIMEOUT:
	case OPT_TLS_MAX_HS:
		return apply_tls(cfg, id, flag, val, err, err_len);
	case OPT_QUIET:
		cfg->quiet = true;
		return 0;
	case OPT_USER:
		if (!*val)
			return cli_fail(err, err_len, "--user: an empty user name");
		cfg->user = val;
		return 0;
	case OPT_NO_RING_RESTRICT:
		cfg->no_ring_restrict = true;
		return 0;
	case OPT_HELP:
		cfg->help = true;
		return 0;
	case OPT_VERSION:
		cfg->version = true;
		return 0;
	case OPT_CONFIG:
		cfg->conf_path = val;
		return 0;
	case OPT_TEST_CONFIG:
		cfg->conf_test = true;
		return 0;
	case OPT_PRINT_CONFIG:
		cfg->conf_print = true;
		return 0;
	}
	return cli_fail(err, err_len, "internal: unhandled option %s", flag);
}

int config_parse(struct config *cfg, int argc, char *const argv[], char *err, size_t err_len)
{
	struct seen seen = {0};
	int i;

	for (i = 0;;) {
		const char *val;
		int k = cli_next(options, sizeof(options) / sizeof(options[0]), argc, argv, &i,
				 &val, err, err_len);

		if (k == -1)
			break;
		if (k < 0)
			return k;
		if (apply(cfg, (enum opt_id)options[k].id, options[k].name, val, err, err_len,
			  &seen))
			return -EINVAL;
	}
	if (cfg->help || cfg->version)
		return 0;

	/* Flags that belong to another mode are errors, not silently ignored. */
	if (cfg->echo_body && cfg->mode != MODE_HTTP)
		return cli_fail(err, err_len,
				"--echo-body needs --mode http (it answers each HTTP request with "
				"that request's body; --mode %s %s)",
				mode_name(cfg->mode),
				cfg->mode == MODE_HTTP_PROXY ? "forwards requests upstream"
							     : "does not parse HTTP");
	if (seen.http && cfg->mode != MODE_HTTP)
		return cli_fail(err, err_len,
				"--body/--body-size/--methods/--echo-body need --mode http");
	if (seen.request && cfg->mode != MODE_HTTP && cfg->mode != MODE_HTTP_PROXY)
		return cli_fail(err, err_len,
				"--header-timeout/--body-timeout/--body-min-rate need --mode http "
				"or http-proxy");
	if (cfg->send_proxy && cfg->mode == MODE_HTTP_PROXY)
		return cli_fail(err, err_len,
				"--send-proxy: not with --mode http-proxy (pooled upstream "
				"connections carry many clients' requests; --forwarded says who "
				"the client is)");
	if (cfg->send_proxy && cfg->mode != MODE_PROXY)
		return cli_fail(err, err_len, "--send-proxy needs --mode proxy");
	if (seen.http_proxy && cfg->mode != MODE_HTTP_PROXY)
		return cli_fail(err, err_len,
				"--upstream-group/--route/--upstream-timeout/--max-body/"
				"--check-http/--pool-size/--pool-idle-timeout/--forwarded need "
				"--mode http-proxy");
	if (cfg->n_upstreams && !mode_has_upstreams(cfg->mode))
		return cli_fail(err, err_len,
				"--upstream/--upstreams-file need --mode proxy or http-proxy");
	if (seen.proxy && !mode_has_upstreams(cfg->mode))
		return cli_fail(
			err, err_len,
			"--balance/--connect-timeout/--connect-retries/--half-close-timeout/"
			"--fail-threshold/--down-time/--check*/--log/--upstream-ca/"
			"--upstream-cert/--upstream-key need --mode proxy or http-proxy");
	if (mode_has_upstreams(cfg->mode) && !cfg->n_upstreams)
		return cli_fail(err, err_len,
				"--mode %s needs at least one --upstream ADDR:PORT (or "
				"--upstreams-file%s)",
				mode_name(cfg->mode),
				cfg->mode == MODE_HTTP_PROXY ? ", --upstream-group" : "");
	if (config_check_groups(cfg, cfg->upstreams, cfg->n_upstreams, err, err_len))
		return -EINVAL;
	if (cfg->tls.n_certs != cfg->tls.n_keys)
		return cli_fail(err, err_len, "--tls-cert %s has no --tls-key",
				cfg->tls.cert[cfg->tls.n_certs - 1]);
	if (!cfg->tls_on && (cfg->tls.strict_sni || cfg->tls.ciphers || cfg->tls.ciphersuites ||
			     cfg->tls.groups || cfg->tls.alpn || cfg->tls.ca || cfg->tls.keylog ||
			     cfg->tls.verify_client != TLS_VERIFY_NONE))
		return cli_fail(err, err_len, "--tls-* flags need --tls-cert FILE --tls-key FILE");
	if (cfg->tls.verify_client != TLS_VERIFY_NONE && !cfg->tls.ca)
		return cli_fail(err, err_len, "--tls-verify-client %s needs --tls-ca FILE",
				cfg->tls.verify_client == TLS_VERIFY_REQUIRED ? "required"
									      : "optional");
	if (cfg->tls.crl && !cfg->tls.ca)
		return cli_fail(err, err_len, "--tls-crl needs --tls-ca and --tls-verify-client");
	for (unsigned k = 0; k < cfg->n_upstreams; k++)
		cfg->tls_upstreams |= cfg->upstreams[k].tls;
	if (cfg->admin_tls && (!cfg->admin_set || !cfg->tls_on))
		return cli_fail(err, err_len,
				"--admin-tls needs --admin ADDR:PORT and --tls-cert/--tls-key (the "
				"admin port uses the same certificates)");
	if (cfg->n_admin_allow && !cfg->admin_set)
		return cli_fail(err, err_len, "--admin-allow needs --admin [ADDR:]PORT");
	if (!!cfg->upstream_cert != !!cfg->upstream_key)
		return cli_fail(err, err_len, "--upstream-cert and --upstream-key go together");
	/* An HTTP/1.1 server says so in ALPN unless told otherwise (never h2). */
	if (cfg->tls_on && (cfg->mode == MODE_HTTP || cfg->mode == MODE_HTTP_PROXY) &&
	    !cfg->tls.alpn)
		cfg->tls.alpn = "http/1.1";
	/*
	 * A black-holed path (segments go out, nothing comes back) ends when the
	 * keepalive would end a silent one: the kernel drops a connection whose
	 * keepalive probe is out once this much time has passed since the last
	 * acknowledgement, so the keepalive's span keeps its own reckoning too.
	 */
	if (!cfg->user_timeout_set)
		cfg->user_timeout_ms =
			cfg->ka_idle_s ? (cfg->ka_idle_s + cfg->ka_intvl_s * cfg->ka_cnt) * 1000
				       : 120000;
	if (cfg->body && strlen(cfg->body) > (64u << 20))
		return cli_fail(err, err_len, "--body: longer than 64m");
	if (cfg->admin_set && net_addr_port(&cfg->admin) != 0 &&
	    net_addr_port(&cfg->admin) == net_addr_port(&cfg->listen) &&
	    cfg->admin.ss.ss_family == cfg->listen.ss.ss_family)
		return cli_fail(err, err_len, "--admin and --listen use the same port");
	return 0;
}

int config_read_upstreams(const char *path, struct config_upstream *out, unsigned max, char *err,
			  size_t err_len)
{
	FILE *f = fopen(path, "r");
	char line[512], why[256];
	unsigned n = 0, lineno = 0;

	if (!f)
		return cli_fail(err, err_len, "--upstreams-file %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *end;

		lineno++;
		while (*p == ' ' || *p == '\t')
			p++;
		end = p + strcspn(p, "#\r\n");
		while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		*end = 0;
		if (!*p)
			continue;
		if (n == max) {
			fclose(f);
			return cli_fail(err, err_len, "%s:%u: more than %u upstreams", path, lineno,
					max);
		}
		if (parse_upstream(&out[n], p, why, sizeof(why))) {
			fclose(f);
			/* why reads "--upstream: ...": say where instead */
			return cli_fail(err, err_len, "%s:%u: %s", path, lineno,
					strncmp(why, "--upstream: ", 12) ? why : why + 12);
		}
		n++;
	}
	fclose(f);
	if (!n)
		return cli_fail(err, err_len, "--upstreams-file %s: no upstream in it", path);
	return (int)n;
}

int config_check_groups(const struct config *cfg, const struct config_upstream *up, unsigned n,
			char *err, size_t err_len)
{
	for (unsigned i = 0; i < n && cfg->mode != MODE_HTTP_PROXY; i++)
		if (up[i].group[0])
			return cli_fail(err, err_len,
					"--upstream %s,group=%s: groups need --mode http-proxy "
					"(--mode %s has one set of upstreams)",
					up[i].name, up[i].group, mode_name(cfg->mode));
	for (unsigned k = 0; k < cfg->n_routes; k++) {
		const struct config_route *r = &cfg->routes[k];
		const char *g = r->group[0] ? r->group : "default";
		unsigned i;

		for (i = 0; i < n; i++)
			if (!strcmp(up[i].group, r->group))
				break;
		if (i == n)
			return cli_fail(err, err_len, "--route %s%s=%s: no upstream group %s (%s)",
					r->host, r->prefix, g, g,
					r->group[0] ? "no --upstream ...,group=NAME or "
						      "--upstream-group NAME=... names it"
						    : "every upstream has a group");
	}
	return 0;
}

void config_initial_set(const struct config *cfg, struct upstream_set *set)
{
	memset(set, 0, sizeof(*set));
	set->n = cfg->n_upstreams;
	for (unsigned i = 0; i < cfg->n_upstreams; i++) {
		set->up[i] = cfg->upstreams[i];
		set->enabled[i] = true;
	}
}

/*
 * Whether two upstreams are the same one for a reload: the same name in the
 * same group (one that moves to another group is a new upstream there).
 */
static bool same_upstream(const struct config_upstream *a, const struct config_upstream *b)
{
	return !strcmp(a->name, b->name) && !strcmp(a->group, b->group);
}

/* Whether one of the n upstreams is u. */
static bool config_set_has(const struct config_upstream *up, unsigned n,
			   const struct config_upstream *u)
{
	for (unsigned i = 0; i < n; i++)
		if (same_upstream(&up[i], u))
			return true;
	return false;
}

int config_reload_set(const struct upstream_set *old, const struct config_upstream *next,
		      unsigned n, const int64_t *active, struct upstream_set *out)
{
	*out = *old;
	out->gen = old->gen + 1;
	out->older = (struct upstream_set *)old;
	memset(out->enabled, 0, sizeof(out->enabled));
	for (unsigned k = 0; k < n; k++) {
		unsigned i;

		/* The same upstream keeps its slot: its counters, health and sessions go on. */
		for (i = 0; i < out->n; i++)
			if (!out->enabled[i] && same_upstream(&out->up[i], &next[k]))
				break;
		if (i == out->n) {
			/* A new one: a new slot, or one whose upstream left and took its sessions. */
			if (out->n < CONFIG_MAX_UPSTREAMS) {
				out->n++;
			} else {
				for (i = 0; i < out->n; i++)
					if (!out->enabled[i] && active[i] == 0 &&
					    !config_set_has(next + k + 1, n - k - 1, &out->up[i]))
						break;
				if (i == out->n)
					return -ENOSPC;
			}
		}
		out->up[i] = next[k];
		out->enabled[i] = true;
	}
	return 0;
}
