// SPDX-License-Identifier: MIT
#include "ringer/stats.h"

#include <errno.h>
#include <inttypes.h>

void stats_sum(struct stats *dst, const struct stats *src)
{
	int i;

#define X(name, help) dst->name += __atomic_load_n(&src->name, __ATOMIC_RELAXED);
	STATS_FIELDS(X)
#undef X
	for (i = 0; i < TCP_STATE_COUNT; i++) {
		dst->by_state[i] += __atomic_load_n(&src->by_state[i], __ATOMIC_RELAXED);
		for (int side = 0; side < STATS_SIDES; side++)
			dst->by_side[side][i] +=
				__atomic_load_n(&src->by_side[side][i], __ATOMIC_RELAXED);
	}
	for (i = 0; i < STATS_MAX_UPSTREAMS; i++) {
		struct stats_upstream *d = &dst->up[i];
		const struct stats_upstream *u = &src->up[i];

		d->connects += __atomic_load_n(&u->connects, __ATOMIC_RELAXED);
		d->failures += __atomic_load_n(&u->failures, __ATOMIC_RELAXED);
		d->bytes_in += __atomic_load_n(&u->bytes_in, __ATOMIC_RELAXED);
		d->bytes_out += __atomic_load_n(&u->bytes_out, __ATOMIC_RELAXED);
		d->active += __atomic_load_n(&u->active, __ATOMIC_RELAXED);
		d->down += __atomic_load_n(&u->down, __ATOMIC_RELAXED);
	}
}

static const char *const side_names[STATS_SIDES] = {"client", "upstream"};

void stats_print_upstreams(FILE *f, const struct stats *s, const char *const *names, unsigned n)
{
	for (unsigned i = 0; i < n && i < STATS_MAX_UPSTREAMS; i++) {
		const struct stats_upstream *u = &s->up[i];

		fprintf(f,
			"  upstream %-22s %-4s active=%" PRId64 " connects=%" PRIu64
			" failures=%" PRIu64 " bytes_in=%" PRIu64 " bytes_out=%" PRIu64 "\n",
			names[i], u->down ? "down" : "up", u->active, u->connects, u->failures,
			u->bytes_in, u->bytes_out);
	}
	fflush(f);
}

void stats_print(FILE *f, const struct stats *s, unsigned shards)
{
	int i;

	fprintf(f, "ringer stats (%u shard%s)\n", shards, shards == 1 ? "" : "s");
	fprintf(f, "  connections by TCP state:");
	for (i = 0; i < TCP_STATE_COUNT; i++)
		fprintf(f, " %s=%" PRId64, tcp_state_name((enum tcp_state)i), s->by_state[i]);
	fprintf(f, "\n");
#define X(name, help) fprintf(f, "  %-18s %20" PRIu64 "  %s\n", #name, s->name, help);
	STATS_FIELDS(X)
#undef X
	fprintf(f, "  %-18s %20.2f  %s\n", "cqes_per_loop",
		s->loops ? (double)s->cqes / (double)s->loops : 0.0,
		"completions per loop iteration");
	fflush(f);
}

int stats_prometheus(char *buf, size_t len, const struct stats *s)
{
	size_t off = 0;
	int n, i;

#define EMIT(...)                                                \
	do {                                                     \
		n = snprintf(buf + off, len - off, __VA_ARGS__); \
		if (n < 0 || (size_t)n >= len - off)             \
			return -ENOSPC;                          \
		off += (size_t)n;                                \
	} while (0)

#define X(name, help)                                                                              \
	EMIT("# HELP ringer_%s_total %s\n# TYPE ringer_%s_total counter\nringer_%s_total %" PRIu64 \
	     "\n",                                                                                 \
	     #name, help, #name, #name, s->name);
	STATS_FIELDS(X)
#undef X
	EMIT("# HELP ringer_connections Connections by TCP state\n# TYPE ringer_connections "
	     "gauge\n");
	for (i = 0; i < TCP_STATE_COUNT; i++)
		EMIT("ringer_connections{state=\"%s\"} %" PRId64 "\n",
		     tcp_state_name((enum tcp_state)i), s->by_state[i]);
	EMIT("# HELP ringer_connections_by_side Connections by side (client: accepted, upstream: "
	     "connected out) and TCP state\n# TYPE ringer_connections_by_side gauge\n");
	for (int side = 0; side < STATS_SIDES; side++)
		for (i = 0; i < TCP_STATE_COUNT; i++)
			EMIT("ringer_connections_by_side{side=\"%s\",state=\"%s\"} %" PRId64 "\n",
			     side_names[side], tcp_state_name((enum tcp_state)i),
			     s->by_side[side][i]);
	return (int)off;
}

int stats_prometheus_upstreams(char *buf, size_t len, const struct stats *s,
			       const char *const *names, unsigned count)
{
	static const struct {
		const char *name, *type, *help;
	} m[] = {
		{"ringer_upstream_up", "gauge", "1 if no shard has the upstream marked down"},
		{"ringer_upstream_active", "gauge", "sessions using the upstream"},
		{"ringer_upstream_connects_total", "counter", "upstream connects that succeeded"},
		{"ringer_upstream_connect_failures_total", "counter",
		 "upstream connects that failed"},
		{"ringer_upstream_bytes_in_total", "counter", "bytes received from the upstream"},
		{"ringer_upstream_bytes_out_total", "counter", "bytes sent to the upstream"},
	};
	size_t off = 0;
	int n;

	for (unsigned k = 0; k < sizeof(m) / sizeof(m[0]); k++) {
		EMIT("# HELP %s %s\n# TYPE %s %s\n", m[k].name, m[k].help, m[k].name, m[k].type);
		for (unsigned i = 0; i < count && i < STATS_MAX_UPSTREAMS; i++) {
			const struct stats_upstream *u = &s->up[i];
			int64_t v[] = {u->down ? 0 : 1,	     u->active,
				       (int64_t)u->connects, (int64_t)u->failures,
				       (int64_t)u->bytes_in, (int64_t)u->bytes_out};

			EMIT("%s{upstream=\"%s\"} %" PRId64 "\n", m[k].name, names[i], v[k]);
		}
	}
	return (int)off;
}
#undef EMIT
