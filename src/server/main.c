// SPDX-License-Identifier: MIT
/*
 * ringer: parse the flags, open one SO_REUSEPORT listener per shard, start
 * the shards (and the admin shard, with --admin), then wait for signals:
 * SIGUSR1 prints stats, SIGINT/SIGTERM drain and exit; with --stats-interval
 * a line of figures every few seconds.
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
#include "ringer/config.h"
#include "ringer/shard.h"
#include "ringer/sock.h"

#ifndef RINGER_VERSION
#define RINGER_VERSION "0.1.0"
#endif

#define LISTEN_BACKLOG 4096

static const struct mode_ops *mode_ops(enum ringer_mode m)
{
	switch (m) {
	case MODE_ECHO:
		return &mode_echo;
	case MODE_HTTP:
		return &mode_http;
	case MODE_PROXY:
		return &mode_proxy;
	}
	return NULL;
}

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

/* As many descriptors as the hard limit allows: the fixed-file tables need them. */
static unsigned raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur > (1u << 20) ? (1u << 20) : (unsigned)rl.rlim_cur;
}

static void sum_stats(struct shard *shards, unsigned n, struct stats *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < n; i++)
		stats_sum(out, &shards[i].stats);
}

static const char *upstream_names[CONFIG_MAX_UPSTREAMS];

static void print_stats(const struct config *cfg, const struct stats *st)
{
	stats_print(stdout, st, cfg->shards);
	if (cfg->mode == MODE_PROXY)
		stats_print_upstreams(stdout, st, upstream_names, cfg->n_upstreams);
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

int main(int argc, char **argv)
{
	struct config cfg;
	struct shard *shards;
	struct stats total;
	char err[256], addr_s[80];
	int cpus[CPU_SETSIZE], ncpus, sfd, ret;
	unsigned nofile, i, started = 0, lines = 0;
	sigset_t sigs;
	static struct config admin_cfg;
	static struct shard admin;
	static struct stats prev;
	struct admin_ctx ctx;
	bool admin_started = false;

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
	if (!mode_ops(cfg.mode)) {
		fprintf(stderr, "ringer: --mode %s is not available in this build\n",
			mode_name(cfg.mode));
		return 2;
	}
	for (i = 0; i < cfg.n_upstreams; i++)
		upstream_names[i] = cfg.upstreams[i].name;
	ncpus = allowed_cpus(cpus, CPU_SETSIZE);
	if (ncpus < 1)
		ncpus = 1, cpus[0] = 0;
	if (!cfg.shards)
		cfg.shards = (unsigned)ncpus;
	nofile = raise_nofile();

	/* Signals go to a signalfd on this thread; shard threads inherit the block. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGUSR1);
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
	shards = calloc(cfg.shards, sizeof(*shards));
	if (!shards) {
		fprintf(stderr, "ringer: out of memory\n");
		return 1;
	}
	/* A port someone else holds is an error, not a share of its traffic. */
	if (net_addr_port(&cfg.listen) != 0 && (ret = sock_probe_free(&cfg.listen)) != 0) {
		fprintf(stderr, "ringer: cannot listen on %s: %s%s\n",
			net_addr_str(&cfg.listen, addr_s, sizeof(addr_s)), strerror(-ret),
			ret == -EADDRINUSE
				? " (another process, maybe another ringer, listens there)"
				: "");
		return 1;
	}
	if (cfg.admin_set && net_addr_port(&cfg.admin) != 0 &&
	    (ret = sock_probe_free(&cfg.admin)) != 0) {
		fprintf(stderr, "ringer: cannot listen on admin %s: %s\n",
			net_addr_str(&cfg.admin, addr_s, sizeof(addr_s)), strerror(-ret));
		return 1;
	}
	/*
	 * Listeners first, in order: with port 0 the first bind picks the port and
	 * the others join it through SO_REUSEPORT.
	 */
	for (i = 0; i < cfg.shards; i++) {
		struct shard *s = &shards[i];

		s->id = i;
		s->cfg = &cfg;
		s->mode = mode_ops(cfg.mode);
		s->cpu = cfg.pin ? cpus[i % (unsigned)ncpus] : -1;
		s->file_slots = nofile > 64 ? nofile - 64 : nofile;
		s->listen_fd = sock_listen(&cfg.listen, LISTEN_BACKLOG);
		if (s->listen_fd < 0) {
			fprintf(stderr, "ringer: cannot listen on %s: %s\n",
				net_addr_str(&cfg.listen, addr_s, sizeof(addr_s)),
				strerror(-s->listen_fd));
			return 1;
		}
		if (cfg.ka_idle_s && (ret = sock_keepalive(s->listen_fd, cfg.ka_idle_s,
							   cfg.ka_intvl_s, cfg.ka_cnt))) {
			fprintf(stderr, "ringer: --keepalive: %s\n", strerror(-ret));
			return 1;
		}
		if (i == 0 && net_addr_port(&cfg.listen) == 0) {
			socklen_t len = sizeof(cfg.listen.ss);

			getsockname(s->listen_fd, (struct sockaddr *)&cfg.listen.ss, &len);
		}
	}
	/* The admin port: a shard of its own (admin.c), small and with its own limits. */
	admin.listen_fd = -1;
	if (cfg.admin_set) {
		admin_config(&admin_cfg, &cfg);
		ctx = (struct admin_ctx){shards, cfg.shards, &cfg, upstream_names};
		admin.id = cfg.shards;
		admin.cfg = &admin_cfg;
		admin.mode = &mode_admin;
		admin.mode_arg = &ctx;
		admin.cpu = -1;
		admin.file_slots = 256;
		admin.listen_fd = sock_listen(&cfg.admin, 64);
		if (admin.listen_fd < 0) {
			fprintf(stderr, "ringer: cannot listen on admin %s: %s\n",
				net_addr_str(&cfg.admin, addr_s, sizeof(addr_s)),
				strerror(-admin.listen_fd));
			return 1;
		}
		for (i = 0; i < cfg.shards; i++)
			shards[i].conn_info = true;
	}
	/* The session log reports each session's peer, bytes and duration. */
	if (cfg.log_fd >= 0)
		for (i = 0; i < cfg.shards; i++)
			shards[i].conn_info = true;
	for (i = 0; i < cfg.shards; i++) {
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

	/* The first line on stdout is the address, so scripts and tests can read the port. */
	printf("listening on %s\n", net_addr_str(&cfg.listen, addr_s, sizeof(addr_s)));
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

	sum_stats(shards, cfg.shards, &prev);
	for (;;) {
		struct pollfd pfd = {.fd = sfd, .events = POLLIN};
		struct signalfd_siginfo si;
		int n = poll(&pfd, 1, cfg.stats_interval_s ? (int)cfg.stats_interval_s * 1000 : -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("ringer: poll");
			break;
		}
		if (n == 0) {
			stats_line(&cfg, shards, &prev, &lines, (double)cfg.stats_interval_s);
			continue;
		}
		if (read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGUSR1) {
			sum_stats(shards, cfg.shards, &total);
			print_stats(&cfg, &total);
			continue;
		}
		fprintf(stderr, "ringer: %s, draining (up to %u ms)\n",
			si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM", cfg.drain_ms);
		break;
	}
	ret = 0;
out_stop:
	/* The admin shard reads the others' tables: it goes first. */
	if (admin_started) {
		shard_request_stop(&admin);
		shard_join(&admin);
	}
	for (i = 0; i < started; i++)
		shard_request_stop(&shards[i]);
	for (i = 0; i < started; i++)
		shard_join(&shards[i]);
	sum_stats(shards, cfg.shards, &total);
	print_stats(&cfg, &total);
	if (admin.listen_fd >= 0 && !admin_started)
		close(admin.listen_fd);
	free(shards);
	return ret ? 1 : 0;
}
