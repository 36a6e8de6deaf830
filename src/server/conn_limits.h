/* SPDX-License-Identifier: MIT */
#ifndef RINGER_CONN_LIMITS_H
#define RINGER_CONN_LIMITS_H

/*
 * What caps --max-conns, said at startup instead of found out later: the
 * descriptor limit (RLIMIT_NOFILE caps each ring's fixed-file table), the
 * kernel's cap on that table, and memory (ringer's slot and the kernel's
 * socket per connection against what is available). limits_compute() is
 * pure; limits_read_memory() reads /proc and the cgroup.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * The kernel's memory for one idle TCP socket: its TCP, sock_inode_cache,
 * filp and dentry slab objects. tools/c1m.sh measures it from /proc/slabinfo:
 * 7.1 KB per connection with both ends on one machine. A busy socket holds
 * its send and receive buffers on top.
 */
#define LIMITS_KERNEL_SOCK_BYTES 3600u

struct limits_in {
	unsigned asked; /* --max-conns, a shard (client sessions in proxy mode) */
	unsigned shards;
	unsigned per_session; /* sockets per --max-conns unit: 2 for a proxy, else 1 */
	uint64_t nofile;      /* RLIMIT_NOFILE after ringer raised it to the hard limit */
	uint64_t nofile_hard;
	unsigned file_slots;  /* a shard's fixed-file table under the descriptor limit */
	size_t ringer_bytes;  /* ringer's memory per connection (engine_conn_bytes) */
	uint64_t mem_avail;   /* bytes available; 0: unknown */
	const char *mem_from; /* where that came from */
};

enum limits_binding {
	LIMITS_NONE,	    /* --max-conns as asked */
	LIMITS_DESCRIPTORS, /* RLIMIT_NOFILE keeps each fixed-file table smaller */
	LIMITS_KERNEL_TABLE /* the kernel's fixed-file table cap */
};

struct limits_out {
	unsigned per_shard; /* --max-conns each shard keeps */
	unsigned table_cap; /* what the fixed-file tables alone allow a shard */
	enum limits_binding binding;
	size_t conn_bytes;  /* ringer's and the kernel's memory per connection */
	uint64_t mem_conns; /* connections the available memory holds in all; 0: unknown */
	bool mem_short;	    /* per_shard x shards needs more memory than is available */
};

/* What the limits make of --max-conns. */
void limits_compute(const struct limits_in *in, struct limits_out *out);

/*
 * The memory available to this process: MemAvailable, or the room left
 * under its cgroup's memory.max when that is less. Sets *from; 0: unknown.
 */
uint64_t limits_read_memory(const char **from);

/*
 * The lines naming each limit (verbose), and the one that says what
 * --max-conns became; that one also without verbose when a limit binds
 * or memory falls short. Every line starts with "ringer: ".
 */
void limits_print(FILE *f, const struct limits_in *in, const struct limits_out *out, bool verbose);

#endif
