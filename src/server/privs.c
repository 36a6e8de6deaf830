// SPDX-License-Identifier: MIT
/*
 * Least privilege. Started as root with --user NAME, ringer binds its
 * listeners (and the admin's), opens the session log and reads its TLS
 * files as root, then privs_drop() switches to NAME before any ring or
 * shard thread exists:
 *
 *   initgroups(NAME, gid)  the user's groups replace root's supplementary ones
 *   setgid(gid)            real, effective and saved
 *   setuid(uid)            real, effective and saved: the capabilities go too
 *   PR_SET_NO_NEW_PRIVS    no exec can give any back
 *
 * and then proves it: the ids read back, setuid(0) and setgid(0) fail. What
 * runs after the switch needs only what NAME may do: the shards read the TLS
 * certificates and keys again (and on SIGHUP), the handover socket is made
 * in its directory, the session log is reopened. Those are the man page's
 * (ringer.8.md, --user); the TLS files are checked here, so a file NAME
 * cannot read is one line at startup, not a shard that fails to start.
 */
#include "privs.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "ringer/ring.h"

int privs_resolve(struct privs *p, const struct config *cfg)
{
	struct passwd pw, *found = NULL;
	char buf[4096];
	int ret;

	memset(p, 0, sizeof(*p));
	if (!cfg->user)
		return 0;
	ret = getpwnam_r(cfg->user, &pw, buf, sizeof(buf), &found);
	if (!found) {
		fprintf(stderr, "ringer: --user %s: %s\n", cfg->user,
			ret ? strerror(ret) : "no such user");
		return 2;
	}
	if (pw.pw_uid == 0) {
		fprintf(stderr, "ringer: --user %s: uid 0 is root: name an unprivileged user\n",
			cfg->user);
		return 2;
	}
	/* Already that user (a unit file's User=, say): nothing to switch, nothing refused. */
	if (geteuid() == pw.pw_uid && getuid() == pw.pw_uid && getegid() == pw.pw_gid)
		return 0;
	if (geteuid() != 0) {
		fprintf(stderr,
			"ringer: --user %s: only root can switch to another user (this is uid "
			"%u): start as root, or without --user\n",
			cfg->user, (unsigned)geteuid());
		return 2;
	}
	p->drop = true;
	p->uid = pw.pw_uid;
	p->gid = pw.pw_gid;
	snprintf(p->name, sizeof(p->name), "%s", pw.pw_name);
	return 0;
}

/* After the switch: NAME can read path, or a line that says which flag and what to do. */
static int readable(const struct privs *p, const char *flag, const char *path)
{
	if (!path || access(path, R_OK) == 0)
		return 0;
	fprintf(stderr,
		"ringer: --user %s: cannot read %s %s as that user: %s (ringer reads it again "
		"after the switch: make it readable by the user or its group)\n",
		p->name, flag, path, strerror(errno));
	return 1;
}

static int tls_files_readable(const struct privs *p, const struct config *cfg)
{
	int bad = 0;

	if (cfg->tls_on) {
		for (unsigned i = 0; i < cfg->tls.n_certs; i++)
			bad |= readable(p, "--tls-cert", cfg->tls.cert[i]);
		for (unsigned i = 0; i < cfg->tls.n_keys; i++)
			bad |= readable(p, "--tls-key", cfg->tls.key[i]);
		bad |= readable(p, "--tls-ca", cfg->tls.ca);
		bad |= readable(p, "--tls-crl", cfg->tls.crl);
	}
	if (cfg->tls_upstreams) {
		bad |= readable(p, "--upstream-ca", cfg->upstream_ca);
		bad |= readable(p, "--upstream-cert", cfg->upstream_cert);
		bad |= readable(p, "--upstream-key", cfg->upstream_key);
	}
	return bad;
}

int privs_drop(const struct privs *p, const struct config *cfg)
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;

	if (!p->drop)
		return 0;
	if (initgroups(p->name, p->gid) || setgid(p->gid) || setuid(p->uid)) {
		fprintf(stderr, "ringer: --user %s: cannot switch to uid %u gid %u: %s\n", p->name,
			(unsigned)p->uid, (unsigned)p->gid, strerror(errno));
		return 1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		fprintf(stderr, "ringer: --user %s: PR_SET_NO_NEW_PRIVS: %s\n", p->name,
			strerror(errno));
		return 1;
	}
	/* The man page's promise, checked: every id is the user's, and root stays out of reach. */
	if (getresuid(&ruid, &euid, &suid) || getresgid(&rgid, &egid, &sgid) || ruid != p->uid ||
	    euid != p->uid || suid != p->uid || rgid != p->gid || egid != p->gid ||
	    sgid != p->gid || setuid(0) != -1 || setgid(0) != -1) {
		fprintf(stderr,
			"ringer: --user %s: the switch did not hold (root could be regained)\n",
			p->name);
		return 1;
	}
	return tls_files_readable(p, cfg);
}

int privs_check_uring(void)
{
	char why[512];
	int ret = ring_available();

	if (!ret)
		return 0;
	fprintf(stderr, "ringer: %s\n", ring_unavailable(ret, why, sizeof(why)));
	return 1;
}
