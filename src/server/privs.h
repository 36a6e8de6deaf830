/* SPDX-License-Identifier: MIT */
#ifndef RINGER_PRIVS_H
#define RINGER_PRIVS_H

#include <stdbool.h>
#include <sys/types.h>

#include "ringer/config.h"

/*
 * Least privilege (src/server/privs.c): --user NAME, checked when the flags
 * are read and taken once the listeners are bound, before any ring exists;
 * and whether io_uring can be had at all, said in one line when not.
 */
struct privs {
	bool drop; /* a switch is due: root now, --user someone else */
	uid_t uid;
	gid_t gid;
	char name[64];
};

/*
 * Looks --user up: 0, or 2 (the exit status) after a message on stderr: no
 * such user, root named, or not root and not already that user.
 */
int privs_resolve(struct privs *p, const struct config *cfg);

/*
 * Switches to the user: its groups (initgroups: root's supplementary groups
 * go), its gid, its uid, no new privileges; then checks root cannot be had
 * back and that the TLS files the shards read after this are readable.
 * Returns 0, or 1 after a message.
 */
int privs_drop(const struct privs *p, const struct config *cfg);

/* Whether this process, as it is now, can set up a ring: 0, or 1 after one line. */
int privs_check_uring(void);

#endif
