// SPDX-License-Identifier: MIT
/* The relaying modes' log writer: see plog.h. */
#include "plog.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "ringer/engine.h"

struct plog *plog_new(const struct config *cfg, int *err)
{
	struct plog *l;

	*err = 0;
	if (cfg->log_fd < 0)
		return NULL;
	l = calloc(1, sizeof(*l));
	if (!l) {
		*err = -ENOMEM;
		return NULL;
	}
	l->cfg = cfg;
	l->busy = -1;
	l->fd = cfg->log_fd;
	return l;
}

void plog_free(struct plog *l)
{
	if (!l)
		return;
	for (int k = 0; k < 2; k++) {
		int b = l->busy >= 0 ? (l->busy + k) % 2 : (l->cur + 1 + k) % 2;
		uint32_t off = b == l->busy ? l->off : 0;

		while (off < l->len[b]) {
			ssize_t w = write(l->fd, l->buf[b] + off, l->len[b] - off);

			if (w <= 0)
				break;
			off += (uint32_t)w;
		}
	}
	free(l);
}

/*
 * SIGUSR1 reopened the log (main: src/server/notify.c): this shard moves to
 * the new descriptor between two writes and at a line's end, never with a
 * write in flight on the old one, and counts itself off so that main can
 * close the old one. Lines written before stay whole in the old file.
 */
static void log_follow(struct plog *l)
{
	const struct config *cfg = l->cfg;
	int fd = __atomic_load_n(&cfg->log_fd, __ATOMIC_ACQUIRE);

	if (fd == l->fd || l->chunk)
		return;
	if (l->busy >= 0 && l->off && l->buf[l->busy][l->off - 1] != '\n')
		return; /* a short write left part of a line: its rest goes to the same file */
	l->fd = fd;
	if (cfg->log_behind)
		__atomic_sub_fetch(cfg->log_behind, 1, __ATOMIC_RELEASE);
}

void plog_flush(struct engine *e, struct plog *l)
{
	uint32_t left, n;
	const char *p;

	if (l->chunk)
		return; /* one write at a time: its completion starts the next */
	log_follow(l);
	if (l->busy < 0) {
		if (!l->len[l->cur])
			return;
		l->busy = l->cur;
		l->cur ^= 1;
		l->off = 0;
	}
	p = l->buf[l->busy] + l->off;
	left = l->len[l->busy] - l->off;
	n = left;
	if (n > PLOG_CHUNK) {
		n = PLOG_CHUNK;
		while (n && p[n - 1] != '\n')
			n--;
		if (!n)
			n = PLOG_CHUNK;
	}
	if (engine_write(e, l->fd, p, n, (uint32_t)l->busy)) {
		l->len[l->busy] = 0; /* no SQE: lose this buffer rather than spin */
		l->busy = -1;
		return;
	}
	l->chunk = n;
}

void plog_written(struct engine *e, struct plog *l, uint32_t token, int res)
{
	if (!l || l->busy != (int)token || !l->chunk)
		return;
	if (res <= 0) {
		STAT_INC(engine_stats(e), errors);
		res = (int)l->chunk; /* skip what could not be written */
	}
	l->chunk = 0;
	l->off += (uint32_t)res;
	if (l->off < l->len[l->busy]) {
		plog_flush(e, l);
		return;
	}
	l->len[l->busy] = 0;
	l->busy = -1;
	if (l->len[l->cur] > PLOG_BUF / 2)
		plog_flush(e, l);
}

char *plog_room(struct engine *e, struct plog *l)
{
	if (PLOG_BUF - l->len[l->cur] < PLOG_LINE) {
		STAT_INC(engine_stats(e), log_dropped);
		return NULL;
	}
	return l->buf[l->cur] + l->len[l->cur];
}

void plog_commit(struct engine *e, struct plog *l, uint32_t n)
{
	if (n > PLOG_LINE)
		n = PLOG_LINE;
	l->len[l->cur] += n;
	STAT_INC(engine_stats(e), log_lines);
	if (l->len[l->cur] > PLOG_BUF / 2)
		plog_flush(e, l);
}

int plog_time(char *out)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	return (int)n + snprintf(out + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000);
}
