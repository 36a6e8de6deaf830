// SPDX-License-Identifier: MIT
#include "ringer/stats.h"

#include <errno.h>
#include <inttypes.h>

static const char *const errno_names[STATS_ERR_COUNT] = {
#define X(e) [STATS_ERR_##e] = #e,
	STATS_ERRNOS(X)
#undef X
		[STATS_ERR_OTHER] = "other",
};

enum stats_errno stats_errno_index(int neg_errno)
{
	switch (-neg_errno) {
#define X(e)    \
	case e: \
		return STATS_ERR_##e;
		STATS_ERRNOS(X)
#undef X
	default:
		return STATS_ERR_OTHER;
	}
}

#define SUM_ARRAY(dst, src, field)                                                     \
	for (size_t k_ = 0; k_ < sizeof((dst)->field) / sizeof((dst)->field[0]); k_++) \
	(dst)->field[k_] += __atomic_load_n(&(src)->field[k_], __ATOMIC_RELAXED)

void stats_sum(struct stats *dst, const struct stats *src)
{
	int i;

	SUM_ARRAY(dst, src, entered);
	SUM_ARRAY(dst, src, ops);
	SUM_ARRAY(dst, src, errnos);
	SUM_ARRAY(dst, src, batch);
	SUM_ARRAY(dst, src, idle_late);
	dst->idle_late_sum += __atomic_load_n(&src->idle_late_sum, __ATOMIC_RELAXED);
	SUM_ARRAY(dst, src, tls_hs);
	dst->tls_hs_sum += __atomic_load_n(&src->tls_hs_sum, __ATOMIC_RELAXED);

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
		d->state_changes += __atomic_load_n(&u->state_changes, __ATOMIC_RELAXED);
		for (int k = 0; k < 5; k++)
			d->http[k] += __atomic_load_n(&u->http[k], __ATOMIC_RELAXED);
		d->reused += __atomic_load_n(&u->reused, __ATOMIC_RELAXED);
		d->pooled += __atomic_load_n(&u->pooled, __ATOMIC_RELAXED);
		d->evicted += __atomic_load_n(&u->evicted, __ATOMIC_RELAXED);
		d->bad_responses += __atomic_load_n(&u->bad_responses, __ATOMIC_RELAXED);
		d->timeouts += __atomic_load_n(&u->timeouts, __ATOMIC_RELAXED);
		for (int k = 0; k < STATS_RT_BUCKETS; k++)
			d->rt[k] += __atomic_load_n(&u->rt[k], __ATOMIC_RELAXED);
		d->rt_sum += __atomic_load_n(&u->rt_sum, __ATOMIC_RELAXED);
	}
}

static const char *const side_names[STATS_SIDES] = {"client", "upstream"};

static const uint64_t rt_bounds[STATS_RT_BUCKETS - 1] = STATS_RT_BOUNDS;

void stats_response_time(struct stats_upstream *u, uint64_t ms)
{
	unsigned b = 0;

	while (b < STATS_RT_BUCKETS - 1 && ms > rt_bounds[b])
		b++;
	__atomic_store_n(&u->rt[b], u->rt[b] + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&u->rt_sum, u->rt_sum + ms, __ATOMIC_RELAXED);
}

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

static const unsigned late_bounds[STATS_LATE_BUCKETS - 1] = STATS_LATE_BOUNDS;

void stats_idle_close(struct stats *s, uint64_t late_ms)
{
	unsigned b = 0;

	while (b < STATS_LATE_BUCKETS - 1 && late_ms > late_bounds[b])
		b++;
	STAT_INC(s, idle_closes);
	STAT_INC(s, idle_late[b]);
	STAT_ADD(s, idle_late_sum, late_ms);
}

static const unsigned hs_bounds[STATS_HS_BUCKETS - 1] = STATS_HS_BOUNDS;

void stats_tls_handshake(struct stats *s, uint64_t ms)
{
	unsigned b = 0;

	while (b < STATS_HS_BUCKETS - 1 && ms > hs_bounds[b])
		b++;
	STAT_INC(s, tls_hs[b]);
	STAT_ADD(s, tls_hs_sum, ms);
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
	if (s->idle_closes) {
		fprintf(f, "  %-18s", "idle_late_ms");
		for (i = 0; i < STATS_LATE_BUCKETS - 1; i++)
			fprintf(f, " <=%u:%" PRIu64, late_bounds[i], s->idle_late[i]);
		fprintf(f, " more:%" PRIu64 "  idle closes by ms after the timeout\n",
			s->idle_late[STATS_LATE_BUCKETS - 1]);
	}
	if (s->tls_handshakes) {
		fprintf(f, "  %-18s", "tls_handshake_ms");
		for (i = 0; i < STATS_HS_BUCKETS - 1; i++)
			fprintf(f, " <=%u:%" PRIu64, hs_bounds[i], s->tls_hs[i]);
		fprintf(f, " more:%" PRIu64 "  TLS handshakes by ms taken\n",
			s->tls_hs[STATS_HS_BUCKETS - 1]);
	}
	fflush(f);
}

int stats_prometheus(char *buf, size_t len, const struct stats *s)
{
	size_t off = 0;
	int n, i;

#define X(name, help)                                                                            \
	STATS_EMIT("# HELP ringer_%s_total %s\n# TYPE ringer_%s_total counter\nringer_%s_total " \
		   "%" PRIu64 "\n",                                                              \
		   #name, help, #name, #name, s->name);
	STATS_FIELDS(X)
#undef X
	STATS_EMIT("# HELP ringer_connections Connections by TCP state\n# TYPE ringer_connections "
		   "gauge\n");
	for (i = 0; i < TCP_STATE_COUNT; i++)
		STATS_EMIT("ringer_connections{state=\"%s\"} %" PRId64 "\n",
			   tcp_state_name((enum tcp_state)i), s->by_state[i]);
	STATS_EMIT("# HELP ringer_connections_by_side Connections by side (client: accepted, "
		   "upstream: "
		   "connected out) and TCP state\n# TYPE ringer_connections_by_side gauge\n");
	for (int side = 0; side < STATS_SIDES; side++)
		for (i = 0; i < TCP_STATE_COUNT; i++)
			STATS_EMIT("ringer_connections_by_side{side=\"%s\",state=\"%s\"} %" PRId64
				   "\n",
				   side_names[side], tcp_state_name((enum tcp_state)i),
				   s->by_side[side][i]);
	STATS_EMIT("# HELP ringer_state_entered_total Transitions into each TCP state\n"
		   "# TYPE ringer_state_entered_total counter\n");
	for (i = 0; i < TCP_STATE_COUNT; i++)
		STATS_EMIT("ringer_state_entered_total{state=\"%s\"} %" PRIu64 "\n",
			   tcp_state_name((enum tcp_state)i), s->entered[i]);
	STATS_EMIT("# HELP ringer_ops_total io_uring completions by operation\n"
		   "# TYPE ringer_ops_total counter\n");
	for (i = 1; i < UD_OP_COUNT; i++)
		STATS_EMIT("ringer_ops_total{op=\"%s\"} %" PRIu64 "\n", ud_op_name((unsigned)i),
			   s->ops[i]);
	STATS_EMIT("# HELP ringer_cqe_errors_total io_uring completions that failed, by errno\n"
		   "# TYPE ringer_cqe_errors_total counter\n");
	for (i = 0; i < STATS_ERR_COUNT; i++)
		STATS_EMIT("ringer_cqe_errors_total{errno=\"%s\"} %" PRIu64 "\n", errno_names[i],
			   s->errnos[i]);
	{
		uint64_t cum = 0;

		STATS_EMIT(
			"# HELP ringer_cqes_per_loop Completions reaped per event loop iteration\n"
			"# TYPE ringer_cqes_per_loop histogram\n");
		for (i = 0; i < STATS_BATCH_BUCKETS - 1; i++) {
			cum += s->batch[i];
			STATS_EMIT("ringer_cqes_per_loop_bucket{le=\"%d\"} %" PRIu64 "\n", 1 << i,
				   cum);
		}
		cum += s->batch[STATS_BATCH_BUCKETS - 1];
		STATS_EMIT("ringer_cqes_per_loop_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
		STATS_EMIT("ringer_cqes_per_loop_sum %" PRIu64
			   "\nringer_cqes_per_loop_count %" PRIu64 "\n",
			   s->cqes, cum);
	}
	{
		uint64_t cum = 0;

		STATS_EMIT(
			"# HELP ringer_idle_close_lateness_seconds Idle closes by how long after "
			"--idle-timeout ran out they came\n"
			"# TYPE ringer_idle_close_lateness_seconds histogram\n");
		for (i = 0; i < STATS_LATE_BUCKETS - 1; i++) {
			cum += s->idle_late[i];
			STATS_EMIT("ringer_idle_close_lateness_seconds_bucket{le=\"%g\"} %" PRIu64
				   "\n",
				   late_bounds[i] / 1000.0, cum);
		}
		cum += s->idle_late[STATS_LATE_BUCKETS - 1];
		STATS_EMIT("ringer_idle_close_lateness_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n",
			   cum);
		STATS_EMIT("ringer_idle_close_lateness_seconds_sum %.3f\n"
			   "ringer_idle_close_lateness_seconds_count %" PRIu64 "\n",
			   (double)s->idle_late_sum / 1000.0, cum);
	}
	{
		uint64_t cum = 0;

		STATS_EMIT(
			"# HELP ringer_tls_handshake_seconds TLS handshakes by how long they took\n"
			"# TYPE ringer_tls_handshake_seconds histogram\n");
		for (i = 0; i < STATS_HS_BUCKETS - 1; i++) {
			cum += s->tls_hs[i];
			STATS_EMIT("ringer_tls_handshake_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
				   hs_bounds[i] / 1000.0, cum);
		}
		cum += s->tls_hs[STATS_HS_BUCKETS - 1];
		STATS_EMIT("ringer_tls_handshake_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
		STATS_EMIT("ringer_tls_handshake_seconds_sum %.3f\n"
			   "ringer_tls_handshake_seconds_count %" PRIu64 "\n",
			   (double)s->tls_hs_sum / 1000.0, cum);
	}
	return (int)off;
}

/* Some upstream has carried HTTP (http-proxy): its families are worth printing. */
static bool stats_http_upstreams(unsigned groups, const struct stats *const *s,
				 const unsigned *count)
{
	for (unsigned g = 0; g < groups; g++) {
		for (unsigned i = 0; i < count[g] && i < STATS_MAX_UPSTREAMS; i++) {
			const struct stats_upstream *u = &s[g]->up[i];

			if (u->http[0] | u->http[1] | u->http[2] | u->http[3] | u->http[4] |
			    u->reused | (uint64_t)u->pooled | u->evicted | u->bad_responses |
			    u->timeouts)
				return true;
		}
	}
	return false;
}

int stats_prometheus_upstreams_by(char *buf, size_t len, unsigned groups, const char *const *labels,
				  const struct stats *const *s, const char *const *const *names,
				  const unsigned *count)
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
		{"ringer_upstream_state_changes_total", "counter",
		 "up/down changes found by active health checks"},
	};
	size_t off = 0;
	int n;

	/* A family's series together, as the text format wants: group by group inside each. */
	for (unsigned k = 0; k < sizeof(m) / sizeof(m[0]); k++) {
		STATS_EMIT("# HELP %s %s\n# TYPE %s %s\n", m[k].name, m[k].help, m[k].name,
			   m[k].type);
		for (unsigned g = 0; g < groups; g++) {
			for (unsigned i = 0; i < count[g] && i < STATS_MAX_UPSTREAMS; i++) {
				const struct stats_upstream *u = &s[g]->up[i];
				int64_t v[] = {u->down ? 0 : 1,		 u->active,
					       (int64_t)u->connects,	 (int64_t)u->failures,
					       (int64_t)u->bytes_in,	 (int64_t)u->bytes_out,
					       (int64_t)u->state_changes};

				if (labels)
					STATS_EMIT("%s{listener=\"%s\",upstream=\"%s\"} %" PRId64
						   "\n",
						   m[k].name, labels[g], names[g][i], v[k]);
				else
					STATS_EMIT("%s{upstream=\"%s\"} %" PRId64 "\n", m[k].name,
						   names[g][i], v[k]);
			}
		}
	}
	if (!stats_http_upstreams(groups, s, count))
		return (int)off;
	/* http-proxy's families: by status class, the pools, the response-time histogram. */
	for (unsigned k = 0; k < 5; k++) {
		if (!k)
			STATS_EMIT("# HELP ringer_upstream_responses_total responses by status "
				   "class\n# TYPE ringer_upstream_responses_total counter\n");
		for (unsigned g = 0; g < groups; g++)
			for (unsigned i = 0; i < count[g] && i < STATS_MAX_UPSTREAMS; i++)
				STATS_EMIT("ringer_upstream_responses_total{%s%s%supstream=\"%s\","
					   "class=\"%uxx\"} %" PRIu64 "\n",
					   labels ? "listener=\"" : "", labels ? labels[g] : "",
					   labels ? "\"," : "", names[g][i], k + 1,
					   s[g]->up[i].http[k]);
	}
	{
		static const struct {
			const char *name, *type, *help;
		} h[] = {
			{"ringer_upstream_pool_idle", "gauge", "idle pooled connections"},
			{"ringer_upstream_pool_reused_total", "counter",
			 "requests sent on a pooled connection"},
			{"ringer_upstream_pool_evicted_total", "counter",
			 "idle pooled connections closed to make room in a full table"},
			{"ringer_upstream_bad_responses_total", "counter",
			 "malformed responses, answered 502"},
			{"ringer_upstream_timeouts_total", "counter",
			 "responses past --upstream-timeout"},
		};

		for (unsigned k = 0; k < sizeof(h) / sizeof(h[0]); k++) {
			STATS_EMIT("# HELP %s %s\n# TYPE %s %s\n", h[k].name, h[k].help, h[k].name,
				   h[k].type);
			for (unsigned g = 0; g < groups; g++) {
				for (unsigned i = 0; i < count[g] && i < STATS_MAX_UPSTREAMS; i++) {
					const struct stats_upstream *u = &s[g]->up[i];
					int64_t v[] = {
						u->pooled, (int64_t)u->reused, (int64_t)u->evicted,
						(int64_t)u->bad_responses, (int64_t)u->timeouts};

					STATS_EMIT("%s{%s%s%supstream=\"%s\"} %" PRId64 "\n",
						   h[k].name, labels ? "listener=\"" : "",
						   labels ? labels[g] : "", labels ? "\"," : "",
						   names[g][i], v[k]);
				}
			}
		}
	}
	STATS_EMIT("# HELP ringer_upstream_response_seconds time from the request to the "
		   "response head\n# TYPE ringer_upstream_response_seconds histogram\n");
	for (unsigned g = 0; g < groups; g++) {
		for (unsigned i = 0; i < count[g] && i < STATS_MAX_UPSTREAMS; i++) {
			const struct stats_upstream *u = &s[g]->up[i];
			char lab[192];
			uint64_t cum = 0;

			snprintf(lab, sizeof(lab), "%s%s%supstream=\"%s\"",
				 labels ? "listener=\"" : "", labels ? labels[g] : "",
				 labels ? "\"," : "", names[g][i]);
			for (unsigned b = 0; b < STATS_RT_BUCKETS; b++) {
				cum += u->rt[b];
				if (b < STATS_RT_BUCKETS - 1)
					STATS_EMIT("ringer_upstream_response_seconds_bucket{%s,le="
						   "\"%g\"} "
						   "%" PRIu64 "\n",
						   lab, rt_bounds[b] / 1000.0, cum);
				else
					STATS_EMIT(
						"ringer_upstream_response_seconds_bucket{%s,le=\"+"
						"Inf\"} %" PRIu64 "\n",
						lab, cum);
			}
			STATS_EMIT("ringer_upstream_response_seconds_sum{%s} %g\n", lab,
				   u->rt_sum / 1000.0);
			STATS_EMIT("ringer_upstream_response_seconds_count{%s} %" PRIu64 "\n", lab,
				   cum);
		}
	}
	return (int)off;
}

int stats_prometheus_upstreams(char *buf, size_t len, const struct stats *s,
			       const char *const *names, unsigned count)
{
	return stats_prometheus_upstreams_by(buf, len, 1, NULL, &s, &names, &count);
}
