#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Zero-downtime restart (--handover PATH) under load, and its refusals.

Usage: test_restart.py RINGER RINGER_LOAD [--naive]

Each test function starts its own ringers on 127.0.0.1 (a free port picked
per test) with a handover socket in a temporary directory, runs ringer-load
against them where it says so, and stops what it started by PID. Prints one
line per test function (and the load's figures) and exits 1 if any failed.

--naive runs the two load tests with a plain SO_REUSEPORT restart instead:
the second ringer starts without --handover (an LD_PRELOAD shim, built here
with cc, lets it past the port probe) and the first gets SIGTERM as soon as
the second listens. That is the restart --handover replaces; its figures
(connections lost) are what the handover tests show do not happen.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from cases import check, free_port, ringer_ended, run, wait_for

RINGER = sys.argv[1] if len(sys.argv) > 1 else "build/src/server/ringer"
LOAD = sys.argv[2] if len(sys.argv) > 2 else "build/src/load/ringer-load"
NAIVE = "--naive" in sys.argv[3:]
DRAIN_MS = 5000
TMP = tempfile.mkdtemp(prefix="ringer-restart-")  # removed at the end
class Ringer:
    """A ringer process; its stdout and stderr are collected as they come."""

    def __init__(self, *args, env=None):
        self.args = [RINGER, "--no-pin", *args]
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env)
        self.out, self.err = [], []
        self.listening = threading.Event()
        threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True).start()

    def _read(self, f, lines):
        for line in f:
            lines.append(line)
            if line.startswith("listening on"):
                self.listening.set()

    def wait_listening(self, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.listening.wait(0.05):
                return True
            if self.proc.poll() is not None:
                return False
        return False

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, what="ringer"):
        """SIGTERM unless it already exited (a handover drains and exits 0 by itself);
        judges how it ended (cases.ringer_ended) and returns its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        if self.wait(DRAIN_MS / 1000 + 10) is None:
            self.proc.kill()
            self.proc.wait()
        time.sleep(0.05)  # the readers finish
        ringer_ended(what, self.proc.returncode, "".join(self.out), self.stderr())
        return self.proc.returncode

    def stderr(self):
        return "".join(self.err)


def echo_ok(port, payload=b"ping"):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(payload)
            got = b""
            while len(got) < len(payload):
                d = s.recv(65536)
                if not d:
                    break
                got += d
            return got == payload
    except OSError:
        return False


def http_ok(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            got = b""
            while True:
                d = s.recv(65536)
                if not d:
                    break
                got += d
            return got.startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def naive_env(tmp):
    """LD_PRELOAD: every TCP bind sets SO_REUSEPORT first, so the port probe passes."""
    src = os.path.join(tmp, "reuseport.c")
    lib = os.path.join(tmp, "reuseport.so")
    with open(src, "w") as f:
        f.write("#define _GNU_SOURCE\n#include <dlfcn.h>\n#include <sys/socket.h>\n"
                "int bind(int fd, const struct sockaddr *a, socklen_t l)\n{\n"
                "\tstatic int (*real)(int, const struct sockaddr *, socklen_t);\n"
                "\tint one = 1;\n\n\tif (!real)\n\t\treal = dlsym(RTLD_NEXT, \"bind\");\n"
                "\tif (a->sa_family == AF_INET || a->sa_family == AF_INET6)\n"
                "\t\tsetsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));\n"
                "\treturn real(fd, a, l);\n}\n")
    subprocess.run(["cc", "-shared", "-fPIC", "-o", lib, src, "-ldl"], check=True)
    return dict(os.environ, LD_PRELOAD=lib)


def restart_under_load(mode, rate, churn, connections=20, seconds=6, shards=2):
    """
    ringer A serves; ringer-load sends `seconds` of its schedule (rate x
    seconds requests, --requests: the open loop cannot send them sooner)
    with a new connection every `churn` requests; 2 s in, ringer B starts
    with the same flags and takes over (or, with --naive, starts beside A
    and A gets SIGTERM). A must exit 0 by itself within its drain timeout, B
    serve on, and the load see no failed connect, no error, no timeout, and
    every request answered.
    """
    tmp = tempfile.mkdtemp(dir=TMP)
    path = os.path.join(tmp, "handover.sock")
    port = free_port()
    flags = ["--mode", mode, "--shards", str(shards), "--listen", f"127.0.0.1:{port}",
             "--drain-timeout", str(DRAIN_MS)]
    ho = [] if NAIVE else ["--handover", path]
    a = Ringer(*flags, *ho)
    b = load = None
    try:
        if not check(a.wait_listening(), f"{mode}: the first ringer did not start: "
                     + a.stderr()[-500:]):
            return
        check(NAIVE or os.path.exists(path), f"{mode}: no handover socket at {path}")
        load = subprocess.Popen(
            [LOAD, "--target", f"127.0.0.1:{port}", "--mode", mode, "--churn", str(churn),
             "--rate", str(rate), "--connections", str(connections), "--requests",
             str(rate * seconds), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        time.sleep(2)
        b = Ringer(*flags, *ho, env=naive_env(tmp) if NAIVE else None)
        started = time.time()
        check(b.wait_listening(), f"{mode}: the second ringer did not start: "
              + b.stderr()[-500:])
        if NAIVE:
            a.proc.send_signal(signal.SIGTERM)
        rc = a.wait(DRAIN_MS / 1000 + 3)
        gone = time.time() - started
        check(rc == 0, f"{mode}: the first ringer's exit: {rc} after {gone:.1f} s")
        if not NAIVE:
            check("serves on the listeners now" in a.stderr(),
                  f"{mode}: the first ringer did not drain for a handover: {a.stderr()[-400:]}")
            check("took over 2 listeners" in b.stderr(),
                  f"{mode}: the second ringer's report: {b.stderr()[-400:]}")
        try:
            out, err = load.communicate(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            load.kill()
            out, err = load.communicate()
        res = json.loads(out) if out.strip() else {}
        e = res.get("errors", {})
        want = rate * seconds
        print(f"  {mode}{' (naive)' if NAIVE else ''}: churn {churn}, {rate}/s for {seconds} s: "
              f"{res.get('requests')} requests of {want}, {res.get('connects')} connections, "
              f"errors {e}; first ringer gone {gone:.2f} s after the second started", flush=True)
        check(load.returncode == 0, f"{mode}: ringer-load exit {load.returncode}: {err[-300:]}")
        check(e.get("total") == 0 and e.get("connect") == 0 and e.get("reset") == 0
              and e.get("timeout") == 0 and e.get("mismatch") == 0 and e.get("non_2xx") == 0,
              f"{mode}: load errors {e}")
        # The run ends when all `want` are answered, however slowly the machine
        # runs: a lost request is not replaced until it times out (--timeout,
        # 10 s), which the errors above count.
        check(res.get("requests") == want,
              f"{mode}: {res.get('requests')} requests answered of {want} scheduled")
        check(b.proc.poll() is None, f"{mode}: the second ringer exited")
        check((echo_ok if mode == "echo" else http_ok)(port),
              f"{mode}: the second ringer does not serve")
    finally:
        if load and load.poll() is None:
            load.kill()
            load.wait()
        if a.proc.poll() is None:
            a.proc.kill()
            a.proc.wait()
        # A handed over (or, --naive, got SIGTERM) and drained: exit 0 with its stats; one
        # killed above has already failed the case (its exit checked after the drain).
        a.stop(f"{mode}: the first ringer")
        if b:
            check(b.stop(f"{mode}: the second ringer") == 0,
                  f"{mode}: the second ringer's exit on SIGTERM")
        check(not os.path.exists(path), f"{mode}: {path} left behind at exit")


def test_echo_handover_under_load():
    restart_under_load("echo", rate=2000, churn=1)


def test_http_handover_under_load():
    restart_under_load("http", rate=2000, churn=1)


def test_http_handover_keepalive():
    """
    Keep-alive connections of 10 requests each (wrk-like, but each ends):
    those open on the first ringer at the handover finish there while it
    drains, the next ones go to the second.
    """
    restart_under_load("http", rate=2000, churn=10)


def test_echo_handover_high_churn():
    """The same at 6,000 new connections a second over 60 connections."""
    restart_under_load("echo", rate=6000, churn=1, connections=60)


def test_second_instance_refused():
    """Without --handover, or with a PATH nobody listens on, a busy port is refused."""
    tmp = tempfile.mkdtemp(dir=TMP)
    port = free_port()
    a = Ringer("--shards", "2", "--listen", f"127.0.0.1:{port}")
    try:
        check(a.wait_listening(), "the first ringer did not start")
        for extra in ([], ["--handover", os.path.join(tmp, "nobody.sock")]):
            p = subprocess.run([RINGER, "--no-pin", "--shards", "2", "--listen",
                                f"127.0.0.1:{port}", *extra], capture_output=True, text=True,
                               timeout=10)
            check(p.returncode == 1 and "in use" in p.stderr and "listening" not in p.stdout,
                  f"second instance {extra}: exit {p.returncode}, {p.stderr.strip()[-300:]}")
        check(not os.path.exists(os.path.join(tmp, "nobody.sock")),
              "a refused ringer left a handover socket")
        check(a.proc.poll() is None and echo_ok(port), "the first ringer stopped serving")
    finally:
        check(a.stop() == 0, "the first ringer's exit")


def test_stale_socket():
    """
    A socket file nobody listens on (its ringer was killed) is replaced; a
    file that is not a socket is left alone and refused (exit 1).
    """
    tmp = tempfile.mkdtemp(dir=TMP)
    path = os.path.join(tmp, "handover.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    stale.bind(path)
    stale.close()  # the file stays: nobody listens there
    port = free_port()
    a = Ringer("--shards", "1", "--listen", f"127.0.0.1:{port}", "--handover", path)
    try:
        check(a.wait_listening(), "a ringer did not start over a stale socket: "
              + a.stderr()[-300:])

        def live():
            with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
                return s.connect_ex(path) == 0
        check(wait_for(live), "the stale socket was not replaced by a live one")
    finally:
        check(a.stop() == 0, "the ringer's exit")
    check(not os.path.exists(path), f"{path} left behind at exit")
    with open(path, "w") as f:
        f.write("not a socket\n")
    p = subprocess.run([RINGER, "--no-pin", "--shards", "1", "--listen", f"127.0.0.1:{port}",
                        "--handover", path], capture_output=True, text=True, timeout=15)
    check(p.returncode == 1 and "not a socket" in p.stderr,
          f"a regular file at the path: exit {p.returncode}, {p.stderr.strip()[-300:]}")
    check(open(path).read() == "not a socket\n", "the regular file was touched")


def test_handover_rules():
    """
    A newer ringer that cannot serve what it would receive is refused (exit
    1, the older one serves on and logs why): fewer shards than listeners,
    another --listen, a missing --admin. More shards is fine: the extra
    shards' listeners join the group, and the admin port is handed over too.
    """
    tmp = tempfile.mkdtemp(dir=TMP)
    path = os.path.join(tmp, "handover.sock")
    port = free_port()
    a = Ringer("--shards", "2", "--listen", f"127.0.0.1:{port}", "--admin", "127.0.0.1:0",
               "--handover", path)
    b = None
    try:
        check(a.wait_listening(), "the first ringer did not start")
        # "admin on" comes right after "listening on": the reader may not have it yet.
        admin = wait_for(lambda: re.search(r"admin on 127\.0\.0\.1:(\d+)", "".join(a.out)))
        admin = admin.group(1) if admin else "0"
        cases = [
            (["--shards", "1", "--listen", f"127.0.0.1:{port}", "--admin", "127.0.0.1:0"],
             "fewer than its 2 listeners"),
            (["--shards", "2", "--listen", f"127.0.0.1:{free_port()}", "--admin",
              "127.0.0.1:0"], "(--listen)"),
            (["--shards", "2", "--listen", f"127.0.0.1:{port}"], "give --admin"),
        ]
        for args, why in cases:
            p = subprocess.run([RINGER, "--no-pin", "--handover", path, *args],
                               capture_output=True, text=True, timeout=15)
            check(p.returncode == 1 and why in p.stderr,
                  f"{args}: exit {p.returncode}, {p.stderr.strip()[-300:]}")
        # The first ringer logs each refusal as it hears it; the newer one may be gone first.
        wait_for(lambda: a.stderr().count("refused to take over") >= 3)
        check(a.proc.poll() is None and echo_ok(port), "the first ringer stopped serving")
        check(a.stderr().count("refused to take over") == 3,
              f"the first ringer's log: {a.stderr()[-600:]}")
        # Three shards take over two listeners (and the admin port) and add one.
        b = Ringer("--shards", "3", "--listen", f"127.0.0.1:{port}", "--admin",
                   f"127.0.0.1:{admin}", "--handover", path)
        check(b.wait_listening(), "the bigger ringer did not start: " + b.stderr()[-400:])
        check(a.wait(DRAIN_MS / 1000 + 3) == 0, "the first ringer did not exit 0")
        check("took over 2 listeners and the admin's" in b.stderr(),
              f"the bigger ringer's report: {b.stderr()[-400:]}")
        check(all(echo_ok(port) for _ in range(50)), "the bigger ringer does not serve")
        # The admin port came along: it answers /metrics.
        with socket.create_connection(("127.0.0.1", int(admin)), timeout=5) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            got = b""
            while True:
                d = s.recv(65536)
                if not d:
                    break
                got += d
        check(got.startswith(b"HTTP/1.1 200") and b"ringer_" in got,
              "the admin port handed over does not serve /metrics")
        check(os.path.exists(path), "the bigger ringer does not listen on the handover path")
    finally:
        a.stop("the first ringer")  # handed over: it exited 0 by itself
        if b:
            check(b.stop("the bigger ringer") == 0, "the bigger ringer's exit")
        check(not os.path.exists(path), f"{path} left behind at exit")


TESTS = [test_echo_handover_under_load, test_http_handover_under_load,
         test_http_handover_keepalive, test_echo_handover_high_churn]
if not NAIVE:
    TESTS += [test_second_instance_refused, test_stale_socket, test_handover_rules]


if __name__ == "__main__":
    run(TESTS, cleanup=lambda: shutil.rmtree(TMP, ignore_errors=True))
