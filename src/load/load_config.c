// SPDX-License-Identifier: MIT
/*
 * ringer-load's flags. Every bad value is reported with the flag's name;
 * main turns a failure into exit status 2.
 */
#include "load_config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_MS 1000000ull
#define NS_PER_S  1000000000ull

void load_config_defaults(struct load_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = LOAD_HTTP;
	cfg->size = 64;
	cfg->path = "/";
	cfg->connections = 10;
	cfg->threads = 1;
	cfg->pipeline = 1;
	cfg->connect_timeout_ns = 3 * NS_PER_S;
	cfg->timeout_ns = 10 * NS_PER_S;
}

void load_config_usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s --target HOST:PORT [options]\n"
		"An io_uring load generator for TCP echo and HTTP/1.1 servers.\n"
		"\n"
		"  --target ADDR:PORT     server to load: 127.0.0.1:8080, [::1]:8080, "
		"localhost:80\n"
		"  --mode MODE            http | echo (default http)\n"
		"  --path PATH            http: request path (default /)\n"
		"  --host NAME            http: Host header (default the target address)\n"
		"  --size BYTES           echo: message size, every byte verified (default 64;\n"
		"                         k/m suffixes)\n"
		"  --connections N        connections over all threads (default 10)\n"
		"  --threads N            threads, one io_uring each (default 1)\n"
		"  --cpus LIST            pin threads round robin to these CPUs (e.g. 1 or 0-3,6)\n"
		"  --pipeline N           requests in flight per connection, sent in one write\n"
		"                         (default 1: ping-pong)\n"
		"  --rate R               open loop: R requests/s over all connections, latency\n"
		"                         measured from each request's intended send time\n"
		"                         (default: closed loop)\n"
		"  --duration TIME        measured run time (default 10s when --requests is "
		"unset)\n"
		"  --requests N           stop after N measured requests\n"
		"  --warmup TIME          run this long first, uncounted (default 0)\n"
		"  --connect-timeout TIME give up on a connect after TIME (default 3s)\n"
		"  --timeout TIME         a connection waiting this long for a response is closed\n"
		"                         and counted as a timeout (default 10s)\n"
		"  --churn K              reconnect after every K requests on a connection\n"
		"  --json                 print the result as one JSON document on stdout\n"
		"  --hdr-out FILE         also write the percentile distribution to FILE\n"
		"  -h, --help             this text\n"
		"\n"
		"TIME is a number with an optional unit: us, ms, s (default), m.\n"
		"A progress line goes to stderr every second when stderr is a terminal.\n"
		"Exit status: 0 done, 1 could not run (e.g. target unreachable), 2 bad flags,\n"
		"3 the server's responses failed verification (echo bytes or HTTP framing).\n",
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

enum opt_id {
	OPT_TARGET,
	OPT_MODE,
	OPT_PATH,
	OPT_HOST,
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
	OPT_JSON,
	OPT_HDR_OUT,
	OPT_HELP,
};

static const struct cli_opt options[] = {
	{"--target", NULL, OPT_TARGET, true},
	{"--mode", NULL, OPT_MODE, true},
	{"--path", NULL, OPT_PATH, true},
	{"--host", NULL, OPT_HOST, true},
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
	{"--json", NULL, OPT_JSON, false},
	{"--hdr-out", NULL, OPT_HDR_OUT, true},
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

static int apply(struct load_config *cfg, enum opt_id id, const char *flag, const char *val,
		 char *err, size_t err_len)
{
	int n;

	switch (id) {
	case OPT_TARGET:
		if (net_addr_parse(val, &cfg->target) || net_addr_port(&cfg->target) == 0)
			return cli_fail(err, err_len,
					"%s: '%s' is not HOST:PORT (IPv6 as [::1]:PORT)", flag,
					val);
		cfg->target_str = val;
		return 0;
	case OPT_MODE:
		if (!strcmp(val, "http"))
			cfg->mode = LOAD_HTTP;
		else if (!strcmp(val, "echo"))
			cfg->mode = LOAD_ECHO;
		else
			return cli_fail(err, err_len, "%s: '%s' is not http or echo", flag, val);
		return 0;
	case OPT_PATH:
		if (val[0] != '/' || strlen(val) > LOAD_MAX_PATH || strpbrk(val, " \r\n"))
			return cli_fail(err, err_len,
					"%s: '%s' must start with / and hold no spaces", flag, val);
		cfg->path = val;
		return 0;
	case OPT_HOST:
		if (!*val || strlen(val) > 255 || strpbrk(val, " \r\n"))
			return cli_fail(err, err_len, "%s: '%s' is not a host name", flag, val);
		cfg->host = val;
		return 0;
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
		return set_u64(flag, val, 1, 100000000, true, &cfg->rate, err, err_len);
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
	}
	return cli_fail(err, err_len, "internal: unhandled option %s", flag);
}

int load_config_parse(struct load_config *cfg, int argc, char *const argv[], char *err,
		      size_t err_len)
{
	bool seen_size = false, seen_path = false;

	for (int i = 0;;) {
		const char *val;
		int k = cli_next(options, sizeof(options) / sizeof(options[0]), argc, argv, &i,
				 &val, err, err_len);

		if (k == -1)
			break;
		if (k < 0)
			return k;
		seen_size |= options[k].id == OPT_SIZE;
		seen_path |= options[k].id == OPT_PATH || options[k].id == OPT_HOST;
		if (apply(cfg, (enum opt_id)options[k].id, options[k].name, val, err, err_len))
			return -EINVAL;
	}
	if (cfg->help)
		return 0;
	if (!cfg->target_str)
		return cli_fail(err, err_len, "--target HOST:PORT is required");
	if (seen_size && cfg->mode != LOAD_ECHO)
		return cli_fail(err, err_len, "--size needs --mode echo");
	if (seen_path && cfg->mode != LOAD_HTTP)
		return cli_fail(err, err_len, "--path/--host need --mode http");
	if (cfg->threads > cfg->connections)
		return cli_fail(err, err_len, "--threads %u exceeds --connections %u", cfg->threads,
				cfg->connections);
	if ((uint64_t)cfg->size * cfg->pipeline > (64u << 20))
		return cli_fail(err, err_len, "--size times --pipeline exceeds 64m");
	if (cfg->churn && cfg->churn < cfg->pipeline)
		return cli_fail(err, err_len, "--churn %llu is below --pipeline %u",
				(unsigned long long)cfg->churn, cfg->pipeline);
	if (!cfg->duration_ns && !cfg->requests)
		cfg->duration_ns = 10 * NS_PER_S;
	return 0;
}
