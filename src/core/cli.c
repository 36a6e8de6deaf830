// SPDX-License-Identifier: MIT
/* The flag walker and number parser both binaries use. */
#include "ringer/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int parse_uint(const char *s, uint64_t min, uint64_t max, bool allow_suffix, uint64_t *out)
{
	unsigned long long v;
	char *end;
	uint64_t mult = 1;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	if (*end && allow_suffix && !end[1]) {
		switch (*end) {
		case 'k':
		case 'K':
			mult = 1024;
			break;
		case 'm':
		case 'M':
			mult = 1024 * 1024;
			break;
		case 'g':
		case 'G':
			mult = 1024ull * 1024 * 1024;
			break;
		default:
			return -EINVAL;
		}
		end++;
	}
	if (*end)
		return -EINVAL;
	if (v > UINT64_MAX / mult)
		return -ERANGE;
	v *= mult;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int cli_fail(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (err && err_len) {
		vsnprintf(err, err_len, fmt, ap);
		/* Messages quote what was typed: a control byte in it must not reach the terminal. */
		for (char *p = err; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
	}
	va_end(ap);
	return -EINVAL;
}

int cli_next(const struct cli_opt *opts, size_t n_opts, int argc, char *const argv[], int *i,
	     const char **val, char *err, size_t err_len)
{
	const char *arg, *eq;
	size_t name_len, k;

	if (++*i >= argc)
		return -1;
	arg = argv[*i];
	*val = NULL;
	if (arg[0] != '-' || !strcmp(arg, "-") || !strcmp(arg, "--"))
		return cli_fail(err, err_len, "unexpected argument '%s' (see --help)", arg);
	eq = strncmp(arg, "--", 2) ? NULL : strchr(arg, '=');
	name_len = eq ? (size_t)(eq - arg) : strlen(arg);
	for (k = 0; k < n_opts; k++) {
		if ((strlen(opts[k].name) == name_len && !strncmp(arg, opts[k].name, name_len)) ||
		    (opts[k].short_name && !eq && !strcmp(arg, opts[k].short_name)))
			break;
	}
	if (k == n_opts)
		return cli_fail(err, err_len, "unknown option '%.*s' (see --help)", (int)name_len,
				arg);
	if (opts[k].has_arg) {
		if (eq)
			*val = eq + 1;
		else if (*i + 1 < argc)
			*val = argv[++*i];
		else
			return cli_fail(err, err_len, "%s needs a value", opts[k].name);
	} else if (eq) {
		return cli_fail(err, err_len, "%s takes no value", opts[k].name);
	}
	return (int)k;
}
