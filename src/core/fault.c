// SPDX-License-Identifier: MIT
/*
 * The ring's fault injection (include/ringer/fault.h says what and why),
 * built only with -Dfault_injection=true. Part of the ring module: it is
 * the other file that touches SQEs and CQEs.
 */
#include "ringer/fault.h"

#if RINGER_FAULT_INJECTION

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ringer/ring.h"
#include "ringer/user_data.h"

#define LATE_MAX    64 /* completions held back for the next batch */
#define REWRITE_MAX 64 /* multishots being cancelled to report an error */

static const struct {
	const char *name;
	int err[FAULT_ERRS_MAX]; /* 0 ends the list; 1: a fault without an errno */
} groups[FAULT_GROUP_COUNT] = {
	[FAULT_RECV] = {"recv", {-ECONNRESET, -ETIMEDOUT, -ENOBUFS}},
	[FAULT_RECV_MID] = {"recv_mid", {-ECONNRESET, -ETIMEDOUT, -ENOBUFS}},
	[FAULT_SEND] = {"send", {-EPIPE, -ECONNRESET}},
	[FAULT_SEND_SHORT] = {"send_short", {1}},
	[FAULT_ACCEPT] = {"accept", {-EMFILE, -ENFILE, -ENOMEM}},
	[FAULT_ACCEPT_MID] = {"accept_mid", {-EMFILE, -ENFILE, -ENOMEM}},
	[FAULT_CONNECT] = {"connect", {-ECONNREFUSED, -ETIMEDOUT, -EADDRNOTAVAIL}},
	[FAULT_SOCKET] = {"socket", {-EMFILE}},
	[FAULT_SHUTDOWN] = {"shutdown", {-ENOTCONN}},
	[FAULT_CLOSE] = {"close", {-EIO, -EINTR}},
	[FAULT_CANCEL_LATE] = {"cancel_late", {1}},
	[FAULT_SQ_FULL] = {"sq_full", {1}},
	[FAULT_SQE_BUSY] = {"sqe_busy", {-EBUSY}},
};

struct rewrite {
	uint64_t ud;   /* the multishot's user_data; 0: entry free */
	uint32_t seq;  /* our cancel's, in its user_data */
	uint8_t group; /* what the end is reported as */
	uint8_t idx;
};

struct ring_fault {
	uint64_t rng;
	unsigned index;
	uint32_t thresh[FAULT_GROUP_COUNT]; /* probability in 2^-32 */
	int forced[FAULT_GROUP_COUNT];
	uint64_t ops[FAULT_GROUP_COUNT];
	uint64_t injected[FAULT_GROUP_COUNT][FAULT_ERRS_MAX];
	bool nop_inject; /* the kernel takes IORING_NOP_INJECT_RESULT */
	/* the walk of one batch */
	unsigned walked; /* real CQEs passed, to advance the CQ by */
	struct io_uring_cqe late[LATE_MAX], now[LATE_MAX];
	unsigned nlate, nnow, inow;
	struct rewrite rw[REWRITE_MAX];
	unsigned nrw;
	uint32_t seq;
};

/* ---- the configuration, once a process ------------------------------------------------- */

static struct {
	pthread_once_t once;
	uint64_t seed;
	double rate[FAULT_GROUP_COUNT];
	bool active; /* a rate was set */
	unsigned rings;
} conf = {.once = PTHREAD_ONCE_INIT};

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int group_by_name(const char *s, size_t len)
{
	for (int g = 0; g < FAULT_GROUP_COUNT; g++)
		if (strlen(groups[g].name) == len && !strncmp(groups[g].name, s, len))
			return g;
	return -1;
}

static void read_env(void)
{
	const char *rate = getenv("RINGER_FAULT_RATE"), *seed = getenv("RINGER_FAULT_SEED");
	const char *kinds = getenv("RINGER_FAULT_KINDS"), *all = kinds && *kinds ? kinds : "all";
	double base = rate ? strtod(rate, NULL) : 0;
	struct timespec ts;

	if (base < 0 || base > 1)
		base = 0;
	if (seed && *seed) {
		conf.seed = strtoull(seed, NULL, 0);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		conf.seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20);
		conf.seed %= 1000000000ull; /* short enough to type back in */
	}
	for (int g = 0; g < FAULT_GROUP_COUNT; g++)
		conf.rate[g] = kinds && *kinds ? 0 : base;
	while (kinds && *kinds) {
		const char *end = strchr(kinds, ','), *eq;
		size_t len = end ? (size_t)(end - kinds) : strlen(kinds);
		int g;

		eq = memchr(kinds, '=', len);
		g = group_by_name(kinds, eq ? (size_t)(eq - kinds) : len);
		if (g < 0)
			fprintf(stderr, "ringer fault: RINGER_FAULT_KINDS: unknown kind '%.*s'\n",
				(int)len, kinds);
		else
			conf.rate[g] = eq ? strtod(eq + 1, NULL) : base;
		kinds = end ? end + 1 : kinds + len;
	}
	for (int g = 0; g < FAULT_GROUP_COUNT; g++)
		if (conf.rate[g] > 0)
			conf.active = true;
	if (conf.active) {
		fprintf(stderr,
			"ringer fault: injecting, seed %llu (RINGER_FAULT_SEED=%llu replays it), "
			"rate %g, kinds %s\n",
			(unsigned long long)conf.seed, (unsigned long long)conf.seed, base, all);
	}
}

/* IORING_NOP_INJECT_RESULT (kernel 6.10+): a NOP whose result is sqe->len. */
#define RING_NOP_INJECT_RESULT (1U << 0)

void fault_prep_inject(struct io_uring_sqe *sqe, int res, uint64_t ud)
{
	io_uring_prep_nop(sqe);
	sqe->rw_flags = RING_NOP_INJECT_RESULT;
	sqe->len = (unsigned)res;
	io_uring_sqe_set_data64(sqe, ud);
}

static bool probe_nop_inject(struct ring *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->uring);
	struct io_uring_cqe *cqe;
	bool ok = false;

	if (!sqe)
		return false;
	fault_prep_inject(sqe, -EIO, 7);
	if (io_uring_submit_and_wait(&r->uring, 1) < 1 || io_uring_wait_cqe(&r->uring, &cqe))
		return false;
	ok = cqe->user_data == 7 && cqe->res == -EIO;
	io_uring_cqe_seen(&r->uring, cqe);
	return ok;
}

void fault_ring_init(struct ring *r)
{
	struct ring_fault *f = calloc(1, sizeof(*f));
	uint64_t x;

	pthread_once(&conf.once, read_env);
	if (!f)
		return;
	f->index = __atomic_fetch_add(&conf.rings, 1, __ATOMIC_RELAXED);
	x = conf.seed ^ ((uint64_t)f->index << 32);
	f->rng = splitmix(&x);
	for (int g = 0; g < FAULT_GROUP_COUNT; g++)
		f->thresh[g] =
			conf.rate[g] >= 1 ? UINT32_MAX : (uint32_t)(conf.rate[g] * 4294967296.0);
	f->nop_inject = probe_nop_inject(r);
	if (!f->nop_inject && conf.active && f->index == 0)
		fprintf(stderr,
			"ringer fault: this kernel has no IORING_NOP_INJECT_RESULT (6.10+): "
			"no faults at submission, only in completions\n");
	r->fault = f;
}

void fault_ring_exit(struct ring *r)
{
	struct ring_fault *f = r->fault;
	uint64_t ops = 0, injected = 0;

	if (!f)
		return;
	for (int g = 0; g < FAULT_GROUP_COUNT; g++) {
		ops += f->ops[g];
		for (int i = 0; i < FAULT_ERRS_MAX; i++)
			injected += f->injected[g][i];
	}
	if (conf.active || injected) {
		char line[1024];
		int len = snprintf(line, sizeof(line),
				   "ringer fault: ring %u seed %llu ops %llu injected %llu",
				   f->index, (unsigned long long)conf.seed, (unsigned long long)ops,
				   (unsigned long long)injected);

		for (int g = 0; g < FAULT_GROUP_COUNT; g++)
			for (int i = 0; i < FAULT_ERRS_MAX && groups[g].err[i]; i++) {
				int e = groups[g].err[i];

				if (!f->injected[g][i] || len >= (int)sizeof(line))
					continue;
				len += snprintf(line + len, sizeof(line) - (size_t)len,
						" %s%s%s=%llu", groups[g].name, e < 0 ? "/" : "",
						e < 0 ? strerrorname_np(-e) : "",
						(unsigned long long)f->injected[g][i]);
			}
		fprintf(stderr, "%s\n", line);
	}
	free(f);
	r->fault = NULL;
}

/* ---- decisions ------------------------------------------------------------------------- */

static uint64_t next(struct ring_fault *f)
{
	return splitmix(&f->rng);
}

static int err_index(enum fault_group g, int err)
{
	for (int i = 0; i < FAULT_ERRS_MAX && groups[g].err[i]; i++)
		if (groups[g].err[i] == err)
			return i;
	return 0;
}

/* Whether this eligible operation of group g gets a fault, and which (its index), or -1. */
static int roll(struct ring_fault *f, enum fault_group g)
{
	int n = 0;

	f->ops[g]++;
	if (f->forced[g]) {
		int i = err_index(g, f->forced[g]);

		f->forced[g] = 0;
		return i;
	}
	if (!f->thresh[g] || (uint32_t)(next(f) >> 32) >= f->thresh[g])
		return -1;
	while (n < FAULT_ERRS_MAX && groups[g].err[n])
		n++;
	return (int)(next(f) % (uint64_t)n);
}

static bool submission_side(enum fault_group g)
{
	return g == FAULT_RECV || g == FAULT_SEND || g == FAULT_ACCEPT || g == FAULT_CONNECT ||
	       g == FAULT_SOCKET || g == FAULT_SQE_BUSY;
}

int fault_pick(struct ring *r, enum fault_group g)
{
	struct ring_fault *f = r->fault;
	int i;

	if (!f || (submission_side(g) && !f->nop_inject && g != FAULT_SQE_BUSY))
		return 0;
	i = roll(f, g);
	if (i < 0)
		return 0;
	f->injected[g][i]++;
	return groups[g].err[i];
}

void fault_force(struct ring *r, enum fault_group g, int err)
{
	if (r->fault)
		r->fault->forced[g] = err;
}

uint64_t fault_injected(const struct ring *r, enum fault_group g)
{
	uint64_t n = 0;

	for (int i = 0; r->fault && i < FAULT_ERRS_MAX; i++)
		n += r->fault->injected[g][i];
	return n;
}

const char *fault_group_name(enum fault_group g)
{
	return g < FAULT_GROUP_COUNT ? groups[g].name : "?";
}

/* ---- the completion side --------------------------------------------------------------- */

/*
 * A running multishot (a receive, an accept) is to end in an error: the
 * ring cancels it, and its -ECANCELED end is reported as err. The caller
 * sees one more completion of it, then its end, as when the kernel fails it.
 */
static void start_rewrite(struct ring_fault *f, struct ring *r, uint64_t ud, enum fault_group g,
			  int i)
{
	struct io_uring_sqe *sqe;
	unsigned k;

	for (k = 0; k < REWRITE_MAX; k++)
		if (f->rw[k].ud == ud)
			return; /* already on its way */
	for (k = 0; k < REWRITE_MAX && f->rw[k].ud; k++)
		;
	if (k == REWRITE_MAX)
		return;
	sqe = io_uring_get_sqe(&r->uring);
	if (!sqe)
		return;
	f->seq++;
	io_uring_prep_cancel64(sqe, ud, 0);
	io_uring_sqe_set_data64(sqe, ud_encode(FAULT_UD_OP, f->seq, 0));
	f->rw[k] = (struct rewrite){ud, f->seq & UD_GEN_MASK, (uint8_t)g, (uint8_t)i};
	f->nrw++;
}

static void drop_rewrite(struct ring_fault *f, unsigned k)
{
	f->rw[k].ud = 0;
	f->nrw--;
}

/* Our cancel came back: when it found nothing, the operation ended by itself. */
static void on_own_cancel(struct ring_fault *f, const struct io_uring_cqe *cqe)
{
	for (unsigned k = 0; k < REWRITE_MAX; k++)
		if (f->rw[k].ud && f->rw[k].seq == ud_gen(cqe->user_data)) {
			if (cqe->res < 0)
				drop_rewrite(f, k);
			return;
		}
}

/* The end of an operation a rewrite waits for: its -ECANCELED becomes the error. */
static void end_rewrite(struct ring_fault *f, struct io_uring_cqe *cqe)
{
	for (unsigned k = 0; k < REWRITE_MAX; k++) {
		struct rewrite *w = &f->rw[k];

		if (w->ud != cqe->user_data)
			continue;
		if (cqe->res == -ECANCELED && !(cqe->flags & IORING_CQE_F_BUFFER)) {
			cqe->res = groups[w->group].err[w->idx];
			f->injected[w->group][w->idx]++;
		}
		drop_rewrite(f, k);
		return;
	}
}

/* What happens to one real CQE: 1 the caller sees it, 0 it is hidden or held back. */
static int filter(struct ring_fault *f, struct ring *r, struct io_uring_cqe *cqe)
{
	unsigned op = ud_op(cqe->user_data);
	bool more = cqe->flags & IORING_CQE_F_MORE;
	int i;

	if (op == FAULT_UD_OP) {
		on_own_cancel(f, cqe);
		return 0;
	}
	if (!more && f->nrw)
		end_rewrite(f, cqe);
	switch (op) {
	case UD_OP_RECV:
		if (more && cqe->res > 0 && (i = roll(f, FAULT_RECV_MID)) >= 0)
			start_rewrite(f, r, cqe->user_data, FAULT_RECV_MID, i);
		break;
	case UD_OP_ACCEPT:
		if (more && cqe->res >= 0 && (i = roll(f, FAULT_ACCEPT_MID)) >= 0)
			start_rewrite(f, r, cqe->user_data, FAULT_ACCEPT_MID, i);
		break;
	case UD_OP_SHUTDOWN:
		if (cqe->res == 0 && (i = roll(f, FAULT_SHUTDOWN)) >= 0) {
			cqe->res = groups[FAULT_SHUTDOWN].err[i];
			f->injected[FAULT_SHUTDOWN][i]++;
		}
		break;
	case UD_OP_CLOSE:
		if (cqe->res == 0 && (i = roll(f, FAULT_CLOSE)) >= 0) {
			cqe->res = groups[FAULT_CLOSE].err[i];
			f->injected[FAULT_CLOSE][i]++;
		}
		break;
	default:
		break;
	}
	/*
	 * A cancel race: the cancelled operation's end comes after its
	 * cancel's completion (a batch later), as when the kernel posts them
	 * from different contexts.
	 */
	if (cqe->res == -ECANCELED && !more && !(cqe->flags & IORING_CQE_F_BUFFER) &&
	    f->nlate < LATE_MAX && (i = roll(f, FAULT_CANCEL_LATE)) >= 0) {
		f->late[f->nlate++] = *cqe;
		f->injected[FAULT_CANCEL_LATE][i]++;
		return 0;
	}
	return 1;
}

unsigned fault_cq_begin(struct ring *r)
{
	struct ring_fault *f = r->fault;

	if (f) {
		memcpy(f->now, f->late, f->nlate * sizeof(f->late[0]));
		f->nnow = f->nlate;
		f->nlate = 0;
		f->inow = 0;
		f->walked = 0;
	}
	return *r->uring.cq.khead;
}

struct io_uring_cqe *fault_cq_next(struct ring *r, unsigned *head)
{
	struct ring_fault *f = r->fault;
	struct io_uring_cq *cq = &r->uring.cq;

	if (f && f->inow < f->nnow)
		return &f->now[f->inow++];
	while (*head != io_uring_smp_load_acquire(cq->ktail)) {
		struct io_uring_cqe *cqe = &cq->cqes[*head & cq->ring_mask];

		(*head)++;
		if (!f)
			return cqe;
		f->walked++;
		if (filter(f, r, cqe))
			return cqe;
	}
	return NULL;
}

void fault_cq_advance(struct ring *r)
{
	if (r->fault) {
		io_uring_cq_advance(&r->uring, r->fault->walked);
		r->fault->walked = 0;
	}
}

bool fault_cq_held(const struct ring *r)
{
	return r->fault && r->fault->nlate;
}

#endif
