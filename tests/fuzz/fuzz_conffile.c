// SPDX-License-Identifier: MIT
/*
 * The configuration file's loader (src/server/conffile.c) on any text: the
 * verdict is 0 or -EINVAL with one line "fuzz.conf:LINE: why"; and every
 * text it accepts prints (-T) to a text that loads again and prints the
 * same: load -> print -> load -> print, both prints byte for byte equal.
 *
 * No file is read while a text is loaded: includes are refused by the
 * loader's flag, fopen() (an upstreams-file) fails here, and names resolve
 * numerically only (this replaces getaddrinfo() for the parser), so a fuzzed
 * host name never waits on a resolver.
 */
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "conffile.h"
#include "fuzz.h"

static bool inside; /* in the target: no file opens */

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		struct addrinfo **res)
{
	static int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
	struct addrinfo h = {0};

	if (!real)
		real = (int (*)(const char *, const char *, const struct addrinfo *,
				struct addrinfo **))dlsym(RTLD_NEXT, "getaddrinfo");
	if (hints)
		h = *hints;
	h.ai_flags |= AI_NUMERICHOST | AI_NUMERICSERV;
	if (node && !strcmp(node, "localhost"))
		node = "127.0.0.1";
	return real(node, service, &h, res);
}

FILE *fopen(const char *path, const char *mode)
{
	static FILE *(*real)(const char *, const char *);

	if (inside) {
		errno = EACCES;
		return NULL;
	}
	if (!real)
		real = (FILE * (*)(const char *, const char *)) dlsym(RTLD_NEXT, "fopen");
	return real(path, mode);
}

static char *print(const struct conf_set *s, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	FUZZ_CHECK(f);
	conffile_print(f, s);
	FUZZ_CHECK(fclose(f) == 0 && text);
	return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_set a, b;
	char err[512], *one, *two;
	size_t one_len, two_len;
	int ret;

	inside = true;
	memset(err, 0x55, sizeof(err));
	ret = conffile_load_text("fuzz.conf", (const char *)data, size, CONF_NO_INCLUDE, &a, err,
				 sizeof(err));
	FUZZ_CHECK(ret == 0 || ret == -EINVAL);
	if (ret) {
		size_t len = strnlen(err, sizeof(err));

		FUZZ_CHECK(len > 0 && len < sizeof(err) && !strchr(err, '\n'));
		FUZZ_CHECK(!strncmp(err, "fuzz.conf:", 10));
		FUZZ_CHECK(!a.l && !a.n && !a.pool);
		inside = false;
		return 0;
	}
	FUZZ_CHECK(a.n > 0 && a.l[0].n_binds > 0);
	one = print(&a, &one_len);
	ret = conffile_load_text("fuzz.conf", one, one_len, CONF_NO_INCLUDE, &b, err, sizeof(err));
	if (ret)
		fprintf(stderr, "-T's output does not load: %s\n%s\n", err, one);
	FUZZ_CHECK(ret == 0);
	FUZZ_CHECK(b.n == a.n && b.n_u == a.n_u);
	two = print(&b, &two_len);
	if (one_len != two_len || memcmp(one, two, one_len))
		fprintf(stderr, "-T twice differs:\n%s\n---\n%s\n", one, two);
	FUZZ_CHECK(one_len == two_len && !memcmp(one, two, one_len));
	free(one);
	free(two);
	conffile_free(&a);
	conffile_free(&b);
	inside = false;
	return 0;
}
