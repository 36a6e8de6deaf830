// SPDX-License-Identifier: MIT
/* What caps --max-conns: see conn_limits.h. */
#include "conn_limits.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ringer/engine.h"

void limits_compute(const struct limits_in *in, struct limits_out *out)
{
	unsigned per = in->per_session ? in->per_session : 1;
	uint64_t want = (uint64_t)in->asked * per, total;
	unsigned cap;

	memset(out, 0, sizeof(*out));
	cap = engine_conn_cap((unsigned)want, in->file_slots);
	/* As the engine shares its slots out: accepted connections a share of the table. */
	out->per_shard = (unsigned)((uint64_t)in->asked * cap / want);
	if (out->per_shard < 1)
		out->per_shard = 1;
	if (out->per_shard > in->asked)
		out->per_shard = in->asked;
	out->table_cap = engine_conn_cap(ENGINE_MAX_FILE_SLOTS, in->file_slots) / per;
	if (out->per_shard < in->asked)
		out->binding = in->file_slots && in->file_slots < ENGINE_MAX_FILE_SLOTS
				       ? LIMITS_DESCRIPTORS
				       : LIMITS_KERNEL_TABLE;
	out->conn_bytes = in->ringer_bytes + LIMITS_KERNEL_SOCK_BYTES;
	if (in->mem_avail) {
		out->mem_conns = in->mem_avail / out->conn_bytes;
		total = (uint64_t)out->per_shard * in->shards * per;
		out->mem_short = total > out->mem_conns;
	}
}

/* The first number after key in a "key value" file; 0 when absent. */
static uint64_t read_key(const char *path, const char *key)
{
	char line[256];
	uint64_t v = 0;
	size_t n = strlen(key);
	FILE *f = fopen(path, "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n)) {
			v = strtoull(line + n, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* A cgroup v2 file of ours, as a number; 0 when absent or "max". */
static uint64_t read_cgroup(const char *file)
{
	char line[512], path[768];
	uint64_t v = 0;
	FILE *f = fopen("/proc/self/cgroup", "r");

	if (!f)
		return 0;
	path[0] = 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3)) {
			line[strcspn(line, "\n")] = 0;
			snprintf(path, sizeof(path), "/sys/fs/cgroup%s/%s", line + 3, file);
			break;
		}
	fclose(f);
	if (!path[0] || !(f = fopen(path, "r")))
		return 0;
	if (fgets(line, sizeof(line), f) && line[0] >= '0' && line[0] <= '9')
		v = strtoull(line, NULL, 10);
	fclose(f);
	return v;
}

uint64_t limits_read_memory(const char **from)
{
	uint64_t avail = read_key("/proc/meminfo", "MemAvailable:") * 1024;
	uint64_t max = read_cgroup("memory.max"), cur;

	*from = avail ? "MemAvailable" : "unknown";
	if (max) {
		cur = read_cgroup("memory.current");
		if (max - (cur < max ? cur : max) < avail || !avail) {
			avail = max - (cur < max ? cur : max);
			*from = "the cgroup's memory.max";
		}
	}
	return avail;
}

static double gib(uint64_t bytes)
{
	return (double)bytes / (1024.0 * 1024 * 1024);
}

void limits_print(FILE *f, const struct limits_in *in, const struct limits_out *out, bool verbose)
{
	unsigned per = in->per_session ? in->per_session : 1;
	uint64_t total = (uint64_t)out->per_shard * in->shards;

	if (verbose) {
		fprintf(f, "ringer: --max-conns %u a shard x %u shard%s asked%s; the limits:\n",
			in->asked, in->shards, in->shards == 1 ? "" : "s",
			per > 1 ? " (client sessions, 2 connections each)" : "");
		fprintf(f,
			"ringer:   descriptors: RLIMIT_NOFILE %" PRIu64 " (hard %" PRIu64
			"), so a shard's fixed-file table has %u slots: %u a shard\n",
			in->nofile, in->nofile_hard, in->file_slots, out->table_cap);
		fprintf(f, "ringer:   fixed-file table: the kernel allows %u slots a ring\n",
			ENGINE_MAX_FILE_SLOTS);
		if (out->mem_conns)
			fprintf(f,
				"ringer:   memory: %.1f GiB available (%s), about %zu bytes a "
				"connection (ringer %zu, an idle kernel socket about %u): about "
				"%" PRIu64 " connections in all\n",
				gib(in->mem_avail), in->mem_from, out->conn_bytes, in->ringer_bytes,
				LIMITS_KERNEL_SOCK_BYTES, out->mem_conns);
		else
			fprintf(f,
				"ringer:   memory: unknown (no MemAvailable in /proc/meminfo)\n");
	}
	switch (out->binding) {
	case LIMITS_NONE:
		if (verbose)
			fprintf(f, "ringer: max-conns %u a shard, %" PRIu64 " in all\n",
				out->per_shard, total);
		break;
	case LIMITS_DESCRIPTORS:
		fprintf(f,
			"ringer: max-conns %u a shard (not %u), %" PRIu64
			" in all: the descriptor limit (RLIMIT_NOFILE %" PRIu64 ", hard %" PRIu64
			") caps each shard's fixed-file table; raise the hard limit for more "
			"(systemd LimitNOFILE=1048576, or ulimit -Hn as root), or add --shards\n",
			out->per_shard, in->asked, total, in->nofile, in->nofile_hard);
		break;
	case LIMITS_KERNEL_TABLE:
		fprintf(f,
			"ringer: max-conns %u a shard (not %u), %" PRIu64
			" in all: the kernel's fixed-file table holds at most %u a ring; add "
			"--shards for more\n",
			out->per_shard, in->asked, total, ENGINE_MAX_FILE_SLOTS);
		break;
	}
	if (out->mem_short)
		fprintf(f,
			"ringer: warning: %" PRIu64 " connections in all need about %.1f GiB, and "
			"%.1f GiB is available (%s): sockets will fail (ENOMEM) before max-conns; "
			"lower --max-conns or --shards\n",
			total * per, gib(total * per * out->conn_bytes), gib(in->mem_avail),
			in->mem_from);
}
