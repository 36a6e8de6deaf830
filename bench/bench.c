// SPDX-License-Identifier: MIT
/*
 * The benchmark harness: flags, the iteration loop, statistics and the three
 * reporters (console, JSON, CSV).
 *
 * Everything a reader sees mirrors Google Benchmark 1.7 byte for byte where
 * we can: the flag names and meanings, how the iteration count grows, the
 * console table, the JSON document and the CSV rows. That buys us its tools
 * for free: compare.py runs our binaries or reads our JSON and does the U
 * test between two builds. Where 1.7 has a quirk that a tool could depend on
 * (the CSV "cv" rows scaled like times), we keep it and say so.
 *
 * Phases, top-down: parse flags -> expand the table into instances and
 * filter them -> gather the machine context -> for each instance, run the
 * repetitions (growing the iteration count first), compute aggregates and
 * hand the runs to the display reporter and the file reporter.
 */
#include "bench.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define MAX_ITERATIONS 1000000000ull /* Google Benchmark's kMaxIterations */
#define NAME_MAX_LEN   256
#define MAX_CACHES     16

enum bench_format {
	FMT_CONSOLE,
	FMT_JSON,
	FMT_CSV,
};

struct bench_opts {
	const char *filter;
	bool list_tests;
	double min_time;      /* seconds */
	uint64_t fixed_iters; /* "--benchmark_min_time=100x": exactly this many, no growth */
	int repetitions;
	bool report_aggregates_only;
	bool display_aggregates_only;
	enum bench_format format;
	const char *out;
	enum bench_format out_format;
	enum bench_time_unit time_unit;
};

struct bench_instance {
	const struct bench_def *def;
	char name[NAME_MAX_LEN];
	int64_t range;
	int family_index;
	int instance_index; /* per_family_instance_index */
	enum bench_time_unit unit;
};

/* One reported row: a repetition, or an aggregate over the repetitions. */
struct bench_run {
	const struct bench_instance *inst;
	const char *aggregate_name; /* NULL for a repetition */
	bool percentage;	    /* aggregate_unit "percentage" (cv) rather than "time" */
	int repetitions;
	int repetition_index;
	uint64_t iterations;
	double real_acc; /* seconds over all iterations (or the statistic, for aggregates) */
	double cpu_acc;
	bool has_bytes, has_items;
	double bytes_rate, items_rate;
	bool error;
	char error_msg[BENCH_ERROR_MAX];
	char label[BENCH_LABEL_MAX];
};

struct cache_info {
	char type[32];
	int level;
	long size;
	int num_sharing;
};

struct bench_context {
	char date[64];
	char host[256];
	const char *executable;
	int num_cpus;
	double cycles_per_second;
	bool scaling_enabled;
	struct cache_info caches[MAX_CACHES];
	int n_caches;
	double load_avg[3];
	int n_load;
	size_t name_width;
};

struct reporter {
	enum bench_format fmt;
	FILE *out;
	FILE *err; /* where console and CSV put the context block */
	size_t name_width;
	bool printed_header;
	bool first_report;
};

/* ---- timing ------------------------------------------------------------ */

static double now_sec(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void timer_start(struct bench_state *st)
{
	st->running = 1;
	st->real_start = now_sec(CLOCK_MONOTONIC);
	st->cpu_start = now_sec(CLOCK_THREAD_CPUTIME_ID);
}

static void timer_stop(struct bench_state *st)
{
	/* Read the CPU clock first: it is the one the iteration count follows. */
	double cpu = now_sec(CLOCK_THREAD_CPUTIME_ID);
	double real = now_sec(CLOCK_MONOTONIC);

	st->cpu_used += cpu - st->cpu_start;
	st->real_used += real - st->real_start;
	st->running = 0;
}

void bench_pause_timing(struct bench_state *st)
{
	if (st->running)
		timer_stop(st);
}

void bench_resume_timing(struct bench_state *st)
{
	if (!st->running && !st->error)
		timer_start(st);
}

void bench_set_bytes_processed(struct bench_state *st, uint64_t bytes)
{
	st->bytes = bytes;
	st->has_bytes = 1;
}

void bench_set_items_processed(struct bench_state *st, uint64_t items)
{
	st->items = items;
	st->has_items = 1;
}

void bench_set_label(struct bench_state *st, const char *label)
{
	snprintf(st->label, sizeof(st->label), "%s", label);
}

void bench_skip_with_error(struct bench_state *st, const char *msg)
{
	bench_pause_timing(st);
	st->error = 1;
	snprintf(st->error_msg, sizeof(st->error_msg), "%s", msg);
}

/* ---- formatting helpers (Google Benchmark's string_util) --------------- */

static const char *unit_str(enum bench_time_unit u)
{
	switch (u) {
	case BENCH_UNIT_US:
		return "us";
	case BENCH_UNIT_MS:
		return "ms";
	case BENCH_UNIT_S:
		return "s";
	default:
		return "ns";
	}
}

static double unit_mult(enum bench_time_unit u)
{
	switch (u) {
	case BENCH_UNIT_US:
		return 1e6;
	case BENCH_UNIT_MS:
		return 1e3;
	case BENCH_UNIT_S:
		return 1;
	default:
		return 1e9;
	}
}

/*
 * "1.59301G": the value scaled by powers of one_k until it is at most
 * 1.1 * one_k, printed with six significant digits (an iostream's default).
 */
static void human_number(char *buf, size_t len, double v, double one_k)
{
	static const char big[] = "kMGTPEZY";
	static const char small[] = "munpfazy";
	const char *sign = v < 0 ? "-" : "";
	const double thresh = 1.1;
	double scaled = fabs(v);
	size_t i;

	if (scaled > thresh * one_k) {
		for (i = 0; i < sizeof(big) - 1; i++) {
			scaled /= one_k;
			if (scaled <= thresh * one_k) {
				snprintf(buf, len, "%s%g%c", sign, scaled, big[i]);
				return;
			}
		}
	} else if (scaled < thresh && scaled < 0.01) {
		for (i = 0; i < sizeof(small) - 1; i++) {
			scaled *= one_k;
			if (scaled >= thresh) {
				snprintf(buf, len, "%s%g%c", sign, scaled, small[i]);
				return;
			}
		}
	}
	snprintf(buf, len, "%s%g", sign, fabs(v));
}

/* The console's time column: decimals aligned, ten characters wide. */
static void format_time(char *buf, size_t len, double t)
{
	if (t < 1.0)
		snprintf(buf, len, "%10.3f", t);
	else if (t < 10.0)
		snprintf(buf, len, "%10.2f", t);
	else if (t < 100.0)
		snprintf(buf, len, "%10.1f", t);
	else if (t > 9999999999.0)
		snprintf(buf, len, "%1.4e", t);
	else
		snprintf(buf, len, "%10.0f", t);
}

static void run_name(const struct bench_run *r, char *buf, size_t len)
{
	if (r->aggregate_name)
		snprintf(buf, len, "%s_%s", r->inst->name, r->aggregate_name);
	else
		snprintf(buf, len, "%s", r->inst->name);
}

static double adjusted(const struct bench_run *r, double acc)
{
	double t = acc * unit_mult(r->inst->unit);

	return r->iterations ? t / (double)r->iterations : t;
}

/* ---- console reporter -------------------------------------------------- */

static void print_basic_context(FILE *f, const struct bench_context *c)
{
	int i;

	fprintf(f, "%s\n", c->date);
	fprintf(f, "Running %s\n", c->executable);
	fprintf(f, "Run on (%d X %g MHz CPU %s)\n", c->num_cpus, c->cycles_per_second / 1e6,
		c->num_cpus > 1 ? "s" : "");
	if (c->n_caches) {
		fprintf(f, "CPU Caches:\n");
		for (i = 0; i < c->n_caches; i++) {
			const struct cache_info *ci = &c->caches[i];

			fprintf(f, "  L%d %s %ld KiB", ci->level, ci->type, ci->size / 1024);
			if (ci->num_sharing)
				fprintf(f, " (x%d)", c->num_cpus / ci->num_sharing);
			fprintf(f, "\n");
		}
	}
	if (c->n_load) {
		fprintf(f, "Load Average: ");
		for (i = 0; i < c->n_load; i++)
			fprintf(f, "%.2f%s", c->load_avg[i], i + 1 < c->n_load ? ", " : "");
		fprintf(f, "\n");
	}
	if (c->scaling_enabled)
		fprintf(f, "***WARNING*** CPU scaling is enabled, the benchmark real time "
			   "measurements "
			   "may be noisy and will incur extra overhead.\n");
#ifndef NDEBUG
	fprintf(f, "***WARNING*** Library was built as DEBUG. Timings may be affected.\n");
#endif
	fflush(f);
}

static void console_header(struct reporter *rep, const struct bench_run *r)
{
	char line[NAME_MAX_LEN + 128];
	int n;

	n = snprintf(line, sizeof(line), "%-*s %13s %15s %12s%s", (int)rep->name_width, "Benchmark",
		     "Time", "CPU", "Iterations",
		     r->has_bytes || r->has_items ? " UserCounters..." : "");
	/* Rules as long as the header line. */
	for (int i = 0; i < n; i++)
		fputc('-', rep->out);
	fprintf(rep->out, "\n%s\n", line);
	for (int i = 0; i < n; i++)
		fputc('-', rep->out);
	fputc('\n', rep->out);
}

static void console_counter(FILE *f, const struct bench_run *r, const char *name, double v,
			    double one_k)
{
	char num[64];

	if (r->aggregate_name && r->percentage) {
		fprintf(f, " %s=%.2f%%", name, 100. * v);
		return;
	}
	human_number(num, sizeof(num), v, one_k);
	fprintf(f, " %s=%s/s", name, num);
}

static void console_run(struct reporter *rep, const struct bench_run *r)
{
	FILE *f = rep->out;
	char name[NAME_MAX_LEN + 16];
	char rt[64], ct[64];

	if (!rep->printed_header) {
		rep->printed_header = true;
		console_header(rep, r);
	}
	run_name(r, name, sizeof(name));
	fprintf(f, "%-*s ", (int)rep->name_width, name);
	if (r->error) {
		fprintf(f, "ERROR OCCURRED: '%s'\n", r->error_msg);
		return;
	}
	if (!r->aggregate_name || !r->percentage) {
		format_time(rt, sizeof(rt), adjusted(r, r->real_acc));
		format_time(ct, sizeof(ct), adjusted(r, r->cpu_acc));
		fprintf(f, "%s %-4s %s %-4s ", rt, unit_str(r->inst->unit), ct,
			unit_str(r->inst->unit));
	} else {
		fprintf(f, "%10.2f %-4s %10.2f %-4s ", 100. * r->real_acc, "%", 100. * r->cpu_acc,
			"%");
	}
	fprintf(f, "%10llu", (unsigned long long)r->iterations);
	/* Counters print in name order, as Google Benchmark's std::map keeps them. */
	if (r->has_bytes)
		console_counter(f, r, "bytes_per_second", r->bytes_rate, 1024.0);
	if (r->has_items)
		console_counter(f, r, "items_per_second", r->items_rate, 1000.0);
	if (r->label[0])
		fprintf(f, " %s", r->label);
	fputc('\n', f);
}

/* ---- JSON reporter ----------------------------------------------------- */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		switch (c) {
		case '\b':
			fputs("\\b", f);
			break;
		case '\f':
			fputs("\\f", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '"':
			fputs("\\\"", f);
			break;
		default:
			/* Other control bytes would make the document invalid JSON. */
			if (c < 0x20)
				fprintf(f, "\\u%04x", c);
			else
				fputc(c, f);
		}
	}
	fputc('"', f);
}

static void json_kv_str(FILE *f, const char *indent, const char *k, const char *v)
{
	fprintf(f, "%s\"%s\": ", indent, k);
	json_str(f, v);
}

/* Doubles round-trip: 17 significant digits in scientific notation. */
static void json_kv_double(FILE *f, const char *indent, const char *k, double v)
{
	fprintf(f, "%s\"%s\": ", indent, k);
	if (isnan(v))
		fprintf(f, "%sNaN", signbit(v) ? "-" : "");
	else if (isinf(v))
		fprintf(f, "%sInfinity", v < 0 ? "-" : "");
	else
		fprintf(f, "%.16e", v);
}

static void json_context(struct reporter *rep, const struct bench_context *c)
{
	FILE *f = rep->out;
	const char *in = "    ";
	int i;

	fprintf(f, "{\n  \"context\": {\n");
	json_kv_str(f, in, "date", c->date);
	fprintf(f, ",\n");
	json_kv_str(f, in, "host_name", c->host);
	fprintf(f, ",\n");
	json_kv_str(f, in, "executable", c->executable);
	fprintf(f, ",\n");
	fprintf(f, "%s\"num_cpus\": %d,\n", in, c->num_cpus);
	fprintf(f, "%s\"mhz_per_cpu\": %ld,\n", in, lround(c->cycles_per_second / 1e6));
	fprintf(f, "%s\"cpu_scaling_enabled\": %s,\n", in, c->scaling_enabled ? "true" : "false");
	fprintf(f, "%s\"caches\": [\n", in);
	for (i = 0; i < c->n_caches; i++) {
		const struct cache_info *ci = &c->caches[i];

		fprintf(f, "      {\n");
		json_kv_str(f, "        ", "type", ci->type);
		fprintf(f, ",\n        \"level\": %d,\n", ci->level);
		fprintf(f, "        \"size\": %ld,\n", ci->size);
		fprintf(f, "        \"num_sharing\": %d\n", ci->num_sharing);
		fprintf(f, "      }%s\n", i + 1 < c->n_caches ? "," : "");
	}
	fprintf(f, "%s],\n", in);
	fprintf(f, "%s\"load_avg\": [", in);
	for (i = 0; i < c->n_load; i++)
		fprintf(f, "%g%s", c->load_avg[i], i + 1 < c->n_load ? "," : "");
	fprintf(f, "],\n");
#ifdef NDEBUG
	json_kv_str(f, in, "library_build_type", "release");
#else
	json_kv_str(f, in, "library_build_type", "debug");
#endif
	fprintf(f, "\n  },\n  \"benchmarks\": [\n");
}

static void json_run(struct reporter *rep, const struct bench_run *r)
{
	FILE *f = rep->out;
	const char *in = "      ";
	char name[NAME_MAX_LEN + 16];

	run_name(r, name, sizeof(name));
	fprintf(f, "    {\n");
	json_kv_str(f, in, "name", name);
	fprintf(f, ",\n%s\"family_index\": %d,\n", in, r->inst->family_index);
	fprintf(f, "%s\"per_family_instance_index\": %d,\n", in, r->inst->instance_index);
	json_kv_str(f, in, "run_name", r->inst->name);
	fprintf(f, ",\n%s\"run_type\": \"%s\",\n", in,
		r->aggregate_name ? "aggregate" : "iteration");
	fprintf(f, "%s\"repetitions\": %d,\n", in, r->repetitions);
	if (!r->aggregate_name)
		fprintf(f, "%s\"repetition_index\": %d,\n", in, r->repetition_index);
	fprintf(f, "%s\"threads\": 1,\n", in);
	if (r->aggregate_name) {
		json_kv_str(f, in, "aggregate_name", r->aggregate_name);
		fprintf(f, ",\n%s\"aggregate_unit\": \"%s\",\n", in,
			r->percentage ? "percentage" : "time");
	}
	if (r->error) {
		fprintf(f, "%s\"error_occurred\": true,\n", in);
		json_kv_str(f, in, "error_message", r->error_msg);
		fprintf(f, ",\n");
	}
	fprintf(f, "%s\"iterations\": %llu,\n", in, (unsigned long long)r->iterations);
	if (r->aggregate_name && r->percentage) {
		json_kv_double(f, in, "real_time", r->real_acc);
		fprintf(f, ",\n");
		json_kv_double(f, in, "cpu_time", r->cpu_acc);
	} else {
		json_kv_double(f, in, "real_time", adjusted(r, r->real_acc));
		fprintf(f, ",\n");
		json_kv_double(f, in, "cpu_time", adjusted(r, r->cpu_acc));
	}
	fprintf(f, ",\n%s\"time_unit\": \"%s\"", in, unit_str(r->inst->unit));
	if (r->has_bytes) {
		fprintf(f, ",\n");
		json_kv_double(f, in, "bytes_per_second", r->bytes_rate);
	}
	if (r->has_items) {
		fprintf(f, ",\n");
		json_kv_double(f, in, "items_per_second", r->items_rate);
	}
	if (r->label[0]) {
		fprintf(f, ",\n");
		json_kv_str(f, in, "label", r->label);
	}
	fprintf(f, "\n    }");
}

/* ---- CSV reporter ------------------------------------------------------ */

static void csv_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void csv_run(struct reporter *rep, const struct bench_run *r)
{
	FILE *f = rep->out;
	char name[NAME_MAX_LEN + 16];

	if (!rep->printed_header) {
		rep->printed_header = true;
		fprintf(f, "name,iterations,real_time,cpu_time,time_unit,bytes_per_second,"
			   "items_per_second,label,error_occurred,error_message\n");
	}
	run_name(r, name, sizeof(name));
	csv_str(f, name);
	fputc(',', f);
	if (r->error) {
		fputs(",,,,,,,true,", f);
		csv_str(f, r->error_msg);
		fputc('\n', f);
		return;
	}
	/*
	 * Times are adjusted per iteration for every row, "cv" included, so a
	 * cv row reads as a ratio times the unit multiplier over the number of
	 * repetitions. That is what 1.7's CSV reporter prints; we keep it so a
	 * script written against Google Benchmark reads the same numbers.
	 */
	fprintf(f, "%llu,%g,%g,%s,", (unsigned long long)r->iterations, adjusted(r, r->real_acc),
		adjusted(r, r->cpu_acc), unit_str(r->inst->unit));
	if (r->has_bytes)
		fprintf(f, "%g", r->bytes_rate);
	fputc(',', f);
	if (r->has_items)
		fprintf(f, "%g", r->items_rate);
	fputc(',', f);
	if (r->label[0])
		csv_str(f, r->label);
	fputs(",,\n", f);
}

/* ---- reporter dispatch ------------------------------------------------- */

static void report_context(struct reporter *rep, const struct bench_context *c)
{
	rep->name_width = c->name_width;
	rep->first_report = true;
	rep->printed_header = false;
	if (rep->fmt == FMT_JSON)
		json_context(rep, c);
	else
		print_basic_context(rep->err, c);
}

static void report_runs(struct reporter *rep, const struct bench_run *runs, size_t n)
{
	size_t i;

	if (!n)
		return;
	for (i = 0; i < n; i++) {
		switch (rep->fmt) {
		case FMT_CONSOLE:
			console_run(rep, &runs[i]);
			break;
		case FMT_CSV:
			csv_run(rep, &runs[i]);
			break;
		case FMT_JSON:
			if (!rep->first_report)
				fprintf(rep->out, ",\n");
			rep->first_report = false;
			json_run(rep, &runs[i]);
			break;
		}
	}
	fflush(rep->out);
}

static void report_finalize(struct reporter *rep)
{
	if (rep->fmt == FMT_JSON)
		fprintf(rep->out, "\n  ]\n}\n");
	fflush(rep->out);
}

/* ---- machine context (Google Benchmark's sysinfo) ---------------------- */

static bool read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	bool ok;

	if (!f)
		return false;
	ok = fgets(buf, (int)len, f) != NULL;
	fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = '\0';
	return ok;
}

static bool read_long(const char *path, long *v)
{
	char buf[64], *end;

	if (!read_line(path, buf, sizeof(buf)))
		return false;
	errno = 0;
	*v = strtol(buf, &end, 10);
	return errno == 0 && end != buf;
}

static int count_cpu_map_bits(const char *map)
{
	int n = 0;

	for (; *map; map++) {
		char c = *map;
		int d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			continue;
		n += __builtin_popcount((unsigned)d);
	}
	return n;
}

static void read_caches(struct bench_context *c)
{
	const char *dir = "/sys/devices/system/cpu/cpu0/cache";
	char path[256], buf[256];

	for (int i = 0; c->n_caches < MAX_CACHES; i++) {
		struct cache_info *ci = &c->caches[c->n_caches];
		char *end;
		long v;

		snprintf(path, sizeof(path), "%s/index%d/size", dir, i);
		if (!read_line(path, buf, sizeof(buf)))
			break;
		v = strtol(buf, &end, 10);
		if (*end == 'K')
			v *= 1024;
		else if (*end == 'M')
			v *= 1024 * 1024;
		else if (*end == 'G')
			v *= 1024L * 1024 * 1024;
		ci->size = v;
		snprintf(path, sizeof(path), "%s/index%d/type", dir, i);
		if (!read_line(path, ci->type, sizeof(ci->type)))
			break;
		snprintf(path, sizeof(path), "%s/index%d/level", dir, i);
		if (!read_long(path, &v))
			break;
		ci->level = (int)v;
		snprintf(path, sizeof(path), "%s/index%d/shared_cpu_map", dir, i);
		if (!read_line(path, buf, sizeof(buf)))
			break;
		ci->num_sharing = count_cpu_map_bits(buf);
		c->n_caches++;
	}
}

static int count_cpus(void)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];
	int n = 0;

	if (f) {
		while (fgets(line, sizeof(line), f))
			if (!strncmp(line, "processor", 9))
				n++;
		fclose(f);
	}
	if (n <= 0)
		n = (int)sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? n : 1;
}

/* Any governor but "performance" means the clock may move under us. */
static bool cpu_scaling(int num_cpus)
{
	char path[128], gov[64];

	for (int i = 0; i < num_cpus; i++) {
		snprintf(path, sizeof(path),
			 "/sys/devices/system/cpu/cpu%d/cpufreq/scaling_governor", i);
		if (read_line(path, gov, sizeof(gov)) && strcmp(gov, "performance") != 0)
			return true;
	}
	return false;
}

static double cpu_cycles_per_second(bool scaling)
{
	double bogo = -1;
	char line[512];
	long khz;
	FILE *f;

	/* The order Google Benchmark tries: TSC, current (if fixed), maximum, cpuinfo. */
	if (read_long("/sys/devices/system/cpu/cpu0/tsc_freq_khz", &khz) ||
	    (!scaling &&
	     read_long("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq", &khz)) ||
	    read_long("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", &khz))
		return (double)khz * 1000.0;
	f = fopen("/proc/cpuinfo", "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');
		double v;

		if (!colon)
			continue;
		v = strtod(colon + 1, NULL);
		if (!strncmp(line, "cpu MHz", 7) && v > 0) {
			fclose(f);
			return v * 1e6;
		}
		if (!strncmp(line, "bogomips", 8) && bogo < 0)
			bogo = v * 1e6;
	}
	fclose(f);
	return bogo > 0 ? bogo : 0;
}

/* RFC 3339 local time, "2024-05-01T12:00:00+02:00". */
static void date_string(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;
	char base[40], tz[16];

	localtime_r(&t, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	if (strftime(tz, sizeof(tz), "%z", &tm) == 5)
		snprintf(buf, len, "%s%c%c%c:%c%c", base, tz[0], tz[1], tz[2], tz[3], tz[4]);
	else
		snprintf(buf, len, "%s+00:00", base);
}

static void gather_context(struct bench_context *c, const char *exe)
{
	memset(c, 0, sizeof(*c));
	date_string(c->date, sizeof(c->date));
	if (gethostname(c->host, sizeof(c->host) - 1) != 0)
		snprintf(c->host, sizeof(c->host), "unknown");
	c->executable = exe;
	c->num_cpus = count_cpus();
	c->scaling_enabled = cpu_scaling(c->num_cpus);
	c->cycles_per_second = cpu_cycles_per_second(c->scaling_enabled);
	read_caches(c);
	c->n_load = getloadavg(c->load_avg, 3);
	if (c->n_load < 0)
		c->n_load = 0;
}

/* ---- statistics (Google Benchmark's statistics.cc) --------------------- */

static double stat_mean(const double *v, size_t n)
{
	double sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += v[i];
	return sum / (double)n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double stat_median(const double *v, size_t n)
{
	double *s = malloc(n * sizeof(*s));
	double m;

	if (!s)
		return NAN;
	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_double);
	m = n % 2 ? s[n / 2] : (s[n / 2] + s[n / 2 - 1]) / 2.0;
	free(s);
	return m;
}

/* Sample standard deviation, by the same one-pass formula 1.7 uses. */
static double stat_stddev(const double *v, size_t n)
{
	double mean, sq = 0, var;

	if (n == 1)
		return 0.0;
	mean = stat_mean(v, n);
	for (size_t i = 0; i < n; i++)
		sq += v[i] * v[i];
	var = (double)n / ((double)n - 1.0) * (sq / (double)n - mean * mean);
	return var < 0 ? 0 : sqrt(var);
}

static double stat_cv(const double *v, size_t n)
{
	if (n == 1)
		return 0.0;
	return stat_stddev(v, n) / stat_mean(v, n);
}

static const struct {
	const char *name;
	double (*fn)(const double *v, size_t n);
	bool percentage;
} stats[] = {
	{"mean", stat_mean, false},
	{"median", stat_median, false},
	{"stddev", stat_stddev, false},
	{"cv", stat_cv, true},
};

#define N_STATS (sizeof(stats) / sizeof(stats[0]))

/*
 * Aggregates over the repetitions that did not fail, only when at least two
 * did. Time statistics are rescaled so that dividing by the aggregate's
 * "iterations" (the number of repetitions) gives a time per iteration.
 * Returns how many aggregate rows were written to agg.
 */
static size_t compute_aggregates(const struct bench_run *reps, size_t n, struct bench_run *agg)
{
	double *rt, *ct, *by, *it;
	size_t ok = 0, i, s;
	const struct bench_run *first = NULL;
	double rescale;
	const char *label = reps[0].label;

	rt = calloc(n * 4, sizeof(double));
	if (!rt)
		return 0;
	ct = rt + n;
	by = ct + n;
	it = by + n;
	for (i = 0; i < n; i++) {
		if (strcmp(reps[i].label, label) != 0)
			label = "";
		if (reps[i].error)
			continue;
		if (!first)
			first = &reps[i];
		rt[ok] = reps[i].real_acc;
		ct[ok] = reps[i].cpu_acc;
		by[ok] = reps[i].bytes_rate;
		it[ok] = reps[i].items_rate;
		ok++;
	}
	if (ok < 2) {
		free(rt);
		return 0;
	}
	rescale = (double)n / (double)reps[0].iterations;
	for (s = 0; s < N_STATS; s++) {
		struct bench_run *a = &agg[s];

		memset(a, 0, sizeof(*a));
		a->inst = reps[0].inst;
		a->aggregate_name = stats[s].name;
		a->percentage = stats[s].percentage;
		a->repetitions = reps[0].repetitions;
		a->iterations = n;
		a->real_acc = stats[s].fn(rt, ok);
		a->cpu_acc = stats[s].fn(ct, ok);
		if (!a->percentage) {
			a->real_acc *= rescale;
			a->cpu_acc *= rescale;
		}
		a->has_bytes = first->has_bytes;
		a->has_items = first->has_items;
		if (a->has_bytes)
			a->bytes_rate = stats[s].fn(by, ok);
		if (a->has_items)
			a->items_rate = stats[s].fn(it, ok);
		snprintf(a->label, sizeof(a->label), "%s", label);
	}
	free(rt);
	return N_STATS;
}

/* ---- running ----------------------------------------------------------- */

static void run_trial(const struct bench_instance *inst, uint64_t iters, struct bench_state *st)
{
	memset(st, 0, sizeof(*st));
	st->iterations = iters;
	st->range = inst->range;
	timer_start(st);
	inst->def->fn(st);
	bench_pause_timing(st);
}

/*
 * Google Benchmark's rule: aim for 1.4x the minimum time, extrapolating
 * from the last run when it lasted at least a tenth of the minimum, and
 * otherwise growing tenfold at most.
 */
static uint64_t predict_iterations(const struct bench_opts *o, uint64_t iters, double seconds)
{
	double mult = o->min_time * 1.4 / (seconds > 1e-9 ? seconds : 1e-9);
	double next;

	if (seconds / o->min_time <= 0.1)
		mult = 10.0;
	next = mult * (double)iters;
	if (next < (double)iters + 1.0)
		next = (double)iters + 1.0;
	next = round(next);
	return next > (double)MAX_ITERATIONS ? MAX_ITERATIONS : (uint64_t)next;
}

static void run_repetition(const struct bench_opts *o, const struct bench_instance *inst,
			   uint64_t *iters, struct bench_run *r)
{
	struct bench_state st;
	double seconds;

	for (;;) {
		run_trial(inst, *iters, &st);
		seconds = inst->def->use_real_time ? st.real_used : st.cpu_used;
		if (o->fixed_iters || st.error || *iters >= MAX_ITERATIONS ||
		    seconds >= o->min_time || st.real_used >= 5 * o->min_time)
			break;
		*iters = predict_iterations(o, *iters, seconds);
	}

	r->inst = inst;
	r->iterations = *iters;
	r->error = st.error;
	snprintf(r->error_msg, sizeof(r->error_msg), "%s", st.error_msg);
	snprintf(r->label, sizeof(r->label), "%s", st.label);
	if (st.error)
		return; /* a failed run reports no time and no rates */
	r->real_acc = st.real_used;
	r->cpu_acc = st.cpu_used;
	r->has_bytes = st.has_bytes;
	r->has_items = st.has_items;
	r->bytes_rate = (double)st.bytes / seconds;
	r->items_rate = (double)st.items / seconds;
}

static int run_instance(const struct bench_opts *o, const struct bench_instance *inst,
			struct reporter *display, struct reporter *file)
{
	size_t n = (size_t)o->repetitions;
	struct bench_run *runs = calloc(n + N_STATS, sizeof(*runs));
	uint64_t iters = o->fixed_iters ? o->fixed_iters : 1;
	size_t n_agg;
	bool agg_only;

	if (!runs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		runs[i].repetitions = o->repetitions;
		runs[i].repetition_index = (int)i;
		run_repetition(o, inst, &iters, &runs[i]);
	}
	n_agg = n > 1 ? compute_aggregates(runs, n, runs + n) : 0;

	/* Aggregates only, when asked and when there are any; otherwise every run. */
	agg_only = (o->report_aggregates_only || o->display_aggregates_only) && n_agg;
	if (!agg_only)
		report_runs(display, runs, n);
	report_runs(display, runs + n, n_agg);
	if (file) {
		agg_only = o->report_aggregates_only && n_agg;
		if (!agg_only)
			report_runs(file, runs, n);
		report_runs(file, runs + n, n_agg);
	}
	free(runs);
	return 0;
}

/* ---- flags ------------------------------------------------------------- */

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [--benchmark_list_tests={true|false}]\n"
		"          [--benchmark_filter=<regex>]\n"
		"          [--benchmark_min_time=<seconds>|<seconds>s|<iterations>x]\n"
		"          [--benchmark_repetitions=<num_repetitions>]\n"
		"          [--benchmark_report_aggregates_only={true|false}]\n"
		"          [--benchmark_display_aggregates_only={true|false}]\n"
		"          [--benchmark_format=<console|json|csv>]\n"
		"          [--benchmark_out=<filename>]\n"
		"          [--benchmark_out_format=<json|console|csv>]\n"
		"          [--benchmark_time_unit={ns|us|ms|s}]\n",
		prog);
}

/* "--name=value" -> value; "--name" -> "" when bare is allowed; else NULL. */
static const char *flag_value(const char *arg, const char *name, bool bare)
{
	size_t len = strlen(name);

	if (strncmp(arg, "--", 2) != 0 || strncmp(arg + 2, name, len) != 0)
		return NULL;
	arg += 2 + len;
	if (*arg == '=')
		return arg + 1;
	if (*arg == '\0' && bare)
		return "";
	return NULL;
}

/* Google Benchmark's truthiness: empty, or anything but 0/f/n/false/no/off. */
static bool truthy(const char *v)
{
	if (!*v)
		return true;
	if (!v[1])
		return isalnum((unsigned char)v[0]) && !strchr("0fFnN", v[0]);
	return strcasecmp(v, "false") && strcasecmp(v, "no") && strcasecmp(v, "off");
}

static int parse_format(const char *v, enum bench_format *f)
{
	if (!strcmp(v, "console"))
		*f = FMT_CONSOLE;
	else if (!strcmp(v, "json"))
		*f = FMT_JSON;
	else if (!strcmp(v, "csv"))
		*f = FMT_CSV;
	else
		return -EINVAL;
	return 0;
}

static int parse_unit(const char *v, enum bench_time_unit *u)
{
	if (!strcmp(v, "ns"))
		*u = BENCH_UNIT_NS;
	else if (!strcmp(v, "us"))
		*u = BENCH_UNIT_US;
	else if (!strcmp(v, "ms"))
		*u = BENCH_UNIT_MS;
	else if (!strcmp(v, "s"))
		*u = BENCH_UNIT_S;
	else
		return -EINVAL;
	return 0;
}

/* "0.5" and "0.5s" are seconds; "100x" is an exact iteration count. */
static int parse_min_time(const char *v, struct bench_opts *o)
{
	char *end;

	errno = 0;
	if (*v && v[strlen(v) - 1] == 'x') {
		unsigned long long n = strtoull(v, &end, 10);

		if (errno || end == v || *end != 'x' || end[1] || n == 0 || *v == '-')
			return -EINVAL;
		o->fixed_iters = n > MAX_ITERATIONS ? MAX_ITERATIONS : n;
		return 0;
	}
	o->min_time = strtod(v, &end);
	if (errno || end == v || (*end && strcmp(end, "s") != 0) || !(o->min_time > 0) ||
	    !isfinite(o->min_time))
		return -EINVAL;
	o->fixed_iters = 0;
	return 0;
}

static int parse_flag(const char *a, struct bench_opts *o)
{
	const char *v;
	char *end;
	long n;

	if ((v = flag_value(a, "benchmark_filter", false))) {
		o->filter = v;
	} else if ((v = flag_value(a, "benchmark_list_tests", true))) {
		o->list_tests = truthy(v);
	} else if ((v = flag_value(a, "benchmark_min_time", false))) {
		return parse_min_time(v, o);
	} else if ((v = flag_value(a, "benchmark_repetitions", false))) {
		errno = 0;
		n = strtol(v, &end, 10);
		if (errno || end == v || *end || n < 1 || n > 100000)
			return -EINVAL;
		o->repetitions = (int)n;
	} else if ((v = flag_value(a, "benchmark_report_aggregates_only", true))) {
		o->report_aggregates_only = truthy(v);
	} else if ((v = flag_value(a, "benchmark_display_aggregates_only", true))) {
		o->display_aggregates_only = truthy(v);
	} else if ((v = flag_value(a, "benchmark_format", false))) {
		return parse_format(v, &o->format);
	} else if ((v = flag_value(a, "benchmark_out_format", false))) {
		return parse_format(v, &o->out_format);
	} else if ((v = flag_value(a, "benchmark_out", false))) {
		o->out = v;
	} else if ((v = flag_value(a, "benchmark_time_unit", false))) {
		return parse_unit(v, &o->time_unit);
	} else {
		return -ENOENT;
	}
	return 0;
}

/* ---- instances and filtering ------------------------------------------- */

static struct bench_instance *expand(const struct bench_def *defs, size_t n,
				     const struct bench_opts *o, size_t *count)
{
	struct bench_instance *v;
	size_t total = 0, k = 0;

	for (size_t i = 0; i < n; i++)
		total += defs[i].nargs ? defs[i].nargs : 1;
	v = calloc(total ? total : 1, sizeof(*v));
	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned m = defs[i].nargs ? defs[i].nargs : 1;

		for (unsigned j = 0; j < m; j++, k++) {
			v[k].def = &defs[i];
			v[k].family_index = (int)i;
			v[k].instance_index = (int)j;
			v[k].unit = defs[i].unit ? defs[i].unit : o->time_unit;
			if (defs[i].nargs) {
				v[k].range = defs[i].args[j];
				snprintf(v[k].name, sizeof(v[k].name), "%s/%lld", defs[i].name,
					 (long long)defs[i].args[j]);
			} else {
				snprintf(v[k].name, sizeof(v[k].name), "%s", defs[i].name);
			}
		}
	}
	*count = total;
	return v;
}

/*
 * Keeps the instances whose name the filter finds (a search, not a full
 * match); a leading '-' keeps those it does not find. Family indices are
 * renumbered over what is left, as Google Benchmark numbers them.
 */
static int filter_instances(struct bench_instance *v, size_t *count, const char *spec)
{
	bool negate = false;
	regex_t re;
	size_t k = 0;
	int last_family = -1, family = -1, ret;

	if (!spec || !*spec || !strcmp(spec, "all"))
		spec = ".";
	if (spec[0] == '-') {
		negate = true;
		spec++;
	}
	ret = regcomp(&re, spec, REG_EXTENDED | REG_NOSUB);
	if (ret) {
		char msg[128];

		regerror(ret, &re, msg, sizeof(msg));
		fprintf(stderr, "Could not compile benchmark re: %s\n", msg);
		return -EINVAL;
	}
	for (size_t i = 0; i < *count; i++) {
		bool hit = regexec(&re, v[i].name, 0, NULL, 0) == 0;

		if (hit == negate)
			continue;
		if (v[i].family_index != last_family) {
			last_family = v[i].family_index;
			family++;
		}
		v[k] = v[i];
		v[k].family_index = family;
		k++;
	}
	regfree(&re);
	*count = k;
	return 0;
}

/* ---- main -------------------------------------------------------------- */

int bench_main(int argc, char **argv, const struct bench_def *defs, size_t n)
{
	struct bench_opts o = {
		.min_time = 0.5,
		.repetitions = 1,
		.format = FMT_CONSOLE,
		.out_format = FMT_JSON,
		.time_unit = BENCH_UNIT_NS,
	};
	struct reporter display = {0}, file = {0};
	struct bench_context ctx;
	struct bench_instance *inst;
	FILE *out_file = NULL;
	size_t count, i;
	int ret;

	for (int a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--help") || !strcmp(argv[a], "-h")) {
			usage(stdout, argv[0]);
			return 0;
		}
		ret = parse_flag(argv[a], &o);
		if (ret == -ENOENT) {
			fprintf(stderr, "%s: error: unrecognized command-line flag: %s\n", argv[0],
				argv[a]);
			usage(stderr, argv[0]);
			return 2;
		}
		if (ret) {
			fprintf(stderr, "%s: error: invalid value in flag: %s\n", argv[0], argv[a]);
			return 2;
		}
	}

	inst = expand(defs, n, &o, &count);
	if (!inst)
		return 1;
	if (filter_instances(inst, &count, o.filter)) {
		free(inst);
		return 2;
	}

	/* Like Google Benchmark, open (and truncate) the output file before anything runs. */
	if (o.out && *o.out) {
		out_file = fopen(o.out, "w");
		if (!out_file) {
			fprintf(stderr, "invalid file name: '%s'\n", o.out);
			free(inst);
			return 1;
		}
	}

	ret = 0;
	if (!count) {
		fprintf(stderr, "Failed to match any benchmarks against regex: %s\n",
			o.filter && *o.filter ? o.filter : ".");
		goto out;
	}
	if (o.list_tests) {
		for (i = 0; i < count; i++)
			printf("%s\n", inst[i].name);
		goto out;
	}

	gather_context(&ctx, argv[0]);
	ctx.name_width = 10;
	for (i = 0; i < count; i++)
		if (strlen(inst[i].name) > ctx.name_width)
			ctx.name_width = strlen(inst[i].name);
	if (o.repetitions > 1)
		ctx.name_width += 1 + strlen("median"); /* room for the longest "_<stat>" */

	display = (struct reporter){.fmt = o.format, .out = stdout, .err = stderr};
	report_context(&display, &ctx);
	if (out_file) {
		/* A file reporter writes its context block into the file too. */
		file = (struct reporter){.fmt = o.out_format, .out = out_file, .err = out_file};
		report_context(&file, &ctx);
	}
	for (i = 0; i < count; i++) {
		if (run_instance(&o, &inst[i], &display, out_file ? &file : NULL)) {
			ret = 1;
			break;
		}
	}
	report_finalize(&display);
	if (out_file)
		report_finalize(&file);
out:
	if (out_file && fclose(out_file) != 0) {
		fprintf(stderr, "%s: error writing %s\n", argv[0], o.out);
		ret = 1;
	}
	free(inst);
	return ret;
}
