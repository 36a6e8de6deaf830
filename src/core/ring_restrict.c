// SPDX-License-Identifier: MIT
/*
 * Restricted rings, and why io_uring may be missing.
 *
 * A restricted ring (IORING_REGISTER_RESTRICTIONS, kernel 5.10+) accepts only
 * the SQE opcodes, SQE flags and io_uring_register() opcodes listed when it
 * was set up: anything else completes with -EACCES. ring_init_restricted()
 * creates the ring disabled (IORING_SETUP_R_DISABLED), registers its ring fd,
 * calls ring_restrict() below and only then runs its probes. What is
 * registered before the ring is enabled is not checked; what ringer
 * registers later (the provided-buffer ring and the sparse fixed-file table,
 * in engine_create(), after ring_init()'s probes ran) must be in the list.
 *
 * The lists are every opcode this module's helpers prepare (ring.c, fault.c),
 * and the register calls ring.c makes after ring_init() (with what liburing
 * 2.3 turns them into): a helper that prepares a new opcode adds it here, or
 * its SQEs fail with -EACCES in ringer (tests/unit/test_ring_restrict.c walks
 * every helper on a restricted ring).
 */
#include "ringer/ring.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Kernel opcodes liburing 2.3 does not name: IORING_OP_BIND is 6.11+ (ring.c fills it by hand). */
#define RING_OP_BIND 56

/* The SQE opcodes ring.c's and fault.c's helpers and probes prepare. */
static const uint8_t sqe_ops[] = {
	IORING_OP_NOP,		  /* ring_nop(), fault injection's results, SQ-full fill */
	IORING_OP_ACCEPT,	  /* ring_accept_multishot(), ring_accept_addr() */
	IORING_OP_RECV,		  /* ring_recv_multishot(), ring_recv(), the recv-limit probe */
	IORING_OP_SEND,		  /* ring_send() */
	IORING_OP_SENDMSG,	  /* ring_sendmsg() */
	IORING_OP_WRITE,	  /* ring_write(): the session log */
	IORING_OP_SHUTDOWN,	  /* ring_shutdown() */
	IORING_OP_CLOSE,	  /* ring_close(), ring_close_reset() */
	IORING_OP_ASYNC_CANCEL,	  /* ring_cancel(), ring_cancel_fd(), probes, fault rewrites */
	IORING_OP_TIMEOUT,	  /* ring_tick(), the multishot-timeout probe */
	IORING_OP_TIMEOUT_REMOVE, /* ring_timeout_remove() */
	IORING_OP_LINK_TIMEOUT,	  /* ring_connect_linked()'s timeout */
	IORING_OP_CONNECT,	  /* ring_connect_linked() */
	IORING_OP_SOCKET,	  /* ring_socket_direct() */
	IORING_OP_URING_CMD,	  /* setsockopt, getsockopt, SIOCOUTQ as socket commands */
	RING_OP_BIND,		  /* ring_bind_linked() */
};

/* The SQE flags those helpers set; a flag outside these fails its SQE too. */
static const uint8_t sqe_flags = IOSQE_FIXED_FILE | IOSQE_IO_LINK | IOSQE_BUFFER_SELECT;

/*
 * The io_uring_register() opcodes used once a ring is enabled: the buffer
 * ring (bufring_init_pool(), bufring_exit()), the sparse fixed-file table
 * (ring_register_files_sparse(): liburing 2.3's io_uring_register_files_sparse()
 * is IORING_REGISTER_FILES2) and io_uring_queue_exit()'s unregistering of the
 * ring fd. Fixed buffers, file updates from user space, eventfds,
 * personalities, io-wq settings and probes stay refused.
 */
static const uint8_t register_ops[] = {
	IORING_REGISTER_PBUF_RING,
	IORING_UNREGISTER_PBUF_RING,
	IORING_REGISTER_FILES2,
	IORING_UNREGISTER_RING_FDS,
};

#define N_SQE_OPS      (sizeof(sqe_ops) / sizeof(sqe_ops[0]))
#define N_REGISTER_OPS (sizeof(register_ops) / sizeof(register_ops[0]))

/*
 * io_uring_register(2) by hand: liburing 2.3's header declares
 * io_uring_register_restrictions() and io_uring_enable_rings(), but its
 * shared library does not export them (they are missing from its symbol
 * map, Debian 12's liburing.so.2.3 included), so a program calling them
 * does not link. On the ring's own fd: a registered ring fd is not set up
 * for this call on kernels before 6.3.
 */
static int ring_register(struct ring *r, unsigned opcode, const void *arg, unsigned nr_args)
{
	return syscall(__NR_io_uring_register, r->uring.ring_fd, opcode, arg, nr_args) < 0 ? -errno
											   : 0;
}

int ring_restrict(struct ring *r)
{
	struct io_uring_restriction res[N_SQE_OPS + N_REGISTER_OPS + 1];
	unsigned n = 0;
	size_t i;
	int ret;

	memset(res, 0, sizeof(res));
	for (i = 0; i < N_SQE_OPS; i++) {
		res[n].opcode = IORING_RESTRICTION_SQE_OP;
		res[n++].sqe_op = sqe_ops[i];
	}
	for (i = 0; i < N_REGISTER_OPS; i++) {
		res[n].opcode = IORING_RESTRICTION_REGISTER_OP;
		res[n++].register_op = register_ops[i];
	}
	res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
	res[n++].sqe_flags = sqe_flags;
	ret = ring_register(r, IORING_REGISTER_RESTRICTIONS, res, n);
	if (ret)
		return ret;
	return ring_register(r, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
}

int ring_available(void)
{
	struct io_uring probe;
	int ret = io_uring_queue_init(2, &probe, 0);

	if (ret == 0)
		io_uring_queue_exit(&probe);
	return ret;
}

/* A number from /proc/sys/kernel/NAME, or -1 when the file is not there (kernel before 6.6). */
static long read_sysctl(const char *name)
{
	char path[96];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/sys/kernel/%s", name);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/* Whether a seccomp filter is on this process: the Seccomp line of /proc/self/status is 2. */
static bool seccomp_filtered(void)
{
	char line[128];
	bool on = false;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "Seccomp:", 8)) {
			on = strtol(line + 8, NULL, 10) == 2;
			break;
		}
	fclose(f);
	return on;
}

/*
 * kernel.io_uring_disabled=1 lets root (CAP_SYS_ADMIN) and the members of
 * kernel.io_uring_group through: was this process one of them?
 */
static bool may_use_uring(long group)
{
	gid_t groups[256];
	int n;

	if (geteuid() == 0 || (group >= 0 && getegid() == (gid_t)group))
		return true;
	n = getgroups(sizeof(groups) / sizeof(groups[0]), groups);
	for (int i = 0; i < n; i++)
		if (group >= 0 && groups[i] == (gid_t)group)
			return true;
	return false;
}

#define SECCOMP_FIX                                                                      \
	"(Docker/Podman: run with --security-opt "                                       \
	"seccomp=/usr/share/ringer/seccomp-ringer.json; systemd: allow io_uring_setup, " \
	"io_uring_enter and io_uring_register in SystemCallFilter)"

const char *ring_unavailable(int err, char *buf, size_t len)
{
	long disabled = read_sysctl("io_uring_disabled");

	switch (err) {
	case -EPERM:
		if (disabled == 2)
			snprintf(
				buf, len,
				"io_uring is disabled by sysctl kernel.io_uring_disabled=2: set it "
				"to 0 (sysctl -w kernel.io_uring_disabled=0)");
		else if (disabled == 1 && !may_use_uring(read_sysctl("io_uring_group")))
			snprintf(buf, len,
				 "io_uring is limited by sysctl kernel.io_uring_disabled=1 to root "
				 "and the group kernel.io_uring_group=%ld, and uid %u is in "
				 "neither: add the user to that group, or set "
				 "kernel.io_uring_disabled=0",
				 read_sysctl("io_uring_group"), (unsigned)geteuid());
		else if (seccomp_filtered())
			snprintf(buf, len,
				 "io_uring_setup: operation not permitted: a seccomp profile "
				 "forbids io_uring " SECCOMP_FIX);
		else
			snprintf(
				buf, len,
				"io_uring_setup: operation not permitted, though neither "
				"kernel.io_uring_disabled nor a seccomp filter forbids it: look at "
				"the security module's log (SELinux: io_uring class; AppArmor)");
		break;
	case -ENOSYS:
		snprintf(buf, len,
			 seccomp_filtered()
				 ? "io_uring_setup: function not implemented: a seccomp profile "
				   "hides io_uring " SECCOMP_FIX
				 : "io_uring_setup: function not implemented: this kernel has no "
				   "io_uring (CONFIG_IO_URING): ringer needs Linux 6.1 or later "
				   "with it");
		break;
	case -ENOMEM:
		snprintf(buf, len,
			 "io_uring_setup: cannot allocate memory: before kernel 5.12 a ring is "
			 "charged to RLIMIT_MEMLOCK: raise it (ulimit -l unlimited; systemd: "
			 "LimitMEMLOCK=infinity), or lower --ring-entries");
		break;
	default:
		snprintf(buf, len, "io_uring_setup: %s", strerror(-err));
		break;
	}
	return buf;
}
