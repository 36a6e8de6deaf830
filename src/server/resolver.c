// SPDX-License-Identifier: MIT
/*
 * The resolver thread (resolver.h says what it promises). One lock guards
 * the jobs; lookups run without it, so main never waits for a lookup.
 */
#include "resolver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "ringer/engine.h"

#define KICK_MIN_MS 1000 /* lookups a failed connect asks for: at most this often */

struct job {
	struct config *cfg; /* the listener's running configuration; NULL: a free job */
	unsigned listener;
	struct config_upstream conf[CONFIG_MAX_UPSTREAMS]; /* as configured */
	unsigned n_conf;
	struct config_upstream last[CONFIG_MAX_UPSTREAMS]; /* expanded, as published */
	unsigned n_last;
	struct config_upstream got[CONFIG_MAX_UPSTREAMS]; /* a lookup's, for main to publish */
	unsigned n_got;
	bool ready;
	bool failed; /* the last lookup failed: said once, until one works */
};

static struct job jobs[ENGINE_MAX_LISTENERS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static pthread_t thread;
static bool running, stopping;
static int efd = -1;
static int kick; /* a shard failed to connect to a resolve upstream (atomic) */
static unsigned interval_ms = 10000;

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool any_resolve(const struct config_upstream *u, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (u[i].resolve)
			return true;
	return false;
}

static int addr_cmp(const void *a, const void *b)
{
	const struct config_upstream *x = a, *y = b;

	if (x->addr.len != y->addr.len)
		return x->addr.len < y->addr.len ? -1 : 1;
	return memcmp(&x->addr.ss, &y->addr.ss, x->addr.len);
}

/* u (resolve) as the addresses its name gives now, appended at out[*m]. */
static int expand_one(const struct config_upstream *u, struct config_upstream *out, unsigned *m,
		      char *err, size_t err_len)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
	const char *colon = strrchr(u->name, ':');
	char host[sizeof(u->name)];
	unsigned first = *m;
	int ret;

	if (!colon || u->name[0] == '[') {
		out[(*m)++] = *u; /* an address, not a name: nothing to look up */
		return 0;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - u->name), u->name);
	ret = getaddrinfo(host, colon + 1, &hints, &res);
	if (ret) {
		snprintf(err, err_len, "cannot resolve '%s': %s", host, gai_strerror(ret));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		struct config_upstream x = *u;
		char a[INET6_ADDRSTRLEN] = "?";
		bool dup = false;

		memset(&x.addr, 0, sizeof(x.addr));
		memcpy(&x.addr.ss, ai->ai_addr, ai->ai_addrlen);
		x.addr.len = ai->ai_addrlen;
		for (unsigned i = first; i < *m && !dup; i++)
			dup = !addr_cmp(&out[i], &x);
		if (dup)
			continue;
		if (*m >= CONFIG_MAX_UPSTREAMS) {
			freeaddrinfo(res);
			snprintf(err, err_len, "'%s' gives more servers than %d", host,
				 CONFIG_MAX_UPSTREAMS);
			return -1;
		}
		if (ai->ai_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, a,
				  sizeof(a));
		else if (ai->ai_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, a,
				  sizeof(a));
		snprintf(x.name, sizeof(x.name), "%.*s=%s", (int)(sizeof(x.name) - 48), u->name, a);
		out[(*m)++] = x;
	}
	freeaddrinfo(res);
	/* The order the resolver gave is not the servers' identity: by address. */
	qsort(out + first, *m - first, sizeof(*out), addr_cmp);
	return 0;
}

int resolver_expand(const struct config_upstream *in, unsigned n, struct config_upstream *out,
		    char *err, size_t err_len)
{
	unsigned m = 0;

	for (unsigned i = 0; i < n; i++) {
		if (!in[i].resolve) {
			if (m >= CONFIG_MAX_UPSTREAMS) {
				snprintf(err, err_len, "more servers than %d",
					 CONFIG_MAX_UPSTREAMS);
				return -1;
			}
			out[m++] = in[i];
			continue;
		}
		if (expand_one(&in[i], out, &m, err, err_len))
			return -1;
	}
	return (int)m;
}

static bool same(const struct config_upstream *a, unsigned na, const struct config_upstream *b,
		 unsigned nb)
{
	if (na != nb)
		return false;
	for (unsigned i = 0; i < na; i++)
		if (strcmp(a[i].name, b[i].name) || addr_cmp(&a[i], &b[i]))
			return false;
	return true;
}

static struct job *job_of(const struct config *cfg)
{
	for (unsigned i = 0; i < ENGINE_MAX_LISTENERS; i++)
		if (jobs[i].cfg == cfg)
			return &jobs[i];
	return NULL;
}

int resolver_add(struct config *cfg, unsigned listener)
{
	static struct config_upstream out[CONFIG_MAX_UPSTREAMS]; /* main's thread */
	char err[256];
	struct job *j;
	int n;

	if (!any_resolve(cfg->upstreams, cfg->n_upstreams))
		return 0;
	n = resolver_expand(cfg->upstreams, cfg->n_upstreams, out, err, sizeof(err));
	if (n < 0) {
		fprintf(stderr, "ringer: resolve upstreams: %s\n", err);
		return -1;
	}
	pthread_mutex_lock(&lock);
	j = job_of(NULL);
	if (j) {
		j->cfg = cfg;
		j->listener = listener;
		memcpy(j->conf, cfg->upstreams, cfg->n_upstreams * sizeof(*j->conf));
		j->n_conf = cfg->n_upstreams;
		memcpy(j->last, out, (unsigned)n * sizeof(*out));
		j->n_last = (unsigned)n;
		j->ready = j->failed = false;
		if (cfg->resolve_ms < interval_ms)
			interval_ms = cfg->resolve_ms;
	}
	pthread_mutex_unlock(&lock);
	memcpy(cfg->upstreams, out, (unsigned)n * sizeof(*out));
	cfg->n_upstreams = (unsigned)n;
	cfg->resolve_kick = &kick;
	return 0;
}

void resolver_update(struct config *cfg, unsigned listener, const struct config_upstream *conf,
		     unsigned n_conf, const struct config_upstream *expanded, unsigned n_expanded)
{
	struct job *j;

	pthread_mutex_lock(&lock);
	j = job_of(cfg);
	if (!any_resolve(conf, n_conf)) {
		if (j)
			j->cfg = NULL;
		pthread_mutex_unlock(&lock);
		return;
	}
	if (!j)
		j = job_of(NULL);
	if (j) {
		j->cfg = cfg;
		j->listener = listener;
		memcpy(j->conf, conf, n_conf * sizeof(*conf));
		j->n_conf = n_conf;
		memcpy(j->last, expanded, n_expanded * sizeof(*expanded));
		j->n_last = n_expanded;
		j->ready = false;
		if (cfg->resolve_ms < interval_ms)
			interval_ms = cfg->resolve_ms;
	}
	cfg->resolve_kick = &kick;
	pthread_mutex_unlock(&lock);
	if (j && !running)
		resolver_start(); /* the first resolve upstream came with a reload */
}

void resolver_forget(const struct config *cfg)
{
	struct job *j;

	pthread_mutex_lock(&lock);
	j = job_of(cfg);
	if (j)
		j->cfg = NULL;
	pthread_mutex_unlock(&lock);
}

/* One round: every job's names looked up (without the lock), changes handed to main. */
static void lookup_all(void)
{
	static struct config_upstream conf[CONFIG_MAX_UPSTREAMS], out[CONFIG_MAX_UPSTREAMS];
	bool told = false;

	for (unsigned i = 0; i < ENGINE_MAX_LISTENERS; i++) {
		struct job *j = &jobs[i];
		struct config *cfg;
		unsigned n_conf;
		char err[256];
		int n;

		pthread_mutex_lock(&lock);
		cfg = j->cfg;
		n_conf = j->n_conf;
		if (cfg)
			memcpy(conf, j->conf, n_conf * sizeof(*conf));
		pthread_mutex_unlock(&lock);
		if (!cfg)
			continue;
		n = resolver_expand(conf, n_conf, out, err, sizeof(err));
		pthread_mutex_lock(&lock);
		if (j->cfg != cfg || j->n_conf != n_conf ||
		    memcmp(j->conf, conf, n_conf * sizeof(*conf))) {
			pthread_mutex_unlock(&lock); /* a reload changed it meanwhile */
			continue;
		}
		if (n < 0) {
			if (!j->failed)
				fprintf(stderr,
					"ringer: resolve: %s; the servers stay as they are\n", err);
			j->failed = true;
		} else if (!same(out, (unsigned)n, j->last, j->n_last)) {
			memcpy(j->got, out, (unsigned)n * sizeof(*out));
			j->n_got = (unsigned)n;
			j->ready = true;
			j->failed = false;
			told = true;
		} else {
			j->failed = false;
		}
		pthread_mutex_unlock(&lock);
	}
	if (told) {
		uint64_t one = 1;

		if (write(efd, &one, sizeof(one)) < 0)
			perror("ringer: resolver eventfd");
	}
}

static void *resolver_main(void *arg)
{
	uint64_t next = 0, last = 0;

	(void)arg;
	pthread_mutex_lock(&lock);
	while (!stopping) {
		uint64_t now = mono_ms();
		bool kicked = __atomic_load_n(&kick, __ATOMIC_RELAXED) && now - last >= KICK_MIN_MS;
		struct timespec ts;

		if (now >= next || kicked) {
			__atomic_store_n(&kick, 0, __ATOMIC_RELAXED);
			pthread_mutex_unlock(&lock);
			lookup_all();
			pthread_mutex_lock(&lock);
			last = mono_ms();
			next = last + interval_ms;
			continue;
		}
		/* Kicks are looked at every 100 ms: a shard never waits on this lock. */
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&cond, &lock, &ts);
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

int resolver_start(void)
{
	bool any = false;
	int ret;

	for (unsigned i = 0; i < ENGINE_MAX_LISTENERS; i++)
		any |= jobs[i].cfg != NULL;
	if (!any || running)
		return 0;
	if (efd < 0)
		efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0)
		return -errno;
	stopping = false;
	ret = pthread_create(&thread, NULL, resolver_main, NULL);
	if (ret)
		return -ret;
	running = true;
	return 0;
}

int resolver_fd(void)
{
	return running ? efd : -1;
}

void resolver_collect(void (*publish)(void *arg, struct config *cfg, unsigned listener,
				      const struct config_upstream *up, unsigned n),
		      void *arg)
{
	static struct config_upstream up[CONFIG_MAX_UPSTREAMS];
	uint64_t v;

	if (efd >= 0 && read(efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		perror("ringer: resolver eventfd");
	for (unsigned i = 0; i < ENGINE_MAX_LISTENERS; i++) {
		struct job *j = &jobs[i];
		struct config *cfg = NULL;
		unsigned n = 0, listener = 0;

		pthread_mutex_lock(&lock);
		if (j->cfg && j->ready) {
			cfg = j->cfg;
			listener = j->listener;
			n = j->n_got;
			memcpy(up, j->got, n * sizeof(*up));
			memcpy(j->last, j->got, n * sizeof(*up));
			j->n_last = n;
			j->ready = false;
		}
		pthread_mutex_unlock(&lock);
		if (cfg)
			publish(arg, cfg, listener, up, n);
	}
}

void resolver_stop(void)
{
	if (!running)
		return;
	pthread_mutex_lock(&lock);
	stopping = true;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
	pthread_join(thread, NULL);
	running = false;
}
