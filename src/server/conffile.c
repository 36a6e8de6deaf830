// SPDX-License-Identifier: MIT
/*
 * The configuration file: a tokenizer, a table of directives (one per flag
 * of config.c) and a loader that turns each listener's directives into an
 * argument vector for config_parse(), as nginx's ngx_conf_file.c does with
 * its modules' tables. The grammar:
 *
 *   file      := item*
 *   item      := "global" "{" directive* "}" | "defaults" "{" directive* "}"
 *              | "listener" NAME "{" directive* "}" | "upstream" NAME "{" directive* "}"
 *              | "include" WORD ";"
 *   directive := NAME WORD* ";"            (include too, in any block)
 *   WORD      := a run of bytes but space, { } ; # "  |  "..." with \" and \\
 *
 * '#' starts a comment to the end of the line. Where a directive may appear
 * (its scope) and what its value means (its unit) is the row's business;
 * whether the value is good is config_parse()'s, and an error it returns is
 * put back on the directive's FILE:LINE by parsing the vector again one
 * directive longer at a time (see locate()).
 */
#include "conffile.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_ARGS      16	/* words of one directive */
#define MAX_DIRS      512	/* directives in one block */
#define MAX_DEPTH     16	/* nested includes */
#define MAX_FILES     256	/* files read in all */
#define MAX_FILE_SIZE (4 << 20) /* bytes of one file */
#define MAX_UPSTREAMS 1024	/* upstream blocks */

/* Where a block sits; also the scope a directive was written in. */
enum block_kind { B_TOP, B_GLOBAL, B_DEFAULTS, B_LISTENER, B_UPSTREAM };

enum unit {
	U_RAW,	 /* passed to the flag as written */
	U_MS,	 /* a duration, the flag in milliseconds: 250ms, 30s, 2m, or a bare 250 */
	U_S,	 /* a duration, the flag in seconds */
	U_BYTES, /* a size: 16k, 1m, 1g (1024-based), or bare bytes */
	U_BOOL,	 /* a flag without a value: on gives it, off leaves it out */
};

/* The modes a row means something in (defaults reach only those listeners, -T shows it there). */
enum only {
	M_ANY,
	M_HTTP,	      /* http */
	M_PROXY,      /* a mode with upstreams: proxy, http-proxy */
	M_L4,	      /* proxy alone (send-proxy) */
	M_HTTP_PROXY, /* http-proxy alone */
	M_REQUEST,    /* a mode that reads HTTP requests: http, http-proxy */
};

/* How -T prints a row's value from a struct config. */
enum print {
	P_NONE,	 /* printed with another row (tls-key with tls-cert, body-size with body) */
	P_UINT,	 /* unsigned at off, in the row's unit */
	P_BOOL,	 /* bool at off: on | off */
	P_NOT,	 /* bool at off, the directive its negation (no-pin) */
	P_STR,	 /* const char * at off; NULL: a comment */
	P_ONOFF, /* bool at off, the flag's value on | off (recv-bundle) */
	P_MODE,
	P_SHARDS,
	P_BODY,
	P_METHODS,
	P_SERVER,
	P_BALANCE,
	P_SEND_PROXY,
	P_ADDR, /* --admin */
	P_KEEPALIVE,
	P_TLS_CERT,
	P_TLS_MIN,
	P_TLS_TICKETS,
	P_TLS_VERIFY,
	P_USER_TIMEOUT,
	P_ADMIN_ALLOW, /* --admin-allow */
	P_U64,	       /* uint64_t at off, in the row's unit */
	P_ROUTE,       /* --route: each "route HOST/PREFIX GROUP;" */
	P_FORWARDED,
};

#define R_REPEAT 1u /* may be given several times in a block (each a flag) */
#define R_TLS	 2u /* means nothing without a certificate: inherited only with one */
#define R_CHECK	 4u /* turns health checks on: printed only when they are */

/* Rows a listener's own directive replaces together when inherited from defaults. */
enum group { G_NONE, G_TLS_PAIR, G_BODY };

struct row {
	const char *flag;
	const char *name;
	unsigned char scope; /* enum conf_scope */
	unsigned char unit;
	unsigned char only;
	unsigned char flags;
	unsigned char group;
	unsigned char print;
	unsigned off; /* struct config holds more than 64 KiB */
};

#define OFF(f) ((unsigned)offsetof(struct config, f))
#define G      CONF_SCOPE_GLOBAL
#define L      CONF_SCOPE_LISTENER
#define UP     CONF_SCOPE_UPSTREAM

/*
 * Every flag of config.c, in its table's order. Process-wide ones (one ring
 * set, one buffer pool, one drain for the whole process) live in the global
 * block; what the engine holds per listening socket and per connection
 * (mode, addresses, timeouts, keepalive, PROXY protocol, TLS, the upstream)
 * in a listener; what describes a set of servers in an upstream block.
 */
static const struct row rows[] = {
	{"--listen", "bind", L, U_RAW, M_ANY, R_REPEAT, G_NONE, P_NONE, 0},
	{"--stats-interval", "stats-interval", G, U_S, M_ANY, 0, G_NONE, P_UINT,
	 OFF(stats_interval_s)},
	{"--mode", "mode", L, U_RAW, M_ANY, 0, G_NONE, P_MODE, 0},
	{"--shards", "shards", G, U_RAW, M_ANY, 0, G_NONE, P_SHARDS, 0},
	{"--max-conns", "max-conns", L, U_RAW, M_ANY, 0, G_NONE, P_UINT, OFF(max_conns)},
	{"--buf-size", "buf-size", G, U_BYTES, M_ANY, 0, G_NONE, P_UINT, OFF(buf_size)},
	{"--buf-count", "buf-count", G, U_RAW, M_ANY, 0, G_NONE, P_UINT, OFF(buf_count)},
	{"--ring-entries", "ring-entries", G, U_RAW, M_ANY, 0, G_NONE, P_UINT, OFF(ring_entries)},
	{"--drain-timeout", "drain-timeout", G, U_MS, M_ANY, 0, G_NONE, P_UINT, OFF(drain_ms)},
	{"--idle-timeout", "idle-timeout", L, U_MS, M_ANY, 0, G_NONE, P_UINT, OFF(idle_ms)},
	{"--send-timeout", "send-timeout", L, U_MS, M_ANY, 0, G_NONE, P_UINT, OFF(send_ms)},
	{"--body", "body", L, U_RAW, M_HTTP, 0, G_BODY, P_BODY, 0},
	{"--body-size", "body-size", L, U_BYTES, M_HTTP, 0, G_BODY, P_NONE, 0},
	{"--header-timeout", "header-timeout", L, U_MS, M_REQUEST, 0, G_NONE, P_UINT,
	 OFF(header_ms)},
	{"--methods", "methods", L, U_RAW, M_HTTP, 0, G_NONE, P_METHODS, 0},
	{"--echo-body", "echo-body", L, U_BOOL, M_HTTP, 0, G_NONE, P_BOOL, OFF(echo_body)},
	{"--body-timeout", "body-timeout", L, U_MS, M_REQUEST, 0, G_NONE, P_UINT, OFF(body_ms)},
	{"--body-min-rate", "body-min-rate", L, U_BYTES, M_REQUEST, 0, G_NONE, P_UINT,
	 OFF(body_rate)},
	{"--upstream", "server", UP, U_RAW, M_PROXY, R_REPEAT, G_NONE, P_SERVER, 0},
	{"--connect-timeout", "connect-timeout", L, U_MS, M_PROXY, 0, G_NONE, P_UINT,
	 OFF(connect_ms)},
	{"--connect-retries", "connect-retries", L, U_RAW, M_PROXY, 0, G_NONE, P_UINT,
	 OFF(connect_retries)},
	{"--balance", "balance", UP, U_RAW, M_PROXY, 0, G_NONE, P_BALANCE, 0},
	{"--half-close-timeout", "half-close-timeout", L, U_MS, M_PROXY, 0, G_NONE, P_UINT,
	 OFF(half_close_ms)},
	{"--fail-threshold", "fail-threshold", UP, U_RAW, M_PROXY, 0, G_NONE, P_UINT,
	 OFF(fail_threshold)},
	{"--down-time", "down-time", UP, U_MS, M_PROXY, 0, G_NONE, P_UINT, OFF(down_ms)},
	{"--check", "check", UP, U_BOOL, M_PROXY, 0, G_NONE, P_BOOL, OFF(check)},
	{"--upstreams-file", "upstreams-file", UP, U_RAW, M_PROXY, 0, G_NONE, P_STR,
	 OFF(upstreams_path)},
	{"--queue-timeout", "queue-timeout", L, U_MS, M_PROXY, 0, G_NONE, P_UINT, OFF(queue_ms)},
	{"--accept-proxy", "accept-proxy", L, U_BOOL, M_ANY, 0, G_NONE, P_BOOL, OFF(accept_proxy)},
	{"--send-proxy", "send-proxy", L, U_RAW, M_L4, 0, G_NONE, P_SEND_PROXY, 0},
	{"--log", "log", L, U_RAW, M_PROXY, 0, G_NONE, P_STR, OFF(log_path)},
	{"--check-interval", "check-interval", UP, U_MS, M_PROXY, R_CHECK, G_NONE, P_UINT,
	 OFF(check_ms)},
	{"--resolve-interval", "resolve-interval", UP, U_MS, M_PROXY, 0, G_NONE, P_UINT,
	 OFF(resolve_ms)},
	{"--check-fall", "check-fall", UP, U_RAW, M_PROXY, R_CHECK, G_NONE, P_UINT,
	 OFF(check_fall)},
	{"--check-rise", "check-rise", UP, U_RAW, M_PROXY, R_CHECK, G_NONE, P_UINT,
	 OFF(check_rise)},
	{"--admin", "admin", G, U_RAW, M_ANY, 0, G_NONE, P_ADDR, 0},
	{"--handover", "handover", G, U_RAW, M_ANY, 0, G_NONE, P_STR, OFF(handover_path)},
	{"--recv-bundle", "recv-bundle", G, U_RAW, M_ANY, 0, G_NONE, P_ONOFF, OFF(recv_bundle)},
	{"--keepalive", "keepalive", L, U_RAW, M_ANY, 0, G_NONE, P_KEEPALIVE, 0},
	{"--tcp-user-timeout", "tcp-user-timeout", L, U_MS, M_ANY, 0, G_NONE, P_USER_TIMEOUT,
	 OFF(user_timeout_ms)},
	{"--no-pin", "no-pin", G, U_BOOL, M_ANY, 0, G_NONE, P_NOT, OFF(pin)},
	{"--tls-cert", "tls-cert", L, U_RAW, M_ANY, R_REPEAT, G_TLS_PAIR, P_TLS_CERT, 0},
	{"--tls-key", "tls-key", L, U_RAW, M_ANY, R_REPEAT, G_TLS_PAIR, P_NONE, 0},
	{"--tls-strict-sni", "tls-strict-sni", L, U_BOOL, M_ANY, R_TLS, G_NONE, P_BOOL,
	 OFF(tls.strict_sni)},
	{"--tls-min", "tls-min", L, U_RAW, M_ANY, 0, G_NONE, P_TLS_MIN, 0},
	{"--tls-ciphers", "tls-ciphers", L, U_RAW, M_ANY, R_TLS, G_NONE, P_STR, OFF(tls.ciphers)},
	{"--tls-ciphersuites", "tls-ciphersuites", L, U_RAW, M_ANY, R_TLS, G_NONE, P_STR,
	 OFF(tls.ciphersuites)},
	{"--tls-groups", "tls-groups", L, U_RAW, M_ANY, R_TLS, G_NONE, P_STR, OFF(tls.groups)},
	{"--tls-alpn", "tls-alpn", L, U_RAW, M_ANY, R_TLS, G_NONE, P_STR, OFF(tls.alpn)},
	{"--tls-tickets", "tls-tickets", L, U_RAW, M_ANY, 0, G_NONE, P_TLS_TICKETS, 0},
	{"--tls-verify-client", "tls-verify-client", L, U_RAW, M_ANY, R_TLS, G_NONE, P_TLS_VERIFY,
	 0},
	{"--tls-ca", "tls-ca", L, U_RAW, M_ANY, R_TLS, G_NONE, P_STR, OFF(tls.ca)},
	{"--tls-crl", "tls-crl", L, U_RAW, M_ANY, R_TLS, G_NONE, P_STR, OFF(tls.crl)},
	{"--tls-keylog", "tls-keylog", L, U_RAW, M_ANY, R_TLS, G_NONE, P_STR, OFF(tls.keylog)},
	{"--tls-handshake-timeout", "tls-handshake-timeout", L, U_MS, M_ANY, 0, G_NONE, P_UINT,
	 OFF(tls.handshake_ms)},
	{"--tls-max-handshakes", "tls-max-handshakes", G, U_RAW, M_ANY, 0, G_NONE, P_UINT,
	 OFF(tls.max_handshakes)},
	{"--admin-tls", "admin-tls", G, U_BOOL, M_ANY, 0, G_NONE, P_BOOL, OFF(admin_tls)},
	{"--admin-allow", "admin-allow", G, U_RAW, M_ANY, R_REPEAT, G_NONE, P_ADMIN_ALLOW, 0},
	{"--upstream-ca", "upstream-ca", UP, U_RAW, M_PROXY, 0, G_NONE, P_STR, OFF(upstream_ca)},
	{"--upstream-cert", "upstream-cert", UP, U_RAW, M_PROXY, 0, G_NONE, P_STR,
	 OFF(upstream_cert)},
	{"--upstream-key", "upstream-key", UP, U_RAW, M_PROXY, 0, G_NONE, P_STR, OFF(upstream_key)},
	/* http-proxy: upstream-group's servers print as server lines with group= */
	{"--upstream-group", "upstream-group", UP, U_RAW, M_HTTP_PROXY, R_REPEAT, G_NONE, P_NONE,
	 0},
	{"--route", "route", L, U_RAW, M_HTTP_PROXY, R_REPEAT, G_NONE, P_ROUTE, 0},
	{"--upstream-timeout", "upstream-timeout", L, U_MS, M_HTTP_PROXY, 0, G_NONE, P_UINT,
	 OFF(upstream_ms)},
	{"--max-body", "max-body", L, U_BYTES, M_HTTP_PROXY, 0, G_NONE, P_U64, OFF(max_body)},
	{"--check-http", "check-http", UP, U_RAW, M_HTTP_PROXY, R_CHECK, G_NONE, P_STR,
	 OFF(check_http)},
	{"--pool-size", "pool-size", UP, U_RAW, M_HTTP_PROXY, 0, G_NONE, P_UINT, OFF(pool_size)},
	{"--pool-idle-timeout", "pool-idle-timeout", UP, U_MS, M_HTTP_PROXY, 0, G_NONE, P_UINT,
	 OFF(pool_idle_ms)},
	{"--forwarded", "forwarded", L, U_RAW, M_HTTP_PROXY, 0, G_NONE, P_FORWARDED, 0},
	{"--quiet", "quiet", G, U_BOOL, M_ANY, 0, G_NONE, P_BOOL, OFF(quiet)},
	{"--user", "user", G, U_RAW, M_ANY, 0, G_NONE, P_STR, OFF(user)},
	{"--no-ring-restrict", "no-ring-restrict", G, U_BOOL, M_ANY, 0, G_NONE, P_BOOL,
	 OFF(no_ring_restrict)},
	{"--help", NULL, CONF_SCOPE_NONE, 0, 0, 0, 0, 0, 0},
	{"--version", NULL, CONF_SCOPE_NONE, 0, 0, 0, 0, 0, 0},
	{"--config", NULL, CONF_SCOPE_NONE, 0, 0, 0, 0, 0, 0},
	{"--test-config", NULL, CONF_SCOPE_NONE, 0, 0, 0, 0, 0, 0},
	{"--print-config", NULL, CONF_SCOPE_NONE, 0, 0, 0, 0, 0, 0},
};

#undef G
#undef L
#undef UP

#define N_ROWS (sizeof(rows) / sizeof(rows[0]))

static const struct row *row_by_flag(const char *flag, size_t len)
{
	for (size_t i = 0; i < N_ROWS; i++)
		if (strlen(rows[i].flag) == len && !strncmp(rows[i].flag, flag, len))
			return &rows[i];
	return NULL;
}

static const struct row *row_by_name(const char *name)
{
	for (size_t i = 0; i < N_ROWS; i++)
		if (rows[i].name && !strcmp(rows[i].name, name))
			return &rows[i];
	return NULL;
}

/* Whether a row means something in mode m (see enum only). */
static bool row_applies(const struct row *r, enum ringer_mode m)
{
	switch (r->only) {
	case M_HTTP:
		return m == MODE_HTTP;
	case M_PROXY:
		return mode_has_upstreams(m);
	case M_L4:
		return m == MODE_PROXY;
	case M_HTTP_PROXY:
		return m == MODE_HTTP_PROXY;
	case M_REQUEST:
		return m == MODE_HTTP || m == MODE_HTTP_PROXY;
	}
	return true;
}

const char *conffile_directive(const char *flag, enum conf_scope *scope)
{
	const struct row *r = row_by_flag(flag, strlen(flag));

	if (scope)
		*scope = r ? (enum conf_scope)r->scope : CONF_SCOPE_NONE;
	return r ? r->name : NULL;
}

/* ---- strings: every word read lives in the set's pool until conffile_free() ---- */

struct conf_pool {
	struct conf_pool *next;
	size_t used, cap;
	char data[];
};

static char *pool_alloc(struct conf_pool **head, size_t len)
{
	struct conf_pool *p = *head;

	if (!p || p->cap - p->used < len) {
		size_t cap = len > 65536 ? len : 65536;

		p = malloc(sizeof(*p) + cap);
		if (!p)
			return NULL;
		p->next = *head;
		p->used = 0;
		p->cap = cap;
		*head = p;
	}
	p->used += len;
	return p->data + p->used - len;
}

static char *pool_strndup(struct conf_pool **head, const char *s, size_t len)
{
	char *d = pool_alloc(head, len + 1);

	if (d) {
		memcpy(d, s, len);
		d[len] = 0;
	}
	return d;
}

/* ---- the parser's state ---- */

/* One directive as written, its value made ready for the flag. */
struct dir {
	const struct row *row; /* NULL: proxy_pass */
	const char *val;       /* the flag's value; NULL for a U_BOOL */
	bool on;	       /* U_BOOL */
	const char *written;   /* the value as written when a unit changed it, else NULL */
	const char *file;
	unsigned line;
	unsigned char where; /* enum block_kind */
};

struct block {
	enum block_kind kind;
	char name[CONF_NAME_MAX];
	const char *file;
	unsigned line;
	struct dir *d;
	unsigned n, cap;
	struct dir pass; /* listener: proxy_pass (pass.val: the upstream's name) */
};

struct file_id {
	dev_t dev;
	ino_t ino;
};

struct parser {
	struct conf_set *out;
	struct block global, defaults;
	struct block **ls, **us;
	unsigned n_ls, n_us;
	struct file_id stack[MAX_DEPTH];
	unsigned depth, files;
	unsigned flags;
	char *err;
	size_t err_len;
};

static int perr(struct parser *P, const char *file, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* "FILE:LINE: why" into P->err; control bytes quoted from the file become '?'. */
static int perr(struct parser *P, const char *file, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!P->err || !P->err_len)
		return -EINVAL;
	/* Line 0: about the file as a whole (it cannot be opened). */
	n = line ? snprintf(P->err, P->err_len, "%s:%u: ", file, line)
		 : snprintf(P->err, P->err_len, "%s: ", file);
	if (n >= 0 && (size_t)n < P->err_len) {
		va_start(ap, fmt);
		vsnprintf(P->err + n, P->err_len - (size_t)n, fmt, ap);
		va_end(ap);
	}
	for (char *p = P->err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return -EINVAL;
}

static const char *block_desc(const struct block *b, char *buf, size_t len)
{
	switch (b->kind) {
	case B_GLOBAL:
		return "the global block";
	case B_DEFAULTS:
		return "the defaults block";
	case B_LISTENER:
		snprintf(buf, len, "listener '%s'", b->name);
		return buf;
	case B_UPSTREAM:
		snprintf(buf, len, "upstream '%s'", b->name);
		return buf;
	case B_TOP:
		break;
	}
	return "the top level";
}

/* ---- the tokenizer ---- */

enum tok_type { T_EOF, T_WORD, T_LBRACE, T_RBRACE, T_SEMI };

struct src {
	const char *file;
	const char *p, *end;
	unsigned line;
};

struct tok {
	enum tok_type type;
	const char *s; /* T_WORD: in the pool */
	unsigned line;
	bool quoted;
};

static bool word_byte(unsigned char c)
{
	return c > ' ' && c != 0x7f && c != '{' && c != '}' && c != ';' && c != '#' && c != '"';
}

static int lex_string(struct parser *P, struct src *S, struct tok *t)
{
	const char *start = ++S->p;
	char *d, *out;

	/* First the length with escapes resolved, then the copy. */
	while (S->p < S->end && *S->p != '"') {
		unsigned char c = (unsigned char)*S->p;

		if (c == '\n')
			break;
		if (c < ' ' || c == 0x7f)
			return perr(P, S->file, S->line,
				    "a control byte (0x%02x) in a quoted string", c);
		if (c == '\\') {
			if (S->p + 1 >= S->end || (S->p[1] != '"' && S->p[1] != '\\'))
				return perr(
					P, S->file, S->line,
					"in a quoted string, '\\' goes before '\"' or '\\' only");
			S->p++;
		}
		S->p++;
	}
	if (S->p >= S->end || *S->p != '"')
		return perr(P, S->file, t->line, "a quoted string is not closed ('\"' missing)");
	out = d = pool_alloc(&P->out->pool, (size_t)(S->p - start) + 1);
	if (!out)
		return -ENOMEM;
	for (const char *q = start; q < S->p; q++) {
		if (*q == '\\')
			q++;
		*d++ = *q;
	}
	*d = 0;
	S->p++;
	t->type = T_WORD;
	t->s = out;
	t->quoted = true;
	return 0;
}

static int lex(struct parser *P, struct src *S, struct tok *t)
{
	const char *start;

	for (;;) {
		while (S->p < S->end &&
		       (*S->p == ' ' || *S->p == '\t' || *S->p == '\r' || *S->p == '\n')) {
			if (*S->p == '\n')
				S->line++;
			S->p++;
		}
		if (S->p < S->end && *S->p == '#') {
			while (S->p < S->end && *S->p != '\n')
				S->p++;
			continue;
		}
		break;
	}
	t->line = S->line;
	t->quoted = false;
	t->s = NULL;
	if (S->p == S->end) {
		t->type = T_EOF;
		return 0;
	}
	switch (*S->p) {
	case '{':
		S->p++;
		t->type = T_LBRACE;
		return 0;
	case '}':
		S->p++;
		t->type = T_RBRACE;
		return 0;
	case ';':
		S->p++;
		t->type = T_SEMI;
		return 0;
	case '"':
		return lex_string(P, S, t);
	}
	if (!word_byte((unsigned char)*S->p))
		return perr(P, S->file, S->line, "a control byte (0x%02x) outside a quoted string",
			    (unsigned char)*S->p);
	start = S->p;
	while (S->p < S->end && word_byte((unsigned char)*S->p))
		S->p++;
	t->type = T_WORD;
	t->s = pool_strndup(&P->out->pool, start, (size_t)(S->p - start));
	return t->s ? 0 : -ENOMEM;
}

/* ---- values ---- */

/*
 * A duration or size as the flag takes it: "30s" for a flag in milliseconds
 * is "30000". A bare number passes as written; something else than a number
 * and a known suffix goes to config_parse() as written, which says why not.
 */
static int convert(struct parser *P, const struct row *r, const char *file, unsigned line,
		   const char *v, const char **out)
{
	unsigned long long n, mult = 0, div = 1;
	const char *s = v;
	char buf[32], *p;

	*out = v;
	if (r->unit != U_MS && r->unit != U_S && r->unit != U_BYTES)
		return 0;
	if (*s < '0' || *s > '9')
		return 0;
	while (*s >= '0' && *s <= '9')
		s++;
	if (!*s)
		return 0;
	if (r->unit == U_BYTES) {
		if (!strcmp(s, "k") || !strcmp(s, "K"))
			mult = 1024;
		else if (!strcmp(s, "m") || !strcmp(s, "M"))
			mult = 1024 * 1024;
		else if (!strcmp(s, "g") || !strcmp(s, "G"))
			mult = 1024ull * 1024 * 1024;
	} else {
		bool ms = r->unit == U_MS;

		if (!strcmp(s, "ms"))
			mult = 1, div = ms ? 1 : 1000;
		else if (!strcmp(s, "s"))
			mult = ms ? 1000 : 1;
		else if (!strcmp(s, "m"))
			mult = ms ? 60000 : 60;
	}
	if (!mult)
		return perr(P, file, line, "%s: '%s': %s", r->name, v,
			    r->unit == U_BYTES ? "a size is a number with k, m or g after it, or "
						 "bytes alone"
					       : "a duration is a number with ms, s or m after it");
	errno = 0;
	n = strtoull(v, &p, 10);
	if (errno || n > UINT64_MAX / mult)
		return perr(P, file, line, "%s: '%s' is too large", r->name, v);
	if (n % div)
		return perr(P, file, line, "%s: '%s': the flag counts whole seconds", r->name, v);
	snprintf(buf, sizeof(buf), "%llu", n / div * mult);
	*out = pool_strndup(&P->out->pool, buf, strlen(buf));
	return *out ? 0 : -ENOMEM;
}

static bool good_name(const char *s)
{
	size_t n = strlen(s);

	if (!n || n >= CONF_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}

/* ---- blocks and directives ---- */

static struct block *block_new(enum block_kind kind, const char *name, const char *file,
			       unsigned line)
{
	struct block *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->kind = kind;
	snprintf(b->name, sizeof(b->name), "%s", name);
	b->file = file;
	b->line = line;
	return b;
}

static void block_free(struct block *b)
{
	if (b)
		free(b->d);
	free(b);
}

static struct dir *block_add(struct block *b)
{
	if (b->n == b->cap) {
		unsigned cap = b->cap ? b->cap * 2 : 16;
		struct dir *d = realloc(b->d, cap * sizeof(*d));

		if (!d)
			return NULL;
		b->d = d;
		b->cap = cap;
	}
	memset(&b->d[b->n], 0, sizeof(b->d[0]));
	return &b->d[b->n++];
}

static const struct dir *block_find(const struct block *b, const struct row *r)
{
	for (unsigned i = 0; i < b->n; i++)
		if (b->d[i].row == r)
			return &b->d[i];
	return NULL;
}

static int parse_body(struct parser *P, struct src *S, struct block *b, bool opened);

/* The words of "NAME args... ;" (or "... {"), and what ended them. */
struct stmt {
	struct tok name;
	struct tok args[MAX_ARGS];
	unsigned n;
	enum tok_type end;
	unsigned end_line;
};

static const char *const block_words[] = {"global", "defaults", "listener", "upstream"};

static bool is_block_word(const char *s)
{
	for (unsigned i = 0; i < 4; i++)
		if (!strcmp(s, block_words[i]))
			return true;
	return false;
}

static int open_block(struct parser *P, struct src *S, struct block *parent, struct stmt *st)
{
	const char *w = st->name.s;
	unsigned line = st->name.line;
	struct block *b, ***list;
	unsigned *n;
	char desc[96];

	if (!is_block_word(w)) {
		if (row_by_name(w) || !strcmp(w, "proxy_pass") || !strcmp(w, "include"))
			return perr(P, S->file, line,
				    "'%s' is a directive, not a block (a ';' missing?)", w);
		return perr(P, S->file, line,
			    "unknown block '%s' (global, defaults, listener NAME, upstream NAME)",
			    w);
	}
	if (parent->kind != B_TOP)
		return perr(P, S->file, line,
			    "'%s {' inside %s: blocks do not nest (a '}' missing before it?)", w,
			    block_desc(parent, desc, sizeof(desc)));
	if (!strcmp(w, "global") || !strcmp(w, "defaults")) {
		b = !strcmp(w, "global") ? &P->global : &P->defaults;
		if (st->n)
			return perr(P, S->file, line, "%s takes no name: %s { ... }", w, w);
		/* Several global (or defaults) blocks are one, split over the files. */
		if (!b->file) {
			b->file = S->file;
			b->line = line;
		}
		return parse_body(P, S, b, true);
	}
	if (st->n != 1 || !good_name(st->args[0].s))
		return perr(P, S->file, line,
			    "%s needs a name of 1 to %d letters, digits, '-', '_' or '.': %s NAME "
			    "{ ... }",
			    w, CONF_NAME_MAX - 1, w);
	list = !strcmp(w, "listener") ? &P->ls : &P->us;
	n = !strcmp(w, "listener") ? &P->n_ls : &P->n_us;
	for (unsigned i = 0; i < *n; i++)
		if (!strcmp((*list)[i]->name, st->args[0].s))
			return perr(P, S->file, line, "%s '%s' is defined twice (first at %s:%u)",
				    w, st->args[0].s, (*list)[i]->file, (*list)[i]->line);
	if (*n == (list == &P->ls ? CONF_MAX_LISTENERS : MAX_UPSTREAMS))
		return perr(P, S->file, line, "more than %u %ss", *n, w);
	if (!(*n & (*n - 1))) { /* 0, 1, 2, 4...: the array is full */
		struct block **grown = realloc(*list, (*n ? *n * 2 : 1) * sizeof(**list));

		if (!grown)
			return -ENOMEM;
		*list = grown;
	}
	b = block_new(list == &P->ls ? B_LISTENER : B_UPSTREAM, st->args[0].s, S->file, line);
	if (!b)
		return -ENOMEM;
	(*list)[(*n)++] = b;
	return parse_body(P, S, b, true);
}

static int include(struct parser *P, struct src *S, struct block *b, struct stmt *st);

/* Where a row may go, said when it is somewhere else. */
static int misplaced(struct parser *P, struct src *S, unsigned line, const struct row *r,
		     const struct block *b)
{
	char desc[96];
	const char *where = block_desc(b, desc, sizeof(desc));

	switch (r->scope) {
	case CONF_SCOPE_GLOBAL:
		return perr(P, S->file, line,
			    "%s is process-wide (one value for every listener): it goes in the "
			    "global block, not in %s",
			    r->name, where);
	case CONF_SCOPE_LISTENER:
		if (r->flags & R_REPEAT && !strcmp(r->name, "bind"))
			return perr(P, S->file, line,
				    "bind goes in a listener block (each listener its addresses), "
				    "not in %s",
				    where);
		return perr(P, S->file, line,
			    "%s is set per listener: it goes in a listener or the defaults block, "
			    "not in %s",
			    r->name, where);
	case CONF_SCOPE_UPSTREAM:
		return perr(P, S->file, line,
			    "%s describes upstream servers: it goes in an upstream block (a proxy "
			    "listener names it with proxy_pass NAME), not in %s",
			    r->name, where);
	}
	return perr(P, S->file, line, "unknown directive '%s'", r->name);
}

static int directive(struct parser *P, struct src *S, struct block *b, struct stmt *st)
{
	static const enum conf_scope scope_of[] = {
		[B_GLOBAL] = CONF_SCOPE_GLOBAL,
		[B_DEFAULTS] = CONF_SCOPE_LISTENER,
		[B_LISTENER] = CONF_SCOPE_LISTENER,
		[B_UPSTREAM] = CONF_SCOPE_UPSTREAM,
	};
	unsigned line = st->name.line;
	char name[CONF_NAME_MAX], desc[96];
	const struct row *r;
	const struct dir *first;
	struct dir *d;
	size_t len = strlen(st->name.s);

	if (len >= sizeof(name))
		return perr(P, S->file, line, "unknown directive '%.40s...'", st->name.s);
	for (size_t i = 0; i <= len; i++)
		name[i] = st->name.s[i] == '_' ? '-' : st->name.s[i];
	if (!strcmp(name, "include"))
		return include(P, S, b, st);
	/* More words than it takes, over several lines: the ';' of the first is missing. */
	if (st->n > 1 && st->args[st->n - 1].line > line)
		return perr(P, S->file, line, "';' missing after '%s %s'", st->name.s,
			    st->args[0].s);
	if (b->kind == B_TOP) {
		if (is_block_word(name))
			return perr(P, S->file, line, "%s needs a block: %s%s { ... }", name, name,
				    strcmp(name, "global") && strcmp(name, "defaults") ? " NAME"
										       : "");
		r = row_by_name(name);
		if (r || !strcmp(name, "proxy-pass"))
			return perr(
				P, S->file, line,
				"%s outside a block: directives go in global { }, defaults { }, "
				"listener NAME { } or upstream NAME { }",
				name);
		return perr(P, S->file, line, "unknown directive '%s'", st->name.s);
	}
	if (!strcmp(name, "proxy-pass")) {
		if (b->kind != B_LISTENER)
			return perr(P, S->file, line,
				    "proxy_pass goes in a listener block, not in %s",
				    block_desc(b, desc, sizeof(desc)));
		if (b->pass.val)
			return perr(P, S->file, line, "proxy_pass is given twice (first at %s:%u)",
				    b->pass.file, b->pass.line);
		if (st->n != 1 || !good_name(st->args[0].s))
			return perr(P, S->file, line,
				    "proxy_pass takes the name of an upstream block");
		b->pass = (struct dir){.val = st->args[0].s, .file = S->file, .line = line};
		return 0;
	}
	r = row_by_name(name);
	if (!r || is_block_word(name))
		return perr(P, S->file, line, "unknown directive '%s'", st->name.s);
	if (r->scope != scope_of[b->kind] || (b->kind == B_DEFAULTS && !strcmp(name, "bind")))
		return misplaced(P, S, line, r, b);
	if (!(r->flags & R_REPEAT) && (first = block_find(b, r)))
		return perr(P, S->file, line, "%s is given twice in %s (first at %s:%u)", name,
			    block_desc(b, desc, sizeof(desc)), first->file, first->line);
	if (r->print == P_ROUTE && (st->n < 1 || st->n > 2))
		return perr(P, S->file, line,
			    "route takes [HOST][/PREFIX] GROUP, or [HOST][/PREFIX]=GROUP");
	if (!st->n || (st->n > 1 && r->print != P_SERVER && r->print != P_ROUTE))
		return perr(P, S->file, line, "%s takes %s", name,
			    r->unit == U_BOOL ? "on or off" : "one value");
	if (b->n == MAX_DIRS)
		return perr(P, S->file, line, "more than %d directives in %s", MAX_DIRS,
			    block_desc(b, desc, sizeof(desc)));
	d = block_add(b);
	if (!d)
		return -ENOMEM;
	d->row = r;
	d->file = S->file;
	d->line = line;
	d->where = (unsigned char)b->kind;
	if (r->unit == U_BOOL) {
		if (strcmp(st->args[0].s, "on") && strcmp(st->args[0].s, "off"))
			return perr(P, S->file, line, "%s takes on or off, not '%s'", name,
				    st->args[0].s);
		d->on = !strcmp(st->args[0].s, "on");
		return 0;
	}
	if (r->print == P_ROUTE && st->n == 2) {
		/* route api.example.com/v1 api: the flag's api.example.com/v1=api */
		size_t a = strlen(st->args[0].s), g = strlen(st->args[1].s);
		char *v = pool_alloc(&P->out->pool, a + g + 2);

		if (!v)
			return -ENOMEM;
		memcpy(v, st->args[0].s, a);
		v[a] = '=';
		memcpy(v + a + 1, st->args[1].s, g + 1);
		d->val = v;
		return 0;
	}
	if (r->print == P_SERVER && st->n > 1) {
		/* server HOST:PORT weight=2 tls: the flag's HOST:PORT,weight=2,tls */
		size_t total = 0;
		char *v, *p;

		for (unsigned i = 0; i < st->n; i++)
			total += strlen(st->args[i].s) + 1;
		p = v = pool_alloc(&P->out->pool, total);
		if (!v)
			return -ENOMEM;
		for (unsigned i = 0; i < st->n; i++) {
			size_t l = strlen(st->args[i].s);

			memcpy(p, st->args[i].s, l);
			p += l;
			*p++ = i + 1 < st->n ? ',' : 0;
		}
		d->val = v;
		return 0;
	}
	if (convert(P, r, S->file, line, st->args[0].s, &d->val))
		return -EINVAL;
	if (d->val != st->args[0].s)
		d->written = st->args[0].s;
	return 0;
}

static int parse_body(struct parser *P, struct src *S, struct block *b, bool opened)
{
	char desc[96];
	int ret;

	for (;;) {
		struct stmt st;
		struct tok t;

		if ((ret = lex(P, S, &st.name)))
			return ret;
		switch (st.name.type) {
		case T_EOF:
			if (opened)
				return perr(P, b->file, b->line,
					    "%s opened here is not closed ('}' missing)",
					    block_desc(b, desc, sizeof(desc)));
			return 0;
		case T_RBRACE:
			if (opened)
				return 0;
			return perr(P, S->file, st.name.line,
				    b->kind == B_TOP ? "a '}' with no block open"
						     : "a '}' in an included file closes no block "
						       "it opened");
		case T_SEMI:
			return perr(P, S->file, st.name.line, "a ';' with no directive before it");
		case T_LBRACE:
			return perr(P, S->file, st.name.line, "a '{' with no block name before it");
		case T_WORD:
			break;
		}
		if (st.name.quoted)
			return perr(P, S->file, st.name.line,
				    "a directive's name is a word, not a quoted string");
		st.n = 0;
		for (;;) {
			if ((ret = lex(P, S, &t)))
				return ret;
			if (t.type != T_WORD)
				break;
			if (st.n == MAX_ARGS)
				return perr(P, S->file, st.name.line,
					    "more than %d words after '%s' (a ';' missing?)",
					    MAX_ARGS, st.name.s);
			st.args[st.n++] = t;
		}
		st.end = t.type;
		st.end_line = t.line;
		if (t.type == T_LBRACE)
			ret = open_block(P, S, b, &st);
		else if (t.type == T_SEMI)
			ret = directive(P, S, b, &st);
		else
			ret = perr(P, S->file, st.name.line, "';' missing after '%s%s%s'",
				   st.name.s, st.n ? " " : "", st.n ? st.args[0].s : "");
		if (ret)
			return ret;
	}
}

/* ---- files and includes ---- */

static int parse_text(struct parser *P, const char *file, const char *text, size_t len,
		      struct block *b)
{
	struct src S = {.file = file, .p = text, .end = text + len, .line = 1};

	return parse_body(P, &S, b, false);
}

static int parse_file(struct parser *P, const char *path, struct block *b, const char *from,
		      unsigned from_line)
{
	struct stat st;
	char *text = NULL;
	ssize_t got = 0;
	int fd, ret;

	if (P->files++ == MAX_FILES)
		return perr(P, from, from_line, "more than %d files included", MAX_FILES);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st)) {
		ret = errno;
		if (fd >= 0)
			close(fd);
		if (!from)
			return perr(P, path, 0, "cannot open: %s", strerror(ret));
		return perr(P, from, from_line, "include %s: %s", path, strerror(ret));
	}
	if (!S_ISREG(st.st_mode) || st.st_size > MAX_FILE_SIZE) {
		close(fd);
		return from ? perr(P, from, from_line,
				   "include %s: not a regular file of at most "
				   "4 MiB",
				   path)
			    : perr(P, path, 0, "not a regular file of at most 4 MiB");
	}
	for (unsigned i = 0; i < P->depth; i++) {
		if (P->stack[i].dev == st.st_dev && P->stack[i].ino == st.st_ino) {
			close(fd);
			return perr(P, from, from_line,
				    "include %s: an include loop (it is being "
				    "read already)",
				    path);
		}
	}
	if (P->depth == MAX_DEPTH) {
		close(fd);
		return perr(P, from, from_line, "include %s: more than %d includes deep", path,
			    MAX_DEPTH);
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		close(fd);
		return -ENOMEM;
	}
	while (got < st.st_size) {
		ssize_t n = read(fd, text + got, (size_t)(st.st_size - got));

		if (n <= 0)
			break;
		got += n;
	}
	close(fd);
	P->stack[P->depth++] = (struct file_id){st.st_dev, st.st_ino};
	path = pool_strndup(&P->out->pool, path, strlen(path));
	ret = path ? parse_text(P, path, text, (size_t)got, b) : -ENOMEM;
	P->depth--;
	free(text);
	return ret;
}

/*
 * include GLOB; relative to the including file's folder. Matches are read in
 * glob(3)'s sorted order, each in the block the include is in; a pattern
 * with a wildcard may match nothing, a plain path must exist.
 */
static int include(struct parser *P, struct src *S, struct block *b, struct stmt *st)
{
	const char *pat = st->n == 1 ? st->args[0].s : NULL, *slash;
	unsigned line = st->name.line;
	char path[4096];
	glob_t g;
	int ret;

	if (!pat || !*pat)
		return perr(P, S->file, line, "include takes one file name or pattern");
	if (P->flags & CONF_NO_INCLUDE)
		return perr(P, S->file, line, "include is not allowed here");
	slash = strrchr(S->file, '/');
	if (pat[0] == '/' || !slash)
		snprintf(path, sizeof(path), "%s", pat);
	else
		snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - S->file), S->file, pat);
	ret = glob(path, GLOB_ERR, NULL, &g);
	if (ret == GLOB_NOMATCH) {
		if (strpbrk(pat, "*?["))
			return 0;
		return perr(P, S->file, line, "include %s: %s", path, strerror(ENOENT));
	}
	if (ret)
		return perr(P, S->file, line, "include %s: %s", path,
			    ret == GLOB_NOSPACE ? "out of memory" : "cannot read the folder");
	for (size_t i = 0; i < g.gl_pathc && !ret; i++)
		ret = parse_file(P, g.gl_pathv[i], b, S->file, line);
	globfree(&g);
	return ret;
}

/* ---- from directives to configurations ---- */

/* An argument vector for config_parse() and, per word, the directive it came from. */
struct vec {
	char **argv;
	const struct dir **from;
	unsigned argc, cap;
	unsigned *ends; /* argc after each directive */
	unsigned n_ends;
};

static int vec_init(struct vec *v, unsigned dirs)
{
	v->cap = 2 + 2 * dirs + 4;
	v->argc = 1;
	v->n_ends = 0;
	v->argv = calloc(v->cap, sizeof(*v->argv));
	v->from = calloc(v->cap, sizeof(*v->from));
	v->ends = calloc(dirs + 2, sizeof(*v->ends));
	if (!v->argv || !v->from || !v->ends)
		return -ENOMEM;
	v->argv[0] = "ringer";
	return 0;
}

static void vec_free(struct vec *v)
{
	free(v->argv);
	free(v->from);
	free(v->ends);
}

static void vec_push(struct vec *v, const struct dir *d)
{
	if (d->row->unit == U_BOOL) {
		if (!d->on)
			return;
		v->from[v->argc] = d;
		v->argv[v->argc++] = (char *)d->row->flag;
	} else {
		v->from[v->argc] = d;
		v->argv[v->argc++] = (char *)d->row->flag;
		v->from[v->argc] = d;
		v->argv[v->argc++] = (char *)d->val;
	}
	v->ends[v->n_ends++] = v->argc;
}

/* "--buf-count: ..." as the file says it: "buf-count: ...", "--listen" as "bind". */
static void reword(const char *in, char *out, size_t len)
{
	size_t o = 0;

	while (*in && o + 1 < len) {
		if (in[0] == '-' && in[1] == '-' && in[2] >= 'a' && in[2] <= 'z') {
			size_t n = 2 + strspn(in + 2, "abcdefghijklmnopqrstuvwxyz0123456789-");
			const struct row *r = row_by_flag(in, n);

			if (r && r->name) {
				o += (size_t)snprintf(out + o, len - o, "%s", r->name);
				if (o >= len)
					o = len - 1;
				in += n;
				continue;
			}
		}
		out[o++] = *in++;
	}
	out[o] = 0;
}

/*
 * config_parse() on the vector; on an error, the directive behind it: the
 * first whose vector, cut after it and ended by --help (which skips the
 * checks across flags), fails already; else a check across flags failed,
 * and the first flag its message names that the vector holds is the one.
 */
static int run(struct parser *P, struct vec *v, struct config *cfg, const struct block *b)
{
	char msg[512], reworded[512], desc[96];
	const struct dir *d = NULL;
	struct config *tmp;
	char **cut;

	config_defaults(cfg);
	if (!config_parse(cfg, (int)v->argc, v->argv, msg, sizeof(msg)))
		return 0;
	tmp = malloc(sizeof(*tmp));
	cut = calloc(v->argc + 2, sizeof(*cut));
	if (!tmp || !cut) {
		free(tmp);
		free(cut);
		return -ENOMEM;
	}
	for (unsigned j = 0; j < v->n_ends && !d; j++) {
		memcpy(cut, v->argv, v->ends[j] * sizeof(*cut));
		cut[v->ends[j]] = "--help";
		config_defaults(tmp);
		if (config_parse(tmp, (int)v->ends[j] + 1, cut, reworded, sizeof(reworded))) {
			d = v->from[v->ends[j] - 1];
			memcpy(msg, reworded, sizeof(msg));
		}
	}
	free(tmp);
	free(cut);
	for (const char *p = msg; !d && (p = strstr(p, "--")); p += 2) {
		size_t n = 2 + strspn(p + 2, "abcdefghijklmnopqrstuvwxyz0123456789-");

		/* The last directive of that flag, or rather the one whose value the message quotes. */
		for (unsigned k = v->argc; k-- > 1;) {
			const struct dir *x = v->from[k];

			if (!x || strlen(x->row->flag) != n || strncmp(x->row->flag, p, n))
				continue;
			if (!d)
				d = x;
			if (x->val && *x->val && strstr(msg, x->val)) {
				d = x;
				break;
			}
		}
	}
	reword(msg, reworded, sizeof(reworded));
	if (!d)
		return perr(P, b->file, b->line, "%s: %s", block_desc(b, desc, sizeof(desc)),
			    reworded);
	return perr(P, d->file, d->line, "%s%s%s%s%s%s", reworded, d->written ? " (written '" : "",
		    d->written ? d->written : "", d->written ? "')" : "",
		    d->where != b->kind ? ", in " : "",
		    d->where != b->kind ? block_desc(b, desc, sizeof(desc)) : "");
}

static bool sets(const struct block *b, const struct row *r)
{
	for (unsigned i = 0; i < b->n; i++)
		if (b->d[i].row == r || (r->group && b->d[i].row->group == r->group))
			return true;
	return false;
}

static const struct block *find_upstream(const struct parser *P, const char *name)
{
	for (unsigned i = 0; i < P->n_us; i++)
		if (!strcmp(P->us[i]->name, name))
			return P->us[i];
	return NULL;
}

/* The mode a listener ends up with, as written ("echo" when neither it nor defaults say). */
static const char *mode_of(const struct parser *P, const struct block *b)
{
	const struct row *m = row_by_name("mode");
	const struct dir *d = block_find(b, m);

	if (!d)
		d = block_find(&P->defaults, m);
	return d ? d->val : "echo";
}

/* The mode as written, as an enum ringer_mode (echo for a name config_parse() will refuse). */
static enum ringer_mode mode_id(const char *name)
{
	for (unsigned m = MODE_ECHO; m <= MODE_HTTP_PROXY; m++)
		if (!strcmp(name, mode_name((enum ringer_mode)m)))
			return (enum ringer_mode)m;
	return MODE_ECHO;
}

/*
 * The mode an upstream block is checked (and -T printed) in on its own: the
 * mode of the listeners that name it when they agree on http-proxy, else
 * proxy; one nobody names is http-proxy's, whose directives are a superset.
 */
static const char *upstream_mode(const struct parser *P, const struct block *b)
{
	bool named = false, l4 = false;

	for (unsigned i = 0; i < P->n_ls; i++) {
		if (!P->ls[i]->pass.val || strcmp(P->ls[i]->pass.val, b->name))
			continue;
		named = true;
		l4 |= mode_id(mode_of(P, P->ls[i])) != MODE_HTTP_PROXY;
	}
	return named && l4 ? "proxy" : "http-proxy";
}

static int build_upstream(struct parser *P, const struct block *b, struct conf_upstream *u)
{
	struct vec v;
	int ret;

	if (!block_find(b, row_by_name("server")) && !block_find(b, row_by_name("upstreams-file")))
		return perr(P, b->file, b->line,
			    "upstream '%s' has no server HOST:PORT (nor upstreams-file)", b->name);
	if ((ret = vec_init(&v, b->n + 1)))
		goto out;
	v.argv[v.argc++] = "--mode";
	v.argv[v.argc++] = (char *)upstream_mode(P, b);
	for (unsigned i = 0; i < b->n; i++)
		vec_push(&v, &b->d[i]);
	snprintf(u->name, sizeof(u->name), "%s", b->name);
	snprintf(u->file, sizeof(u->file), "%s", b->file);
	u->line = b->line;
	ret = run(P, &v, &u->cfg, b);
out:
	vec_free(&v);
	return ret;
}

static int build_listener(struct parser *P, const struct block *b, struct conf_listener *l)
{
	const struct row *bind = row_by_name("bind"), *cert = row_by_name("tls-cert");
	const char *mode = mode_of(P, b);
	bool proxy = mode_has_upstreams(mode_id(mode));
	bool has_cert = block_find(b, cert) || (!sets(b, cert) && block_find(&P->defaults, cert));
	const struct block *up = NULL;
	struct vec v;
	int ret;

	snprintf(l->name, sizeof(l->name), "%s", b->name);
	snprintf(l->file, sizeof(l->file), "%s", b->file);
	l->line = b->line;
	for (unsigned i = 0; i < b->n; i++) {
		const struct dir *d = &b->d[i];

		if (d->row != bind)
			continue;
		if (l->n_binds == CONF_MAX_BINDS)
			return perr(P, d->file, d->line, "more than %d binds in listener '%s'",
				    CONF_MAX_BINDS, b->name);
		if (net_addr_parse(d->val, &l->binds[l->n_binds]))
			return perr(P, d->file, d->line,
				    "bind: '%s' is not ADDR:PORT (e.g. 127.0.0.1:9000 or "
				    "[::1]:9000)",
				    d->val);
		l->bind_line[l->n_binds++] = d->line;
	}
	if (!l->n_binds)
		return perr(P, b->file, b->line, "listener '%s' has no bind ADDR:PORT", b->name);
	if (proxy && !b->pass.val)
		return perr(P, b->file, b->line,
			    "listener '%s' is mode %s: it needs proxy_pass NAME (an upstream "
			    "block)",
			    b->name, mode);
	if (b->pass.val && !proxy)
		return perr(P, b->pass.file, b->pass.line,
			    "proxy_pass needs mode proxy or http-proxy (listener '%s' is mode %s)",
			    b->name, mode);
	if (b->pass.val && !(up = find_upstream(P, b->pass.val)))
		return perr(P, b->pass.file, b->pass.line,
			    "proxy_pass %s: no upstream block of that name", b->pass.val);
	if (up)
		snprintf(l->upstream, sizeof(l->upstream), "%s", up->name);
	if ((ret = vec_init(&v, P->global.n + P->defaults.n + b->n + (up ? up->n : 0))))
		goto out;
	/* The first bind is the flag's --listen; the others are checked above. */
	for (unsigned i = 0; i < b->n; i++) {
		if (b->d[i].row == bind) {
			vec_push(&v, &b->d[i]);
			break;
		}
	}
	for (unsigned i = 0; i < P->global.n; i++)
		vec_push(&v, &P->global.d[i]);
	/*
	 * Defaults the listener does not set itself, where they mean something:
	 * http ones for http listeners, proxy ones for proxy listeners, TLS ones
	 * for listeners with a certificate.
	 */
	for (unsigned i = 0; i < P->defaults.n; i++) {
		const struct dir *d = &P->defaults.d[i];

		if (sets(b, d->row) || !row_applies(d->row, mode_id(mode)) ||
		    (d->row->flags & R_TLS && !has_cert))
			continue;
		vec_push(&v, d);
	}
	for (unsigned i = 0; i < b->n; i++)
		if (b->d[i].row != bind)
			vec_push(&v, &b->d[i]);
	for (unsigned i = 0; up && i < up->n; i++)
		vec_push(&v, &up->d[i]);
	ret = run(P, &v, &l->cfg, b);
out:
	vec_free(&v);
	return ret;
}

/* Whether two addresses to listen on take the same port (one of them a wildcard counts). */
static bool clash(const struct net_addr *a, const struct net_addr *b)
{
	const struct sockaddr_in *a4 = (const void *)&a->ss, *b4 = (const void *)&b->ss;
	const struct sockaddr_in6 *a6 = (const void *)&a->ss, *b6 = (const void *)&b->ss;

	if (a->ss.ss_family != b->ss.ss_family || !net_addr_port(a) ||
	    net_addr_port(a) != net_addr_port(b))
		return false;
	if (a->ss.ss_family == AF_INET)
		return a4->sin_addr.s_addr == b4->sin_addr.s_addr || !a4->sin_addr.s_addr ||
		       !b4->sin_addr.s_addr;
	return !memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof(a6->sin6_addr)) ||
	       IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr) || IN6_IS_ADDR_UNSPECIFIED(&b6->sin6_addr);
}

static int check_addresses(struct parser *P)
{
	struct conf_set *s = P->out;
	char a[80];

	for (unsigned i = 0; i < s->n; i++) {
		const struct conf_listener *l = &s->l[i];

		for (unsigned k = 0; k < l->n_binds; k++) {
			const struct net_addr *x = &l->binds[k];

			if (l->cfg.admin_set && clash(x, &l->cfg.admin))
				return perr(
					P, l->file, l->bind_line[k],
					"bind %s: the admin port's address (admin in the global "
					"block)",
					net_addr_str(x, a, sizeof(a)));
			for (unsigned j = 0; j <= i; j++) {
				const struct conf_listener *m = &s->l[j];

				for (unsigned q = 0; q < (j == i ? k : m->n_binds); q++)
					if (clash(x, &m->binds[q]))
						return perr(P, l->file, l->bind_line[k],
							    "bind %s: listener '%s' binds that "
							    "address already (%s:%u)",
							    net_addr_str(x, a, sizeof(a)), m->name,
							    m->file, m->bind_line[q]);
			}
		}
	}
	return 0;
}

static int build(struct parser *P, const char *top)
{
	struct conf_set *s = P->out;
	int ret;

	s->u = calloc(P->n_us ? P->n_us : 1, sizeof(*s->u));
	s->l = calloc(P->n_ls ? P->n_ls : 1, sizeof(*s->l));
	if (!s->u || !s->l)
		return -ENOMEM;
	for (unsigned i = 0; i < P->n_us; i++, s->n_u++)
		if ((ret = build_upstream(P, P->us[i], &s->u[i])))
			return ret;
	if (!P->n_ls)
		return perr(P, top, 1,
			    "no listener (listener NAME { bind ADDR:PORT; mode echo; } at least)");
	for (unsigned i = 0; i < P->n_ls; i++, s->n++)
		if ((ret = build_listener(P, P->ls[i], &s->l[i])))
			return ret;
	for (unsigned i = 0; i < s->n; i++) {
		s->l[i].cfg.listen = s->l[i].binds[0];
		s->l[i].cfg.conf_path = s->path;
	}
	return check_addresses(P);
}

static int load(const char *name, const char *text, size_t len, unsigned flags,
		struct conf_set *out, char *err, size_t err_len)
{
	struct parser P = {.out = out, .flags = flags, .err = err, .err_len = err_len};
	int ret;

	memset(out, 0, sizeof(*out));
	if (err && err_len)
		err[0] = 0;
	snprintf(out->path, sizeof(out->path), "%s", name);
	P.global.kind = B_GLOBAL;
	P.defaults.kind = B_DEFAULTS;
	{
		struct block top = {.kind = B_TOP};

		if (text) {
			ret = parse_text(&P, out->path, text, len, &top);
		} else {
			ret = parse_file(&P, name, &top, NULL, 0);
		}
	}
	if (!ret)
		ret = build(&P, out->path);
	free(P.global.d);
	free(P.defaults.d);
	for (unsigned i = 0; i < P.n_ls; i++)
		block_free(P.ls[i]);
	for (unsigned i = 0; i < P.n_us; i++)
		block_free(P.us[i]);
	free(P.ls);
	free(P.us);
	if (ret == -ENOMEM && err && err_len)
		snprintf(err, err_len, "%s: out of memory", name);
	if (ret)
		conffile_free(out);
	return ret;
}

int conffile_load(const char *path, struct conf_set *out, char *err, size_t err_len)
{
	return load(path, NULL, 0, 0, out, err, err_len);
}

int conffile_load_text(const char *name, const char *text, size_t len, unsigned flags,
		       struct conf_set *out, char *err, size_t err_len)
{
	return load(name, text ? text : "", len, flags, out, err, err_len);
}

void conffile_free(struct conf_set *s)
{
	while (s->pool) {
		struct conf_pool *next = s->pool->next;

		free(s->pool);
		s->pool = next;
	}
	free(s->l);
	free(s->u);
	memset(s, 0, sizeof(*s));
}

/* ---- -T ---- */

static void print_word(FILE *f, const char *s)
{
	bool plain = *s != 0;

	for (const char *p = s; *p && plain; p++)
		plain = word_byte((unsigned char)*p) && *p != '\\';
	if (plain) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void print_number(FILE *f, enum unit u, unsigned long long v)
{
	if (u == U_MS && v && !(v % 60000))
		fprintf(f, "%llum", v / 60000);
	else if (u == U_MS && v && !(v % 1000))
		fprintf(f, "%llus", v / 1000);
	else if (u == U_MS && v)
		fprintf(f, "%llums", v);
	else if (u == U_S && v && !(v % 60))
		fprintf(f, "%llum", v / 60);
	else if (u == U_S && v)
		fprintf(f, "%llus", v);
	else if (u == U_BYTES && v && !(v % (1ull << 30)))
		fprintf(f, "%llug", v >> 30);
	else if (u == U_BYTES && v && !(v % (1ull << 20)))
		fprintf(f, "%llum", v >> 20);
	else if (u == U_BYTES && v && !(v % 1024))
		fprintf(f, "%lluk", v >> 10);
	else
		fprintf(f, "%llu", v);
}

static void print_row(FILE *f, const struct row *r, const struct config *c)
{
	const char *base = (const char *)c;
	static const char *const methods[] = {"GET",	"HEAD",	 "POST",   "PUT",
					      "DELETE", "PATCH", "OPTIONS"};
	static const char *const verify[] = {"none", "optional", "required"};
	char a[80];

	switch (r->print) {
	case P_NONE:
		return;
	case P_UINT:
		fprintf(f, "\t%s ", r->name);
		print_number(f, (enum unit)r->unit, *(const unsigned *)(base + r->off));
		break;
	case P_BOOL:
	case P_NOT:
	case P_ONOFF:
		fprintf(f, "\t%s %s", r->name,
			*(const bool *)(base + r->off) == (r->print != P_NOT) ? "on" : "off");
		break;
	case P_STR: {
		const char *s = *(const char *const *)(base + r->off);

		if (!s) {
			fprintf(f, "\t# %s: not set\n", r->name);
			return;
		}
		fprintf(f, "\t%s ", r->name);
		print_word(f, s);
		break;
	}
	case P_MODE:
		fprintf(f, "\tmode %s", mode_name(c->mode));
		break;
	case P_SHARDS:
		if (!c->shards) {
			fputs("\t# shards: one per CPU ringer may run on\n", f);
			return;
		}
		fprintf(f, "\tshards %u", c->shards);
		break;
	case P_BODY:
		if (c->body_filler) {
			fputs("\tbody-size ", f);
			print_number(f, U_BYTES, c->body_size);
		} else if (c->body) {
			fputs("\tbody ", f);
			print_word(f, c->body);
		} else {
			fputs("\t# body: \"Hello, World!\"\n", f);
			return;
		}
		break;
	case P_METHODS:
		fputs("\tmethods ", f);
		if (!c->methods)
			fputs("any", f);
		for (unsigned i = 0, n = 0; i < 7; i++)
			if (c->methods & (1u << i))
				fprintf(f, "%s%s", n++ ? "," : "", methods[i]);
		break;
	case P_SERVER:
		if (c->upstreams_path)
			return; /* the file holds them */
		for (unsigned i = 0; i < c->n_upstreams; i++) {
			const struct config_upstream *u = &c->upstreams[i];

			fputs("\tserver ", f);
			print_word(f, u->name);
			fprintf(f, " weight=%u", u->weight);
			if (u->maxconn)
				fprintf(f, " maxconn=%u", u->maxconn);
			if (u->resolve)
				fputs(" resolve", f);
			if (u->tls)
				fputs(" tls", f);
			if (u->sni[0]) {
				snprintf(a, sizeof(a), "sni=%s", u->sni);
				fputc(' ', f);
				print_word(f, a);
			}
			if (u->no_verify)
				fputs(" verify=none", f);
			if (u->group[0])
				fprintf(f, " group=%s", u->group);
			fputs(";\n", f);
		}
		return;
	case P_BALANCE:
		fprintf(f, "\tbalance %s", balance_name(c->balance));
		break;
	case P_SEND_PROXY:
		if (!c->send_proxy) {
			fputs("\t# send-proxy: off\n", f);
			return;
		}
		fprintf(f, "\tsend-proxy v%u", c->send_proxy);
		break;
	case P_ADDR:
		if (!c->admin_set) {
			fputs("\t# admin: off\n", f);
			return;
		}
		fprintf(f, "\tadmin %s", net_addr_str(&c->admin, a, sizeof(a)));
		break;
	case P_KEEPALIVE:
		if (!c->ka_idle_s)
			fputs("\tkeepalive off", f);
		else
			fprintf(f, "\tkeepalive %u,%u,%u", c->ka_idle_s, c->ka_intvl_s, c->ka_cnt);
		break;
	case P_TLS_CERT:
		if (!c->tls_on) {
			fputs("\t# tls-cert: none (no TLS on accepted connections)\n", f);
			return;
		}
		for (unsigned i = 0; i < c->tls.n_certs; i++) {
			fputs("\ttls-cert ", f);
			print_word(f, c->tls.cert[i]);
			fputs(";\n\ttls-key ", f);
			print_word(f, c->tls.key[i]);
			fputs(";\n", f);
		}
		return;
	case P_USER_TIMEOUT:
		/* Unset, it follows keepalive: said so, for a value would pin it. */
		if (!c->user_timeout_set) {
			fputs("\t# tcp-user-timeout: the keepalive's span, ", f);
			print_number(f, U_MS, c->user_timeout_ms);
			fputc('\n', f);
			return;
		}
		fputs("\ttcp-user-timeout ", f);
		print_number(f, U_MS, c->user_timeout_ms);
		break;
	case P_TLS_MIN:
		fprintf(f, "\ttls-min 1.%u", c->tls.min_version == 13 ? 3 : 2);
		break;
	case P_TLS_TICKETS:
		if (c->tls.tickets < 0) {
			fputs("\t# tls-tickets: 1 (the default)\n", f);
			return;
		}
		fprintf(f, "\ttls-tickets %d", c->tls.tickets);
		break;
	case P_TLS_VERIFY:
		fprintf(f, "\ttls-verify-client %s",
			verify[(unsigned)c->tls.verify_client < 3 ? c->tls.verify_client : 0]);
		break;
	case P_U64:
		fprintf(f, "\t%s ", r->name);
		print_number(f, (enum unit)r->unit, *(const uint64_t *)(base + r->off));
		break;
	case P_ROUTE:
		for (unsigned i = 0; i < c->n_routes; i++) {
			const struct config_route *rt = &c->routes[i];
			char where[sizeof(rt->host) + sizeof(rt->prefix)];

			snprintf(where, sizeof(where), "%s%s", rt->host, rt->prefix);
			fputs("\troute ", f);
			print_word(f, where);
			fprintf(f, " %s;\n", rt->group[0] ? rt->group : "default");
		}
		return;
	case P_FORWARDED: {
		static const char *const fw[] = {"x-forwarded", "rfc7239", "none"};

		fprintf(f, "\tforwarded %s", fw[(unsigned)c->forwarded < 3 ? c->forwarded : 0]);
		break;
	}
	case P_ADMIN_ALLOW:
		if (!c->n_admin_allow) {
			fputs("\t# admin-allow: loopback alone (the default)\n", f);
			return;
		}
		fputs("\tadmin-allow ", f);
		for (unsigned i = 0; i < c->n_admin_allow; i++)
			fprintf(f, "%s%s", i ? "," : "",
				cidr_str(&c->admin_allow[i], a, sizeof(a)));
		break;
	}
	fputs(";\n", f);
}

/* The rows of one scope a configuration shows: its mode's, and TLS ones with TLS on. */
static void print_rows(FILE *f, enum conf_scope scope, const struct config *c)
{
	for (size_t i = 0; i < N_ROWS; i++) {
		const struct row *r = &rows[i];

		if (r->scope != scope || !strcmp(r->name, "bind") || !strcmp(r->name, "mode"))
			continue;
		if ((scope == CONF_SCOPE_LISTENER || scope == CONF_SCOPE_UPSTREAM) &&
		    !row_applies(r, c->mode))
			continue;
		if ((r->flags & R_TLS && !c->tls_on) || (r->flags & R_CHECK && !c->check))
			continue;
		print_row(f, r, c);
	}
}

void conffile_print(FILE *f, const struct conf_set *s)
{
	char a[80];

	fprintf(f, "# ringer -T: %s, every value in effect (defaults filled in)\n", s->path);
	if (!s->n)
		return;
	fputs("global {\n", f);
	print_rows(f, CONF_SCOPE_GLOBAL, &s->l[0].cfg);
	fputs("}\n", f);
	for (unsigned i = 0; i < s->n_u; i++) {
		fprintf(f, "\nupstream %s {\n", s->u[i].name);
		print_rows(f, CONF_SCOPE_UPSTREAM, &s->u[i].cfg);
		fputs("}\n", f);
	}
	for (unsigned i = 0; i < s->n; i++) {
		const struct conf_listener *l = &s->l[i];

		fprintf(f, "\nlistener %s {\n", l->name);
		for (unsigned k = 0; k < l->n_binds; k++)
			fprintf(f, "\tbind %s;\n", net_addr_str(&l->binds[k], a, sizeof(a)));
		fprintf(f, "\tmode %s;\n", mode_name(l->cfg.mode));
		if (l->upstream[0])
			fprintf(f, "\tproxy_pass %s;\n", l->upstream);
		print_rows(f, CONF_SCOPE_LISTENER, &l->cfg);
		fputs("}\n", f);
	}
}

/* ---- main()'s part ---- */

int conffile_main(struct config *cfg, struct conf_set *set, int argc, char **argv)
{
	const char *path = cfg->conf_path ? cfg->conf_path : RINGER_CONF_DEFAULT;
	char err[512];

	/* Everything is in the file: a flag beside it would be a second source of truth. */
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-c") || !strcmp(a, "--config")) {
			i++;
			continue;
		}
		if (!strncmp(a, "--config=", 9) || !strcmp(a, "-t") ||
		    !strcmp(a, "--test-config") || !strcmp(a, "-T") || !strcmp(a, "--print-config"))
			continue;
		fprintf(stderr,
			"ringer: %s: with a configuration file every setting goes in the file "
			"(man ringer: Configuration file), not on the command line\n",
			a);
		return 2;
	}
	if (conffile_load(path, set, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (cfg->conf_print) {
		conffile_print(stdout, set);
		fflush(stdout);
	}
	if (cfg->conf_test || cfg->conf_print) {
		fprintf(cfg->conf_print ? stderr : stdout, "%s: syntax ok, %u listener%s\n", path,
			set->n, set->n == 1 ? "" : "s");
		return 0;
	}
	*cfg = set->l[0].cfg;
	return -1;
}
