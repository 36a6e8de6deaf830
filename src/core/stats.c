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
	for (i = 0; i < TCP_STATE_COUNT; i++)
		dst->by_state[i] += __atomic_load_n(&src->by_state[i], __ATOMIC_RELAXED);
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
#undef EMIT
	return (int)off;
}
