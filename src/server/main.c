// SPDX-License-Identifier: MIT
/*
 * ringer: parse the flags, open one SO_REUSEPORT listener per shard, start
 * the shards, then wait for signals: SIGUSR1 prints stats, SIGINT/SIGTERM
 * drain and exit. The main thread also serves the optional admin port.
 */
#include <errno.h>
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

/* One request per connection, blocking with short timeouts: this is not the hot path. */
static const char *upstream_names[CONFIG_MAX_UPSTREAMS];

static void print_stats(const struct config *cfg, const struct stats *st)
{
	stats_print(stdout, st, cfg->shards);
	if (cfg->mode == MODE_PROXY)
		stats_print_upstreams(stdout, st, upstream_names, cfg->n_upstreams);
}

/*
 * The admin port, served from the main thread without ever blocking it: up
 * to ADMIN_CLIENTS connections at once, nonblocking, each with ADMIN_MS to
 * send its request line, then one response and a close. A silent or slow
 * admin client delays neither other scrapes nor signals.
 */
#define ADMIN_CLIENTS 16
#define ADMIN_MS      2000

struct admin_client {
	int fd; /* -1: free */
	int64_t deadline_ms;
	size_t len;
	char req[1024];
};

static struct admin_client admin_clients[ADMIN_CLIENTS];

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void admin_drop(struct admin_client *ac)
{
	close(ac->fd);
	ac->fd = -1;
}

static void admin_accept(int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return;
	for (int i = 0; i < ADMIN_CLIENTS; i++) {
		struct admin_client *ac = &admin_clients[i];

		if (ac->fd < 0) {
			ac->fd = fd;
			ac->len = 0;
			ac->deadline_ms = mono_ms() + ADMIN_MS;
			return;
		}
	}
	close(fd); /* all slots taken: this one is refused, the others go on */
}

/* The whole response is written at once: its socket gets a send buffer that holds it. */
static void admin_respond(struct admin_client *ac, struct shard *shards, unsigned n,
			  const struct config *cfg)
{
	static char body[1 << 17];
	char head[256];
	struct stats st;
	int len, sndbuf = (int)sizeof(body) + (int)sizeof(head);
	struct iovec iov[2];
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};

	if (strncmp(ac->req, "GET /metrics ", 13) && strncmp(ac->req, "GET / ", 6)) {
		static const char nf[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
					 "Connection: close\r\n\r\n";
		send(ac->fd, nf, sizeof(nf) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		return;
	}
	sum_stats(shards, n, &st);
	len = stats_prometheus(body, sizeof(body), &st);
	if (len < 0)
		len = 0;
	if (cfg->mode == MODE_PROXY) {
		int more = stats_prometheus_upstreams(body + len, sizeof(body) - (size_t)len, &st,
						      upstream_names, cfg->n_upstreams);

		if (more > 0)
			len += more;
	}
	snprintf(head, sizeof(head),
		 "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
		 "Content-Length: %d\r\nConnection: close\r\n\r\n",
		 len);
	setsockopt(ac->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	iov[0] = (struct iovec){head, strlen(head)};
	iov[1] = (struct iovec){body, (size_t)len};
	sendmsg(ac->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void admin_read(struct admin_client *ac, struct shard *shards, unsigned n,
		       const struct config *cfg)
{
	ssize_t got = recv(ac->fd, ac->req + ac->len, sizeof(ac->req) - 1 - ac->len, MSG_DONTWAIT);

	if (got < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (got <= 0) {
		admin_drop(ac);
		return;
	}
	ac->len += (size_t)got;
	ac->req[ac->len] = 0;
	/* The request line is all that matters; answer once it is complete (or the buffer full). */
	if (!strstr(ac->req, "\r\n") && ac->len < sizeof(ac->req) - 1)
		return;
	admin_respond(ac, shards, n, cfg);
	admin_drop(ac);
}

/* Fills pfd[first..] with the admin clients; returns how many, and the poll timeout. */
static int admin_pollfds(struct pollfd *pfd, int *timeout_ms)
{
	int64_t now = mono_ms(), next = -1;
	int k = 0;

	for (int i = 0; i < ADMIN_CLIENTS; i++) {
		struct admin_client *ac = &admin_clients[i];

		if (ac->fd < 0)
			continue;
		if (now >= ac->deadline_ms) {
			admin_drop(ac);
			continue;
		}
		if (next < 0 || ac->deadline_ms < next)
			next = ac->deadline_ms;
		pfd[k++] = (struct pollfd){.fd = ac->fd, .events = POLLIN};
	}
	*timeout_ms = next < 0 ? -1 : (int)(next - now);
	return k;
}

static void admin_serve(struct pollfd *pfd, int k, struct shard *shards, unsigned n,
			const struct config *cfg)
{
	for (int j = 0; j < k; j++) {
		if (!pfd[j].revents)
			continue;
		for (int i = 0; i < ADMIN_CLIENTS; i++)
			if (admin_clients[i].fd == pfd[j].fd)
				admin_read(&admin_clients[i], shards, n, cfg);
	}
}

int main(int argc, char **argv)
{
	struct config cfg;
	struct shard *shards;
	struct stats total;
	char err[256], addr_s[80];
	int cpus[CPU_SETSIZE], ncpus, sfd, admin_fd = -1, ret;
	unsigned nofile, i, started = 0;
	sigset_t sigs;

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
	if (cfg.admin_set) {
		admin_fd = sock_listen(&cfg.admin, 64);
		if (admin_fd < 0) {
			fprintf(stderr, "ringer: cannot listen on admin %s: %s\n",
				net_addr_str(&cfg.admin, addr_s, sizeof(addr_s)),
				strerror(-admin_fd));
			return 1;
		}
	}
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

	/* The first line on stdout is the address, so scripts and tests can read the port. */
	printf("listening on %s\n", net_addr_str(&cfg.listen, addr_s, sizeof(addr_s)));
	if (admin_fd >= 0) {
		struct net_addr a;
		socklen_t len = sizeof(a.ss);

		getsockname(admin_fd, (struct sockaddr *)&a.ss, &len);
		a.len = len;
		printf("admin on %s\n", net_addr_str(&a, addr_s, sizeof(addr_s)));
	}
	if (!cfg.quiet)
		printf("mode %s, %u shard%s, max-conns %u per shard\n", mode_name(cfg.mode),
		       cfg.shards, cfg.shards == 1 ? "" : "s", cfg.max_conns);
	fflush(stdout);

	for (i = 0; i < ADMIN_CLIENTS; i++)
		admin_clients[i].fd = -1;
	for (;;) {
		struct pollfd pfd[2 + ADMIN_CLIENTS] = {{.fd = sfd, .events = POLLIN},
							{.fd = admin_fd, .events = POLLIN}};
		struct signalfd_siginfo si;
		int timeout_ms, k = admin_pollfds(pfd + 2, &timeout_ms);

		if (poll(pfd, 2 + (nfds_t)k, timeout_ms) < 0) {
			if (errno == EINTR)
				continue;
			perror("ringer: poll");
			break;
		}
		admin_serve(pfd + 2, k, shards, cfg.shards, &cfg);
		if (admin_fd >= 0 && (pfd[1].revents & POLLIN))
			admin_accept(admin_fd);
		if (!(pfd[0].revents & POLLIN))
			continue;
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
	for (i = 0; i < started; i++)
		shard_request_stop(&shards[i]);
	for (i = 0; i < started; i++)
		shard_join(&shards[i]);
	sum_stats(shards, cfg.shards, &total);
	print_stats(&cfg, &total);
	for (i = 0; i < ADMIN_CLIENTS; i++)
		if (admin_clients[i].fd >= 0)
			admin_drop(&admin_clients[i]);
	if (admin_fd >= 0)
		close(admin_fd);
	free(shards);
	return ret ? 1 : 0;
}
