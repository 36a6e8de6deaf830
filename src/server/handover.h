/* SPDX-License-Identifier: MIT */
#ifndef RINGER_HANDOVER_H
#define RINGER_HANDOVER_H

/*
 * Zero-downtime restart (--handover PATH): a running ringer hands its
 * listening sockets to a newer one over the Unix socket PATH (SCM_RIGHTS).
 * The newer one serves the same socket file descriptions, so their accept
 * queues carry over; the older one then drains as on SIGTERM and exits 0.
 * The protocol and its rules are at the top of handover.c.
 */
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ringer/config.h"
#include "ringer/net.h"

/* ---- the newer ringer: take over ---- */

/* What an older ringer handed over. */
struct handover_offer {
	pid_t pid;		/* the older ringer */
	unsigned mode;		/* its --mode (enum ringer_mode) */
	unsigned n;		/* traffic listeners received, one per shard of the older ringer */
	int *fds;		/* n of them; -1 once handed to a shard */
	int admin_fd;		/* its admin listener, or -1 */
	struct net_addr listen; /* where the traffic listeners are bound */
	struct net_addr admin;	/* where the admin listener is (admin_fd >= 0) */
	char version[32];	/* the older ringer's version, for messages */
};

/*
 * Connects to PATH: 0 with *fd open, -ENOENT or -ECONNREFUSED when no ringer
 * listens there (a stale socket file), another -errno otherwise.
 */
int handover_connect(const char *path, int *fd);
/* Asks for the listeners and receives them: 0, or -errno with a line in err. */
int handover_receive(int fd, struct handover_offer *o, char *err, size_t err_len);
/*
 * Whether this ringer (cfg, with cfg->shards resolved) can serve what o
 * holds: every descriptor a TCP listener at the address o names, that
 * address cfg->listen's (port 0 there takes any port), an admin listener
 * only where cfg asks for the same admin address, and no more listeners than
 * shards. 0, or -EINVAL with the reason in err.
 */
int handover_check(const struct handover_offer *o, const struct config *cfg, char *err,
		   size_t err_len);
/* Tells the older ringer why not (it keeps serving); best effort. */
void handover_refuse(int fd, const char *why);
/* Tells the older ringer this one serves (it drains and exits). Returns 0 or -errno. */
int handover_serving(int fd);
/* Closes the descriptors still held in o and frees it. */
void handover_offer_close(struct handover_offer *o);

/* ---- the older ringer: hand over, from the main thread's poll ---- */

struct handover_server {
	int lfd;	      /* listening on path; -1: none */
	int cfd;	      /* a conversation with a newer ringer; -1: none */
	pid_t peer;	      /* its pid, once it said hello */
	bool offered;	      /* the listeners went out on cfd */
	uint64_t deadline_ms; /* the conversation ends by then (monotonic) */
	dev_t dev;	      /* path's inode when we bound it: at exit, is it still ours? */
	ino_t ino;
	char path[108];
	/* What is offered: main fills these once its listeners are up. */
	const int *fds;
	unsigned n;
	int admin_fd;
	unsigned mode;
	struct net_addr listen, admin;
};

/* Initialises h (nothing open). */
void handover_server_init(struct handover_server *h);
/*
 * Listens on path (a stale socket file there is replaced; anything else is
 * refused). Returns 0, or -errno with a line in err.
 */
int handover_listen(struct handover_server *h, const char *path, char *err, size_t err_len);
/* The one descriptor to poll (the conversation, else the listener): 1 when *p is filled. */
int handover_pollfd(const struct handover_server *h, struct pollfd *p);
/* Milliseconds until the conversation's deadline (for poll), -1: none. */
int handover_timeout_ms(const struct handover_server *h, uint64_t now_ms);
/*
 * Services what poll saw (revents, or 0 on a timeout). Returns the newer
 * ringer's pid once it serves on the listeners (the caller drains and
 * exits), else 0. Logs each step on stderr.
 */
pid_t handover_service(struct handover_server *h, short revents, uint64_t now_ms);
/* Stops listening; removes path if it is still the socket we bound. */
void handover_server_close(struct handover_server *h);

#endif
