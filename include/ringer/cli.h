/* SPDX-License-Identifier: MIT */
#ifndef RINGER_CLI_H
#define RINGER_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Strict unsigned parse with an optional k/m/g (1024-based) suffix when allow_suffix. */
int parse_uint(const char *s, uint64_t min, uint64_t max, bool allow_suffix, uint64_t *out);

/*
 * The flag walker both binaries use: "--name value", "--name=value" and short
 * aliases ("-h"), looked up in a table. cli_next() returns the index of the
 * next flag in opts (its value in *val, NULL for a flag without one), -1 when
 * argv is used up, or -EINVAL with a one-line message in err.
 */
struct cli_opt {
	const char *name;	/* "--listen" */
	const char *short_name; /* "-h", or NULL */
	int id;
	bool has_arg;
};

int cli_next(const struct cli_opt *opts, size_t n_opts, int argc, char *const argv[], int *i,
	     const char **val, char *err, size_t err_len);
/* Formats a message into err and returns -EINVAL. */
int cli_fail(char *err, size_t err_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
