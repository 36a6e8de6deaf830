// SPDX-License-Identifier: MIT
/*
 * Restricted rings (src/core/ring_restrict.c), set up as a shard does:
 * ring_init_restricted(), then the buffer ring and the sparse fixed-file
 * table registered after it, as engine_create() does. Each ring helper
 * ringer uses still works on it (an opcode or flag missing from the lists
 * would fail here with -EACCES); operations outside the lists (OPENAT,
 * READ, an SQE flag, fixed buffers, an eventfd) complete with -EACCES; the
 * opt-out takes them. And ring_unavailable()'s line for io_uring_setup
 * failing, under a seccomp filter that makes it fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ringer/ring.h"

/* Completions that came while another was awaited, by user_data (below 128), kept for later. */
static int early_res[128];
static bool early[128];

/* The CQE with user_data ud (now or already come): its res. */
static int wait_res(struct ring *r, uint64_t ud)
{
	struct __kernel_timespec ts = {.tv_sec = 5};
	struct io_uring_cqe *cqe;
	int res;

	assert_true(ud < 128);
	assert_true(io_uring_submit(&r->uring) >= 0);
	while (!early[ud]) {
		if (io_uring_wait_cqe_timeout(&r->uring, &cqe, &ts))
			fail_msg("no completion for user_data %llu in 5 s", (unsigned long long)ud);
		if (cqe->user_data < 128) {
			early_res[cqe->user_data] = cqe->res;
			early[cqe->user_data] = true;
		}
		io_uring_cqe_seen(&r->uring, cqe);
	}
	res = early_res[ud];
	early[ud] = false;
	return res;
}

static void ring_up(struct ring *r, bool restricted)
{
	char note[160];

	assert_int_equal(ring_init_restricted(r, 64, 4, restricted, note, sizeof(note)), 0);
	assert_int_equal(r->restricted, restricted);
	assert_int_equal(strstr(note, " restricted") != NULL, restricted);
	/* Never SQPOLL; disabled at creation when restricted (enabled since, or nothing ran). */
	assert_false(r->setup_flags & IORING_SETUP_SQPOLL);
	assert_int_equal(!!(r->setup_flags & IORING_SETUP_R_DISABLED), restricted);
}

/* An opcode ringer never uses: the CQE's res, on a restricted ring -EACCES. */
static int try_openat(struct ring *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->uring);
	int res;

	io_uring_prep_openat(sqe, AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC, 0);
	sqe->user_data = 101;
	res = wait_res(r, 101);
	if (res >= 0)
		close(res);
	return res;
}

static int try_read(struct ring *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->uring);
	char buf[4];
	int p[2], res;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(write(p[1], "abc", 3), 3);
	io_uring_prep_read(sqe, p[0], buf, sizeof(buf), 0);
	sqe->user_data = 102;
	res = wait_res(r, 102);
	close(p[0]);
	close(p[1]);
	return res;
}

/* A NOP with a flag ringer never sets (IOSQE_ASYNC). */
static int try_async_flag(struct ring *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->uring);

	io_uring_prep_nop(sqe);
	sqe->flags |= IOSQE_ASYNC;
	sqe->user_data = 103;
	return wait_res(r, 103);
}

static int try_register_buffers(struct ring *r)
{
	static char mem[4096];
	struct iovec iov = {mem, sizeof(mem)};
	int ret = io_uring_register_buffers(&r->uring, &iov, 1);

	if (ret == 0)
		io_uring_unregister_buffers(&r->uring);
	return ret;
}

static int try_register_eventfd(struct ring *r)
{
	int efd = eventfd(0, EFD_CLOEXEC), ret;

	assert_true(efd >= 0);
	ret = io_uring_register_eventfd(&r->uring, efd);
	if (ret == 0)
		io_uring_unregister_eventfd(&r->uring);
	close(efd);
	return ret;
}

static void restricted_refuses_other_opcodes(void **state)
{
	struct ring r;

	(void)state;
	ring_up(&r, true);
	assert_int_equal(try_openat(&r), -EACCES);
	assert_int_equal(try_read(&r), -EACCES);
	assert_int_equal(try_async_flag(&r), -EACCES);
	ring_exit(&r);
}

static void restricted_refuses_other_registrations(void **state)
{
	struct ring r;

	(void)state;
	ring_up(&r, true);
	assert_int_equal(try_register_buffers(&r), -EACCES);
	assert_int_equal(try_register_eventfd(&r), -EACCES);
	ring_exit(&r);
}

static void opt_out_takes_them(void **state)
{
	struct ring r;

	(void)state;
	ring_up(&r, false);
	assert_true(try_openat(&r) >= 0);
	assert_int_equal(try_read(&r), 3);
	assert_int_equal(try_async_flag(&r), 0);
	assert_int_equal(try_register_buffers(&r), 0);
	assert_int_equal(try_register_eventfd(&r), 0);
	ring_exit(&r);
}

/* A loopback listener on a free port, its address in a. */
static int listener(struct sockaddr_in *a)
{
	socklen_t len = sizeof(*a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)a, sizeof(*a)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)a, &len), 0);
	return fd;
}

/*
 * Every helper the engine uses, on a restricted ring registered as
 * engine_create() registers it: each one's CQE is its success, so an opcode,
 * flag or register call missing from ring_restrict.c's lists fails here.
 */
static void restricted_runs_every_helper(void **state)
{
	static struct __kernel_timespec tick = {.tv_sec = 3600}, cto = {.tv_sec = 5};
	struct sockaddr_in a, src = {.sin_family = AF_INET};
	struct msghdr msg = {0};
	struct iovec iov;
	struct bufring b;
	struct ring r;
	char buf[16];
	int lfd, sv[2], p[2], one = 1, slot, acc, cfd, res, outq = -1;

	(void)state;
	ring_up(&r, true);
	/* engine_create()'s registrations come after ring_init(): listed register opcodes. */
	assert_int_equal(bufring_init(&b, &r, 0, 16, 256), 0);
	assert_int_equal(ring_register_files_sparse(&r, 16), 0);
	assert_int_equal(ring_probe_setsockopt(&r), 0);

	assert_int_equal(ring_nop(&r, 1), 0);
	assert_int_equal(wait_res(&r, 1), 0);
	assert_int_equal(ring_tick(&r, &tick, true, 2), 0);
	assert_int_equal(ring_timeout_remove(&r, 2, 3), 0);
	assert_int_equal(wait_res(&r, 3), 0);

	/* Plain descriptors: send, sendmsg, recv, buffer-selected multishot recv, shutdown, write. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(ring_send(&r, sv[0], false, "ping", 4, 0, 4), 0);
	assert_int_equal(wait_res(&r, 4), 4);
	iov = (struct iovec){(void *)"pong", 4};
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	assert_int_equal(ring_sendmsg(&r, sv[0], false, &msg, 0, 5), 0);
	assert_int_equal(wait_res(&r, 5), 4);
	assert_int_equal(ring_recv(&r, sv[1], false, buf, 4, 6), 0);
	assert_int_equal(wait_res(&r, 6), 4);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(ring_recv_multishot(&r, sv[1], false, 0, 0, false, 7), 0);
	assert_int_equal(wait_res(&r, 7), 4);
	assert_int_equal(ring_cancel(&r, 7, 8), 0);
	assert_true(wait_res(&r, 8) >= 0);
	assert_int_equal(ring_cancel_fd(&r, sv[1], false, 9), 0);
	assert_true(wait_res(&r, 9) != -EACCES);
	assert_int_equal(ring_shutdown(&r, sv[0], false, SHUT_WR, 10), 0);
	assert_int_equal(wait_res(&r, 10), 0);
	assert_int_equal(ring_close(&r, sv[0], false, 11), 0);
	assert_int_equal(wait_res(&r, 11), 0);
	close(sv[1]);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(ring_write(&r, p[1], "log", 3, 12), 0);
	assert_int_equal(wait_res(&r, 12), 3);
	close(p[0]);
	close(p[1]);

	/* Direct descriptors: socket, setsockopt, bind + connect + link timeout, accept, SIOCOUTQ. */
	lfd = listener(&a);
	assert_int_equal(ring_accept_multishot(&r, lfd, true, 20), 0);
	assert_int_equal(ring_socket_direct(&r, AF_INET, 21), 0);
	slot = wait_res(&r, 21);
	assert_true(slot >= 0);
	assert_int_equal(
		ring_setsockopt(&r, slot, true, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one), 22),
		0);
	assert_int_equal(wait_res(&r, 22), 0);
	src.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(ring_reserve(&r, 5), 0);
	assert_int_equal(
		ring_bind_linked(&r, slot, (struct sockaddr *)&src, sizeof(src), &one, 23, 24), 0);
	assert_int_equal(ring_connect_linked(&r, slot, true, (struct sockaddr *)&a, sizeof(a), &one,
					     &cto, 25, 26, 27),
			 0);
	res = wait_res(&r, 26);
	assert_int_equal(res, 0);
	acc = wait_res(&r, 20);
	assert_true(acc >= 0);
	assert_int_equal(ring_outq(&r, slot, true, 28), 0);
	outq = wait_res(&r, 28);
	assert_int_equal(outq, 0);
	assert_int_equal(
		ring_getsockopt(&r, slot, true, SOL_SOCKET, SO_KEEPALIVE, &res, sizeof(res), 29),
		0);
	assert_true(wait_res(&r, 29) >= 0);
	assert_int_equal(ring_close_reset(&r, slot, true, 30, 31), 0);
	assert_int_equal(wait_res(&r, 31), 0);
	/* A plain accept with the peer's address, then the accepted slot closed. */
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(cfd, (struct sockaddr *)&a, sizeof(a)), 0);
	{
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		int fd;

		assert_int_equal(ring_cancel_fd(&r, lfd, false, 32), 0);
		assert_true(wait_res(&r, 32) >= 0);
		assert_int_equal(
			ring_accept_addr(&r, lfd, false, (struct sockaddr *)&peer, &plen, 33), 0);
		fd = wait_res(&r, 33);
		assert_true(fd >= 0);
		close(fd);
	}
	assert_int_equal(ring_close(&r, acc, true, 34), 0);
	assert_int_equal(wait_res(&r, 34), 0);
	close(cfd);
	close(lfd);
	bufring_exit(&b);
	ring_exit(&r);
}

/* ---- io_uring unavailable ---------------------------------------------------------------- */

/* A seccomp filter: io_uring_setup fails with err, everything else is allowed. */
static void forbid_io_uring_setup(int err)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {sizeof(f) / sizeof(f[0]), f};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		_exit(99);
}

/* In a child under the filter: ring_available()'s result and ring_unavailable()'s line. */
static int unavailable_line(int err, char *line, size_t len)
{
	int p[2], status, got;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char buf[512];
		int ret;

		close(p[0]);
		forbid_io_uring_setup(err);
		ret = ring_available();
		ring_unavailable(ret, buf, sizeof(buf));
		if (write(p[1], &ret, sizeof(ret)) != sizeof(ret) ||
		    write(p[1], buf, strlen(buf) + 1) < 0)
			_exit(98);
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &got, sizeof(got)), sizeof(got));
	n = read(p[0], line, len - 1);
	assert_true(n > 0);
	line[n] = 0;
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return got;
}

static long sysctl_disabled(void)
{
	long v = -1;
	FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r");

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static void unavailable_names_cause_and_fix(void **state)
{
	char line[512];

	(void)state;
	assert_int_equal(unavailable_line(EPERM, line, sizeof(line)), -EPERM);
	if (sysctl_disabled() == 2)
		assert_non_null(strstr(line, "kernel.io_uring_disabled=2: set it to 0"));
	else if (sysctl_disabled() == 1 && geteuid() != 0) /* =1 lets root through */
		assert_non_null(strstr(line, "kernel.io_uring_group"));
	else
		assert_non_null(strstr(line, "a seccomp profile forbids io_uring"));
	assert_null(strchr(line, '\n'));
	assert_int_equal(unavailable_line(ENOSYS, line, sizeof(line)), -ENOSYS);
	assert_non_null(strstr(line, "a seccomp profile hides io_uring"));
	assert_non_null(strstr(ring_unavailable(-ENOMEM, line, sizeof(line)), "RLIMIT_MEMLOCK"));
	/* Without the filter it works: the lines above came from the filter, not this machine. */
	assert_int_equal(ring_available(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(restricted_refuses_other_opcodes),
		cmocka_unit_test(restricted_refuses_other_registrations),
		cmocka_unit_test(opt_out_takes_them),
		cmocka_unit_test(restricted_runs_every_helper),
		cmocka_unit_test(unavailable_names_cause_and_fix),
	};

	return cmocka_run_group_tests_name("ring_restrict", tests, NULL, NULL);
}
