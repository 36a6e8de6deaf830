// SPDX-License-Identifier: MIT
/*
 * ringer-load's flags. Every bad value is reported with the flag's name;
 * main turns a failure into exit status 2.
 */
#include "load_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "request.h"

#define NS_PER_MS 1000000ull
#define NS_PER_S  1000000000ull

void load_config_defaults(struct load_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = LOAD_HTTP;
	cfg->size = 64;
	cfg->path = "/";
	cfg->method = "GET";
	cfg->connections = 10;
	cfg->threads = 1;
	cfg->pipeline = 1;
	cfg->connect_timeout_ns = 3 * NS_PER_S;
	cfg->timeout_ns = 10 * NS_PER_S;
}

void load_config_usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s URL | --target HOST:PORT [options]\n"
		"An io_uring load generator for TCP echo and HTTP/1.1 servers, plain or TLS.\n"
		"\n"
		"  URL                    http://HOST[:PORT][/PATH] or https://...: mode http,\n"
		"                         that path and Host (host[:port] as written), TLS for\n"
		"                         https; ports 80 and 443 by default; the only target\n"
		"  --target ADDR:PORT     server to load: 127.0.0.1:8080, [::1]:8080, "
		"localhost:80;\n"
		"                         several (comma-separated, or the flag again) take\n"
		"                         the connections round robin; or a URL\n"
		"  --source ADDR[-ADDR]   bind connections round robin to these source\n"
		"                         addresses (a range 127.0.0.2-127.0.0.40, or the flag\n"
		"                         again): each adds a whole ephemeral port range\n"
		"  --connect-rate R       open at most R connections per second (k = 1000)\n"
		"  --active K             only K of the connections send; the others are held\n"
		"                         open and idle (latency is the active ones')\n"
		"  --mode MODE            http | echo (default http)\n"
		"  --path PATH            http: request path (default /)\n"
		"  --host NAME            http: Host header (default: the URL's host[:port],\n"
		"                         else the target address)\n"
		"  --method M             http: request method (default GET)\n"
		"  --header 'NAME: VALUE' http: a request header, repeatable up to 64; a Host\n"
		"                         header replaces the default one\n"
		"  --body STRING          http: request body, sent with its Content-Length\n"
		"  --body-file FILE       http: request body read from FILE (up to 64m)\n"
		"  --requests-file FILE   http: requests cycled over the connections, one\n"
		"                         'METHOD PATH [BODY-FILE]' a line or raw HTTP/1.1\n"
		"                         requests (man ringer-load: the formats)\n"
		"  --expect-status LIST   http: statuses that succeed, e.g. 200 or 200,204\n"
		"                         (default any 2xx); others count as errors\n"
		"  --size BYTES           echo: message size, every byte verified (default 64;\n"
		"                         k/m suffixes)\n"
		"  --connections N        connections over all threads (default 10)\n"
		"  --threads N            threads, one io_uring each (default 1)\n"
		"  --cpus LIST            pin threads round robin to these CPUs (e.g. 1 or 0-3,6)\n"
		"  --pipeline N           requests in flight per connection, sent in one write\n"
		"                         (default 1: ping-pong)\n"
		"  --rate PLAN            open loop: requests/s over all connections, latency\n"
		"                         measured from each request's intended send time\n"
		"                         (default: closed loop). PLAN is a rate (20k), steps\n"
		"                         (10k:30s,20k:30s) or ramps (1k..50k:60s,50k:30s);\n"
		"                         a plan with times sets --duration; k = 1000\n"
		"  --ramp A..B:TIME       a linear ramp from A to B requests/s over TIME\n"
		"  --find-max pNN=TIME    step the open-loop rate up from --rate (default 1k),\n"
		"                         doubling, then bisecting, one --duration (default 5s)\n"
		"                         run per step, and report the highest rate whose\n"
		"                         percentile stayed within TIME with no errors\n"
		"  --duration TIME        measured run time (default 10s when --requests is "
		"unset)\n"
		"  --requests N           stop after N measured requests\n"
		"  --warmup TIME          run this long first, uncounted (default 0)\n"
		"  --connect-timeout TIME give up on a connect after TIME (default 3s)\n"
		"  --timeout TIME         a connection waiting this long for a response is closed\n"
		"                         and counted as a timeout (default 10s)\n"
		"  --churn K              reconnect after every K requests on a connection (1: a\n"
		"                         connect, and a handshake with TLS, per request)\n"
		"  --no-reconnect         a connection closed after it opened (by the server,\n"
		"                         a reset, a timeout) stays closed; the run ends when\n"
		"                         all are. The report tells how long those the server\n"
		"                         closed had been idle (idle-timeout checks)\n"
		"  --json                 print the result as one JSON document on stdout\n"
		"  --hdr-out FILE         also write the percentile distribution to FILE\n"
		"  --interval TIME        a row per interval: requests, rate, errors, "
		"percentiles,\n"
		"                         open connections (in --json: \"intervals\")\n"
		"  --json-stream          JSON lines: one per interval, then the summary\n"
		"  --hdr-log FILE         HdrHistogram interval log (.hlog), one histogram per\n"
		"                         --interval (default 1s)\n"
		"  -h, --help             this text\n"
		"TLS (https:// or --tls):\n"
		"  --tls                  speak TLS to HOST:PORT targets (echo mode too)\n"
		"  --sni NAME             the server name sent (default: the target's host\n"
		"                         name; none for an IP address)\n"
		"  --alpn LIST|none       protocols offered (default http/1.1 in http mode)\n"
		"  --tls-min V, --tls-max V  TLS versions allowed: 1.2 or 1.3\n"
		"  --tls-ciphers LIST     TLS 1.2 cipher list (OpenSSL's syntax)\n"
		"  --tls-ciphersuites LIST  TLS 1.3 suites\n"
		"  --tls-groups LIST      key exchange groups, e.g. X25519:P-256\n"
		"  -k, --insecure         no verification of the server (the default: a\n"
		"                         benchmark measures the server, not its certificate)\n"
		"  --cacert FILE          verify the server's chain against this CA and its\n"
		"                         name against the SNI name\n"
		"  --cert FILE, --key FILE  a client certificate and its key (PEM)\n"
		"  --tls-keylog FILE      append the session keys (NSS key log) for Wireshark;\n"
		"                         a write per handshake: not in a benchmark\n"
		"  --tls-resume off|tickets  off (default): a full handshake every connection;\n"
		"                         tickets: a connection resumes the session its\n"
		"                         thread's last connection got\n"
		"\n"
		"TIME is a number with an optional unit: us, ms, s (default), m.\n"
		"A progress line goes to stderr every second when stderr is a terminal.\n"
		"Exit status: 0 done, 1 could not run (e.g. target unreachable), 2 bad flags\n"
		"or request files, 3 the server's responses failed verification (echo bytes or\n"
		"HTTP framing).\n",
		prog);
}

int load_parse_duration(const char *s, uint64_t *ns)
{
	static const struct {
		const char *unit;
		uint64_t ns;
	} units[] = {
		{"", NS_PER_S}, {"s", NS_PER_S},      {"ms", NS_PER_MS},
		{"us", 1000},	{"m", 60 * NS_PER_S},
	};
	char *end;
	double v;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0 || v > 1e6)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (!strcmp(end, units[i].unit)) {
			*ns = (uint64_t)(v * (double)units[i].ns + 0.5);
			return 0;
		}
	}
	return -EINVAL;
}

/* A rate: decimal, with k (1e3) or m (1e6), 1 ..= 100m. */
static int parse_rate(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0, mult = 1;
	size_t i = 0;

	if (len && (s[len - 1] == 'k' || s[len - 1] == 'K'))
		mult = 1000, len--;
	else if (len && (s[len - 1] == 'm' || s[len - 1] == 'M'))
		mult = 1000000, len--;
	if (!len || len > 9)
		return -EINVAL;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	v *= mult;
	if (!v || v > 100000000)
		return -EINVAL;
	*out = v;
	return 0;
}

int load_parse_plan(const char *s, struct sched_seg *segs, unsigned max)
{
	unsigned n = 0;

	if (!s || !*s)
		return -EINVAL;
	for (;;) {
		const char *end = strchr(s, ','), *colon, *dots;
		char dur[32];
		size_t len = end ? (size_t)(end - s) : strlen(s);
		struct sched_seg seg = {0, 0, 0};

		if (n == max)
			return -EINVAL;
		colon = memchr(s, ':', len);
		dots = memchr(s, '.', colon ? (size_t)(colon - s) : len);
		if (dots) {
			if (dots[1] != '.' || parse_rate(s, (size_t)(dots - s), &seg.from))
				return -EINVAL;
			dots += 2;
			if (parse_rate(dots, (size_t)((colon ? colon : s + len) - dots), &seg.to))
				return -EINVAL;
			if (!colon) /* a ramp needs its length */
				return -EINVAL;
		} else {
			if (parse_rate(s, (size_t)((colon ? colon : s + len) - s), &seg.from))
				return -EINVAL;
			seg.to = seg.from;
		}
		if (colon) {
			size_t dlen = (size_t)(s + len - colon - 1);

			if (!dlen || dlen >= sizeof(dur))
				return -EINVAL;
			memcpy(dur, colon + 1, dlen);
			dur[dlen] = '\0';
			if (load_parse_duration(dur, &seg.dur_ns) || !seg.dur_ns)
				return -EINVAL;
		} else if (end || n) {
			return -EINVAL; /* only a plan of one rate may leave out the time */
		}
		segs[n++] = seg;
		if (!end)
			return (int)n;
		s = end + 1;
	}
}

int load_parse_bound(const char *s, double *pct, uint64_t *ns)
{
	const char *eq;
	char *end;
	double p;

	if (!s || (s[0] != 'p' && s[0] != 'P') || !(eq = strchr(s, '=')))
		return -EINVAL;
	if (s[1] < '0' || s[1] > '9')
		return -EINVAL;
	p = strtod(s + 1, &end);
	if (end != eq || !(p > 0) || !(p < 100))
		return -EINVAL;
	if (load_parse_duration(eq + 1, ns) || !*ns)
		return -EINVAL;
	*pct = p;
	return 0;
}

int load_parse_cpus(const char *s, int *cpus, unsigned max)
{
	unsigned n = 0;

	if (!s || !*s)
		return -EINVAL;
	while (*s) {
		char *end;
		long lo, hi;

		if (*s < '0' || *s > '9')
			return -EINVAL;
		lo = strtol(s, &end, 10);
		hi = lo;
		if (*end == '-') {
			s = end + 1;
			if (*s < '0' || *s > '9')
				return -EINVAL;
			hi = strtol(s, &end, 10);
		}
		if (lo > hi || hi >= 4096)
			return -EINVAL;
		for (long c = lo; c <= hi; c++) {
			if (n == max)
				return -EINVAL;
			cpus[n++] = (int)c;
		}
		if (*end == ',' && end[1])
			end++;
		else if (*end)
			return -EINVAL;
		s = end;
	}
	return (int)n;
}

/* A host name's bytes: letters, digits, '-', '.', '_'. */
static bool host_name_ok(const char *h, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char ch = h[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_'))
			return false;
	}
	return true;
}

const char *load_parse_url(const char *s, struct load_url *u)
{
	const char *auth, *auth_end, *host, *host_end, *port = NULL, *rest;
	bool v6 = false;
	unsigned long p = 0;
	size_t hlen, plen;

	memset(u, 0, sizeof(*u));
	if (!strncasecmp(s, "https://", 8)) {
		u->tls = true;
		auth = s + 8;
	} else if (!strncasecmp(s, "http://", 7)) {
		auth = s + 7;
	} else {
		return "not a URL: only http:// and https://";
	}
	auth_end = auth + strcspn(auth, "/?#");
	if (memchr(auth, '@', (size_t)(auth_end - auth)))
		return "a user name in the URL is not supported";
	if (*auth == '[') {
		v6 = true;
		host = auth + 1;
		host_end = memchr(host, ']', (size_t)(auth_end - host));
		if (!host_end)
			return "an IPv6 address without its ]";
		if (host_end + 1 < auth_end && host_end[1] != ':')
			return "something between ] and the port";
		if (host_end + 1 < auth_end)
			port = host_end + 2;
	} else {
		host = auth;
		host_end = memchr(auth, ':', (size_t)(auth_end - auth));
		if (host_end)
			port = host_end + 1;
		else
			host_end = auth_end;
	}
	hlen = (size_t)(host_end - host);
	if (!hlen)
		return "no host";
	if (hlen > LOAD_MAX_HOST)
		return "a host longer than 255 bytes";
	memcpy(u->host, host, hlen);
	if (v6) {
		struct in6_addr a6;

		if (inet_pton(AF_INET6, u->host, &a6) != 1)
			return "not an IPv6 address between [ and ]";
	} else if (!host_name_ok(host, hlen)) {
		return "not a host name or address";
	}
	if (port) {
		if (port == auth_end)
			return "an empty port";
		for (const char *q = port; q < auth_end; q++) {
			if (*q < '0' || *q > '9' || p > 65535)
				return "a port is a number 1..65535";
			p = p * 10 + (unsigned long)(*q - '0');
		}
		if (!p || p > 65535)
			return "a port is a number 1..65535";
	} else {
		p = u->tls ? 443 : 80;
	}
	memcpy(u->authority, auth, (size_t)(auth_end - auth));
	snprintf(u->addr, sizeof(u->addr), v6 ? "[%s]:%lu" : "%s:%lu", u->host, p);
	/* The path and query as written, the fragment (never sent) dropped. */
	rest = auth_end;
	plen = strcspn(rest, "#");
	if (plen > LOAD_MAX_PATH - 1)
		return "a path longer than 1024 bytes";
	for (size_t i = 0; i < plen; i++)
		if ((unsigned char)rest[i] <= ' ' || rest[i] == 0x7f)
			return "a space or control byte in the path (encode it as %20)";
	snprintf(u->path, sizeof(u->path), "%s%.*s", plen && rest[0] == '/' ? "" : "/", (int)plen,
		 rest);
	return NULL;
}

enum opt_id {
	OPT_TARGET,
	OPT_CONNECT_RATE,
	OPT_SOURCE,
	OPT_ACTIVE,
	OPT_MODE,
	OPT_PATH,
	OPT_HOST,
	OPT_METHOD,
	OPT_HEADER,
	OPT_BODY,
	OPT_BODY_FILE,
	OPT_REQUESTS_FILE,
	OPT_EXPECT_STATUS,
	OPT_SIZE,
	OPT_CONNECTIONS,
	OPT_THREADS,
	OPT_CPUS,
	OPT_PIPELINE,
	OPT_RATE,
	OPT_DURATION,
	OPT_REQUESTS,
	OPT_WARMUP,
	OPT_CONNECT_TIMEOUT,
	OPT_TIMEOUT,
	OPT_CHURN,
	OPT_NO_RECONNECT,
	OPT_JSON,
	OPT_HDR_OUT,
	OPT_RAMP,
	OPT_INTERVAL,
	OPT_JSON_STREAM,
	OPT_HDR_LOG,
	OPT_FIND_MAX,
	OPT_TLS,
	OPT_SNI,
	OPT_ALPN,
	OPT_TLS_MIN,
	OPT_TLS_MAX,
	OPT_TLS_CIPHERS,
	OPT_TLS_CIPHERSUITES,
	OPT_TLS_GROUPS,
	OPT_INSECURE,
	OPT_CACERT,
	OPT_CERT,
	OPT_KEY,
	OPT_TLS_KEYLOG,
	OPT_TLS_RESUME,
	OPT_HELP,
};

static const struct cli_opt options[] = {
	{"--target", NULL, OPT_TARGET, true},
	{"--connect-rate", NULL, OPT_CONNECT_RATE, true},
	{"--source", NULL, OPT_SOURCE, true},
	{"--active", NULL, OPT_ACTIVE, true},
	{"--mode", NULL, OPT_MODE, true},
	{"--path", NULL, OPT_PATH, true},
	{"--host", NULL, OPT_HOST, true},
	{"--method", NULL, OPT_METHOD, true},
	{"--header", "-H", OPT_HEADER, true},
	{"--body", NULL, OPT_BODY, true},
	{"--body-file", NULL, OPT_BODY_FILE, true},
	{"--requests-file", NULL, OPT_REQUESTS_FILE, true},
	{"--expect-status", NULL, OPT_EXPECT_STATUS, true},
	{"--size", NULL, OPT_SIZE, true},
	{"--connections", "-c", OPT_CONNECTIONS, true},
	{"--threads", "-t", OPT_THREADS, true},
	{"--cpus", NULL, OPT_CPUS, true},
	{"--pipeline", NULL, OPT_PIPELINE, true},
	{"--rate", NULL, OPT_RATE, true},
	{"--duration", "-d", OPT_DURATION, true},
	{"--requests", "-n", OPT_REQUESTS, true},
	{"--warmup", NULL, OPT_WARMUP, true},
	{"--connect-timeout", NULL, OPT_CONNECT_TIMEOUT, true},
	{"--timeout", NULL, OPT_TIMEOUT, true},
	{"--churn", NULL, OPT_CHURN, true},
	{"--no-reconnect", NULL, OPT_NO_RECONNECT, false},
	{"--json", NULL, OPT_JSON, false},
	{"--hdr-out", NULL, OPT_HDR_OUT, true},
	{"--ramp", NULL, OPT_RAMP, true},
	{"--interval", NULL, OPT_INTERVAL, true},
	{"--json-stream", NULL, OPT_JSON_STREAM, false},
	{"--hdr-log", NULL, OPT_HDR_LOG, true},
	{"--find-max", NULL, OPT_FIND_MAX, true},
	{"--tls", NULL, OPT_TLS, false},
	{"--sni", NULL, OPT_SNI, true},
	{"--alpn", NULL, OPT_ALPN, true},
	{"--tls-min", NULL, OPT_TLS_MIN, true},
	{"--tls-max", NULL, OPT_TLS_MAX, true},
	{"--tls-ciphers", NULL, OPT_TLS_CIPHERS, true},
	{"--tls-ciphersuites", NULL, OPT_TLS_CIPHERSUITES, true},
	{"--tls-groups", NULL, OPT_TLS_GROUPS, true},
	{"--insecure", "-k", OPT_INSECURE, false},
	{"--cacert", NULL, OPT_CACERT, true},
	{"--cert", NULL, OPT_CERT, true},
	{"--key", NULL, OPT_KEY, true},
	{"--tls-keylog", NULL, OPT_TLS_KEYLOG, true},
	{"--tls-resume", NULL, OPT_TLS_RESUME, true},
	{"--help", "-h", OPT_HELP, false},
};

static int set_u64(const char *flag, const char *val, uint64_t min, uint64_t max, bool suffix,
		   uint64_t *out, char *err, size_t err_len)
{
	if (parse_uint(val, min, max, suffix, out))
		return cli_fail(err, err_len, "%s: '%s' is not a number in %llu..%llu", flag, val,
				(unsigned long long)min, (unsigned long long)max);
	return 0;
}

static int set_u32(const char *flag, const char *val, uint32_t min, uint32_t max, bool suffix,
		   uint32_t *out, char *err, size_t err_len)
{
	uint64_t v;

	if (set_u64(flag, val, min, max, suffix, &v, err, err_len))
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int set_time(const char *flag, const char *val, bool zero_ok, uint64_t *out, char *err,
		    size_t err_len)
{
	if (load_parse_duration(val, out) || (!zero_ok && !*out))
		return cli_fail(err, err_len, "%s: '%s' is not a %stime like 10s, 250ms, 2m", flag,
				val, zero_ok ? "" : "positive ");
	return 0;
}

/* "200" or "200,204,301": each a status 100..599. */
static int set_expect(struct load_config *cfg, const char *flag, const char *val, char *err,
		      size_t err_len)
{
	const char *p = val;

	memset(cfg->expect, 0, sizeof(cfg->expect));
	for (;;) {
		char *end;
		long v;

		if (*p < '0' || *p > '9')
			break;
		v = strtol(p, &end, 10);
		if (end - p != 3 || v < 100 || v > 599)
			break;
		cfg->expect[v / 64] |= 1ull << (v % 64);
		if (*end == ',') {
			p = end + 1;
			continue;
		}
		if (*end)
			break;
		cfg->expect_set = true;
		return 0;
	}
	return cli_fail(err, err_len,
			"%s: '%s' is not a list of statuses like 200 or 200,204 (each 100..599)",
			flag, val);
}

/* A URL target: the only one; its host is looked up here, so a bad name is a bad flag. */
static int add_url(struct load_config *cfg, const char *flag, const char *val, char *err,
		   size_t err_len)
{
	const char *why;
	char rerr[160];
	int ret;

	if (cfg->n_targets)
		return cli_fail(err, err_len, "%s: '%s': a URL is the only target", flag, val);
	why = load_parse_url(val, &cfg->url);
	if (why)
		return cli_fail(err, err_len, "%s: '%s': %s", flag, val, why);
	rerr[0] = '\0';
	ret = net_addr_resolve(cfg->url.addr, &cfg->targets[0], rerr, sizeof(rerr));
	if (ret)
		return cli_fail(err, err_len, "%s: '%s': %s", flag, val,
				rerr[0] ? rerr : "not an address");
	cfg->target = cfg->targets[0];
	cfg->target_str = val;
	cfg->n_targets = 1;
	cfg->has_url = true;
	return 0;
}

/* --target A,B,...: each HOST:PORT; the flag may also repeat. Or one URL. */
static int add_targets(struct load_config *cfg, const char *flag, const char *val, char *err,
		       size_t err_len)
{
	const char *s = val;

	if (strstr(val, "://"))
		return add_url(cfg, flag, val, err, err_len);
	if (cfg->has_url)
		return cli_fail(err, err_len, "%s: '%s': a URL is the only target", flag, val);
	for (;;) {
		const char *end = strchr(s, ',');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		char one[128];
		struct net_addr *a;

		if (cfg->n_targets == LOAD_MAX_TARGETS)
			return cli_fail(err, err_len, "%s: more than %d targets", flag,
					LOAD_MAX_TARGETS);
		a = &cfg->targets[cfg->n_targets];
		if (!len || len >= sizeof(one))
			return cli_fail(err, err_len, "%s: '%s' is not HOST:PORT[,HOST:PORT...]",
					flag, val);
		memcpy(one, s, len);
		one[len] = '\0';
		if (net_addr_parse(one, a) || net_addr_port(a) == 0)
			return cli_fail(err, err_len,
					"%s: '%s' is not HOST:PORT (IPv6 as [::1]:PORT)", flag,
					one);
		if (!cfg->n_targets++) {
			cfg->target = *a;
			cfg->target_str = val;
		}
		if (!end)
			return 0;
		s = end + 1;
	}
}

/*
 * --source ADDR or A-B (IPv4: every address from A to B, the last octets
 * counting up), and the flag again for more; port 0 each.
 */
static int add_sources(struct load_config *cfg, const char *flag, const char *val, char *err,
		       size_t err_len)
{
	const char *dash = strchr(val, '-');
	struct in_addr lo, hi;
	char a[64];

	if (!dash) {
		struct net_addr *s = &cfg->sources[cfg->n_sources];
		char with_port[80];

		if (cfg->n_sources == LOAD_MAX_SOURCES)
			return cli_fail(err, err_len, "%s: more than %d sources", flag,
					LOAD_MAX_SOURCES);
		snprintf(with_port, sizeof(with_port), strchr(val, ':') ? "[%s]:0" : "%s:0", val);
		if (strlen(val) > 60 || net_addr_parse(with_port, s))
			return cli_fail(err, err_len,
					"%s: '%s' is not an address like 127.0.0.2, ::1 or a range "
					"127.0.0.2-127.0.0.40",
					flag, val);
		cfg->n_sources++;
		return 0;
	}
	if ((size_t)(dash - val) >= sizeof(a) || strlen(dash + 1) >= sizeof(a))
		return cli_fail(err, err_len, "%s: '%s' is not a range like 127.0.0.2-127.0.0.40",
				flag, val);
	memcpy(a, val, (size_t)(dash - val));
	a[dash - val] = '\0';
	if (inet_pton(AF_INET, a, &lo) != 1 || inet_pton(AF_INET, dash + 1, &hi) != 1 ||
	    ntohl(lo.s_addr) > ntohl(hi.s_addr))
		return cli_fail(err, err_len,
				"%s: '%s' is not an IPv4 range like 127.0.0.2-127.0.0.40", flag,
				val);
	for (uint32_t v = ntohl(lo.s_addr);; v++) {
		struct sockaddr_in *sin;

		if (cfg->n_sources == LOAD_MAX_SOURCES)
			return cli_fail(err, err_len, "%s: '%s' makes more than %d sources", flag,
					val, LOAD_MAX_SOURCES);
		sin = (struct sockaddr_in *)&cfg->sources[cfg->n_sources].ss;
		memset(&cfg->sources[cfg->n_sources], 0, sizeof(cfg->sources[0]));
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(v);
		cfg->sources[cfg->n_sources++].len = sizeof(*sin);
		if (v == ntohl(hi.s_addr))
			return 0;
	}
}

/* --alpn http/1.1,h2 (names of 1..255 visible bytes), or none. */
static int set_alpn(struct load_config *cfg, const char *flag, const char *val, char *err,
		    size_t err_len)
{
	const char *p = val;

	if (!strcmp(val, "none")) {
		cfg->tls_s.alpn = "";
		return 0;
	}
	for (;;) {
		size_t len = strcspn(p, ",");

		if (!len || len > 255 || strlen(val) > 255)
			break;
		for (size_t i = 0; i < len; i++)
			if ((unsigned char)p[i] <= ' ' || (unsigned char)p[i] >= 0x7f)
				goto out_bad;
		if (!p[len]) {
			cfg->tls_s.alpn = val;
			return 0;
		}
		p += len + 1;
	}
out_bad:
	return cli_fail(err, err_len, "%s: '%s' is not a list like http/1.1 or h2,http/1.1", flag,
			val);
}

static int apply(struct load_config *cfg, enum opt_id id, const char *flag, const char *val,
		 char *err, size_t err_len)
{
	const char *why;
	int n;

	switch (id) {
	case OPT_TARGET:
		return add_targets(cfg, flag, val, err, err_len);
	case OPT_SOURCE:
		return add_sources(cfg, flag, val, err, err_len);
	case OPT_CONNECT_RATE:
		if (parse_rate(val, strlen(val), &cfg->connect_rate))
			return cli_fail(err, err_len,
					"%s: '%s' is not a rate of new connections like 5000 or "
					"20k per second",
					flag, val);
		return 0;
	case OPT_ACTIVE:
		return set_u32(flag, val, 1, LOAD_MAX_CONNS, false, &cfg->active, err, err_len);
	case OPT_MODE:
		if (!strcmp(val, "http"))
			cfg->mode = LOAD_HTTP;
		else if (!strcmp(val, "echo"))
			cfg->mode = LOAD_ECHO;
		else
			return cli_fail(err, err_len, "%s: '%s' is not http or echo", flag, val);
		return 0;
	case OPT_PATH:
		/* "*" is checked against the method once both are known. */
		if ((val[0] != '/' && strcmp(val, "*")) || strlen(val) > LOAD_MAX_PATH ||
		    strpbrk(val, " \r\n"))
			return cli_fail(err, err_len,
					"%s: '%s' must start with / and hold no spaces", flag, val);
		cfg->path = val;
		return 0;
	case OPT_HOST:
		if (!*val || strlen(val) > 255 || strpbrk(val, " \r\n"))
			return cli_fail(err, err_len, "%s: '%s' is not a host name", flag, val);
		cfg->host = val;
		return 0;
	case OPT_METHOD:
		why = request_method_check(val, strlen(val));
		if (why)
			return cli_fail(err, err_len, "%s: '%s': %s", flag, val, why);
		cfg->method = val;
		return 0;
	case OPT_HEADER:
		if (cfg->n_headers == LOAD_MAX_HEADERS)
			return cli_fail(err, err_len, "%s: more than %u", flag, LOAD_MAX_HEADERS);
		why = request_header_check(val);
		if (why)
			return cli_fail(err, err_len, "%s: '%s': %s", flag, val, why);
		cfg->headers[cfg->n_headers++] = val;
		return 0;
	case OPT_BODY:
		if (strlen(val) > REQUEST_MAX_BODY)
			return cli_fail(err, err_len, "%s: longer than %u MiB", flag,
					REQUEST_MAX_BODY >> 20);
		cfg->body = val;
		return 0;
	case OPT_BODY_FILE:
	case OPT_REQUESTS_FILE:
		if (!*val)
			return cli_fail(err, err_len, "%s: an empty file name", flag);
		*(id == OPT_BODY_FILE ? &cfg->body_file : &cfg->requests_file) = val;
		return 0;
	case OPT_EXPECT_STATUS:
		return set_expect(cfg, flag, val, err, err_len);
	case OPT_SIZE:
		return set_u32(flag, val, 1, 1u << 20, true, &cfg->size, err, err_len);
	case OPT_CONNECTIONS:
		return set_u32(flag, val, 1, LOAD_MAX_CONNS, false, &cfg->connections, err,
			       err_len);
	case OPT_THREADS:
		return set_u32(flag, val, 1, LOAD_MAX_THREADS, false, &cfg->threads, err, err_len);
	case OPT_CPUS:
		n = load_parse_cpus(val, cfg->cpus, LOAD_MAX_CPUS);
		if (n <= 0)
			return cli_fail(err, err_len, "%s: '%s' is not a CPU list like 1 or 0-3,6",
					flag, val);
		cfg->n_cpus = (unsigned)n;
		return 0;
	case OPT_PIPELINE:
		return set_u32(flag, val, 1, LOAD_MAX_PIPELINE, false, &cfg->pipeline, err,
			       err_len);
	case OPT_RATE:
	case OPT_RAMP:
		if (cfg->plan_segs)
			return cli_fail(err, err_len, "%s: give one of --rate and --ramp, once",
					flag);
		n = load_parse_plan(val, cfg->plan, SCHED_MAX_SEGS - 1);
		if (n <= 0)
			return cli_fail(err, err_len,
					"%s: '%s' is not a rate plan like 20k, 10k:30s,20k:30s "
					"or 1k..100k:60s (1 to 100m requests/s)",
					flag, val);
		if (id == OPT_RAMP && (n != 1 || cfg->plan[0].from == cfg->plan[0].to))
			return cli_fail(err, err_len, "%s: '%s' is not a ramp like 1k..100k:60s",
					flag, val);
		cfg->plan_segs = (unsigned)n;
		cfg->rate = cfg->plan[0].from;
		cfg->rate_str = val;
		return 0;
	case OPT_INTERVAL:
		if (set_time(flag, val, false, &cfg->interval_ns, err, err_len))
			return -EINVAL;
		if (cfg->interval_ns < 10 * NS_PER_MS)
			return cli_fail(err, err_len, "%s: '%s' is below 10ms", flag, val);
		cfg->print_intervals = true;
		return 0;
	case OPT_JSON_STREAM:
		cfg->json_stream = true;
		return 0;
	case OPT_NO_RECONNECT:
		cfg->no_reconnect = true;
		return 0;
	case OPT_HDR_LOG:
		cfg->hdr_log = val;
		return 0;
	case OPT_FIND_MAX:
		if (load_parse_bound(val, &cfg->find_pct, &cfg->find_bound_ns))
			return cli_fail(err, err_len,
					"%s: '%s' is not a bound like p99=5ms or p99.9=20ms", flag,
					val);
		return 0;
	case OPT_DURATION:
		return set_time(flag, val, false, &cfg->duration_ns, err, err_len);
	case OPT_REQUESTS:
		return set_u64(flag, val, 1, 1ull << 48, true, &cfg->requests, err, err_len);
	case OPT_WARMUP:
		return set_time(flag, val, true, &cfg->warmup_ns, err, err_len);
	case OPT_CONNECT_TIMEOUT:
		return set_time(flag, val, false, &cfg->connect_timeout_ns, err, err_len);
	case OPT_TIMEOUT:
		return set_time(flag, val, false, &cfg->timeout_ns, err, err_len);
	case OPT_CHURN:
		return set_u64(flag, val, 1, 1ull << 48, false, &cfg->churn, err, err_len);
	case OPT_JSON:
		cfg->json = true;
		return 0;
	case OPT_HDR_OUT:
		cfg->hdr_out = val;
		return 0;
	case OPT_HELP:
		cfg->help = true;
		return 0;
	case OPT_TLS:
		cfg->tls = true;
		return 0;
	case OPT_SNI:
		if (!*val || strlen(val) > LOAD_MAX_HOST || !host_name_ok(val, strlen(val)))
			return cli_fail(err, err_len, "%s: '%s' is not a host name", flag, val);
		cfg->sni = val;
		return 0;
	case OPT_ALPN:
		return set_alpn(cfg, flag, val, err, err_len);
	case OPT_TLS_MIN:
	case OPT_TLS_MAX:
		if (strcmp(val, "1.2") && strcmp(val, "1.3"))
			return cli_fail(err, err_len, "%s: '%s' is not 1.2 or 1.3", flag, val);
		*(id == OPT_TLS_MIN ? &cfg->tls_s.min_version : &cfg->tls_s.max_version) =
			val[2] == '2' ? 12 : 13;
		return 0;
	case OPT_TLS_CIPHERS:
	case OPT_TLS_CIPHERSUITES:
	case OPT_TLS_GROUPS:
		if (!*val)
			return cli_fail(err, err_len, "%s: an empty list", flag);
		if (id == OPT_TLS_CIPHERS)
			cfg->tls_s.ciphers = val;
		else if (id == OPT_TLS_CIPHERSUITES)
			cfg->tls_s.ciphersuites = val;
		else
			cfg->tls_s.groups = val;
		return 0;
	case OPT_INSECURE:
		return 0; /* the default; said so that a command line reads as it runs */
	case OPT_CACERT:
	case OPT_CERT:
	case OPT_KEY:
	case OPT_TLS_KEYLOG:
		if (!*val)
			return cli_fail(err, err_len, "%s: an empty file name", flag);
		if (id == OPT_CACERT)
			cfg->tls_s.ca = val;
		else if (id == OPT_CERT)
			cfg->tls_s.cert = val;
		else if (id == OPT_KEY)
			cfg->tls_s.key = val;
		else
			cfg->tls_s.keylog = val;
		return 0;
	case OPT_TLS_RESUME:
		if (strcmp(val, "off") && strcmp(val, "tickets"))
			return cli_fail(err, err_len, "%s: '%s' is not off or tickets", flag, val);
		cfg->tls_s.resume = !strcmp(val, "tickets");
		return 0;
	}
	return cli_fail(err, err_len, "internal: unhandled option %s", flag);
}

#define BIT(id) (1ull << (id))
#define HTTP_ONLY                                                                 \
	(BIT(OPT_METHOD) | BIT(OPT_HEADER) | BIT(OPT_BODY) | BIT(OPT_BODY_FILE) | \
	 BIT(OPT_REQUESTS_FILE) | BIT(OPT_EXPECT_STATUS))
#define FROM_FILE (BIT(OPT_METHOD) | BIT(OPT_PATH) | BIT(OPT_BODY) | BIT(OPT_BODY_FILE))
#define TLS_ONLY                                                                  \
	(BIT(OPT_SNI) | BIT(OPT_ALPN) | BIT(OPT_TLS_MIN) | BIT(OPT_TLS_MAX) |     \
	 BIT(OPT_TLS_CIPHERS) | BIT(OPT_TLS_CIPHERSUITES) | BIT(OPT_TLS_GROUPS) | \
	 BIT(OPT_INSECURE) | BIT(OPT_CACERT) | BIT(OPT_CERT) | BIT(OPT_KEY) |     \
	 BIT(OPT_TLS_KEYLOG) | BIT(OPT_TLS_RESUME))
_Static_assert(OPT_HELP < 64, "a flag is one bit of seen");

/*
 * The URL's consequences, once every flag is in: mode http, its path, TLS
 * for https. Flags that say otherwise are refused rather than silently lost.
 */
static int apply_url(struct load_config *cfg, uint64_t seen, char *err, size_t err_len)
{
	if ((seen & BIT(OPT_MODE)) && cfg->mode != LOAD_HTTP)
		return cli_fail(err, err_len,
				"--mode echo: a URL is an http target; give an echo server as "
				"--target HOST:PORT (with --tls for TLS)");
	if (seen & BIT(OPT_PATH))
		return cli_fail(err, err_len, "--path: the URL gives the path (%s)", cfg->url.path);
	if (cfg->requests_file && strcmp(cfg->url.path, "/"))
		return cli_fail(err, err_len,
				"--requests-file: the file gives the paths; the URL's path must be "
				"/, not %s",
				cfg->url.path);
	if ((seen & BIT(OPT_TLS)) && !cfg->url.tls)
		return cli_fail(err, err_len, "--tls: the URL says http://; https:// speaks TLS");
	cfg->mode = LOAD_HTTP;
	cfg->path = cfg->url.path;
	cfg->tls |= cfg->url.tls;
	return 0;
}

/* The first target's host as typed, when it is a name (an address gets no SNI). */
static void default_sni(struct load_config *cfg)
{
	const char *t = cfg->target_str, *colon;
	size_t len;
	struct in_addr a4;
	struct in6_addr a6;

	if (cfg->has_url) {
		snprintf(cfg->sni_host, sizeof(cfg->sni_host), "%s", cfg->url.host);
	} else {
		len = strcspn(t, ",");
		colon = memrchr(t, ':', len);
		len = colon ? (size_t)(colon - t) : 0;
		if (t[0] == '[' || !len || len > LOAD_MAX_HOST)
			return;
		memcpy(cfg->sni_host, t, len);
		cfg->sni_host[len] = '\0';
	}
	if (inet_pton(AF_INET, cfg->sni_host, &a4) == 1 ||
	    inet_pton(AF_INET6, cfg->sni_host, &a6) == 1) {
		cfg->sni_host[0] = '\0';
		return;
	}
	cfg->sni = cfg->sni_host;
}

/* TLS flags together: verification one way, a certificate with its key, versions in order. */
static int check_tls(struct load_config *cfg, uint64_t seen, char *err, size_t err_len)
{
	struct tls_client_settings *s = &cfg->tls_s;

	if (!cfg->tls) {
		if (seen & TLS_ONLY)
			return cli_fail(err, err_len,
					"--sni/--alpn/--tls-*/--insecure/--cacert/--cert/--key "
					"need an https:// URL or --tls");
		return 0;
	}
	if ((seen & BIT(OPT_INSECURE)) && s->ca)
		return cli_fail(err, err_len, "--insecure and --cacert: choose one");
	if (!s->cert != !s->key)
		return cli_fail(err, err_len, "--cert and --key: a client certificate needs both");
	if (s->min_version && s->max_version && s->min_version > s->max_version)
		return cli_fail(err, err_len, "--tls-min 1.%u is above --tls-max 1.%u",
				s->min_version % 10, s->max_version % 10);
	s->verify = s->ca != NULL;
	s->what = "TLS";
	if (!s->alpn && cfg->mode == LOAD_HTTP)
		s->alpn = "http/1.1";
	else if (s->alpn && !*s->alpn)
		s->alpn = NULL; /* --alpn none */
	if (!cfg->sni)
		default_sni(cfg);
	return 0;
}

int load_config_parse(struct load_config *cfg, int argc, char *const argv[], char *err,
		      size_t err_len)
{
	bool seen_size = false, seen_path = false, seen_duration = false, seen_warmup = false;
	uint64_t seen = 0; /* bit id: the flag was given */
	unsigned hosts = 0;
	const char *why;

	for (int i = 0;;) {
		const char *val;
		int k;

		/* A bare argument is a target, as --target takes it: a URL, as wrk and curl take. */
		if (i + 1 < argc && argv[i + 1][0] != '-') {
			if (add_targets(cfg, "the target", argv[++i], err, err_len))
				return -EINVAL;
			continue;
		}
		k = cli_next(options, sizeof(options) / sizeof(options[0]), argc, argv, &i, &val,
			     err, err_len);
		if (k == -1)
			break;
		if (k < 0)
			return k;
		seen_size |= options[k].id == OPT_SIZE;
		seen_path |= options[k].id == OPT_PATH || options[k].id == OPT_HOST;
		seen_duration |= options[k].id == OPT_DURATION;
		seen_warmup |= options[k].id == OPT_WARMUP;
		seen |= 1ull << options[k].id;
		if (apply(cfg, (enum opt_id)options[k].id, options[k].name, val, err, err_len))
			return -EINVAL;
	}
	if (cfg->help)
		return 0;
	if (!cfg->target_str)
		return cli_fail(err, err_len,
				"a target is required: a URL (https://127.0.0.1:8443/) or --target "
				"HOST:PORT");
	if (cfg->has_url && apply_url(cfg, seen, err, err_len))
		return -EINVAL;
	if (check_tls(cfg, seen, err, err_len))
		return -EINVAL;
	if (seen_size && cfg->mode != LOAD_ECHO)
		return cli_fail(err, err_len, "--size needs --mode echo");
	if (seen_path && cfg->mode != LOAD_HTTP)
		return cli_fail(err, err_len, "--path/--host need --mode http");
	if ((seen & HTTP_ONLY) && cfg->mode != LOAD_HTTP)
		return cli_fail(err, err_len,
				"--method/--header/--body/--body-file/--requests-file/"
				"--expect-status need --mode http");
	if (cfg->body && cfg->body_file)
		return cli_fail(err, err_len, "--body and --body-file: give one or the other");
	if (cfg->requests_file && (seen & FROM_FILE))
		return cli_fail(err, err_len,
				"--requests-file: not with --method, --path, --body or --body-file "
				"(the file gives each request's)");
	why = request_target_check(cfg->method, strlen(cfg->method), cfg->path, strlen(cfg->path));
	if (why)
		return cli_fail(err, err_len, "--path '%s': %s", cfg->path, why);
	for (unsigned i = 0; i < cfg->n_headers; i++)
		hosts += request_header_is_host(cfg->headers[i]);
	if (hosts > 1)
		return cli_fail(err, err_len, "--header: Host given twice");
	if (hosts && cfg->host)
		return cli_fail(err, err_len, "--host and --header 'Host: ...': give one");
	if (cfg->active > cfg->connections)
		return cli_fail(err, err_len, "--active %u exceeds --connections %u", cfg->active,
				cfg->connections);
	if (cfg->active && cfg->requests)
		return cli_fail(err, err_len,
				"--active runs for --duration: a thread done with its --requests "
				"would close the idle connections it holds");
	if (cfg->threads > cfg->connections)
		return cli_fail(err, err_len, "--threads %u exceeds --connections %u", cfg->threads,
				cfg->connections);
	if ((uint64_t)cfg->size * cfg->pipeline > (64u << 20))
		return cli_fail(err, err_len, "--size times --pipeline exceeds 64m");
	if (cfg->churn && cfg->no_reconnect)
		return cli_fail(err, err_len,
				"--churn reconnects and --no-reconnect does not: choose one");
	if (cfg->churn && cfg->churn < cfg->pipeline)
		return cli_fail(err, err_len, "--churn %llu is below --pipeline %u",
				(unsigned long long)cfg->churn, cfg->pipeline);
	if (cfg->find_pct) {
		if (cfg->plan_segs > 1 || (cfg->plan_segs && cfg->plan[0].dur_ns))
			return cli_fail(
				err, err_len,
				"--find-max steps the rate itself: give one starting --rate");
		if (cfg->requests)
			return cli_fail(err, err_len,
					"--find-max runs each step for --duration, not --requests");
		/* Each step: fresh connections, a second to settle, 5 s measured. */
		if (!seen_duration)
			cfg->duration_ns = 5 * NS_PER_S;
		if (!seen_warmup)
			cfg->warmup_ns = NS_PER_S;
		if (!cfg->plan_segs) {
			cfg->plan[0] = (struct sched_seg){1000, 1000, 0};
			cfg->plan_segs = 1;
			cfg->rate = 1000;
		}
	}
	/* A plan with an end sets the run's length, unless --duration or --requests does. */
	if (!seen_duration && !cfg->requests && !cfg->find_pct)
		cfg->duration_ns = sched_plan_length(cfg->plan, cfg->plan_segs);
	if (!cfg->duration_ns && !cfg->requests)
		cfg->duration_ns = 10 * NS_PER_S;
	if (cfg->json_stream)
		cfg->json = true;
	/* An interval log needs intervals: a second each unless --interval says. */
	if (cfg->hdr_log && !cfg->interval_ns)
		cfg->interval_ns = NS_PER_S;
	if (cfg->find_pct && (cfg->interval_ns || cfg->hdr_log))
		return cli_fail(err, err_len,
				"--find-max reports one row per step: leave out --interval and "
				"--hdr-log");
	return 0;
}

/* The lines format's BODY-FILEs are relative to the requests file's directory. */
static int requests_from_file(const struct load_config *cfg, struct request_set *s,
			      const struct request_extra *x, char *err, size_t err_len)
{
	const char *name = cfg->requests_file, *slash = strrchr(name, '/');
	char dir[4096];
	uint8_t *text;
	size_t len;
	int ret;

	ret = request_read_file(name, REQUEST_MAX_BYTES, &text, &len);
	if (ret)
		return cli_fail(err, err_len, "--requests-file %s: %s", name,
				ret == -EFBIG ? "larger than 256 MiB" : strerror(-ret));
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == name ? 1 : (int)(slash - name), name);
	ret = request_parse(s, (const char *)text, len, name, dir, x, err, err_len);
	free(text);
	if (!ret && s->raw && (cfg->n_headers || cfg->host))
		return cli_fail(err, err_len,
				"--header/--host: %s holds raw requests, which are sent as written",
				name);
	return ret;
}

static int request_from_flags(const struct load_config *cfg, struct request_set *s,
			      const struct request_extra *x, char *err, size_t err_len)
{
	const uint8_t *body = (const uint8_t *)cfg->body;
	size_t body_len = body ? strlen(cfg->body) : 0;
	uint8_t *data = NULL;
	int ret;

	if (cfg->body_file) {
		ret = request_read_file(cfg->body_file, REQUEST_MAX_BODY, &data, &body_len);
		if (ret)
			return cli_fail(err, err_len, "--body-file %s: %s", cfg->body_file,
					ret == -EFBIG ? "larger than 64 MiB" : strerror(-ret));
		body = data;
	}
	ret = request_set_add(s, cfg->method, strlen(cfg->method), cfg->path, strlen(cfg->path), x,
			      body, body_len);
	free(data);
	if (ret)
		return cli_fail(err, err_len, "the request: %s", strerror(-ret));
	return 0;
}

int load_config_requests(const struct load_config *cfg, struct request_set *s, char *err,
			 size_t err_len)
{
	char host[INET6_ADDRSTRLEN + 8];
	struct request_extra x = {
		.host = cfg->host      ? cfg->host
			: cfg->has_url ? cfg->url.authority
				       : net_addr_str(&cfg->target, host, sizeof(host)),
		.headers = cfg->headers,
		.n_headers = cfg->n_headers,
	};
	int ret;

	request_set_init(s);
	if (cfg->requests_file)
		ret = requests_from_file(cfg, s, &x, err, err_len);
	else
		ret = request_from_flags(cfg, s, &x, err, err_len);
	if (!ret)
		ret = request_set_finish(s, cfg->pipeline, err, err_len);
	if (ret)
		request_set_free(s);
	return ret == -ENOMEM ? ret : ret ? -EINVAL : 0;
}
