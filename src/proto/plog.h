/* SPDX-License-Identifier: MIT */
#ifndef RINGER_PLOG_H
#define RINGER_PLOG_H

/*
 * The per-shard log of the modes that relay (proxy's session log,
 * http-proxy's access log): lines go into one buffer while the other is
 * being written (an io_uring write, engine_write), whole lines at most
 * PLOG_CHUNK at a time; the tick starts the next write. A line that finds
 * its buffer full is dropped and counted, never waited for. SIGUSR1's
 * reopen (cfg->log_fd) is followed between two writes, at a line's end.
 */
#include <stdint.h>

#include "ringer/config.h"

struct engine;

#define PLOG_BUF   (64 * 1024) /* one of the two buffers of a shard */
#define PLOG_CHUNK 4096	       /* most bytes per write: PIPE_BUF, so lines never interleave */
#define PLOG_LINE  1024	       /* room a line may take */

struct plog {
	const struct config *cfg;
	char buf[2][PLOG_BUF];
	uint32_t len[2];
	int cur;	/* the buffer being filled */
	int busy;	/* the buffer being written, or -1 */
	uint32_t off;	/* ... bytes of it written so far */
	uint32_t chunk; /* ... bytes of the write in flight (0: none in flight) */
	int fd;		/* where this shard writes: cfg->log_fd as it was at a line's end */
};

/* A log for cfg's --log; NULL without one (or out of memory: *err set). */
struct plog *plog_new(const struct config *cfg, int *err);
/* Writes what is still buffered with plain writes (the loop is over) and frees l. */
void plog_free(struct plog *l);
/*
 * Room for one line (at most PLOG_LINE bytes) at the end of the buffer being
 * filled, or NULL (counted as dropped) when the log fell behind.
 */
char *plog_room(struct engine *e, struct plog *l);
/* The line written at plog_room() is n bytes long (ending in '\n'). */
void plog_commit(struct engine *e, struct plog *l, uint32_t n);
/* Starts writing the filled buffer if none is being written (each tick). */
void plog_flush(struct engine *e, struct plog *l);
/* mode->written for the log's writes. */
void plog_written(struct engine *e, struct plog *l, uint32_t token, int res);
/* "2026-12-07T23:59:59.123Z" into out[32]; returns its length. */
int plog_time(char *out);

#endif
