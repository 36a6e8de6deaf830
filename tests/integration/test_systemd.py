#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""ringer under systemd, judged from outside without systemd: the sd_notify messages (a Unix
datagram socket of the test's as NOTIFY_SOCKET, the sender's pid read from SCM_CREDENTIALS) and
their order around the start, a reload, the drain and a handover; socket activation (a listening
socket of the test's passed as fd 3 with LISTEN_FDS and LISTEN_PID); the session log reopened on
SIGUSR1 (renamed under load, and by logrotate with the shipped snippet); the shipped unit's
`systemd-analyze security` score and `systemd-analyze verify`.

Usage: test_systemd.py RINGER_BINARY [CASE ...]

Each case starts its own ringer on 127.0.0.1 and stops it by PID. Prints one line per case and
exits 1 if any failed.
"""
import array
import os
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time

from cases import Skip, check, free_port, ringer_ended, run, wait_for

RINGER = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/src/server/ringer")
ONLY = sys.argv[2:]
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
UNIT = os.path.join(ROOT, "tools", "dist", "ringer.service")
LOGROTATE = os.path.join(ROOT, "tools", "dist", "ringer.logrotate")
TMP = tempfile.mkdtemp(prefix="ringer-systemd-")
LINE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S+ \S+ (--|CR|SR|CC|CT|NU|HT|QT)"
                  r" \d+ \d+ \d+ \d+$")


class Notify:
    """The manager's end: a datagram socket bound at a path (or an abstract name), each
    message kept with the pid that sent it (SO_PASSCRED) and when it came."""

    def __init__(self, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        if abstract:
            name = f"ringer-test-{os.getpid()}-{time.monotonic_ns()}"
            self.sock.bind("\0" + name)
            self.env = "@" + name
        else:
            self.env = os.path.join(TMP, f"notify-{time.monotonic_ns()}.sock")
            self.sock.bind(self.env)
        self.msgs = []  # (pid, {key: value}, raw text, monotonic seconds at receipt)
        self.lock = threading.Lock()
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        size = struct.calcsize("3i")
        while True:
            try:
                data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(size))
            except OSError:
                return
            now = time.monotonic()
            pid = None
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("3i", payload[:size])[0]
            text = data.decode()
            kv = dict(line.split("=", 1) for line in text.split("\n") if "=" in line)
            with self.lock:
                self.msgs.append((pid, kv, text, now))
            on = getattr(self, "on_message", None)
            if on:
                on(pid, kv)

    def where(self, key, value=None, pid=None, after=0):
        """The messages from index after on that carry key (=value), from pid (None: any)."""
        with self.lock:
            return [m for m in self.msgs[after:] if key in m[1] and
                    (value is None or m[1][key] == value) and (pid is None or m[0] == pid)]

    def close(self):
        self.sock.close()


class Ringer:
    """A ringer with NOTIFY_SOCKET set (and whatever env adds); stdout and stderr collected."""

    def __init__(self, *args, notify=None, env=None, preexec_fn=None, wait=True):
        self.what = "ringer " + " ".join(args)
        e = dict(os.environ)
        if notify:
            e["NOTIFY_SOCKET"] = notify.env
        e.update(env or {})
        # With preexec_fn (activated()) setting variables, the child's environment must be
        # os.environ; and close_fds off, because Python closes descriptors after preexec_fn,
        # the 3, 4 ... it placed included. Nothing else leaks: Python's are non-inheritable.
        self.proc = subprocess.Popen([RINGER, *args, "--no-pin"], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, cwd="/",
                                     env=None if preexec_fn else e, preexec_fn=preexec_fn,
                                     close_fds=preexec_fn is None)
        self.out, self.err = [], []
        self.readers = [threading.Thread(target=self._read, args=(f, lines), daemon=True)
                        for f, lines in ((self.proc.stdout, self.out),
                                         (self.proc.stderr, self.err))]
        for t in self.readers:
            t.start()
        self.port = None
        if wait:
            self.wait_listening()

    @staticmethod
    def _read(f, lines):
        for line in f:
            lines.append(line)

    def wait_listening(self):
        def started():
            for line in self.out:
                m = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
                if m:
                    self.port = int(m.group(1))
            return self.port or self.proc.poll() is not None
        wait_for(started, 20)
        if not self.port:
            self.stop(want=None)
            raise RuntimeError(f"ringer did not start: {self.stderr()[-800:]}")

    def stderr(self):
        return "".join(self.err)

    def stop(self, want=0, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for t in self.readers:  # the pipes end with the process: every line is in
            t.join(5)
        ringer_ended(self.what, self.proc.returncode, "".join(self.out), self.stderr(),
                     want=want, stale=None)
        return self.proc.returncode


def echo_ok(port, payload=b"ping", timeout=3.0, why=None):
    """A connection to port that gets payload echoed back in time; why (a list) gets the
    reason when not."""
    got = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
            c.sendall(payload)
            while len(got) < len(payload):
                d = c.recv(4096)
                if not d:
                    break
                got += d
    except OSError as e:
        got = repr(e).encode()
    if got != payload and why is not None:
        why.append(got)
    return got == payload


def notify_lifecycle():
    """READY=1 (with STATUS=) only once the port answers, first of all messages; a STATUS=
    line every 5 s with the connections held; SIGHUP: RELOADING=1 with MONOTONIC_USEC of now,
    then READY=1, whether the reload was taken or refused; SIGTERM: STOPPING=1 while the
    drain still runs, before the exit."""
    n = Notify()
    port = free_port()
    served_at_ready, why = [], []
    n.on_message = lambda pid, kv: ("READY" in kv and not served_at_ready and
                                    served_at_ready.append(echo_ok(port, why=why)))
    ups = os.path.join(TMP, "ups.txt")
    up = Upstream()
    with open(ups, "w") as f:
        f.write(f"127.0.0.1:{up.port}\n")
    r = Ringer("--mode", "proxy", "--listen", f"127.0.0.1:{port}", "--shards", "2",
               "--upstreams-file", ups, "--drain-timeout", "3000", notify=n)
    try:
        check(wait_for(lambda: n.where("READY"), 10), "no READY=1")
        first = n.msgs[0] if n.msgs else (None, {}, "", 0)
        check("READY" in first[1] and first[1]["READY"] == "1" and "STATUS" in first[1],
              f"the first message is not READY=1 with STATUS=: {first[2]!r}")
        check(first[0] == r.proc.pid, f"READY=1 from pid {first[0]}, not ringer's")
        # The message is recorded before its callback runs: wait for the callback's verdict.
        wait_for(lambda: served_at_ready, 10)
        check(served_at_ready == [True], f"the port did not serve when READY=1 came: {why}")
        check("MAINPID" not in first[1], "MAINPID= on a plain start")
        # Three sessions held open (the clients send nothing): a STATUS= line
        # within 5 s (and a bit) says so (3 clients and 3 upstream connections).
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        mark = len(n.msgs)
        st = wait_for(lambda: [m for m in n.where("STATUS", after=mark)
                               if m[1]["STATUS"].startswith("6 connections")], 12)
        check(st, "no STATUS= line with 6 connections within 12 s: " +
              repr([m[2] for m in n.msgs[mark:]]))
        if st:
            check(st[0][1]["STATUS"] == "6 connections, 1 listener",
                  f"STATUS={st[0][1]['STATUS']!r}")
        # SIGHUP: a reload that is taken, then one that is refused (a bad file).
        for what, content in (("taken", f"127.0.0.1:{up.port}\n"),
                              ("refused", "no such upstream line\n")):
            with open(ups, "w") as f:
                f.write(content)
            mark = len(n.msgs)
            r.proc.send_signal(signal.SIGHUP)
            ok = wait_for(lambda: n.where("READY", after=mark), 10)
            msgs = n.msgs[mark:]
            check(ok and len(msgs) >= 2 and msgs[0][1].get("RELOADING") == "1" and
                  msgs[1][1].get("READY") == "1",
                  f"reload {what}: not RELOADING=1 then READY=1: {[m[2] for m in msgs]}")
            if msgs and "MONOTONIC_USEC" in msgs[0][1]:
                usec = int(msgs[0][1]["MONOTONIC_USEC"])
                got = msgs[0][3] * 1e6
                check(0 <= got - usec < 2e6,
                      f"reload {what}: MONOTONIC_USEC {usec} is {(got - usec) / 1e3:.0f} ms "
                      "from when it came")
            else:
                check(False, f"reload {what}: no MONOTONIC_USEC with RELOADING=1")
        check(wait_for(lambda: "reload refused" in r.stderr(), 3),
              "the bad upstreams file was not refused")
        # SIGTERM with sessions open: STOPPING=1 comes while ringer still drains.
        mark = len(n.msgs)
        r.proc.send_signal(signal.SIGTERM)
        stopping = wait_for(lambda: n.where("STOPPING", "1", after=mark), 5)
        alive = r.proc.poll() is None
        check(stopping, "no STOPPING=1 on SIGTERM")
        check(alive, "ringer had exited when STOPPING=1 came (want: at the drain's start)")
        for c in held:
            c.close()
    finally:
        r.stop()
        up.sock.close()
        n.close()
    check(not n.where("READY", after=mark), "READY=1 after STOPPING=1")


def notify_abstract_and_full():
    """NOTIFY_SOCKET=@name reaches an abstract socket; and a manager that never reads (its
    queue full) costs ringer nothing: it serves, reloads and stops in time."""
    n = Notify(abstract=True)
    r = Ringer("--mode", "echo", "--listen", "127.0.0.1:0", "--shards", "1", notify=n)
    try:
        check(wait_for(lambda: n.where("READY", "1", pid=r.proc.pid), 10),
              "no READY=1 on the abstract socket")
    finally:
        r.stop()
        n.close()
    full = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = os.path.join(TMP, "full.sock")
    full.bind(path)
    sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sender.setblocking(False)
    sent = 0
    try:
        while sent < 100000:
            sender.sendto(b"X=1", path)
            sent += 1
    except BlockingIOError:
        pass
    check(sent < 100000, "the notify socket's queue never filled")
    r = Ringer("--mode", "echo", "--listen", "127.0.0.1:0", "--shards", "1",
               env={"NOTIFY_SOCKET": path})
    try:
        check(echo_ok(r.port), "ringer does not serve with a full notify socket")
        r.proc.send_signal(signal.SIGHUP)
        time.sleep(0.2)
        check(echo_ok(r.port), "ringer does not serve after a SIGHUP with a full notify socket")
        t0 = time.monotonic()
    finally:
        r.stop()
    check(time.monotonic() - t0 < 5, "ringer took more than 5 s to stop with a full notify socket")
    full.close()
    sender.close()


def handover_mainpid():
    """--handover under systemd: the newer ringer sends MAINPID=<its pid> and READY=1 once it
    serves; the older one drains and exits 0 without STOPPING=1 (the service goes on)."""
    n = Notify()
    port = free_port()
    path = os.path.join(TMP, "handover.sock")
    args = ("--mode", "echo", "--listen", f"127.0.0.1:{port}", "--shards", "1",
            "--handover", path, "--drain-timeout", "1000")
    old = Ringer(*args, notify=n)
    new = None
    try:
        check(wait_for(lambda: n.where("READY", pid=old.proc.pid), 10), "no READY=1 from the first")
        new = Ringer(*args, notify=n)
        ready = wait_for(lambda: n.where("READY", pid=new.proc.pid), 10)
        check(ready, "no READY=1 from the newer ringer")
        if ready:
            kv = ready[0][1]
            check(kv.get("MAINPID") == str(new.proc.pid),
                  f"the newer ringer's READY=1 came with MAINPID={kv.get('MAINPID')}, "
                  f"want {new.proc.pid}: {ready[0][2]!r}")
            check(ready[0][2].startswith("MAINPID="), f"MAINPID= not first: {ready[0][2]!r}")
        try:
            old.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        check(old.proc.poll() == 0, f"the older ringer did not drain and exit 0: {old.proc.poll()}")
        check(not n.where("STOPPING", pid=old.proc.pid),
              "the older ringer sent STOPPING=1 on a handover")
        check(echo_ok(port), "the newer ringer does not serve")
    finally:
        old.stop()
        if new:
            new.stop()
            check(n.where("STOPPING", "1", pid=new.proc.pid), "no STOPPING=1 from the newer one")
        n.close()


def handover_reload_recipe():
    """The unit's commented ExecReload for upgrades, run as systemd would (MAINPID in its
    environment) with this build's ringer for /usr/sbin/ringer: it returns 0 once the old
    ringer has drained and exited, the new one having sent MAINPID= and READY=1 and serving;
    and when the new one is refused (fewer shards), it returns 1 at once, the old one serving."""
    unit = open(UNIT).read()
    m = re.search(r"^#ExecReload=/bin/sh -c '(.*)'$", unit, re.M)
    check(m, "no commented handover ExecReload in the unit")
    if not m:
        return
    n = Notify()
    port = free_port()
    path = os.path.join(TMP, "recipe.sock")
    common = f"--mode echo --listen 127.0.0.1:{port} --handover {path} --drain-timeout 1000 --no-pin"

    pidfile = os.path.join(TMP, "recipe.pid")

    def recipe(shards):
        """The line with this build's ringer, which also leaves the new pid in pidfile (so
        that this test stops it whatever happened)."""
        return m.group(1).replace("/usr/sbin/ringer -c /etc/ringer/ringer.conf",
                                  f"{RINGER} {common} --shards {shards} >/dev/null 2>&1").replace(
                                  "new=$!;", f"new=$!; echo $new >{pidfile};")

    old = Ringer(*common.split()[:-1], "--shards", "2", notify=n)
    new_pid = None
    try:
        check(wait_for(lambda: n.where("READY", pid=old.proc.pid), 10), "no READY=1 from the old")
        # Refused: one shard where two listeners are on offer.
        t0 = time.monotonic()
        p = subprocess.run(["/bin/sh", "-c", recipe(1)], env={**os.environ,
                           "MAINPID": str(old.proc.pid), "NOTIFY_SOCKET": n.env}, timeout=30)
        check(p.returncode == 1, f"the recipe with a refused ringer returned {p.returncode}")
        check(time.monotonic() - t0 < 10, "the recipe took 10 s to see the new ringer refused")
        check(old.proc.poll() is None and echo_ok(port), "the old ringer stopped serving")
        # Taken over. The old ringer is this process's child: reaped here as systemd would
        # reap its main process, or the recipe's kill -0 would see a zombie forever.
        w = subprocess.Popen(["/bin/sh", "-c", recipe(2)], env={**os.environ,
                             "MAINPID": str(old.proc.pid), "NOTIFY_SOCKET": n.env})
        wait_for(lambda: old.proc.poll() is not None and w.poll() is not None, 30)
        if w.poll() is None:
            w.kill()
            w.wait()
        check(w.returncode == 0, f"the recipe returned {w.returncode}")
        check(old.proc.poll() == 0, f"the old ringer had not exited 0: {old.proc.poll()}")
        ready = [x for x in n.where("MAINPID") if x[0] != old.proc.pid]
        check(ready and ready[0][1].get("MAINPID") == str(ready[0][0]) and
              ready[0][1].get("READY") == "1", f"no MAINPID= with READY=1 from the new: {ready}")
        new_pid = ready[0][0] if ready else None
        check(echo_ok(port), "the new ringer does not serve")
        check(not n.where("STOPPING", pid=old.proc.pid), "the old ringer sent STOPPING=1")
    finally:
        old.stop()
        if not new_pid and os.path.exists(pidfile):
            new_pid = int(open(pidfile).read())
        if new_pid and os.path.exists(f"/proc/{new_pid}"):
            os.kill(new_pid, signal.SIGTERM)
            check(wait_for(lambda: not os.path.exists(f"/proc/{new_pid}") or
                           open(f"/proc/{new_pid}/stat").read().split()[2] == "Z", 10),
                  "the new ringer did not stop on SIGTERM")
        n.close()


def held_listener(port, backlog=128):
    """A listening socket on 127.0.0.1:port without SO_REUSEPORT: nobody can bind it again."""
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    s.listen(backlog)
    return s


def socket_fds(pid):
    """The socket inodes pid holds."""
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            m = re.match(r"socket:\[(\d+)\]", os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue
        if m:
            out.add(int(m.group(1)))
    return out


def activated(socks, names=None, pid_ok=True):
    """preexec_fn for a child that gets socks as fds 3, 4 ... with LISTEN_FDS and
    LISTEN_PID (its own pid, or 1 when not pid_ok)."""
    fds = [s.fileno() for s in socks]

    def pre():  # in the child, between fork and exec
        # Out of the way first, so moving one onto 3.. never overwrites another.
        tmp = [os.dup(fd) for fd in fds]
        for i, fd in enumerate(tmp):
            os.dup2(fd, 3 + i)
        os.environ["LISTEN_FDS"] = str(len(fds))
        os.environ["LISTEN_PID"] = str(os.getpid() if pid_ok else 1)
        if names:
            os.environ["LISTEN_FDNAMES"] = names
    return pre


def socket_activation():
    """A listening socket passed as fd 3 (LISTEN_FDS=1, LISTEN_PID) on the --listen address
    is what both shards serve on (no new bind: the test holds the port without
    SO_REUSEPORT); a second one on another address is closed with a warning naming it; with
    LISTEN_PID not ringer's, nothing is inherited and the bind fails."""
    # Descriptors 3 and 4 taken here first, so the sockets are not already where they go.
    pads = [os.open("/dev/null", os.O_RDONLY) for _ in range(2)]
    port, other = free_port(), free_port()
    main_s, extra = held_listener(port), held_listener(other)
    ino_main, ino_extra = os.fstat(main_s.fileno()).st_ino, os.fstat(extra.fileno()).st_ino
    pre = activated([main_s, extra], names="web:spare")
    r = Ringer("--mode", "echo", "--listen", f"127.0.0.1:{port}", "--shards", "2",
               preexec_fn=pre)
    try:
        ok = sum(echo_ok(port, b"x" * 100) for _ in range(20))
        check(ok == 20, f"{ok} of 20 echoes through the inherited socket")
        held = socket_fds(r.proc.pid)
        check(ino_main in held, "ringer holds no descriptor of the inherited socket")
        check(ino_extra not in held, "ringer kept the unused inherited socket")
        err = r.stderr()
        check(re.search(rf"fd 4 \(spare\) on 127\.0\.0\.1:{other} matches no listen address", err),
              f"no warning for the unused socket: {err[-600:]}")
        check("fd 3" not in err, "a warning for the socket in use")
    finally:
        r.stop()
    # LISTEN_PID of another process: the variables are not for ringer, the bind fails.
    pre = activated([main_s], pid_ok=False)
    r = Ringer("--mode", "echo", "--listen", f"127.0.0.1:{port}", "--shards", "1",
               preexec_fn=pre, wait=False)
    try:
        r.proc.wait(10)
    except subprocess.TimeoutExpired:
        pass
    check(r.proc.poll() == 1, f"ringer with another LISTEN_PID: exit {r.proc.poll()}, want 1")
    # The exit can come before the reader thread has the last line: wait for it a moment.
    check(wait_for(lambda: "cannot listen" in r.stderr(), 3),
          f"no 'cannot listen': {r.stderr()[-300:]}")
    r.stop(want=1)
    main_s.close()
    extra.close()
    for fd in pads:
        os.close(fd)


class Upstream:
    """An echo server that closes after the echo."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    @staticmethod
    def serve(c):
        with c:
            try:
                while True:
                    d = c.recv(65536)
                    if not d:
                        return
                    c.sendall(d)
            except OSError:
                pass


def session(port):
    """One proxied session: a message echoed, then the close. True if it went through."""
    return echo_ok(port, b"hello")


def log_lines(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def check_log(path, what):
    text = log_lines(path)
    lines = text.split("\n")
    check(text == "" or text.endswith("\n"), f"{what}: the last line is cut: {lines[-1]!r}")
    bad = [line for line in lines[:-1] if not LINE.match(line)]
    check(not bad, f"{what}: {len(bad)} lines not whole: {bad[:3]}")
    return len(lines) - 1


def log_reopen():
    """SIGUSR1 reopens --log FILE: renamed while sessions run on two shards, the old file keeps
    every line it got whole, the next lines go to a new file of the old name, and no session's
    line is lost or doubled. SIGUSR2 prints the counters (SIGUSR1 used to)."""
    up = Upstream()
    log = os.path.join(TMP, "session.log")
    r = Ringer("--mode", "proxy", "--listen", "127.0.0.1:0", "--shards", "2",
               "--upstream", f"127.0.0.1:{up.port}", "--log", log)
    done, stop, lock = [0], threading.Event(), threading.Lock()

    def load():
        while not stop.is_set() and done[0] < 5000:
            ok = session(r.port)  # not inside the +=: done[0] would be read before the call
            with lock:
                done[0] += ok

    try:
        before = sum(session(r.port) for _ in range(20))
        check(wait_for(lambda: log_lines(log).count("\n") >= before, 5),
              f"{log_lines(log).count(chr(10))} lines for {before} sessions")
        workers = [threading.Thread(target=load) for _ in range(4)]
        for w in workers:
            w.start()
        time.sleep(0.5)
        os.rename(log, log + ".1")
        r.proc.send_signal(signal.SIGUSR1)
        check(wait_for(lambda: "reopened --log" in r.stderr(), 10),
              f"no 'reopened --log' line: {r.stderr()[-300:]}")
        time.sleep(0.5)
        stop.set()
        for w in workers:
            w.join(30)
        total = before + done[0]
        both = lambda: log_lines(log).count("\n") + log_lines(log + ".1").count("\n")
        check(wait_for(lambda: both() >= total, 5), f"{both()} lines for {total} sessions")
        new_before = log_lines(log).count("\n")
        check(new_before > 0, "nothing in the new file after the reopen")
        after = sum(session(r.port) for _ in range(10))
        check(wait_for(lambda: log_lines(log).count("\n") >= new_before + after, 5),
              "the sessions after the reopen are not in the new file")
        mark = len(r.out)
        r.proc.send_signal(signal.SIGUSR2)
        check(wait_for(lambda: any("ringer stats (" in x for x in r.out[mark:]), 10),
              "no stats dump on SIGUSR2")
    finally:
        stop.set()
        r.stop()
        up.sock.close()
    old_n, new_n = check_log(log + ".1", "the renamed file"), check_log(log, "the new file")
    check(old_n + new_n == before + done[0] + after,
          f"{old_n} + {new_n} lines for {before + done[0] + after} sessions")
    check(old_n >= before, f"the renamed file has {old_n} lines, {before} were there before")


def logrotate_snippet():
    """tools/dist/ringer.logrotate: `logrotate -d` reads it without an error; and a forced
    rotation by logrotate with it (paths and user made this machine's, postrotate signalling
    this ringer) leaves the old lines in .1 and the next ones in a new file."""
    if not shutil.which("logrotate") and not os.path.exists("/usr/sbin/logrotate"):
        raise Skip("logrotate is not installed (tools/install-deps.sh installs it)")
    lr = shutil.which("logrotate") or "/usr/sbin/logrotate"
    text = open(LOGROTATE).read()
    user = "ringer"
    try:
        import pwd
        pwd.getpwnam("ringer")
    except KeyError:
        user = "root"  # the package creates the user; here the snippet names root instead
        text = text.replace("create 0640 ringer adm", "create 0640 root adm")
    d = os.path.join(TMP, "logrotate")
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "ringer.conf")
    with open(conf, "w") as f:
        f.write(text)
    p = subprocess.run([lr, "-d", "-s", os.path.join(d, "state-d"), conf], capture_output=True,
                       text=True, timeout=30)
    check(p.returncode == 0 and "error" not in p.stderr.lower(),
          f"logrotate -d (user {user}): {p.returncode} {p.stderr[-500:]}")
    check("/var/log/ringer/*.log" in p.stderr, f"logrotate -d did not read the pattern: {p.stderr[-300:]}")
    # The same snippet on a directory of ours, for a ringer of ours.
    up = Upstream()
    log = os.path.join(d, "proxy.log")
    r = Ringer("--mode", "proxy", "--listen", "127.0.0.1:0", "--shards", "2",
               "--upstream", f"127.0.0.1:{up.port}", "--log", log)
    try:
        first = sum(session(r.port) for _ in range(10))
        check(wait_for(lambda: log_lines(log).count("\n") >= first, 5), "no lines before rotation")
        real = text.replace("/var/log/ringer/*.log", os.path.join(d, "*.log"))
        real = re.sub(r"(postrotate\n).*?(\n\s*endscript)",
                      rf"\1\t\tkill -USR1 {r.proc.pid}\2", real, flags=re.S)
        with open(conf, "w") as f:
            f.write(real)
        os.chmod(d, 0o755)
        p = subprocess.run([lr, "-f", "-s", os.path.join(d, "state"), conf], capture_output=True,
                           text=True, timeout=30)
        check(p.returncode == 0, f"logrotate -f: {p.returncode} {p.stderr[-500:]}")
        check(wait_for(lambda: "reopened --log" in r.stderr(), 10), "ringer did not reopen the log")
        mode = stat.S_IMODE(os.stat(log).st_mode) if os.path.exists(log) else None
        check(mode == 0o640, f"the new file's mode is {mode and oct(mode)}, want 0640 (create)")
        second = sum(session(r.port) for _ in range(10))
        check(wait_for(lambda: log_lines(log).count("\n") >= second, 5),
              f"{log_lines(log).count(chr(10))} lines in the new file for {second} sessions")
    finally:
        r.stop()
        up.sock.close()
    check(check_log(log + ".1", "rotated") == first, "the rotated file lost or gained lines")
    check(check_log(log, "new") == second, "the new file lost or gained lines")


def unit_security():
    """tools/dist/ringer.service: `systemd-analyze security --offline=true` scores it 2.0 or
    less; `systemd-analyze verify` finds nothing (on a copy naming this build's binary, which
    /usr/sbin/ringer is not here, and without the man page, not installed here)."""
    sa = shutil.which("systemd-analyze")
    if not sa:
        raise Skip("systemd-analyze is not installed (package systemd)")
    p = subprocess.run([sa, "security", "--offline=true", "--no-pager", UNIT],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for ringer\.service: (\d+\.\d+)", p.stdout + p.stderr)
    check(m, f"no exposure level: {(p.stdout + p.stderr)[-400:]}")
    if m:
        check(float(m.group(1)) <= 2.0, f"exposure {m.group(1)} > 2.0")
        print(f"  exposure {m.group(1)}", flush=True)
    d = os.path.join(TMP, "unit")
    os.makedirs(d, exist_ok=True)
    copy = os.path.join(d, "ringer.service")
    with open(UNIT) as f:
        text = f.read()
    check("/usr/sbin/ringer" in text, "the unit does not run /usr/sbin/ringer")
    text = text.replace("/usr/sbin/ringer", RINGER)
    text = re.sub(r"^Documentation=.*\n", "", text, flags=re.M)
    with open(copy, "w") as f:
        f.write(text)
    p = subprocess.run([sa, "verify", copy], capture_output=True, text=True, timeout=60)
    check(p.returncode == 0 and not p.stderr.strip(),
          f"systemd-analyze verify: {p.returncode} {p.stderr[-600:]}")
    for want in ("Type=notify", "NotifyAccess=all", "LimitNOFILE=1048576",
                 "AmbientCapabilities=CAP_NET_BIND_SERVICE", "User=ringer",
                 "ExecStartPre=/usr/sbin/ringer -t -c /etc/ringer/ringer.conf",
                 "ExecStart=/usr/sbin/ringer -c /etc/ringer/ringer.conf"):
        check(re.search(rf"^{re.escape(want)}$", open(UNIT).read(), re.M), f"the unit lacks {want}")
    # The reload's wait: run on this shell's own pid with a SIGHUP pending, it must wait, and
    # return once the signal is taken.
    line = re.search(r"^ExecReload=/bin/sh -c '(.*)'$", open(UNIT).read(), re.M)
    check(line, "no ExecReload waiting for the signal to be taken")
    if line:
        script = line.group(1).replace("$MAINPID", "$TARGET")
        target = subprocess.Popen([sys.executable, "-c",
                                   "import signal,sys,time\n"
                                   "signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGHUP])\n"
                                   "print(1, flush=True)\n"
                                   "sys.stdin.readline()\n"
                                   "signal.sigwait([signal.SIGHUP])\n"
                                   "time.sleep(30)\n"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        target.stdout.readline()
        os.kill(target.pid, signal.SIGHUP)
        w = subprocess.Popen(["/bin/sh", "-c", script], env={**os.environ, "TARGET": str(target.pid)})
        time.sleep(0.5)
        check(w.poll() is None, "the reload's wait returned while SIGHUP was still pending")
        target.stdin.write("\n")
        target.stdin.flush()
        try:
            w.wait(5)
        except subprocess.TimeoutExpired:
            w.kill()
        check(w.returncode == 0, f"the reload's wait: {w.returncode} once the signal was taken")
        target.kill()
        target.wait()


TESTS = [notify_lifecycle, notify_abstract_and_full, handover_mainpid, handover_reload_recipe,
         socket_activation,
         log_reopen, logrotate_snippet, unit_security]

if __name__ == "__main__":
    run([t for t in TESTS if not ONLY or t.__name__ in ONLY],
        cleanup=lambda: shutil.rmtree(TMP, ignore_errors=True))
