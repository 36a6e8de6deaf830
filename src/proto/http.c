// SPDX-License-Identifier: MIT
/*
 * HTTP/1.1 mode: a keep-alive, pipelining responder with a fixed response.
 *
 * Input buffers are parsed as they come (http_parser resumes across buffer
 * boundaries, so each buffer goes back to the ring as soon as it is parsed).
 * Consecutive requests that get the same response form a run, and a run is
 * answered with one send: the shard keeps, per response variant, a block of
 * up to 64 back-to-back copies of the response, so 16 pipelined GETs cost one
 * send of 16 responses where nginx makes one writev per response.
 *
 * Per connection:
 *
 *   parse -> extend the run -> (run differs | input exhausted) -> send run
 *   send done -> next run, or error response, or close (Connection: close,
 *   HTTP/1.0, or after an error: we close first, FIN_WAIT_1 -> ...)
 *
 * The Date header changes once a second: http_response keeps two generations
 * of every response and a send holds the generation it points into, so a
 * refresh never rewrites bytes a send still reads. The run blocks follow the
 * same generations.
 *
 * --echo-body: a request with a body (Content-Length, 0 included, or
 * chunked) is answered with 200 and that body, streamed: the request's
 * buffers are sent back as they arrive, after the head (and, for chunked,
 * each chunk's size line) that the connection's small slot of the shard's
 * echo table holds, with engine_send_input() (no copy, paced by the send in
 * flight and the engine's pool shares). Such a request ends a run and nothing
 * after it is parsed until its body has passed:
 *
 *   head parsed -> (earlier runs sent) -> wait for the first body byte
 *     -> head + data -> data ... -> [chunked: "0" chunk] -> next request
 *
 * The head waits for the body's first byte, so a body that never starts
 * still gets the 408 and a malformed first chunk the 400 they get without
 * the flag. Once the 200 has begun, its status cannot change: a body that
 * stalls, breaks off or turns out malformed cuts the response with a reset,
 * so no client takes it for a whole one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "http_parser.h"
#include "http_response.h"
#include "ringer/config.h"
#include "ringer/engine.h"
#include "ringer/mode.h"

#define RUN_COPIES_MAX 64
#define RUN_BLOCK_MAX  (64 * 1024) /* bytes of one block of copies */

/* run.kind of an echoed body: no prebuilt response, never part of a longer run. */
#define RUN_ECHO HTTP_RESP_KIND_COUNT

/* A connection's slot of the echo table: its response head, or a chunk's framing. */
#define ECHO_SLOT 256

_Static_assert(HTTP_ECHO_HEAD_MAX + 24 <= ECHO_SLOT, "a head and a chunk-size line fit a slot");

/* Responses that can keep a connection open and so can repeat within a run. */
enum { RUN_OK, RUN_HEAD, RUN_405, RUN_405_HEAD, RUN_KINDS };

static const enum http_resp_kind run_kind_resp[RUN_KINDS] = {
	[RUN_OK] = HTTP_RESP_OK,
	[RUN_HEAD] = HTTP_RESP_OK_HEAD,
	[RUN_405] = HTTP_RESP_NOT_ALLOWED,
	[RUN_405_HEAD] = HTTP_RESP_NOT_ALLOWED_HEAD,
};

struct run_block {
	char *data;   /* copies back to back */
	uint32_t one; /* bytes of one response */
	uint32_t copies;
};

struct http_shard {
	struct http_responses resp;
	/* [generation][kind][minor: 0 = HTTP/1.0, 1 = HTTP/1.1] */
	struct run_block block[2][RUN_KINDS][2];
	bool out_of_line;   /* the body is too large to copy: head and body go in two sends */
	uint32_t header_ms; /* --header-timeout */
	unsigned methods;   /* --methods (0: any) */
	uint32_t body_ms;   /* --body-timeout */
	uint32_t body_rate; /* --body-min-rate */
	char *echo;	    /* --echo-body: ECHO_SLOT bytes per connection slot, or NULL */
	size_t echo_bytes;
};

/* A pending run: count requests that all get the same response. */
struct run {
	uint32_t count;
	uint8_t kind; /* enum http_resp_kind, or RUN_ECHO */
	uint8_t minor : 1;
	uint8_t keep : 1;
	uint8_t valid : 1;
	/* RUN_ECHO only (count 1): the body's framing and how far its answer got */
	uint8_t chunked : 1; /* the body is chunked, and so is the answer */
	uint8_t started : 1; /* the head went */
	uint8_t chunks : 1;  /* a data chunk went (the next framing starts with CRLF) */
	uint8_t ended : 1;   /* the parser has passed the body's end */
	uint8_t head_len;    /* the head's bytes at the start of the echo slot */
	uint8_t expect : 1;  /* the client waits for 100 Continue before its body */
};

/* The request deadline armed on a connection. */
enum req_timer {
	TIMER_NONE, /* idle between requests, or an error to answer */
	TIMER_HEAD, /* --header-timeout from the request's first byte */
	TIMER_BODY, /* --body-timeout, extended by --body-min-rate */
};

struct http_conn {
	struct http_parser parser;
	struct run run;		/* being built, or being sent */
	struct run next;	/* the request that ended the run, waiting its turn */
	uint32_t chunk;		/* responses in the send in flight */
	uint16_t error;		/* HTTP status of a parse error still to answer, or 0 */
	uint8_t gen;		/* response generation the send in flight holds */
	uint8_t holding : 1;	/* a generation is held */
	uint8_t body_phase : 1; /* out-of-line body: the head went, the body is next */
	uint8_t closing : 1;	/* the last request asked for a close: parse no further */
	uint8_t errored : 1;	/* the close follows an error response */
	uint8_t eof : 1;	/* the peer's FIN arrived: close once all is answered */
	uint8_t timer : 2;	/* enum req_timer: which deadline is armed */
};

_Static_assert(sizeof(struct http_conn) <= sizeof(((struct conn *)0)->proto),
	       "HTTP state fits in struct conn");

static inline struct http_conn *hconn(struct conn *c)
{
	return conn_mode(c);
}

static inline struct http_shard *hshard(struct engine *e)
{
	return engine_mode_data(e);
}

static void build_blocks(struct http_shard *hs, unsigned gen)
{
	for (int k = 0; k < RUN_KINDS; k++) {
		for (int minor = 0; minor < 2; minor++) {
			struct run_block *b = &hs->block[gen][k][minor];
			struct http_resp r = http_response_get(&hs->resp, run_kind_resp[k], true,
							       (unsigned)minor);

			b->one = r.len;
			if (r.body_len || !b->data) {
				b->copies = 1;
				continue;
			}
			for (uint32_t i = 0; i < b->copies; i++)
				memcpy(b->data + (size_t)i * r.len, r.data, r.len);
		}
	}
}

static int http_init(struct engine *e, const void *arg, void **data)
{
	const struct config *cfg = arg;
	struct http_shard *hs = calloc(1, sizeof(*hs));
	int ret;

	if (!hs)
		return -ENOMEM;
	/*
	 * http_responses_init_allow() reads (NULL, 0) as "the default body", so an
	 * empty filler body is passed as an empty string instead.
	 */
	char allow[96] = "";

	/* The 405's Allow: the methods --methods lists. */
	for (unsigned m = 0; m < HTTP_METHOD_OTHER; m++)
		if (cfg->methods & (1u << m))
			snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s",
				 allow[0] ? ", " : "", http_method_name((enum http_method)m));
	hs->methods = cfg->methods;
	if (cfg->body_filler)
		ret = http_responses_init_allow(&hs->resp, cfg->body_size ? NULL : "",
						cfg->body_size, time(NULL), allow);
	else if (cfg->body)
		ret = http_responses_init_allow(&hs->resp, cfg->body, strlen(cfg->body), time(NULL),
						allow);
	else
		ret = http_responses_init_allow(&hs->resp, NULL, 0, time(NULL), allow);
	if (ret) {
		free(hs);
		return ret;
	}
	for (int gen = 0; gen < 2; gen++) {
		for (int k = 0; k < RUN_KINDS; k++) {
			for (int minor = 0; minor < 2; minor++) {
				struct run_block *b = &hs->block[gen][k][minor];
				struct http_resp r = http_response_get(&hs->resp, run_kind_resp[k],
								       true, (unsigned)minor);
				uint32_t copies = r.len ? RUN_BLOCK_MAX / r.len : 1;

				if (r.body_len)
					hs->out_of_line = true;
				if (copies > RUN_COPIES_MAX)
					copies = RUN_COPIES_MAX;
				if (copies <= 1 || r.body_len) {
					b->copies = 1; /* sent straight from the response itself */
					continue;
				}
				b->copies = copies;
				b->data = malloc((size_t)copies * r.len);
				if (!b->data) {
					ret = -ENOMEM;
					goto out_free;
				}
			}
		}
	}
	/* Both generations start from the same Date; refreshes then alternate. */
	build_blocks(hs, 0);
	build_blocks(hs, 1);
	hs->header_ms = cfg->header_ms;
	hs->body_ms = cfg->body_ms;
	hs->body_rate = cfg->body_rate;
	if (cfg->echo_body) {
		/* Touched only as slots are used, like the engine's own per-slot tables. */
		hs->echo_bytes = (size_t)engine_capacity(e) * ECHO_SLOT;
		hs->echo = mmap(NULL, hs->echo_bytes, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (hs->echo == MAP_FAILED) {
			hs->echo = NULL;
			ret = -ENOMEM;
			goto out_free;
		}
	}
	*data = hs;
	return 0;

out_free:
	for (int gen = 0; gen < 2; gen++)
		for (int k = 0; k < RUN_KINDS; k++)
			for (int minor = 0; minor < 2; minor++)
				free(hs->block[gen][k][minor].data);
	http_responses_free(&hs->resp);
	free(hs);
	return ret;
}

static void http_fini(struct engine *e, void *data)
{
	struct http_shard *hs = data;

	if (!hs)
		return;
	if (hs->echo)
		munmap(hs->echo, hs->echo_bytes);
	for (int gen = 0; gen < 2; gen++)
		for (int k = 0; k < RUN_KINDS; k++)
			for (int minor = 0; minor < 2; minor++)
				free(hs->block[gen][k][minor].data);
	http_responses_free(&hs->resp);
	free(hs);
}

static void http_tick(struct engine *e, uint64_t now_ms, int64_t wall_sec)
{
	struct http_shard *hs = hshard(e);
	unsigned before = hs->resp.cur;

	/* -EBUSY: a send still reads the spare generation; try again next tick. */
	if (http_response_set_date(&hs->resp, (time_t)wall_sec) == 0 && hs->resp.cur != before)
		build_blocks(hs, hs->resp.cur);
}

static void http_accepted(struct engine *e, struct conn *c)
{
	memset(hconn(c), 0, sizeof(struct http_conn));
	http_parser_init(&hconn(c)->parser);
}

static int run_index(uint8_t kind)
{
	switch (kind) {
	case HTTP_RESP_OK:
		return RUN_OK;
	case HTTP_RESP_OK_HEAD:
		return RUN_HEAD;
	case HTTP_RESP_NOT_ALLOWED:
		return RUN_405;
	case HTTP_RESP_NOT_ALLOWED_HEAD:
		return RUN_405_HEAD;
	default:
		return -1;
	}
}

static void release_hold(struct http_shard *hs, struct http_conn *hc)
{
	if (hc->holding) {
		http_response_release(&hs->resp, hc->gen);
		hc->holding = 0;
	}
}

/*
 * Sends what comes next for the current run: a block of up to 64 copies, or
 * one response (closing, or too large to copy), or one piece of a response
 * whose body is stored apart. The engine resumes a short send itself.
 */
static int send_run(struct engine *e, struct conn *c)
{
	struct http_shard *hs = hshard(e);
	struct http_conn *hc = hconn(c);
	struct http_resp r;
	const char *ptr;
	uint32_t len, count = 1;
	int ri = run_index(hc->run.kind);

	if (!hc->holding && !hc->body_phase) {
		hc->gen = hs->resp.cur;
		hc->holding = 1;
		http_response_hold(&hs->resp, hc->gen);
	}
	r = http_response_get_gen(&hs->resp, hc->run.kind, hc->run.keep, hc->run.minor, hc->gen);
	ptr = r.data;
	len = r.len;
	if (r.body_len) {
		if (hc->body_phase) {
			ptr = r.body;
			len = r.body_len;
		}
	} else if (ri >= 0 && !r.close) {
		const struct run_block *b = &hs->block[hc->gen][ri][hc->run.minor ? 1 : 0];

		if (b->data) {
			count = hc->run.count < b->copies ? hc->run.count : b->copies;
			ptr = b->data;
			len = b->one * count;
		}
	}
	hc->chunk = count;
	return engine_send(e, c, ptr, len);
}

/* --methods: any method gets the response (mask 0), or those listed; the rest 405. */
static uint8_t kind_for_method(unsigned mask, uint8_t method)
{
	if (mask && (method >= HTTP_METHOD_OTHER || !(mask & (1u << method))))
		return method == HTTP_METHOD_HEAD ? HTTP_RESP_NOT_ALLOWED_HEAD
						  : HTTP_RESP_NOT_ALLOWED;
	return method == HTTP_METHOD_HEAD ? HTTP_RESP_OK_HEAD : HTTP_RESP_OK;
}

/*
 * The request deadlines, one armed at a time:
 *
 * --header-timeout (nginx's client_header_timeout, HAProxy's timeout
 * http-request): from the first byte of a request to the end of its header
 * section. Arriving bytes do not extend it, so a client trickling a header
 * one byte at a time (slowloris) is answered 408 and closed; an idle
 * keep-alive connection between requests is not timed by it.
 *
 * --body-timeout with --body-min-rate (Apache's mod_reqtimeout body=,MinRate=):
 * a body gets body_ms to start, and every body_rate bytes received push the
 * deadline a second further, never more than body_ms ahead of now. A body
 * that keeps up the rate is never cut; one trickled slower (a slow POST)
 * meets the deadline and is answered 408.
 */
static void update_deadline(struct engine *e, struct conn *c, uint32_t body_bytes)
{
	struct http_shard *hs = hshard(e);
	struct http_conn *hc = hconn(c);
	enum req_timer want = TIMER_NONE;
	uint64_t now = engine_now_ms(e), at;

	if (!hc->error && http_parser_in_head(&hc->parser))
		want = hs->header_ms ? TIMER_HEAD : TIMER_NONE;
	else if (!hc->error && !http_parser_idle(&hc->parser))
		want = hs->body_ms ? TIMER_BODY : TIMER_NONE;
	if (want != hc->timer) {
		hc->timer = want;
		at = want == TIMER_HEAD	  ? now + hs->header_ms
		     : want == TIMER_BODY ? now + hs->body_ms
					  : 0;
		engine_set_deadline(e, c, at);
		return;
	}
	if (want != TIMER_BODY || !body_bytes || !hs->body_rate)
		return;
	at = engine_deadline(e, c) + (uint64_t)body_bytes * 1000 / hs->body_rate;
	engine_set_deadline(e, c, at < now + hs->body_ms ? at : now + hs->body_ms);
}

static char *echo_slot(struct engine *e, struct conn *c)
{
	return hshard(e)->echo + (size_t)engine_ref(e, c).slot * ECHO_SLOT;
}

/* "[CRLF]size CRLF": the line that starts a chunk of the answer, after the one before it. */
static uint32_t chunk_line(char *out, uint32_t size, bool after_chunk)
{
	return (uint32_t)sprintf(out, "%s%x\r\n", after_chunk ? "\r\n" : "", size);
}

/* The answer to an echoed body cannot be finished: cut it (see the top of the file). */
static void echo_cut(struct engine *e, struct conn *c)
{
	engine_close(e, c, ENGINE_CLOSE_RESET);
}

enum echo_step { ECHO_WAIT, ECHO_DONE };

/*
 * Moves the echo in hc->run on: parses framing (consumed here), hands the
 * body bytes queued to one send with the head or framing before them, and
 * at the body's end sends what closes the answer. Returns ECHO_WAIT (a send
 * is in flight, more input is needed, or the connection is going) or
 * ECHO_DONE (the run is answered, or dropped for an error to answer).
 */
static enum echo_step echo_step(struct engine *e, struct conn *c)
{
	struct http_shard *hs = hshard(e);
	struct http_conn *hc = hconn(c);
	struct run *r = &hc->run;
	char *buf = echo_slot(e, c);
	uint32_t body_bytes = 0, pre = 0, len;

	for (;;) {
		enum http_event ev = HTTP_EV_END;
		struct http_request req;
		const uint8_t *in;
		ssize_t n = 0;

		if (!r->ended) {
			uint32_t avail = engine_input(e, c, &in);

			n = http_parse_event(&hc->parser, (const char *)in, avail, &req, &ev);
			if (n < 0) {
				STAT_INC(engine_stats(e), proto_errors);
				if (r->started) {
					echo_cut(e, c);
					return ECHO_WAIT;
				}
				/* Nothing of the 200 went: the error is answered as ever. */
				hc->error = (uint16_t)http_error_status((enum http_error) - n);
				r->count = 0;
				return ECHO_DONE;
			}
			if (n) {
				engine_consume(e, c, (uint32_t)n); /* framing, never sent */
				body_bytes += (uint32_t)n;
			}
		}
		if (ev == HTTP_EV_DATA && conn_inq_len(c))
			break;
		if (ev == HTTP_EV_END) {
			r->ended = 1;
			goto end;
		}
		if (ev != HTTP_EV_NONE && ev != HTTP_EV_DATA) {
			/* A head or a whole request inside a body: the parser and we disagree. */
			echo_cut(e, c);
			return ECHO_WAIT;
		}
		if (n && ev == HTTP_EV_NONE)
			continue; /* a buffer of framing went; the next may hold data */
		/* All queued input is parsed: wait for more, unless none will come. */
		if (hc->eof) {
			if (r->started) {
				echo_cut(e, c);
				return ECHO_WAIT;
			}
			r->count = 0; /* the body broke off before its answer began */
			return ECHO_DONE;
		}
		update_deadline(e, c, body_bytes);
		if (r->expect && !r->started) {
			/*
			 * Expect: 100-continue and no body byte yet: invite it, as nginx
			 * does when it starts reading a body (curl otherwise waits a
			 * second). In order: everything before this request is answered.
			 */
			static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

			r->expect = 0;
			hc->chunk = 0;
			if (engine_send(e, c, cont, sizeof(cont) - 1))
				echo_cut(e, c);
		}
		return ECHO_WAIT;
	}

	/* Data: as much as is queued (at most a send's worth), after the head or framing. */
	len = engine_input_len(e, c);
	if (len > ENGINE_SEND_INPUT_MAX)
		len = ENGINE_SEND_INPUT_MAX;
	if (len > http_parser_data_left(&hc->parser))
		len = (uint32_t)http_parser_data_left(&hc->parser);
	if (!r->started) {
		http_response_echo_date(&hs->resp, buf);
		pre = r->head_len;
		/* The client sent its body without waiting: no 100 (RFC 9110 10.1.1). */
		r->expect = 0;
	}
	if (r->chunked) {
		pre += chunk_line(buf + pre, len, r->chunks);
		r->chunks = 1;
	}
	r->started = 1;
	http_parser_take_data(&hc->parser, len);
	if (!r->chunked && !http_parser_data_left(&hc->parser)) {
		/*
		 * The whole body is in: the body deadline is done with, and a slow
		 * reader of the rest of its echo meets --send-timeout instead, as a
		 * slow reader of any response does.
		 */
		hc->timer = TIMER_NONE;
		engine_set_deadline(e, c, 0);
	} else {
		update_deadline(e, c, body_bytes + len);
	}
	hc->chunk = 0; /* the run goes on after this send */
	if (engine_send_input(e, c, pre ? buf : NULL, pre, len))
		echo_cut(e, c);
	return ECHO_WAIT;

end:
	if (!r->started) {
		http_response_echo_date(&hs->resp, buf);
		pre = r->head_len;
		r->started = 1;
	}
	if (r->chunked) {
		memcpy(buf + pre, "\r\n0\r\n\r\n" + (r->chunks ? 0 : 2), r->chunks ? 7 : 5);
		pre += r->chunks ? 7 : 5;
	}
	if (!r->keep)
		hc->closing = 1;
	/* The body is all in: its deadline goes, however slowly the rest is read. */
	update_deadline(e, c, body_bytes);
	if (!pre) {
		r->count = 0;
		return ECHO_DONE;
	}
	hc->chunk = 1; /* this send ends the run */
	if (engine_send(e, c, buf, pre))
		echo_cut(e, c);
	return ECHO_WAIT;
}

/* Parses with http_parse_event() while a request's head is being read (--echo-body). */
static bool parse_heads(const struct http_shard *hs, const struct http_conn *hc)
{
	return hs->echo && (http_parser_idle(&hc->parser) || http_parser_in_head(&hc->parser));
}

/*
 * Parses queued input into the run until the run must be sent (a request
 * wants another response, an error, a close, or the input ran out), then
 * sends it; with nothing left to answer, closes if asked to. An echoed body
 * is answered by echo_step(), then this goes on with what follows it.
 */
static void http_pump(struct engine *e, struct conn *c)
{
	struct http_shard *hs = hshard(e);
	struct http_conn *hc = hconn(c);
	const uint8_t *in;
	uint32_t body_bytes = 0;

again:
	if (engine_sending(c) || engine_closing(c))
		return;
	if (!hc->run.count && hc->next.valid) {
		hc->run = hc->next;
		hc->next.valid = 0;
	}
	if (hc->run.count && hc->run.kind == RUN_ECHO) {
		if (echo_step(e, c) == ECHO_WAIT)
			return;
		goto again;
	}
	while (!hc->next.valid && !hc->error && !hc->closing && conn_inq_len(c)) {
		uint32_t avail = engine_input(e, c, &in);
		enum http_event ev = HTTP_EV_COMPLETE;
		struct http_request req;
		struct run r = {0};
		bool echo;
		ssize_t n;

		if (parse_heads(hs, hc))
			n = http_parse_event(&hc->parser, (const char *)in, avail, &req, &ev);
		else
			n = http_parse(&hc->parser, (const char *)in, avail, &req);
		if (n < 0) {
			hc->error = (uint16_t)http_error_status((enum http_error) - n);
			STAT_INC(engine_stats(e), proto_errors);
			break;
		}
		if (ev == HTTP_EV_NONE)
			n = 0;
		/* n == 0: all of it parsed and no request complete yet; the buffer goes back. */
		engine_consume(e, c, n ? (uint32_t)n : avail);
		if (hc->timer == TIMER_BODY)
			body_bytes += n ? (uint32_t)n : avail;
		if (n == 0)
			continue;
		r.kind = kind_for_method(hs->methods, req.method);
		/* A head whose body is not echoed: http_parse() discards the body, then it is answered. */
		echo = hs->echo && req.has_body && r.kind == HTTP_RESP_OK;
		if (ev == HTTP_EV_HEAD && !echo)
			continue;
		STAT_INC(engine_stats(e), requests);
		r.count = 1;
		r.minor = req.minor;
		/*
		 * Stopping (SIGTERM, or a --handover to a new ringer): the answer says
		 * Connection: close, so a keep-alive client reconnects (to whoever
		 * listens now) instead of meeting a reset at the drain deadline.
		 */
		r.keep = req.keep_alive && !engine_draining(e);
		r.valid = 1;
		if (echo) {
			/* Its head now, while the request is at hand; its Date when it goes. */
			r.kind = RUN_ECHO;
			r.chunked = req.chunked;
			r.ended = ev != HTTP_EV_HEAD; /* Content-Length: 0 */
			r.expect = req.expect_continue;
			r.head_len = (uint8_t)http_response_echo_head(
				&hs->resp, echo_slot(e, c), req.chunked, req.content_length, r.keep,
				req.minor);
		} else if (!r.keep) {
			hc->closing = 1;
		}
		if (!hc->run.count) {
			hc->run = r;
		} else if (!echo && hc->run.kind == r.kind && hc->run.minor == r.minor &&
			   hc->run.keep == r.keep) {
			hc->run.count++;
		} else {
			hc->next = r;
		}
		if (echo)
			break; /* what follows waits for its body to pass */
	}
	if (!hc->run.count && hc->error) {
		/* Everything before the bad request is answered; now the error, then close. */
		hc->run.count = 1;
		hc->run.kind = (uint8_t)http_response_kind_for_status(hc->error);
		hc->run.minor = 1;
		hc->run.keep = 0;
		hc->error = 0;
		hc->closing = 1;
		hc->errored = 1;
	}
	if (hc->run.count) {
		if (hc->run.kind == RUN_ECHO)
			goto again;
		if (send_run(e, c))
			engine_close(e, c, ENGINE_CLOSE_RESET);
		return;
	}
	if (hc->closing && !hc->next.valid) {
		/*
		 * Nothing more will be answered: drop what else came, then our FIN.
		 * Linger (shutdown, then read until the peer's FIN) when the peer
		 * may still be sending: after an error, or when more input came
		 * behind the last request. A client that said Connection: close
		 * and sent nothing more gets a plain close, as nginx does.
		 */
		bool linger = hc->errored || conn_inq_len(c) || !http_parser_idle(&hc->parser);

		engine_drop_input(e, c);
		engine_close(e, c, linger ? ENGINE_CLOSE_LINGER : ENGINE_CLOSE);
		return;
	}
	update_deadline(e, c, body_bytes);
	/* The peer's FIN came and everything before it is answered: our close (LAST_ACK). */
	if (hc->eof && !conn_inq_len(c))
		engine_close(e, c, ENGINE_CLOSE);
}

/* An echo not begun yet gives way to an error response (a 408); one begun is cut. */
static bool echo_give_way(struct engine *e, struct conn *c)
{
	struct http_conn *hc = hconn(c);

	if (hc->run.count && hc->run.kind == RUN_ECHO) {
		if (hc->run.started) {
			echo_cut(e, c);
			return false;
		}
		hc->run.count = 0;
	}
	if (hc->next.valid && hc->next.kind == RUN_ECHO)
		hc->next.valid = 0;
	return true;
}

static void http_expired(struct engine *e, struct conn *c)
{
	struct http_conn *hc = hconn(c);

	enum req_timer timer = hc->timer;

	hc->timer = TIMER_NONE;
	if (hc->error || hc->closing)
		return;
	if (timer == TIMER_BODY)
		STAT_INC(engine_stats(e), body_timeouts);
	else
		STAT_INC(engine_stats(e), header_timeouts);
	if (!echo_give_way(e, c))
		return;
	/* What came of the late request is dropped; earlier answers still go first. */
	hc->error = 408;
	engine_drop_input(e, c);
	http_pump(e, c);
}

static void http_readable(struct engine *e, struct conn *c)
{
	http_pump(e, c);
}

static void http_peer_eof(struct engine *e, struct conn *c)
{
	hconn(c)->eof = 1;
	http_pump(e, c);
}

static void http_sent(struct engine *e, struct conn *c)
{
	struct http_shard *hs = hshard(e);
	struct http_conn *hc = hconn(c);

	if (hs->out_of_line && !hc->body_phase && hc->run.kind != RUN_ECHO) {
		struct http_resp r = http_response_get_gen(&hs->resp, hc->run.kind, hc->run.keep,
							   hc->run.minor, hc->gen);

		if (r.body_len) {
			/*
			 * The body is stored once and never rewritten: only the head
			 * needed its generation held, and a slow reader of a large
			 * body must not hold up the Date refresh for everyone.
			 */
			release_hold(hs, hc);
			hc->body_phase = 1;
			if (send_run(e, c))
				engine_close(e, c, ENGINE_CLOSE_RESET);
			return;
		}
	}
	hc->body_phase = 0;
	hc->run.count -= hc->chunk;
	hc->chunk = 0;
	release_hold(hs, hc);
	http_pump(e, c);
}

static void http_closed(struct engine *e, struct conn *c)
{
	release_hold(hshard(e), hconn(c));
}

const struct mode_ops mode_http = {
	.name = "http",
	.init = http_init,
	.fini = http_fini,
	.accepted = http_accepted,
	.readable = http_readable,
	.sent = http_sent,
	.peer_eof = http_peer_eof,
	.expired = http_expired,
	.closed = http_closed,
	.tick = http_tick,
};
