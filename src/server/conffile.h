/* SPDX-License-Identifier: MIT */
#ifndef RINGER_CONFFILE_H
#define RINGER_CONFFILE_H

/*
 * The configuration file (ringer -c FILE; man ringer, "Configuration file"):
 * an nginx-like block syntax read by a small tokenizer and a table of
 * directives, one per flag of config.c (the long flag's name without "--";
 * --listen is "bind", --upstream is "server" in an upstream block). Each
 * listener's directives (the global block's, then the defaults block's, then
 * its own, then those of the upstream block it names) become an argument
 * vector fed to config_parse(), so every value is checked in one place, and
 * an error there is reported at the FILE:LINE of the directive behind it.
 *
 * The loader is a pure function of the file (and the files it includes): no
 * globals, no exit(), so it can run again on a running process (a reload).
 */
#include <stdio.h>
#include <sys/types.h>

#include "ringer/config.h"

#define CONF_MAX_BINDS	   16
#define CONF_MAX_LISTENERS 1024
#define CONF_NAME_MAX	   64

struct conf_pool; /* the strings every cfg below points into */

struct conf_listener {
	char name[CONF_NAME_MAX];
	/*
	 * Complete, as if its flags had been given on the command line (the
	 * global directives included); cfg.listen is binds[0].
	 */
	struct config cfg;
	struct net_addr binds[CONF_MAX_BINDS];
	unsigned bind_line[CONF_MAX_BINDS];
	unsigned n_binds;
	char upstream[CONF_NAME_MAX]; /* proxy_pass NAME; empty unless mode proxy */
	char file[256];		      /* where "listener NAME {" is */
	unsigned line;
};

/* An upstream block, checked on its own (cfg: --mode proxy and its directives) for -T. */
struct conf_upstream {
	char name[CONF_NAME_MAX];
	struct config cfg;
	char file[256];
	unsigned line;
};

struct conf_set {
	struct conf_listener *l;
	unsigned n;
	struct conf_upstream *u;
	unsigned n_u;
	char path[256];
	struct conf_pool *pool;
};

/* conffile_load_text() flags */
#define CONF_NO_INCLUDE 1u /* "include" is an error (the fuzz target: no file system) */

/*
 * Reads path (and what it includes) into *out: 0, or -EINVAL with one line
 * "FILE:LINE: why" in err (-ENOMEM: out of memory). On success the strings
 * the cfgs point to live until conffile_free(out); on failure *out is empty.
 */
int conffile_load(const char *path, struct conf_set *out, char *err, size_t err_len);
/* The same from text in memory; name stands for its file (includes are relative to it). */
int conffile_load_text(const char *name, const char *text, size_t len, unsigned flags,
		       struct conf_set *out, char *err, size_t err_len);
/*
 * -T: the effective configuration in the same syntax, every default filled
 * in; it loads back to the same configuration (and prints the same text).
 */
void conffile_print(FILE *f, const struct conf_set *s);
void conffile_free(struct conf_set *s);

/*
 * What the file says about a flag of config_options(): the directive's name
 * ("bind" for --listen) and where it may appear, or NULL when the flag has
 * no directive (--help, --version, -c, -t, -T). The unit test checks every
 * flag has one.
 */
enum conf_scope {
	CONF_SCOPE_NONE,     /* not a directive */
	CONF_SCOPE_GLOBAL,   /* process-wide: the global block only */
	CONF_SCOPE_LISTENER, /* defaults or a listener block */
	CONF_SCOPE_UPSTREAM, /* an upstream block */
};
const char *conffile_directive(const char *flag, enum conf_scope *scope);

/*
 * main()'s part of -c, -t and -T, after config_parse() of the command line
 * (cfg holds it): refuses other flags beside -c (exit 2), loads the file
 * into *set, and for -t or -T reports and says to exit. Returns the status
 * to exit with, or -1 to serve: *cfg is then the first listener's.
 */
int conffile_main(struct config *cfg, struct conf_set *set, int argc, char **argv);

#endif
