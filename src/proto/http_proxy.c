// SPDX-License-Identifier: MIT
/*
 * HTTP reverse proxy mode (--mode http-proxy): being built; see README.
 */
#include <errno.h>

#include "ringer/engine.h"
#include "ringer/mode.h"

static int hp_init(struct engine *e, const void *arg, void **data)
{
	(void)e;
	(void)arg;
	(void)data;
	return -EOPNOTSUPP;
}

static void hp_readable(struct engine *e, struct conn *c)
{
	engine_drop_input(e, c);
}

const struct mode_ops mode_http_proxy = {
	.name = "http-proxy",
	.conns_per_session = 2,
	.init = hp_init,
	.readable = hp_readable,
};
