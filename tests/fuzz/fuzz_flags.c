// SPDX-License-Identifier: MIT
/*
 * The command-line parsers of ringer (src/server/config.c) and ringer-load
 * (src/load/load_config.c) on any argument vector: the first byte picks the
 * program, the rest splits at NUL bytes into arguments, each in a buffer of
 * exactly its size. Every verdict is 0 or -EINVAL with a one-line message,
 * and every configuration ringer accepts is one it can start with (the
 * limits the parser promises hold).
 *
 * Names are resolved numerically only here: this replaces getaddrinfo() for
 * the parsers, so a fuzzed host name never waits on a resolver.
 */
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <string.h>

#include "fuzz.h"
#include "load_config.h"
#include "ringer/config.h"

#define MAX_ARGS 32

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

static bool one_line(const char *err, size_t cap)
{
	size_t len = strnlen(err, cap);

	return len > 0 && len < cap && !strchr(err, '\n');
}

static bool pow2(unsigned v)
{
	return v && !(v & (v - 1));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[MAX_ARGS + 2] = {0}, err[256];
	int argc = 1, ret;
	size_t off = 1;

	if (!size)
		return 0;
	argv[0] = (data[0] & 1) ? "ringer-load" : "ringer";
	while (off <= size && argc <= MAX_ARGS) {
		const uint8_t *end = memchr(data + off, 0, size - off);
		size_t len = end ? (size_t)(end - (data + off)) : size - off;

		argv[argc] = malloc(len + 1);
		FUZZ_CHECK(argv[argc]);
		memcpy(argv[argc], data + off, len);
		argv[argc++][len] = 0;
		off += len + 1;
	}
	memset(err, 0x55, sizeof(err));
	if (data[0] & 1) {
		struct load_config lc;

		load_config_defaults(&lc);
		ret = load_config_parse(&lc, argc, argv, err, sizeof(err));
		FUZZ_CHECK(ret == 0 || ret == -EINVAL);
		if (ret == 0 && !lc.help)
			FUZZ_CHECK(lc.connections > 0 && lc.threads > 0);
	} else {
		struct config cfg;

		config_defaults(&cfg);
		ret = config_parse(&cfg, argc, argv, err, sizeof(err));
		FUZZ_CHECK(ret == 0 || ret == -EINVAL);
		if (ret == 0 && !cfg.help && !cfg.version) {
			FUZZ_CHECK(pow2(cfg.buf_count) && cfg.buf_size > 0);
			FUZZ_CHECK(pow2(cfg.ring_entries) && cfg.ring_entries <= 16384);
			FUZZ_CHECK(cfg.max_conns > 0);
			FUZZ_CHECK(mode_has_upstreams(cfg.mode) == (cfg.n_upstreams > 0));
			/* http-proxy: groups only there, and every route's group has upstreams. */
			FUZZ_CHECK(cfg.n_routes <= CONFIG_MAX_ROUTES && cfg.pool_size <= 4096);
			FUZZ_CHECK(!cfg.n_routes || cfg.mode == MODE_HTTP_PROXY);
			for (unsigned i = 0; i < cfg.n_upstreams; i++)
				FUZZ_CHECK(!cfg.upstreams[i].group[0] ||
					   cfg.mode == MODE_HTTP_PROXY);
			for (unsigned k = 0; k < cfg.n_routes; k++) {
				unsigned i = 0;

				while (i < cfg.n_upstreams &&
				       strcmp(cfg.upstreams[i].group, cfg.routes[k].group))
					i++;
				FUZZ_CHECK(i < cfg.n_upstreams);
			}
		}
	}
	if (ret)
		FUZZ_CHECK(one_line(err, sizeof(err)));
	for (int i = 1; i < argc; i++)
		free(argv[i]);
	return 0;
}
