// SPDX-License-Identifier: MIT
#include "load_harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_ARGS 40

void load_run(struct load_run *r, int timeout_ms, ...)
{
	char *argv[MAX_ARGS];
	int64_t t0 = now_ms();
	va_list ap;
	int n = 0;

	argv[n++] = (char *)harness_bin("RINGER_LOAD_BIN");
	va_start(ap, timeout_ms);
	while (n < MAX_ARGS - 1 && (argv[n] = va_arg(ap, char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	memset(r, 0, sizeof(*r));
	if (proc_start(&r->p, argv, false, 0)) {
		r->status = -1;
		return;
	}
	r->status = proc_wait(&r->p, timeout_ms);
	if (r->status < 0)
		proc_stop(&r->p, SIGKILL, 1000);
	r->ms = now_ms() - t0;
	if (r->status != 0)
		fprintf(stderr, "ringer-load exited %d after %lld ms; stderr:\n%s\n", r->status,
			(long long)r->ms, r->p.err);
}

double json_num(const char *json, const char *key)
{
	char pat[80];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(json, pat);
	return p ? strtod(p + strlen(pat), NULL) : -1;
}

/*
 * The slow side is not exact: on a loaded machine the client or the server
 * may lose part of the run to other processes. 1.5 times the schedule leaves
 * a third of the run for that, and still fails a rate halved, or divided
 * over the connections.
 */
bool open_loop_kept(const struct load_run *r, long n, double rate)
{
	double secs = json_num(r->p.out, "duration_s"), due = (double)(n - 1) / rate;
	long got = (long)json_num(r->p.out, "requests"), errors = (long)json_num(r->p.out, "total");

	fprintf(stderr,
		"open loop: %ld of %ld requests at %.0f/s in %.3f s (the schedule: %.3f s)\n", got,
		n, rate, secs, due);
	if (r->status != 0 || got != n || errors != 0)
		fprintf(stderr, "open loop: exit %d, %ld requests, %ld errors\n", r->status, got,
			errors);
	else if (secs < due - 1e-6)
		fprintf(stderr, "open loop: faster than its schedule\n");
	else if (secs > 1.5 * due)
		fprintf(stderr, "open loop: more than 1.5 times its schedule\n");
	else
		return true;
	return false;
}

int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	    !getsockname(fd, (struct sockaddr *)&a, &len))
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* Waits until something accepts connections on 127.0.0.1:port. */
static int wait_listening(int port, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;

	while (now_ms() < deadline) {
		int fd = tcp_connect("127.0.0.1", port);

		if (fd >= 0) {
			close(fd);
			return 0;
		}
		usleep(20000);
	}
	return -ETIMEDOUT;
}

int nginx_start(struct nginx *n)
{
	char conf[160], *argv[] = {"/usr/sbin/nginx", "-c", conf, "-p", n->dir, "-e", NULL, NULL};
	char err_log[128];
	FILE *f;

	memset(n, 0, sizeof(*n));
	if (access("/usr/sbin/nginx", X_OK))
		return -ENOENT;
	strcpy(n->dir, "/tmp/ringer-load-nginx-XXXXXX");
	if (!mkdtemp(n->dir))
		return -errno;
	n->port = free_port();
	snprintf(conf, sizeof(conf), "%s/nginx.conf", n->dir);
	snprintf(n->access_log, sizeof(n->access_log), "%s/access.log", n->dir);
	snprintf(err_log, sizeof(err_log), "%s/error.log", n->dir);
	argv[6] = err_log;
	f = fopen(conf, "w");
	if (!f)
		return -errno;
	fprintf(f,
		"daemon off;\nmaster_process off;\nworker_processes 1;\npid %s/nginx.pid;\n"
		"error_log %s;\nevents { worker_connections 1024; }\n"
		"http {\n"
		"  log_format ringer '$request_method $uri $status $request_length "
		"\"$http_x_ringer_test\"';\n"
		"  access_log %s ringer;\n  client_body_temp_path %s;\n  proxy_temp_path %s;\n"
		"  fastcgi_temp_path %s;\n  uwsgi_temp_path %s;\n  scgi_temp_path %s;\n"
		"  keepalive_requests 1000000;\n"
		"  server {\n    listen 127.0.0.1:%d;\n"
		"    location = / { return 200 \"hello from nginx\\n\"; }\n"
		"    location /short { keepalive_requests 5; return 200 \"ok\\n\"; }\n"
		"    location = /upload { proxy_pass http://127.0.0.1:%d/; }\n"
		"  }\n}\n",
		n->dir, err_log, n->access_log, n->dir, n->dir, n->dir, n->dir, n->dir, n->port,
		n->port);
	fclose(f);
	if (proc_start(&n->p, argv, false, 0))
		return -ECHILD;
	if (wait_listening(n->port, 5000)) {
		char line[512];

		/* Why it did not start is in its error log, not on stderr. */
		fprintf(stderr, "nginx did not listen on 127.0.0.1:%d; %s:\n", n->port, err_log);
		f = fopen(err_log, "r");
		while (f && fgets(line, sizeof(line), f))
			fputs(line, stderr);
		if (f)
			fclose(f);
		return -ETIMEDOUT;
	}
	return 0;
}

void nginx_stop(struct nginx *n)
{
	char cmd[128];

	proc_stop(&n->p, SIGTERM, 5000);
	if (n->dir[0] && !strncmp(n->dir, "/tmp/ringer-load-nginx-", 23)) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", n->dir);
		if (system(cmd))
			fprintf(stderr, "could not remove %s\n", n->dir);
	}
}

long nginx_requests(const struct nginx *n)
{
	return nginx_log_lines(n, NULL);
}

long nginx_requests_reach(const struct nginx *n, long want, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	long lines;

	while ((lines = nginx_requests(n)) >= 0 && lines < want && now_ms() < deadline)
		usleep(10000);
	return lines;
}

long nginx_log_lines(const struct nginx *n, const char *needle)
{
	FILE *f = fopen(n->access_log, "r");
	char line[1024];
	long lines = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		lines += !needle || strstr(line, needle);
	fclose(f);
	return lines;
}

int echo_server_start(struct proc *p, const char *host, ...)
{
	char *argv[MAX_ARGS];
	va_list ap;
	int n = 0;

	argv[n++] = "/usr/bin/python3";
	argv[n++] = (char *)harness_bin("ECHO_SERVER_PY");
	argv[n++] = "--host";
	argv[n++] = (char *)host;
	va_start(ap, host);
	while (n < MAX_ARGS - 1 && (argv[n] = va_arg(ap, char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	return proc_start(p, argv, true, 10000);
}

int echo_server_stop(struct proc *p, long long *bytes, long long *conns)
{
	const char *s;
	int ret;

	kill(p->pid, SIGTERM);
	ret = proc_wait(p, 5000);
	s = strstr(p->out, "stats bytes=");
	if (ret < 0)
		proc_stop(p, SIGKILL, 1000);
	if (!s || sscanf(s, "stats bytes=%lld connections=%lld", bytes, conns) != 2)
		return -EPROTO;
	return 0;
}
