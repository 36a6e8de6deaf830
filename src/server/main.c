// SPDX-License-Identifier: MIT
/*
 * ringer: parse the flags, open one SO_REUSEPORT listener per shard (or, with
 * --handover, take an older ringer's over: handover.c), start the shards (and
 * the admin shard, with --admin), then wait for signals: SIGUSR2 prints stats,
 * SIGUSR1 reopens the session log, SIGHUP reloads, SIGINT/SIGTERM drain and
 * exit; with --stats-interval a line of figures every few seconds; with
 * --handover a newer ringer taking over drains too. notify.c tells systemd.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "handover.h"
#include "conffile.h"
#include "conn_limits.h"
#include "listeners.h"
#include "resolver.h"
#include "notify.h"
#include "privs.h"
#include "ringer/config.h"
#include "ringer/engine.h"
#include "ringer/shard.h"
#include "ringer/sock.h"
#include "ringer/tls.h"

#ifndef RINGER_VERSION
#define RINGER_VERSION "0.1.0"
#endif

#define LISTEN_BACKLOG 4096

static const struct mode_ops *mode_ops(enum ringer_mode m)
{
	return listeners_mode(m);
}

/* -c FILE: every listener (listeners.c serves those beyond the first); NULL: flags only. */
static struct conf_set *conf_in_use;

/* The CPUs this process may run on, in order; shards are pinned round robin over them. */
static int allowed_cpus(int *cpus, int max)
{
	cpu_set_t set;
	int n = 0;

	if (sched_getaffinity(0, sizeof(set), &set))
		return 0;
	for (int i = 0; i < CPU_SETSIZE && n < max; i++)
		if (CPU_ISSET(i, &set))
			cpus[n++] = i;
	return n;
}

/*
 * As many descriptors as the hard limit allows: the fixed-file tables need
 * them. Returns the soft limit now (capped at the kernel's table size) and
 * in *hard the hard one.
 */
static unsigned raise_nofile(uint64_t *hard)
{
	struct rlimit rl;

	*hard = 1024;
	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 1024;
	*hard = rl.rlim_max;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur > ENGINE_MAX_FILE_SLOTS ? ENGINE_MAX_FILE_SLOTS : (unsigned)rl.rlim_cur;
}

/* Names what caps --max-conns (conn_limits.c): on stderr, before the shards start. */
static void report_limits(const struct config *cfg, unsigned nofile, uint64_t hard,
			  unsigned file_slots, bool conn_info)
{
	const struct mode_ops *m = mode_ops(cfg->mode);
	struct limits_in in = {
		.asked = cfg->max_conns,
		.shards = cfg->shards,
		.per_session = m && m->conns_per_session ? m->conns_per_session : 1,
		.nofile = nofile,
		.nofile_hard = hard,
		.file_slots = file_slots,
		.ringer_bytes = engine_conn_bytes(conn_info, cfg->accept_proxy),
	};
	struct limits_out out;

	in.mem_avail = limits_read_memory(&in.mem_from);
	limits_compute(&in, &out);
	limits_print(stderr, &in, &out, !cfg->quiet);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * --handover PATH, before any listener is made: when an older ringer answers
 * at PATH, receive its listeners into o and keep the conversation open in
 * *fd. Returns 0 (taken, or nobody there: *fd -1), or -1 after saying why
 * not; the older ringer then serves on, told why when it could be.
 */
static int take_over(const struct config *cfg, struct handover_offer *o, int *fd)
{
	const char *path = cfg->handover_path;
	char err[320];
	int ret;

	o->n = 0;
	o->fds = NULL;
	o->admin_fd = -1;
	ret = handover_connect(path, fd);
	if (ret == -ENOENT || ret == -ECONNREFUSED)
		return 0; /* nobody: a normal start, port probe included */
	if (ret) {
		fprintf(stderr, "ringer: --handover %s: %s%s\n", path, strerror(-ret),
			ret == -EPROTOTYPE ? " (not a ringer's handover socket)" : "");
		return -1;
	}
	ret = handover_receive(*fd, o, err, sizeof(err));
	if (!ret)
		ret = handover_check(o, cfg, err, sizeof(err));
	if (!ret)
		return 0;
	fprintf(stderr,
		"ringer: --handover %s: cannot take over from the running ringer (pid %d): %s\n",
		path, (int)o->pid, err);
	handover_refuse(*fd, err);
	close(*fd);
	*fd = -1;
	handover_offer_close(o);
	return -1;
}

static void sum_stats(struct shard *shards, unsigned n, struct stats *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < n; i++)
		shard_stats_sum(&shards[i], out); /* every listener's */
}

static void print_stats(const struct config *cfg, const struct stats *st,
			const struct shard *shards)
{
	const char *names[CONFIG_MAX_UPSTREAMS];

	stats_print(stdout, st, cfg->shards);
	/* With a file: each listener's counters, and each proxy listener's upstreams apart. */
	if (listeners_print_stats(stdout, shards, cfg->shards))
		return;
	if (!mode_has_upstreams(cfg->mode) || !cfg->set)
		return;
	for (unsigned i = 0; i < cfg->set->n; i++)
		names[i] = cfg->set->up[i].name;
	stats_print_upstreams(stdout, st, names, cfg->set->n);
}

/*
 * SIGHUP with TLS: the certificates and keys (and the client CA) are read
 * again and checked here, off the shards' loops; each shard gets contexts
 * of its own and swaps them in at its next tick. New handshakes use them,
 * running connections keep theirs; the ticket keys stay, so sessions
 * resume across the reload. A bad file is refused, naming it, and the
 * certificates in use stay.
 */
static void reload_tls(struct config *cfg, struct shard *shards)
{
	struct tls_ctx **next = calloc(cfg->shards, sizeof(*next));
	char err[512], warn[256];
	unsigned i;

	if (!next) {
		fprintf(stderr, "ringer: TLS reload refused: out of memory\n");
		return;
	}
	for (i = 0; i < cfg->shards; i++) {
		if (tls_ctx_new(&next[i], &cfg->tls, err, sizeof(err), warn, sizeof(warn))) {
			fprintf(stderr,
				"ringer: TLS reload refused, the certificates in use stay: %s\n",
				err);
			while (i--)
				tls_ctx_free(next[i]);
			free(next);
			return;
		}
	}
	if (warn[0])
		fprintf(stderr, "ringer: warning: %s\n", warn);
	for (i = 0; i < cfg->shards; i++)
		tls_ctx_free(__atomic_exchange_n(&shards[i].tls_next, next[i], __ATOMIC_ACQ_REL));
	free(next);
	fprintf(stderr, "ringer: reloaded %u certificate%s\n", cfg->tls.n_certs,
		cfg->tls.n_certs == 1 ? "" : "s");
}

/*
 * SIGHUP with --upstreams-file: read the file again and publish the new set
 * (the shards pick it up at their next accept); a file that does not parse,
 * or would need more slots than there are, is refused and the set stays.
 * Sets are never freed: a shard may be reading the one before.
 */
static void reload_upstreams(struct config *cfg, struct shard *shards)
{
	static struct config_upstream next[CONFIG_MAX_UPSTREAMS], up[CONFIG_MAX_UPSTREAMS];
	struct upstream_set *set;
	const char *why;
	char err[256];
	int n, m;

	if (!cfg->upstreams_path) {
		fprintf(stderr, "ringer: SIGHUP: nothing to reload (no --upstreams-file)\n");
		return;
	}
	n = config_read_upstreams(cfg->upstreams_path, next, CONFIG_MAX_UPSTREAMS, err,
				  sizeof(err));
	if (n > 0 && config_check_groups(cfg, next, (unsigned)n, err, sizeof(err)))
		n = -EINVAL;
	if (n < 0) {
		fprintf(stderr, "ringer: reload refused, the upstreams stay as they were: %s\n",
			err);
		return;
	}
	for (int i = 0; i < n; i++) {
		if (next[i].tls && !cfg->tls_upstreams) {
			fprintf(stderr,
				"ringer: reload refused, the upstreams stay as they were: %s: tls "
				"upstreams need a restart when none was there at startup\n",
				next[i].name);
			return;
		}
	}
	/* resolve upstreams: what their names give now (resolver.c looks again later) */
	m = resolver_expand(next, (unsigned)n, up, err, sizeof(err));
	if (m < 0) {
		fprintf(stderr, "ringer: reload refused, the upstreams stay as they were: %s\n",
			err);
		return;
	}
	set = listeners_next_set(cfg, 0, up, (unsigned)m, shards, cfg->shards, &why);
	if (!set) {
		fprintf(stderr, "ringer: reload refused, the upstreams stay as they were: %s\n",
			why);
		return;
	}
	__atomic_store_n(&cfg->set, set, __ATOMIC_RELEASE);
	resolver_update(cfg, 0, next, (unsigned)n, up, (unsigned)m);
	fprintf(stderr, "ringer: reloaded %s: %d upstream%s\n", cfg->upstreams_path, n,
		n == 1 ? "" : "s");
}

/*
 * --stats-interval: one line every S seconds on stderr, like vmstat, with a
 * header every 20 lines. Rates are over the interval; states are now.
 */
static void stats_line(const struct config *cfg, struct shard *shards, struct stats *prev,
		       unsigned *lines, double secs)
{
	static struct stats cur;
	int64_t conns = 0;

	sum_stats(shards, cfg->shards, &cur);
	for (int i = 0; i < TCP_STATE_COUNT; i++)
		conns += cur.by_state[i];
	if (*lines % 20 == 0)
		fprintf(stderr, "%8s %8s %8s %9s %9s %10s %10s %6s %7s %7s\n", "conns", "estab",
			"accept/s", cfg->mode == MODE_HTTP ? "req/s" : "recv/s", "close/s",
			"in MB/s", "out MB/s", "cqe/lp", "enobufs", "errors");
	(*lines)++;
	fprintf(stderr,
		"%8" PRId64 " %8" PRId64 " %8.0f %9.0f %9.0f %10.2f %10.2f %6.2f %7" PRIu64
		" %7" PRIu64 "\n",
		conns, cur.by_state[TCPS_ESTABLISHED], (double)(cur.accepts - prev->accepts) / secs,
		(double)(cfg->mode == MODE_HTTP ? cur.requests - prev->requests
						: cur.recv_cqes - prev->recv_cqes) /
			secs,
		(double)(cur.closed - prev->closed) / secs,
		(double)(cur.bytes_in - prev->bytes_in) / secs / 1e6,
		(double)(cur.bytes_out - prev->bytes_out) / secs / 1e6,
		cur.loops > prev->loops
			? (double)(cur.cqes - prev->cqes) / (double)(cur.loops - prev->loops)
			: 0.0,
		cur.enobufs - prev->enobufs, cur.errors - prev->errors);
	*prev = cur;
}

/*
 * --handover, once the shards serve: listen on PATH for a newer ringer (the
 * listeners on offer: every shard's, then the admin's) and, when this one
 * took over from an older ringer (ho_fd open), tell it so, so it drains.
 * Returns 0, or -1 after a message: the older ringer, if any, serves on.
 */
static int handover_ready(struct handover_server *ho, const struct config *cfg,
			  const struct shard *shards, const struct shard *admin,
			  const struct handover_offer *o, int ho_fd)
{
	char err[320];
	int *fds = malloc(cfg->shards * sizeof(*fds));

	if (!fds) {
		fprintf(stderr, "ringer: out of memory\n");
		return -1;
	}
	for (unsigned i = 0; i < cfg->shards; i++)
		fds[i] = shards[i].listen_fd;
	ho->fds = fds;
	ho->n = cfg->shards;
	ho->mode = cfg->mode;
	ho->listen = cfg->listen;
	ho->admin_fd = admin->listen_fd;
	if (ho->admin_fd >= 0) {
		ho->admin.len = sizeof(ho->admin.ss);
		getsockname(ho->admin_fd, (struct sockaddr *)&ho->admin.ss, &ho->admin.len);
	}
	if (handover_listen(ho, cfg->handover_path, err, sizeof(err))) {
		fprintf(stderr, "ringer: --handover: %s\n", err);
		return -1;
	}
	if (ho_fd < 0)
		return 0;
	if (handover_serving(ho_fd))
		fprintf(stderr,
			"ringer: --handover: pid %d did not hear that this one serves (it "
			"may be gone already)\n",
			(int)o->pid);
	fprintf(stderr, "ringer: took over %u listener%s%s from pid %d (ringer %s), %u shard%s\n",
		o->n, o->n == 1 ? "" : "s", o->admin.len ? " and the admin's" : "", (int)o->pid,
		o->version, cfg->shards, cfg->shards == 1 ? "" : "s");
	return 0;
}

/*
 * The main thread once the shards serve: signals, the stats line and, with
 * --handover, a newer ringer asking for the listeners. Returns when it is
 * time to drain: SIGINT, SIGTERM, or a newer ringer serves in our place.
 */
static void wait_for_stop(struct config *cfg, struct shard *shards, int sfd,
			  struct handover_server *ho)
{
	uint64_t interval = (uint64_t)cfg->stats_interval_s * 1000, next = mono_ms() + interval;
	static struct stats prev, total;
	unsigned lines = 0;
	/* The shards that write the session log (proxy mode): each leaves a reopened one's fd. */
	unsigned writers = mode_has_upstreams(cfg->mode) ? cfg->shards : 0;

	sum_stats(shards, cfg->shards, &prev);
	for (;;) {
		struct pollfd pfd[3] = {{.fd = sfd, .events = POLLIN}};
		nfds_t np = 1 + (nfds_t)handover_pollfd(ho, &pfd[1]), rp = np;
		uint64_t now = mono_ms();
		int timeout = handover_timeout_ms(ho, now), n;
		struct signalfd_siginfo si;
		pid_t pid;

		if (interval) {
			int t = next > now ? (int)(next - now) : 0;

			if (timeout < 0 || t < timeout)
				timeout = t;
		}
		/* systemd's STATUS= line, and a log reopen waiting for the shards (notify.c). */
		if (notify_timeout_ms(now) >= 0 &&
		    (timeout < 0 || notify_timeout_ms(now) < timeout))
			timeout = notify_timeout_ms(now);
		if ((conf_in_use ? listeners_log_reopen_poll(cfg->shards)
				 : log_reopen_poll(cfg, writers)) &&
		    (timeout < 0 || timeout > 100))
			timeout = 100;
		/* The resolver thread found new addresses (resolver.c): published here. */
		if (resolver_fd() >= 0)
			pfd[np++] = (struct pollfd){.fd = resolver_fd(), .events = POLLIN};
		n = poll(pfd, np, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("ringer: poll");
			return;
		}
		now = mono_ms();
		notify_status_tick(now, cfg, shards);
		if (interval && now >= next) {
			stats_line(cfg, shards, &prev, &lines, (double)cfg->stats_interval_s);
			next = next + interval > now ? next + interval : now + interval;
		}
		if (rp > 1 && (pid = handover_service(ho, pfd[1].revents, now)) > 0) {
			fprintf(stderr,
				"ringer: pid %d serves on the listeners now (handover), "
				"draining (up to %u ms)\n",
				(int)pid, cfg->drain_ms);
			return;
		}
		if (np > rp && (pfd[rp].revents & POLLIN)) {
			struct listeners_shards ls = {shards, cfg->shards};

			resolver_collect(listeners_publish, &ls);
		}
		if (!(pfd[0].revents & POLLIN) || read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGUSR1) {
			/* logrotate's convention, as nginx; with a file, every listener's log */
			if (!conf_in_use)
				log_reopen_start(cfg, writers);
			else
				listeners_log_reopen_start(cfg->shards);
			continue;
		}
		if (si.ssi_signo == SIGUSR2) {
			sum_stats(shards, cfg->shards, &total);
			print_stats(cfg, &total, shards);
			continue;
		}
		if (si.ssi_signo == SIGHUP) {
			notify_reloading();
			if (conf_in_use)
				listeners_reload(shards, cfg->shards);
			else if (cfg->tls_on)
				reload_tls(cfg, shards);
			if (!conf_in_use && (cfg->upstreams_path || !cfg->tls_on))
				reload_upstreams(cfg, shards);
			notify_reloaded(); /* taken or refused: what serves now is settled */
			continue;
		}
		fprintf(stderr, "ringer: %s, draining (up to %u ms)\n",
			si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM", cfg->drain_ms);
		notify_stopping(); /* not for a handover above: the service goes on */
		return;
	}
}

int main(int argc, char **argv)
{
	struct config cfg;
	static struct conf_set conf; /* -c FILE: every listener; cfg is conf.l[0].cfg */
	struct shard *shards;
	struct stats total;
	char err[256], addr_s[80];
	int cpus[CPU_SETSIZE], ncpus, sfd, ret;
	unsigned nofile, i, started = 0;
	uint64_t nofile_hard;
	sigset_t sigs;
	static struct config admin_cfg;
	static struct shard admin;
	static struct handover_server ho;
	struct handover_offer offer = {.admin_fd = -1};
	struct admin_ctx ctx;
	struct privs privs;
	bool admin_started = false, handed_over = false;
	int ho_fd = -1;

	notify_init(); /* NOTIFY_SOCKET, LISTEN_FDS: systemd's (notify.c) */
	config_defaults(&cfg);
	if (config_parse(&cfg, argc, argv, err, sizeof(err))) {
		fprintf(stderr, "ringer: %s\n", err);
		return 2;
	}
	if (cfg.help) {
		config_usage(stdout, "ringer");
		return 0;
	}
	if (cfg.version) {
		printf("ringer %s\n", RINGER_VERSION);
		return 0;
	}
	/* -c FILE (-t, -T): every listener from the file (conffile.c); cfg is the first's. */
	if (cfg.conf_path || cfg.conf_test || cfg.conf_print) {
		ret = conffile_main(&cfg, &conf, argc, argv);
		if (ret >= 0)
			return ret;
		conf_in_use = &conf;
	}
	if (!mode_ops(cfg.mode)) {
		fprintf(stderr, "ringer: --mode %s is not available in this build\n",
			mode_name(cfg.mode));
		return 2;
	}
	if (privs_resolve(&privs, &cfg))
		return 2;
	if (cfg.tls_on && listeners_check_tls(&cfg))
		return 1;
	if (cfg.tls_upstreams && listeners_check_upstream_tls(&cfg))
		return 1;
	/* The file's further listeners, checked as the first (listeners.c). */
	for (i = 1; conf_in_use && i < conf.n; i++) {
		if (conf.l[i].cfg.tls_on && listeners_check_tls(&conf.l[i].cfg))
			return 1;
		if (conf.l[i].cfg.tls_upstreams && listeners_check_upstream_tls(&conf.l[i].cfg))
			return 1;
	}
	if (listeners_prepare(conf_in_use, cfg.handover_path != NULL))
		return 1;
	if (mode_has_upstreams(cfg.mode)) {
		static struct upstream_set first; /* the others come from reloads, malloc'd */

		/* resolve upstreams: their names' addresses now (resolver.c looks again later) */
		if (resolver_add(&cfg, 0))
			return 2;
		config_initial_set(&cfg, &first);
		cfg.set = &first;
	}
	ncpus = allowed_cpus(cpus, CPU_SETSIZE);
	if (ncpus < 1)
		ncpus = 1, cpus[0] = 0;
	if (!cfg.shards)
		cfg.shards = (unsigned)ncpus;
	nofile = raise_nofile(&nofile_hard);

	/* Signals go to a signalfd on this thread; shard threads inherit the block. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGUSR2);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (sfd < 0) {
		perror("ringer: signalfd");
		return 1;
	}

	if (cfg.log_path) {
		cfg.log_fd = strcmp(cfg.log_path, "-")
				     ? open(cfg.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
					    0644)
				     : STDOUT_FILENO;
		if (cfg.log_fd < 0) {
			fprintf(stderr, "ringer: --log %s: %s\n", cfg.log_path, strerror(errno));
			return 1;
		}
	}
	handover_server_init(&ho);
	/* --handover: an older ringer at PATH hands its listeners over (handover.c). */
	if (cfg.handover_path && take_over(&cfg, &offer, &ho_fd))
		return 1;
	/*
	 * A port someone else holds is an error, not a share of its traffic; but
	 * not the listeners an older ringer just handed over.
	 */
	if (!offer.n && net_addr_port(&cfg.listen) != 0 && !sd_listen_has(&cfg.listen) &&
	    (ret = sock_probe_free(&cfg.listen)) != 0) {
		fprintf(stderr, "ringer: cannot listen on %s: %s%s\n",
			net_addr_str(&cfg.listen, addr_s, sizeof(addr_s)), strerror(-ret),
			ret == -EADDRINUSE
				? " (another process, maybe another ringer, listens there)"
				: "");
		return 1;
	}
	if (cfg.admin_set && offer.admin_fd < 0 && net_addr_port(&cfg.admin) != 0 &&
	    !sd_listen_has(&cfg.admin) && (ret = sock_probe_free(&cfg.admin)) != 0) {
		fprintf(stderr, "ringer: cannot listen on admin %s: %s\n",
			net_addr_str(&cfg.admin, addr_s, sizeof(addr_s)), strerror(-ret));
		return 1;
	}
	/* After the refusals above, so a ringer that exits on one leaks nothing. */
	shards = calloc(cfg.shards, sizeof(*shards));
	if (!shards) {
		fprintf(stderr, "ringer: out of memory\n");
		return 1;
	}
	/*
	 * Listeners first, in order: with port 0 the first bind picks the port and
	 * the others join it through SO_REUSEPORT. After a handover, shard i
	 * serves the older ringer's listener i (its queue included) and shards
	 * beyond those join the group with new listeners.
	 */
	if (offer.n)
		cfg.listen = offer.listen;
	for (i = 0; i < cfg.shards; i++) {
		struct shard *s = &shards[i];

		s->id = i;
		s->cfg = &cfg;
		s->mode = mode_ops(cfg.mode);
		s->cpu = cfg.pin ? cpus[i % (unsigned)ncpus] : -1;
		s->file_slots = nofile > 64 ? nofile - 64 : nofile;
		if (i < offer.n) {
			s->listen_fd = offer.fds[i];
			offer.fds[i] = -1; /* the shard's now: it closes it */
		} else if ((s->listen_fd = sd_listen_fd_take(&cfg.listen)) < 0) {
			/* None from systemd's socket activation (notify.c): a new one. */
			s->listen_fd = sock_listen(&cfg.listen, LISTEN_BACKLOG);
		}
		if (s->listen_fd < 0) {
			fprintf(stderr, "ringer: cannot listen on %s: %s\n",
				net_addr_str(&cfg.listen, addr_s, sizeof(addr_s)),
				strerror(-s->listen_fd));
			return 1;
		}
		/* A listener handed over keeps its options: ours replace them, off included. */
		if ((cfg.ka_idle_s || i < offer.n) &&
		    (ret = sock_keepalive(s->listen_fd, cfg.ka_idle_s, cfg.ka_intvl_s,
					  cfg.ka_cnt))) {
			fprintf(stderr, "ringer: --keepalive: %s\n", strerror(-ret));
			return 1;
		}
		if ((cfg.user_timeout_ms || i < offer.n) &&
		    (ret = sock_user_timeout(s->listen_fd, cfg.user_timeout_ms))) {
			fprintf(stderr, "ringer: --tcp-user-timeout: %s\n", strerror(-ret));
			return 1;
		}
		if (i == 0 && net_addr_port(&cfg.listen) == 0) {
			socklen_t len = sizeof(cfg.listen.ss);

			getsockname(s->listen_fd, (struct sockaddr *)&cfg.listen.ss, &len);
		}
		/* The file's further addresses and listeners: this shard's sockets for them. */
		if (listeners_open(conf_in_use, &cfg, s, i == 0))
			return 1;
	}
	/* The admin port: a shard of its own (admin.c), small and with its own limits. */
	admin.listen_fd = -1;
	if (cfg.admin_set) {
		admin_config(&admin_cfg, &cfg);
		ctx = (struct admin_ctx){.shards = shards, .n = cfg.shards, .cfg = &cfg};
		admin.id = cfg.shards;
		admin.cfg = &admin_cfg;
		admin.mode = &mode_admin;
		admin.mode_arg = &ctx;
		admin.tls = cfg.admin_tls ? &cfg.tls : NULL;
		admin.cpu = -1;
		admin.peer_addrs = true; /* its allow list judges each client's address */
		admin.file_slots = 256;
		if (offer.admin_fd < 0)
			offer.admin_fd = sd_listen_fd_take(&cfg.admin); /* -1: none inherited */
		admin.listen_fd =
			offer.admin_fd >= 0 ? offer.admin_fd : sock_listen(&cfg.admin, 64);
		offer.admin_fd = -1;
		if (admin.listen_fd < 0) {
			fprintf(stderr, "ringer: cannot listen on admin %s: %s\n",
				net_addr_str(&cfg.admin, addr_s, sizeof(addr_s)),
				strerror(-admin.listen_fd));
			return 1;
		}
		for (i = 0; i < cfg.shards; i++)
			shards[i].conn_info = true;
	}
	sd_listen_close_unused(); /* inherited sockets no listener took: a warning each */
	/* The session log reports each session's peer, bytes and duration. */
	if (cfg.log_fd >= 0)
		for (i = 0; i < cfg.shards; i++)
			shards[i].conn_info = true;
	/* --user: bound and opened as root; every ring (the admin's too) is made as the user. */
	if (privs_drop(&privs, &cfg) || privs_check_uring()) {
		free(shards);
		return 1;
	}
	report_limits(&cfg, nofile, nofile_hard, shards[0].file_slots, shards[0].conn_info);
	for (i = 0; i < cfg.shards; i++) {
		shards[i].tls = cfg.tls_on ? &cfg.tls : NULL;
		ret = shard_start(&shards[i]);
		if (ret) {
			fprintf(stderr, "ringer: shard %u failed to start: %s: %s\n", i,
				shards[i].start_note, strerror(-ret));
			goto out_stop;
		}
		started++;
		if (!cfg.quiet)
			fprintf(stderr, "ringer: %s\n", shards[i].start_note);
	}
	if (admin.listen_fd >= 0) {
		ret = shard_start(&admin);
		if (ret) {
			fprintf(stderr, "ringer: the admin shard failed to start: %s: %s\n",
				admin.start_note, strerror(-ret));
			goto out_stop;
		}
		admin_started = true;
	}
	if (admin_started)
		admin_serving(&ctx); /* every shard is up: /ready says 200 */
	if (cfg.handover_path && (ret = handover_ready(&ho, &cfg, shards, &admin, &offer, ho_fd)))
		goto out_stop;
	if (ho_fd >= 0) {
		close(ho_fd); /* the older ringer heard we serve: it drains */
		ho_fd = -1;
	}

	/* The first line on stdout is the address, so scripts and tests can read the port. */
	printf("listening on %s\n", net_addr_str(&cfg.listen, addr_s, sizeof(addr_s)));
	listeners_print(stdout);
	if (admin.listen_fd >= 0) {
		struct net_addr a;
		socklen_t len = sizeof(a.ss);

		getsockname(admin.listen_fd, (struct sockaddr *)&a.ss, &len);
		a.len = len;
		printf("admin on %s\n", net_addr_str(&a, addr_s, sizeof(addr_s)));
	}
	if (!cfg.quiet)
		printf("mode %s, %u shard%s, max-conns %u per shard\n", mode_name(cfg.mode),
		       cfg.shards, cfg.shards == 1 ? "" : "s", cfg.max_conns);
	fflush(stdout);
	/* systemd: serving (after a handover, as the service's main process now). */
	notify_ready(offer.n > 0, &cfg, shards);

	if ((ret = resolver_start())) {
		fprintf(stderr, "ringer: the resolver thread: %s\n", strerror(-ret));
		goto out_stop;
	}
	wait_for_stop(&cfg, shards, sfd, &ho);
	handed_over = cfg.handover_path && !ho.path[0]; /* a newer ringer has PATH now */
	resolver_stop();
	ret = 0;
out_stop:
	/* Draining: nothing more is handed over (the listeners go as shards finish). */
	if (ho_fd >= 0)
		close(ho_fd);
	handover_server_close(&ho);
	handover_offer_close(&offer);
	/*
	 * /ready says 503 before any listener stops accepting, and the admin port
	 * serves on through the drain (admin.c), going last; after a handover it
	 * goes first, for the newer ringer's admin shard shares its listener.
	 */
	if (admin_started)
		admin_draining(&ctx);
	if (admin_started && handed_over) {
		shard_request_stop(&admin);
		shard_join(&admin);
		admin_started = false;
	}
	for (i = 0; i < started; i++)
		shard_request_stop(&shards[i]);
	for (i = 0; i < started; i++)
		shard_join(&shards[i]);
	if (admin_started) {
		shard_request_stop(&admin);
		shard_join(&admin);
	}
	sum_stats(shards, cfg.shards, &total);
	print_stats(&cfg, &total, shards);
	log_reopen_end(&cfg);
	listeners_log_reopen_end();
	if (admin.listen_fd >= 0 && !admin_started)
		close(admin.listen_fd);
	/* Every shard is gone: the sets reloads made can go too (the first is static). */
	for (struct upstream_set *set = (struct upstream_set *)cfg.set; set && set->older;) {
		struct upstream_set *older = set->older;

		free(set);
		set = older;
	}
	listeners_free(shards, cfg.shards);
	free(shards);
	free((void *)ho.fds);
	return ret ? 1 : 0;
}
