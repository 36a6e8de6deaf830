// SPDX-License-Identifier: MIT
/*
 * The shard: one thread, one ring, and the loop that drives a connection
 * engine. The loop is a short list of phases (libuv's habit):
 *
 *   submit + wait (the one syscall) -> reap every CQE -> hand it to the
 *   engine (or take the tick) -> engine_flush: publish returned buffers,
 *   wake connections that starved for them
 *
 * and a 100 ms tick (one multishot timeout) drives everything time-based:
 * the engine's accept back-off and timeouts, the drain deadline, and the
 * mode's once-a-second work. What a connection does lives in the engine's
 * files (engine_int.h lists them).
 */
#include "ringer/shard.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ringer/user_data.h"

#define TICK_MS 100

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void more_params(const struct shard *s, unsigned i, struct engine_listener_params *lp);

static void close_fds(int *fds, unsigned *n)
{
	for (unsigned j = 0; j < *n; j++)
		close(fds[j]);
	*n = 0;
}

/*
 * What a reload changed in the listeners (main filled in the new ones and
 * their sockets, or marked removed ones): added to the engine, or retired
 * there, their sockets closed once no accept is in flight on them.
 */
static void sync_listeners(struct shard *s)
{
	unsigned pub = __atomic_load_n(&s->n_more_pub, __ATOMIC_ACQUIRE);

	while (s->n_more < pub && !s->draining) {
		struct shard_listener *l = &s->more[s->n_more];
		struct engine_listener_params lp;
		char note[192];
		int i;

		more_params(s, s->n_more, &lp);
		i = engine_add_listener(s->engine, &lp, note, sizeof(note));
		if (i != (int)(1 + s->n_more)) {
			/* main checked what could fail: this is memory, and later ones stay out */
			fprintf(stderr,
				"ringer: shard %u: a listener the reload added failed: %s\n", s->id,
				note);
			close_fds(l->fds, &l->n_fds);
			__atomic_store_n(&s->n_more_pub, s->n_more, __ATOMIC_RELEASE);
			break;
		}
		for (unsigned j = 0; j < l->n_fds; j++)
			engine_listen_on(s->engine, (unsigned)i, l->fds[j]);
		s->n_more++;
	}
	if (__atomic_load_n(&s->timeouts_gen, __ATOMIC_ACQUIRE) != s->timeouts_seen) {
		/* main wrote the listeners' configurations before the bump */
		s->timeouts_seen = __atomic_load_n(&s->timeouts_gen, __ATOMIC_ACQUIRE);
		engine_listener_timeouts(s->engine, 0, s->cfg->idle_ms, s->cfg->send_ms);
		for (unsigned i = 0; i < s->n_more; i++)
			engine_listener_timeouts(s->engine, 1 + i, s->more[i].cfg->idle_ms,
						 s->more[i].cfg->send_ms);
	}
	if (__atomic_load_n(&s->retire_first, __ATOMIC_ACQUIRE) && !s->retired_first) {
		s->retired_first = true;
		engine_retire_listener(s->engine, 0);
	}
	if (s->retired_first && s->listen_fd >= 0 && engine_listener_quiet(s->engine, 0)) {
		close(s->listen_fd);
		s->listen_fd = -1;
		close_fds(s->more_fds, &s->n_more_fds);
	}
	for (unsigned i = 0; i < s->n_more; i++) {
		struct shard_listener *l = &s->more[i];

		if (__atomic_load_n(&l->retire, __ATOMIC_ACQUIRE) && !l->retired) {
			l->retired = true;
			engine_retire_listener(s->engine, 1 + i);
		}
		if (l->retired && l->n_fds && engine_listener_quiet(s->engine, 1 + i))
			close_fds(l->fds, &l->n_fds);
	}
}

/* The tick's work; ended: the kernel ended the multishot timeout, so it is armed again. */
static void on_tick(struct shard *s, bool ended)
{
	static struct __kernel_timespec tick_ts = {.tv_nsec = TICK_MS * 1000000L};

	if (ended)
		ring_tick(&s->ring, &tick_ts, true, ud_encode(UD_OP_TICK, 0, UD_SLOT_MAX));
	if (s->draining && s->now_ms >= s->drain_deadline_ms)
		engine_abort_all(s->engine);
	if (__atomic_load_n(&s->tls_next, __ATOMIC_RELAXED)) {
		/* SIGHUP re-read the certificates: main built this shard's contexts. */
		engine_tls_swap(s->engine,
				__atomic_exchange_n(&s->tls_next, NULL, __ATOMIC_ACQ_REL));
	}
	for (unsigned i = 0; i < s->n_more; i++) {
		struct shard_listener *l = &s->more[i];

		if (__atomic_load_n(&l->tls_next, __ATOMIC_RELAXED))
			engine_tls_swap_on(
				s->engine, 1 + i,
				__atomic_exchange_n(&l->tls_next, NULL, __ATOMIC_ACQ_REL));
	}
	sync_listeners(s);
	engine_tick(s->engine, s->now_ms);
	if (s->now_ms - s->last_second_ms >= 1000) {
		s->last_second_ms = s->now_ms;
		engine_second(s->engine, (int64_t)time(NULL));
	}
}

/*
 * A stop request becomes a drain between two batches, never inside one: an
 * accept completed in the same batch as the tick would otherwise be closed
 * as "arrived while draining". Between batches every accept the kernel made
 * has been served, and the cancel engine_drain() queues goes out with the
 * next submit, before the kernel runs the accept's deferred work again
 * (DEFER_TASKRUN), so a connection this shard does not accept stays in the
 * listener's queue. That is what a handover needs: the queue is shared with
 * the ringer taking over, which accepts it.
 */
static void check_stop(struct shard *s)
{
	if (s->draining || !__atomic_load_n(&s->stop_requested, __ATOMIC_ACQUIRE))
		return;
	s->draining = true;
	s->drain_deadline_ms = s->now_ms + s->cfg->drain_ms;
	engine_drain(s->engine);
}

static void run_loop(struct shard *s)
{
	static struct __kernel_timespec tick_ts = {.tv_nsec = TICK_MS * 1000000L};
	unsigned overflow_seen = ring_cq_overflow(&s->ring);

	s->now_ms = mono_ms();
	s->last_second_ms = s->now_ms;
	engine_set_now(s->engine, s->now_ms);
	ring_tick(&s->ring, &tick_ts, true, ud_encode(UD_OP_TICK, 0, UD_SLOT_MAX));
	engine_listen(s->engine, s->listen_fd);
	for (unsigned j = 0; j < s->n_more_fds; j++)
		engine_listen_on(s->engine, 0, s->more_fds[j]);
	for (unsigned i = 0; i < s->n_more; i++)
		for (unsigned j = 0; j < s->more[i].n_fds; j++)
			engine_listen_on(s->engine, 1 + i, s->more[i].fds[j]);

	while (!(s->draining && engine_done(s->engine))) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0, ov;
		bool ticked = false, tick_ended = false;
		int ret;

		/*
		 * Work left that no completion will wake us for (TLS handshakes over
		 * the iteration's budget): enter with a zero timeout, which still
		 * runs the ring's deferred task work (DEFER_TASKRUN), instead of
		 * waiting.
		 */
		if (engine_pending(s->engine))
			ret = ring_submit_and_wait_timeout(&s->ring, 1, 0);
		else
			ret = ring_submit_and_wait(&s->ring, 1);
		if (ret < 0 && ret != -EINTR && ret != -ETIME && ret != -EAGAIN && ret != -EBUSY)
			STAT_INC(&s->stats, errors);
		s->now_ms = mono_ms();
		engine_set_now(s->engine, s->now_ms);
		ring_for_each_cqe(&s->ring, head, cqe)
		{
			if (ud_op(cqe->user_data) == UD_OP_TICK) {
				ticked = true;
				tick_ended |= !(cqe->flags & IORING_CQE_F_MORE);
			} else {
				engine_complete(s->engine, cqe);
			}
			n++;
		}
		ring_cq_advance(&s->ring, n);
		/*
		 * The tick's work comes after the batch's completions, so a timer
		 * that finds a connection quiet (idle, drain) has seen what arrived
		 * in the same batch.
		 */
		if (ticked)
			on_tick(s, tick_ended);
		check_stop(s);
		engine_flush(s->engine);
		STAT_INC(&s->stats, loops);
		STAT_INC(&s->stats, batch[STATS_BATCH_BUCKET(n)]);
		STAT_ADD(&s->stats, cqes, n);
		ov = ring_cq_overflow(&s->ring);
		if (ov != overflow_seen) {
			STAT_ADD(&s->stats, cq_overflow, ov - overflow_seen);
			overflow_seen = ov;
		}
	}
}

/* ---- setup ------------------------------------------------------------------------------ */

/*
 * Whether a listener's mode wants each accepted peer's address (proxy: hash,
 * PROXY header; http-proxy: X-Forwarded-For or Forwarded, and its access log).
 */
static bool wants_peer(const struct config *cfg)
{
	return cfg->mode == MODE_HTTP_PROXY ||
	       (mode_has_upstreams(cfg->mode) &&
		(cfg->balance == BALANCE_SOURCE || cfg->send_proxy));
}

static unsigned per_session(const struct mode_ops *m)
{
	return m->conns_per_session ? m->conns_per_session : 1;
}

/* Listener 1 + i's engine parameters, from its configuration. */
static void more_params(const struct shard *s, unsigned i, struct engine_listener_params *lp)
{
	struct shard_listener *l = &s->more[i];
	const struct config *c = l->cfg;

	*lp = (struct engine_listener_params){
		.mode = l->mode,
		.mode_arg = c,
		.stats = &l->stats,
		.max_clients = c->max_conns,
		.peer_addrs = wants_peer(c),
		.accept_proxy = c->accept_proxy,
		.tls = l->tls,
		.idle_ms = c->idle_ms,
		.send_ms = c->send_ms,
	};
}

static int shard_setup(struct shard *s)
{
	struct engine_listener_params more[ENGINE_MAX_LISTENERS];
	unsigned max_conns = s->cfg->max_conns * per_session(s->mode), clients = s->cfg->max_conns;
	bool tls_client = s->cfg->tls_upstreams;

	struct engine_params p = {
		.mode = s->mode,
		.mode_arg = s->mode_arg ? s->mode_arg : s->cfg,
		.conn_info = s->conn_info,
		.accept_proxy = s->cfg->accept_proxy,
		.ka_idle = s->cfg->ka_idle_s,
		.ka_intvl = s->cfg->ka_intvl_s,
		.ka_cnt = s->cfg->ka_cnt,
		.user_timeout_ms = s->cfg->user_timeout_ms,
		.stats = &s->stats,
		.max_conns = max_conns,
		.max_clients = clients,
		.peer_addrs = s->peer_addrs || wants_peer(s->cfg),
		.file_slots = s->file_slots,
		.buf_count = s->cfg->buf_count,
		.buf_size = s->cfg->buf_size,
		.bgid = 0,
		.idle_ms = s->cfg->idle_ms,
		.send_ms = s->cfg->send_ms,
		.recv_bundle = s->cfg->recv_bundle,
		.tls = s->tls,
		.tls_client = s->cfg->tls_upstreams,
	};
	char note[128], enote[128];
	int ret;

	if (s->n_more >= ENGINE_MAX_LISTENERS) {
		snprintf(s->start_note, sizeof(s->start_note), "%u listeners (at most %u)",
			 s->n_more + 1, ENGINE_MAX_LISTENERS);
		return -EINVAL;
	}
	for (unsigned i = 0; i < s->n_more; i++) {
		const struct config *c = s->more[i].cfg;

		more_params(s, i, &more[i]);
		max_conns += c->max_conns * per_session(s->more[i].mode);
		clients += c->max_conns;
		tls_client |= c->tls_upstreams;
	}
	if (s->n_more) {
		p.more = more;
		p.n_more = s->n_more;
		p.max_conns = max_conns;
		p.max_clients = clients;
		p.max_clients0 = s->cfg->max_conns;
		p.tls_client = tls_client;
	}
	if (s->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(s->cpu, &set);
		/* A refusal (e.g. a cpuset that changed) costs locality, not correctness. */
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	/* A failure names what failed and the flags that size it. */
	ret = ring_init_restricted(&s->ring, s->cfg->ring_entries, 4, !s->cfg->no_ring_restrict,
				   note, sizeof(note));
	if (ret) {
		snprintf(s->start_note, sizeof(s->start_note), "the ring (--ring-entries %u)",
			 s->cfg->ring_entries);
		return ret;
	}
	enote[0] = 0;
	ret = engine_create(&s->engine, &s->ring, &p, enote, sizeof(enote));
	if (ret) {
		ring_exit(&s->ring);
		snprintf(s->start_note, sizeof(s->start_note), "%s%s", enote,
			 !strncmp(enote, "receive", 7)	     ? ", --buf-count x --buf-size"
			 : !strncmp(enote, "connection", 10) ? ", --max-conns"
							     : "");
		return ret;
	}
	snprintf(s->start_note, sizeof(s->start_note), "shard %u cpu %d: %s%s", s->id, s->cpu, note,
		 enote);
	return 0;
}

static void shard_teardown(struct shard *s)
{
	engine_destroy(s->engine);
	s->engine = NULL;
	ring_exit(&s->ring);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	s->listen_fd = -1;
	close_fds(s->more_fds, &s->n_more_fds);
	/* Published but never added (a reload during the drain): their sockets too. */
	for (unsigned i = 0; i < __atomic_load_n(&s->n_more_pub, __ATOMIC_ACQUIRE); i++)
		close_fds(s->more[i].fds, &s->more[i].n_fds);
}

struct start_sync {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
};

struct shard_arg {
	struct shard *s;
	struct start_sync *sync;
};

static void *shard_main(void *arg)
{
	struct shard_arg *a = arg;
	struct shard *s = a->s;
	struct start_sync *sync = a->sync;

	s->start_status = shard_setup(s);
	pthread_mutex_lock(&sync->lock);
	sync->done = true;
	pthread_cond_signal(&sync->cond);
	pthread_mutex_unlock(&sync->lock);
	if (s->start_status)
		return NULL;
	run_loop(s);
	shard_teardown(s);
	return NULL;
}

int shard_start(struct shard *s)
{
	struct start_sync sync = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
	struct shard_arg arg = {s, &sync};
	int ret;

	ret = pthread_create(&s->thread, NULL, shard_main, &arg);
	if (ret)
		return -ret;
	pthread_mutex_lock(&sync.lock);
	while (!sync.done)
		pthread_cond_wait(&sync.cond, &sync.lock);
	pthread_mutex_unlock(&sync.lock);
	if (s->start_status) {
		pthread_join(s->thread, NULL);
		return s->start_status;
	}
	return 0;
}

void shard_request_stop(struct shard *s)
{
	__atomic_store_n(&s->stop_requested, 1, __ATOMIC_RELEASE);
}

void shard_stats_sum(const struct shard *s, struct stats *out)
{
	stats_sum(out, &s->stats);
	for (unsigned i = 0; i < s->n_more; i++)
		stats_sum(out, &s->more[i].stats);
}

void shard_join(struct shard *s)
{
	pthread_join(s->thread, NULL);
}
