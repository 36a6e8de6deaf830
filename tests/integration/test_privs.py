#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Least privilege, judged from outside: --user, restricted rings, io_uring unavailable.

Usage: test_privs.py RINGER [RINGER_LOAD]

Each case starts its own ringer on 127.0.0.1 (port 0: the first stdout line says which),
reads /proc/PID/status of it and of each of its threads, talks to it, and stops it by PID
(SIGTERM, judged by cases.ringer_ended). The cases that switch users need root (they skip
otherwise, saying so); io_uring is made unavailable to one ringer only, by a seccomp filter
installed between fork and exec (python's ctypes, prctl), never by touching the machine's
sysctl.
"""
import ctypes
import os
import pwd
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

from cases import Skip, check, ringer_ended, run, wait_for

RINGER = sys.argv[1] if len(sys.argv) > 1 else "build/src/server/ringer"
LOAD = sys.argv[2] if len(sys.argv) > 2 and not sys.argv[2].startswith("-") else \
    "build/src/load/ringer-load"
TMP = tempfile.mkdtemp(prefix="ringer-privs-")  # removed at the end
WRAP = []  # a command ringer runs under (strace)
os.chmod(TMP, 0o755)


def need_root():
    if os.geteuid() != 0:
        raise Skip("switching users needs root (this runs as uid %d)" % os.geteuid())


def nobody():
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        raise Skip("no user nobody on this machine")


class Ringer:
    """A ringer started with args; stdout and stderr go to files read at the end."""

    def __init__(self, *args, preexec=None, env=None):
        self.out_path = os.path.join(TMP, "out-%d" % time.monotonic_ns())
        self.err_path = self.out_path + ".err"
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            wrap = [self.out_path + ".strace" if w == "@log" else w for w in WRAP]
            self.proc = subprocess.Popen([*wrap, RINGER, "--no-pin", "--shards", "2", *args],
                                         stdout=out, stderr=err, preexec_fn=preexec, env=env)
        self.port = self.admin_port = None
        self.wrapped = bool(WRAP)

    def pid(self):
        """ringer's pid: the process started, or under WRAP (strace) its child."""
        if not self.wrapped:
            return self.proc.pid
        def child():
            try:
                with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
                    return f.read().split()
            except FileNotFoundError:
                return None
        kids = wait_for(child, 5)
        return int(kids[0]) if kids else self.proc.pid

    def signal(self, sig):
        os.kill(self.pid(), sig)

    def out(self):
        with open(self.out_path) as f:
            return f.read()

    def err(self):
        with open(self.err_path) as f:
            return f.read()

    def wait_listening(self, timeout=10):
        """The listening port (and the admin's, if any), or None when it exited first."""
        def ready():
            return "listening on" in self.out() or self.proc.poll() is not None
        wait_for(ready, timeout)
        m = re.search(r"^listening on .*:(\d+)$", self.out(), re.M)
        if not m:
            return None
        self.port = int(m.group(1))
        wait_for(lambda: "admin on" in self.out() or "--admin" not in self.proc.args, 3)
        a = re.search(r"^admin on .*:(\d+)$", self.out(), re.M)
        self.admin_port = int(a.group(1)) if a else None
        return self.port

    def exit_status(self, timeout=10):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def stop(self, what):
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
        status = self.exit_status(15)
        ringer_ended(what, status, self.out(), self.err())

    def status(self, tid=None):
        """/proc's status lines of the process (or one of its threads), as a dict."""
        path = "/proc/%d/status" % self.pid() if tid is None else \
            "/proc/%d/task/%d/status" % (self.pid(), tid)
        with open(path) as f:
            return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)

    def threads(self):
        """(tid, comm) of each thread."""
        out = []
        for tid in os.listdir("/proc/%d/task" % self.pid()):
            try:
                with open("/proc/%d/task/%s/comm" % (self.pid(), tid)) as f:
                    out.append((int(tid), f.read().strip()))
            except FileNotFoundError:
                pass  # gone meanwhile
        return out


def echo_round_trip(port, payload=b"least privilege\n"):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    return got == payload


def http_get(port, path="/"):
    """The status code and body of one GET (Connection: close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path.encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.1 (\d+)", head)
    return (int(m.group(1)) if m else None), body


def check_is_user(r, pw, what):
    """Every thread of r runs as pw: real, effective, saved and fs ids, its groups only, no
    capabilities, no new privileges; no SQPOLL kernel thread (iou-sqp-*) is among them."""
    want_groups = sorted(os.getgrouplist(pw.pw_name, pw.pw_gid))
    threads = r.threads()
    check(len(threads) >= 3, f"{what}: {len(threads)} threads, want main and 2 shards")
    for tid, comm in threads:
        st = r.status(tid)
        check(st["Uid"].split() == [str(pw.pw_uid)] * 4,
              f"{what}: thread {tid} ({comm}) Uid {st['Uid']!r}, want {pw.pw_uid} x4")
        check(st["Gid"].split() == [str(pw.pw_gid)] * 4,
              f"{what}: thread {tid} ({comm}) Gid {st['Gid']!r}, want {pw.pw_gid} x4")
        check(sorted(int(g) for g in st["Groups"].split()) == want_groups,
              f"{what}: thread {tid} ({comm}) Groups {st['Groups']!r}, want {want_groups}")
        check(int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0,
              f"{what}: thread {tid} keeps capabilities {st['CapPrm']}")
        check(st.get("NoNewPrivs") == "1", f"{what}: thread {tid} NoNewPrivs {st.get('NoNewPrivs')}")
        check(not comm.startswith("iou-sqp"), f"{what}: an SQPOLL thread {comm}")


def check_restricted(r, what, want=True):
    """The shards' start lines (stderr) say whether each ring is restricted."""
    notes = re.findall(r"^ringer: shard \d+ cpu .*$", r.err(), re.M)
    check(len(notes) == 2, f"{what}: {len(notes)} shard start lines in {r.err()[-500:]!r}")
    for n in notes:
        check((" restricted" in n) == want, f"{what}: restricted {not want}: {n}")


# ---- --user ---------------------------------------------------------------------------------

def user_nobody_echo():
    """--user nobody: uid, gid and groups are nobody's in every thread, the echo works, and
    after SIGHUP (which re-reads files as nobody) it still serves."""
    need_root()
    pw = nobody()
    r = Ringer("--mode", "echo", "--listen", "127.0.0.1:0", "--user", "nobody")
    try:
        if not check(r.wait_listening(), f"echo --user nobody did not start: {r.err()}"):
            return
        check_is_user(r, pw, "echo --user nobody")
        check_restricted(r, "echo --user nobody")
        check(echo_round_trip(r.port), "echo --user nobody: round trip")
        check(echo_round_trip(r.port, os.urandom(256 * 1024)),
              "echo --user nobody: 256 KiB round trip")
        r.proc.send_signal(signal.SIGHUP)
        check(wait_for(lambda: "SIGHUP" in r.err() or "reload" in r.err(), 3),
              f"echo --user nobody: no word of the SIGHUP: {r.err()[-300:]!r}")
        check(r.proc.poll() is None, "echo --user nobody: gone after SIGHUP")
        check(echo_round_trip(r.port), "echo --user nobody: round trip after SIGHUP")
        check_is_user(r, pw, "echo --user nobody after SIGHUP")
    finally:
        r.stop("echo --user nobody")


def user_nobody_http_and_admin():
    """--mode http --admin with --user nobody: a request answered, and the admin shard (its
    own thread and ring, made after the switch) answers /metrics."""
    need_root()
    pw = nobody()
    r = Ringer("--mode", "http", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
               "--user", "nobody")
    try:
        if not check(r.wait_listening(), f"http --user nobody did not start: {r.err()}"):
            return
        check_is_user(r, pw, "http --user nobody")
        check(len(r.threads()) >= 4, "http --admin: no admin thread")
        code, body = http_get(r.port)
        check(code == 200 and body == b"Hello, World!", f"http --user nobody: {code} {body!r}")
        check(r.admin_port is not None, f"http --user nobody: no admin port: {r.out()!r}")
        if r.admin_port:
            code, body = http_get(r.admin_port, "/metrics")
            check(code == 200 and b"ringer_accepts_total" in body,
                  f"admin --user nobody: /metrics {code} {body[:200]!r}")
        r.proc.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        code, body = http_get(r.port)
        check(code == 200, f"http --user nobody after SIGHUP: {code}")
    finally:
        r.stop("http --user nobody")


def user_nobody_proxy():
    """--mode proxy with --user nobody in front of a ringer echo (also --user nobody): a
    session's bytes cross both, and the proxy's upstream connects come from its ring."""
    need_root()
    pw = nobody()
    up = Ringer("--mode", "echo", "--listen", "127.0.0.1:0", "--user", "nobody")
    px = None
    try:
        if not check(up.wait_listening(), f"upstream did not start: {up.err()}"):
            return
        px = Ringer("--mode", "proxy", "--listen", "127.0.0.1:0", "--upstream",
                    "127.0.0.1:%d" % up.port, "--user", "nobody")
        if not check(px.wait_listening(), f"proxy --user nobody did not start: {px.err()}"):
            return
        check_is_user(px, pw, "proxy --user nobody")
        check_restricted(px, "proxy --user nobody")
        for i in range(3):
            check(echo_round_trip(px.port, b"session %d\n" % i * 1000),
                  f"proxy --user nobody: session {i}")
        px.proc.send_signal(signal.SIGHUP)  # nothing to reload: said, and it serves on
        time.sleep(0.3)
        check(echo_round_trip(px.port), "proxy --user nobody: session after SIGHUP")
    finally:
        if px:
            px.stop("proxy --user nobody")
        up.stop("upstream echo --user nobody")


def make_cert(mode):
    """A self-signed EC certificate and its key (mode mode) in TMP: (cert, key)."""
    if not shutil.which("openssl"):
        raise Skip("no openssl command to make a certificate")
    key, crt = os.path.join(TMP, "k-%o.pem" % mode), os.path.join(TMP, "c-%o.pem" % mode)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
                    "-days", "2", "-subj", "/CN=localhost"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.chmod(key, mode)
    os.chmod(crt, 0o644)
    return crt, key


def user_nobody_tls():
    """TLS with --user nobody: a key nobody cannot read is one line naming it and exit 1
    (the shards read it after the switch); a key nobody can read serves TLS."""
    need_root()
    nobody()
    import ssl
    crt, key = make_cert(0o600)
    r = Ringer("--listen", "127.0.0.1:0", "--tls-cert", crt, "--tls-key", key,
               "--user", "nobody")
    status = r.exit_status(10)
    err = r.err()
    check(status == 1, f"tls, key root's only: exit {status}, want 1: {err!r}")
    check(re.search(r"^ringer: --user nobody: cannot read --tls-key %s as that user: "
                    r"Permission denied" % re.escape(key), err, re.M) is not None,
          f"tls, key root's only: no line naming the key: {err!r}")
    crt, key = make_cert(0o644)
    r = Ringer("--listen", "127.0.0.1:0", "--tls-cert", crt, "--tls-key", key,
               "--user", "nobody")
    try:
        if not check(r.wait_listening(), f"tls --user nobody did not start: {r.err()}"):
            return
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", r.port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(b"over tls\n")
                check(s.recv(100) == b"over tls\n", "tls --user nobody: echo")
    finally:
        r.stop("tls --user nobody")


def user_refusals():
    """Exit status 2 and one line: a user that does not exist, root named; as another user
    without root, --user someone else; as that user already, --user is no switch."""
    r = Ringer("--listen", "127.0.0.1:0", "--user", "nosuchuser-ringer")
    status, err = r.exit_status(10), r.err()
    check(status == 2, f"--user nosuchuser: exit {status}, want 2")
    check(err == "ringer: --user nosuchuser-ringer: no such user\n",
          f"--user nosuchuser: stderr {err!r}")
    check("listening on" not in r.out(), "--user nosuchuser: it listened")
    r = Ringer("--listen", "127.0.0.1:0", "--user", "root")
    status, err = r.exit_status(10), r.err()
    check(status == 2 and "uid 0 is root" in err, f"--user root: exit {status}: {err!r}")
    need_root()
    pw = nobody()

    def as_nobody():
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    r = Ringer("--listen", "127.0.0.1:0", "--user", "daemon", preexec=as_nobody)
    status, err = r.exit_status(10), r.err()
    check(status == 2, f"as nobody, --user daemon: exit {status}, want 2")
    check(re.fullmatch(r"ringer: --user daemon: only root can switch to another user \(this "
                       r"is uid %d\): [^\n]*\n" % pw.pw_uid, err) is not None,
          f"as nobody, --user daemon: stderr {err!r}")
    r = Ringer("--listen", "127.0.0.1:0", "--user", "nobody", preexec=as_nobody)
    try:
        check(r.wait_listening(), f"as nobody, --user nobody: did not start: {r.err()}")
        if r.port:
            check(echo_round_trip(r.port), "as nobody, --user nobody: round trip")
    finally:
        r.stop("as nobody, --user nobody")


# ---- restricted rings -----------------------------------------------------------------------

def rings_restricted_unless_opted_out():
    """Every shard's ring says restricted in its start line; with --no-ring-restrict none does;
    both serve."""
    for args, want in (((), True), (("--no-ring-restrict",), False)):
        r = Ringer("--listen", "127.0.0.1:0", *args)
        what = "echo " + " ".join(args)
        try:
            if not check(r.wait_listening(), f"{what}: did not start: {r.err()}"):
                continue
            check_restricted(r, what, want)
            check(echo_round_trip(r.port), f"{what}: round trip")
            check(not any(c.startswith("iou-sqp") for _, c in r.threads()),
                  f"{what}: an SQPOLL thread")
        finally:
            r.stop(what)


# ---- io_uring unavailable -------------------------------------------------------------------

PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
AUDIT_ARCH_X86_64, NR_IO_URING_SETUP = 0xC000003E, 425
SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO = 0x7FFF0000, 0x00050000


def forbid_io_uring_setup(err):
    """A preexec_fn: a seccomp filter making io_uring_setup fail with err, all else allowed
    (the classic BPF program a container runtime's profile compiles to)."""
    def insn(code, jt, jf, k):
        return struct.pack("HBBI", code, jt, jf, k)
    prog = b"".join([
        insn(0x20, 0, 0, 4),                       # ld [4]: arch
        insn(0x15, 1, 0, AUDIT_ARCH_X86_64),       # jeq x86_64 ? +1 : +0
        insn(0x06, 0, 0, SECCOMP_RET_ALLOW),       # another arch: not ours to judge
        insn(0x20, 0, 0, 0),                       # ld [0]: nr
        insn(0x15, 0, 1, NR_IO_URING_SETUP),       # jeq io_uring_setup ? +0 : +1
        insn(0x06, 0, 0, SECCOMP_RET_ERRNO | err),
        insn(0x06, 0, 0, SECCOMP_RET_ALLOW),
    ])
    filt = ctypes.create_string_buffer(prog)

    class Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    fprog = Fprog(len(prog) // 8, ctypes.addressof(filt))

    def install():
        assert filt  # fprog points into it: it must live as long as install
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) or \
                libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0):
            os._exit(99)
    return install


def io_uring_unavailable():
    """io_uring_setup failing (EPERM, ENOSYS from a seccomp filter): exit 1 and one line on
    stderr that names the cause and the fix, before any shard starts."""
    if os.uname().machine != "x86_64":
        raise Skip("the filter here is written for x86_64's syscall numbers")
    with open("/proc/sys/kernel/io_uring_disabled") as f:
        disabled = f.read().strip()
    for err, want in ((1, {"0": "io_uring_setup: operation not permitted: a seccomp profile "
                               "forbids io_uring (Docker/Podman: run with --security-opt "
                               "seccomp=/usr/share/ringer/seccomp-ringer.json",
                           "1": "io_uring_setup: operation not permitted: a seccomp profile "
                                "forbids io_uring",  # root passes =1's group check
                           "2": "io_uring is disabled by sysctl kernel.io_uring_disabled=2: "
                                "set it to 0"}),
                      (38, {"": "io_uring_setup: function not implemented: a seccomp profile "
                                "hides io_uring (Docker/Podman: run with --security-opt"})):
        r = Ringer("--listen", "127.0.0.1:0", "--quiet", preexec=forbid_io_uring_setup(err))
        status, out, errs = r.exit_status(10), r.out(), r.err()
        what = "io_uring_setup failing with errno %d" % err
        check(status == 1, f"{what}: exit {status}, want 1 (99: the filter did not load)")
        lines = errs.splitlines()
        check(len(lines) == 1, f"{what}: {len(lines)} lines on stderr, want one: {errs!r}")
        expect = want.get(disabled, want.get("", want.get("0")))
        check(lines[:1] and lines[0].startswith("ringer: " + expect),
              f"{what}: {lines[:1]!r}, want it to start 'ringer: {expect}'")
        check("listening on" not in out, f"{what}: it listened")


def load_io_uring_unavailable():
    """ringer-load shares the ring setup: under the same filter it says the same line (its
    stderr's last) and exits 1."""
    if os.uname().machine != "x86_64":
        raise Skip("the filter here is written for x86_64's syscall numbers")
    with socket.socket() as lsock:
        lsock.bind(("127.0.0.1", 0))
        lsock.listen()
        p = subprocess.run([LOAD, "--mode", "echo", "--duration", "1", "--target",
                            "127.0.0.1:%d" % lsock.getsockname()[1]],
                           preexec_fn=forbid_io_uring_setup(1), capture_output=True, text=True,
                           timeout=30)
    lines = p.stderr.splitlines()
    check(p.returncode == 1, f"ringer-load without io_uring: exit {p.returncode}, want 1")
    check(lines[-1:] and lines[-1].startswith("ringer-load: io_uring_setup: operation not "
                                              "permitted: a seccomp profile forbids io_uring")
          or lines[-1:] and "kernel.io_uring_disabled=2" in lines[-1],
          f"ringer-load without io_uring: stderr {p.stderr[-400:]!r}")


# ---- the seccomp profile --------------------------------------------------------------------

PROFILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "dist",
                       "seccomp-ringer.json")


def load_profile():
    """tools/dist/seccomp-ringer.json: (the profile, names allowed unconditionally, all names)."""
    import json
    with open(PROFILE) as f:
        prof = json.load(f)
    allowed, named = set(), set()
    for e in prof["syscalls"]:
        named.update(e["names"])
        if e["action"] == "SCMP_ACT_ALLOW" and not e.get("args") and not e.get("includes") \
                and not e.get("excludes"):
            allowed.update(e["names"])
    return prof, allowed, named


def profile_filter(prof):
    """A preexec_fn loading the profile as runc would (libseccomp, python3-seccomp): unknown
    names on this architecture skipped, MASKED_EQ's value the mask and valueTwo the datum."""
    import seccomp
    ops = {"SCMP_CMP_EQ": seccomp.EQ, "SCMP_CMP_NE": seccomp.NE,
           "SCMP_CMP_MASKED_EQ": seccomp.MASKED_EQ}
    check(prof["defaultAction"] == "SCMP_ACT_ERRNO", "profile: default action not ERRNO")
    f = seccomp.SyscallFilter(defaction=seccomp.ERRNO(prof.get("defaultErrnoRet", 1)))
    for e in prof["syscalls"]:
        action = seccomp.ALLOW if e["action"] == "SCMP_ACT_ALLOW" else \
            seccomp.ERRNO(e.get("errnoRet", 1))
        args = [seccomp.Arg(a["index"], ops[a["op"]], a["value"], a.get("valueTwo", 0))
                for a in e.get("args") or []]
        for name in e["names"]:
            try:
                seccomp.resolve_syscall(seccomp.Arch(), name)
            except (ValueError, RuntimeError):
                continue  # not a system call of this architecture
            f.add_rule(action, name, *args)
    return f.load


MODES = (
    ("echo", ("--mode", "echo")),
    ("http and admin", ("--mode", "http", "--admin", "127.0.0.1:0")),
    ("tls", ("--tls-cert", "@crt", "--tls-key", "@key")),
)


def no_lsan():
    """The environment less LeakSanitizer (a no-op outside the ASan build): it stops the world
    with ptrace, which the profile refuses and strace already holds."""
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    return env


def serve_each_mode(what, preexec=None):
    """Each mode with --user nobody (and a proxy in front of the echo), under preexec (a
    filter); judged by a round trip through each, SIGHUP and SIGUSR1 on the way."""
    crt, key = make_cert(0o644)
    procs = []
    try:
        for name, args in MODES:
            args = [crt if a == "@crt" else key if a == "@key" else a for a in args]
            r = Ringer("--listen", "127.0.0.1:0", "--user", "nobody", *args, preexec=preexec,
                       env=no_lsan())
            procs.append((f"{what}: {name}", r))
            if not check(r.wait_listening(), f"{what}: {name} did not start: {r.err()[-600:]}"):
                return
        echo, http, tls = (r for _, r in procs)
        px = Ringer("--mode", "proxy", "--listen", "127.0.0.1:0", "--upstream",
                    "127.0.0.1:%d" % echo.port, "--user", "nobody", "--log",
                    os.path.join(TMP, "session.log"), preexec=preexec, env=no_lsan())
        procs.append((f"{what}: proxy", px))
        if not check(px.wait_listening(), f"{what}: proxy did not start: {px.err()[-600:]}"):
            return
        for _, r in procs:
            r.signal(signal.SIGHUP)
        check(echo_round_trip(echo.port, os.urandom(100000)), f"{what}: echo")
        check(http_get(http.port)[0] == 200, f"{what}: http")
        code, body = http_get(http.admin_port, "/connections?verify=1")
        check(code == 200 and b'"verify"' in body, f"{what}: admin /connections?verify=1 {code}")
        check(echo_round_trip(px.port), f"{what}: proxy")
        import ssl
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", tls.port), timeout=5),
                             server_hostname="localhost") as s:
            s.sendall(b"tls\n")
            check(s.recv(10) == b"tls\n", f"{what}: tls")
        for _, r in procs:
            r.signal(signal.SIGUSR1)
        time.sleep(0.3)
    finally:
        for name, r in procs:
            r.stop(name)


def seccomp_profile_lets_ringer_run():
    """tools/dist/seccomp-ringer.json parses, allows the three io_uring calls outright, and
    every mode serves under it (loaded by libseccomp as a container runtime would), --user
    nobody included; without io_uring_setup in it the same start fails with the one line."""
    need_root()
    nobody()
    prof, allowed, _ = load_profile()
    for name in ("io_uring_setup", "io_uring_enter", "io_uring_register"):
        check(name in allowed, f"profile: {name} not allowed outright")
    try:
        import seccomp  # noqa: F401 (python3-seccomp: tools/install-deps.sh)
    except ImportError:
        raise Skip("no python3-seccomp to load the profile with")
    serve_each_mode("under the profile", profile_filter(prof))
    # The same filter less io_uring_setup: the start fails as in a default Docker container.
    import copy
    crippled = copy.deepcopy(prof)
    for e in crippled["syscalls"]:
        e["names"] = [n for n in e["names"] if n != "io_uring_setup"]
    r = Ringer("--listen", "127.0.0.1:0", "--user", "nobody", preexec=profile_filter(crippled),
               env=no_lsan())
    status, err = r.exit_status(10), r.err()
    check(status == 1 and "a seccomp profile forbids io_uring" in err,
          f"profile without io_uring_setup: exit {status}: {err!r}")


def seccomp_profile_lists_what_strace_sees():
    """Every system call an strace -f of each mode shows (start, --user, traffic, SIGHUP,
    SIGUSR1, drain and exit) is in the profile."""
    need_root()
    nobody()
    if not shutil.which("strace"):
        raise Skip("no strace (tools/install-deps.sh installs it)")
    _, allowed, named = load_profile()
    WRAP[:] = ["strace", "-f", "-qq", "-o", "@log"]  # @log: one file per ringer
    try:
        serve_each_mode("under strace")
    finally:
        WRAP[:] = []
    logs = [os.path.join(TMP, n) for n in os.listdir(TMP) if n.endswith(".strace")]
    seen = set()
    for log in logs:
        with open(log) as f:
            for line in f:
                m = re.match(r"\d+ +(?:<\.\.\. )?([a-z0-9_]+)[( ]", line)
                if m and m.group(1) not in ("exited", "killed"):
                    seen.add(m.group(1))
    check(len(seen) > 30, f"strace: only {sorted(seen)}")
    check("io_uring_enter" in seen, "strace: no io_uring_enter seen")
    missing = sorted(n for n in seen if n not in allowed and n not in named)
    check(not missing, f"profile: ringer calls {missing}, which it does not list")
    print(f"strace: {len(seen)} system calls seen: {' '.join(sorted(seen))}", flush=True)


def cleanup():
    shutil.rmtree(TMP, ignore_errors=True)


run([user_nobody_echo, user_nobody_http_and_admin, user_nobody_proxy, user_nobody_tls,
     user_refusals, rings_restricted_unless_opted_out, io_uring_unavailable,
     load_io_uring_unavailable,
     seccomp_profile_lets_ringer_run, seccomp_profile_lists_what_strace_sees], cleanup)
