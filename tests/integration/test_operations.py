#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""What README and the manual (src/server/ringer.8.md) promise operators, checked
against peers that share no code with ringer: --balance source moving only a lost
upstream's clients, the handover socket refusing a peer of another user, the
session log's CT, NU and HT codes and log_dropped, upstream host names, and the
shards' CPU pinning.

Usage: test_operations.py RINGER_BINARY [CASE ...]

Upstreams are small Python servers in this file; clients are Python sockets
(some run as other users: nobody, daemon); host names come from a hosts file
bind-mounted over /etc/hosts in a mount namespace of ringer's own (the
machine's /etc/hosts is never touched); the kernel's view of the threads is
read from /proc. Each case starts its own ringer on 127.0.0.1 and stops it by
PID. Prints one line per case and exits 1 if any failed.
"""
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from cases import Skip, check, ringer_ended, run, wait_for

RINGER = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/src/server/ringer")
ONLY = sys.argv[2:]
TMP = tempfile.mkdtemp(prefix="ringer-ops-")
LINE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (\S+) (\S+) (--|CR|SR|CC|CT|NU|HT|QT)"
                  r" (\d+) (\d+) (\d+) (\d+)$")


class Ringer:
    """A ringer on 127.0.0.1:0 with an admin port; stdout and stderr collected as they come.
    prefix runs it under another program (taskset, unshare ...), which must exec it. stop()
    judges how it ended (cases.ringer_ended), once."""

    def __init__(self, *args, prefix=(), pin=False, admin=True, preexec_fn=None):
        self.what = "ringer " + " ".join(args)
        self.judged = False
        cmd = [*prefix, RINGER, "--listen", "127.0.0.1:0", *args]
        if admin:
            cmd += ["--admin", "127.0.0.1:0"]
        if not pin:
            cmd.append("--no-pin")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, preexec_fn=preexec_fn, cwd="/")
        self.out, self.err = [], []
        threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True).start()
        self.port = self.admin = None

        def started():
            for line in self.out:
                m = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
                self.port = int(m.group(1)) if m else self.port
                m = re.match(r"admin on 127\.0\.0\.1:(\d+)", line)
                self.admin = int(m.group(1)) if m else self.admin
            return self.port and (self.admin or not admin) or self.proc.poll() is not None

        wait_for(started, 20)
        if not self.port or (admin and not self.admin):
            self.stop(want=None)
            raise RuntimeError(f"ringer did not start: {''.join(self.err)[-800:]}")

    @staticmethod
    def _read(f, lines):
        for line in f:
            lines.append(line)

    def metric(self, name):
        url = f"http://127.0.0.1:{self.admin}/metrics"
        with urllib.request.urlopen(url, timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.rsplit(" ", 1)[1])
        return None

    def stop(self, want=0, stale=0):
        """SIGTERM, then its exit judged: status want, no sanitizer report, no illegal TCP
        transition, stale completions as given (None: not judged)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        time.sleep(0.05)  # the readers finish
        if not self.judged:
            self.judged = True
            ringer_ended(self.what, self.proc.returncode, "".join(self.out), "".join(self.err),
                         want=want, stale=stale)
        return self.proc.returncode

    def stderr(self):
        return "".join(self.err)


class Upstream:
    """A threaded TCP server on host:port. Each connection first gets tag + newline (when a
    tag is given), then its bytes echoed; what happens at the client's FIN depends on the
    first byte it sent: H holds the connection open (never a FIN of ours), U sends the echo
    and our FIN at once without waiting, anything else closes after the echo."""

    def __init__(self, host="127.0.0.1", port=0, tag=None):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(512)
        self.host, self.port = host, self.sock.getsockname()[1]
        self.tag = tag
        self.accepted = 0
        self.held = []
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        first = None
        shut = False
        try:
            if self.tag:
                c.sendall(self.tag.encode() + b"\n")
            while True:
                d = c.recv(65536)
                if not d:
                    break
                first = first or d[:1]
                if not shut:
                    c.sendall(d)
                if first == b"U" and not shut:
                    c.shutdown(socket.SHUT_WR)  # what comes after is read, not answered
                    shut = True
        except OSError:
            pass
        if first == b"H":
            self.held.append(c)  # our side stays open: the session is half-closed for good
            return
        c.close()

    def kill(self):
        """Stop listening now: connects are refused from here on."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept; close alone would not
        except OSError:
            pass
        self.sock.close()

    def close(self):
        self.kill()
        for c in self.held:
            c.close()


def tag_of(port, src):
    """The tag of the upstream a client from address src reaches through the proxy on port."""
    s = socket.socket()
    try:
        s.settimeout(5)
        s.bind((src, 0))
        s.connect(("127.0.0.1", port))
        got = b""
        while not got.endswith(b"\n"):
            d = s.recv(100)
            if not d:
                return None
            got += d
        return got.decode().strip()
    except OSError:
        return None
    finally:
        s.close()


def echo(port, payload=b"ping", src="127.0.0.1"):
    s = socket.socket()
    try:
        s.settimeout(5)
        s.bind((src, 0))
        s.connect(("127.0.0.1", port))
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
    finally:
        s.close()


def log_lines(text):
    """The session log's lines by client address, each as LINE's groups; malformed ones
    under None."""
    out = {}
    for line in text.splitlines():
        m = LINE.match(line)
        out.setdefault(m.group(1) if m else None, []).append(m.groups() if m else line)
    return out


# ---- --balance source ---------------------------------------------------------------------

CLIENTS = [f"127.0.1.{i}" for i in range(1, 61)]  # 60 client addresses, all on lo


def test_balance_source():
    """The manual: source hashes the client address; a client keeps its upstream while the set is
    unchanged, and losing one upstream moves only its clients (the others keep theirs). Lost
    two ways: it stops answering (passive health), and a reload drops it. A consistent hash
    also moves only the clients a new upstream takes."""
    ups = {t: Upstream(tag=t) for t in "ABCDE"}
    path = os.path.join(TMP, "upstreams")

    def write_set(tags):
        with open(path, "w") as f:
            f.write("".join(f"127.0.0.1:{ups[t].port}\n" for t in tags))

    write_set("ABCD")
    r = Ringer("--mode", "proxy", "--shards", "2", "--balance", "source", "--upstreams-file",
               path, "--fail-threshold", "1", "--down-time", "1000", "--connect-retries", "3")

    def mapping():
        return {c: tag_of(r.port, c) for c in CLIENTS}

    def reload(tags):
        n = sum("reloaded" in l for l in r.err)
        write_set(tags)
        r.proc.send_signal(signal.SIGHUP)
        return check(wait_for(lambda: sum("reloaded" in l for l in r.err) > n, 5),
                     f"reload to {tags} not done: {r.err[-2:]}")

    try:
        first = mapping()
        check(None not in first.values(), f"clients not served: {first}")
        # Each client twice more: new ports, and (SO_REUSEPORT) either shard.
        for _ in range(2):
            again = mapping()
            moved = [c for c in CLIENTS if again[c] != first[c]]
            check(not moved, f"the set is unchanged, yet clients moved: {moved[:5]}")
        held = {t: sorted(c for c in CLIENTS if first[c] == t) for t in "ABCD"}
        print("  clients per upstream: " + ", ".join(f"{t} {len(held[t])}" for t in "ABCD"))
        # A hash that ignored the address would pass every check below: it must spread.
        check(all(held[t] for t in "ABCD"), f"an upstream holds no client: {held}")

        # B stops answering: its clients go elsewhere, nobody else moves.
        ups["B"].kill()
        lost = mapping()
        check(all(lost[c] in ("A", "C", "D") for c in held["B"]),
              f"B's clients not all served elsewhere: {[lost[c] for c in held['B']]}")
        moved = [c for c in CLIENTS if first[c] != "B" and lost[c] != first[c]]
        check(not moved, f"B down moved clients that were not B's: {moved}")
        print("  B down, its clients now on: " + " ".join(lost[c] or "-" for c in held["B"]))
        # B back (after --down-time): the set is the first one again, so is the mapping.
        ups["B"] = Upstream(port=ups["B"].port, tag="B")
        time.sleep(1.2)
        back = mapping()
        check(back == first, "B back: the mapping is not the first one: "
              f"{[(c, first[c], back[c]) for c in CLIENTS if back[c] != first[c]][:5]}")

        # A reload listing the same set in another order changes nothing.
        if reload("DCBA"):
            same = mapping()
            check(same == first, "reordered set: clients moved: "
                  f"{[(c, first[c], same[c]) for c in CLIENTS if same[c] != first[c]][:5]}")
        # A reload dropping C moves C's clients only.
        if reload("ABD"):
            noc = mapping()
            check(all(noc[c] in ("A", "B", "D") for c in CLIENTS), f"C still used: {noc}")
            moved = [c for c in CLIENTS if first[c] != "C" and noc[c] != first[c]]
            check(not moved, f"dropping C moved clients that were not C's: {moved}")
            # A new upstream E: a client either stays or moves to E, and E gets some.
            if reload("ABDE"):
                withe = mapping()
                odd = [c for c in CLIENTS if withe[c] not in (noc[c], "E")]
                check(not odd, f"adding E moved clients elsewhere than to E: {odd}")
                took = sum(withe[c] == "E" for c in CLIENTS)
                check(took > 0, "E took no client")
                print(f"  E took {took} of {len(CLIENTS)} clients")
        r.stop()
    finally:
        r.stop()
        for u in ups.values():
            u.close()


# ---- the handover socket ------------------------------------------------------------------

# A handover client speaking ringer's protocol (src/server/handover.c: struct ho_msg, 464
# bytes, HELLO 1, OFFER 2, FDS 3): says HELLO, then reads what comes back.
HO_CLIENT = r"""
import json, os, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.settimeout(5)
out = {"uid": os.getuid()}
try:
    s.connect(sys.argv[1])
except OSError as e:
    out["connect"] = e.strerror
    print(json.dumps(out)); sys.exit()
out["connect"] = "ok"
hello = b"RNGRHOVR" + struct.pack("=IIi", 1, 1, os.getpid())
hello += bytes(464 - len(hello))
try:
    s.send(hello)
    msgs = []
    while True:
        m, fds, _, _ = socket.recv_fds(s, 464, 256)
        if not m:
            break
        magic, ver, typ = struct.unpack_from("=8sII", m)
        listeners = struct.unpack_from("=I", m, 24)[0]
        msgs.append({"type": typ, "listeners": listeners, "fds": len(fds)})
        for fd in fds:
            os.close(fd)
        if typ == 3 and sum(x["fds"] for x in msgs) >= msgs[0]["listeners"]:
            break
    out["msgs"] = msgs
except OSError as e:
    out["error"] = e.strerror
print(json.dumps(out))
"""


def as_user(uid, gid):
    def become():
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    return become


def ho_client(path, uid, gid):
    """The handover client as uid:gid; what it saw."""
    p = subprocess.run(["/usr/bin/python3", "-c", HO_CLIENT, path], capture_output=True, text=True,
                       timeout=20, preexec_fn=as_user(uid, gid), cwd="/")
    try:
        return json.loads(p.stdout)
    except ValueError:
        return {"stdout": p.stdout, "stderr": p.stderr[-400:]}


def offered(seen, shards):
    """The client got an OFFER and then every listener's descriptor."""
    msgs = seen.get("msgs") or []
    return (bool(msgs) and msgs[0]["type"] == 2 and msgs[0]["listeners"] == shards and
            sum(m["fds"] for m in msgs[1:]) == shards)


def refused(seen):
    """Connected, then closed without a word: no message, no descriptor."""
    return seen.get("connect") == "ok" and not seen.get("msgs") and "stdout" not in seen


def test_handover_other_user():
    """The manual: the listening sockets go over the handover socket only to the same user or
    root. The socket file is left open to everyone (umask 0), so it is ringer's check, not
    the file's mode, that turns the other user away."""
    NOBODY, DAEMON = (65534, 65534), (1, 1)
    d = tempfile.mkdtemp(prefix="ho-", dir=TMP)
    os.chmod(TMP, 0o755)
    os.chmod(d, 0o777)
    path = os.path.join(d, "root.sock")
    umask0 = lambda: os.umask(0)  # noqa: E731
    r = Ringer("--mode", "echo", "--shards", "2", "--handover", path, admin=False,
               preexec_fn=umask0)
    try:
        check(os.stat(path).st_mode & 0o777 == 0o777, f"mode {oct(os.stat(path).st_mode)}")
        seen = ho_client(path, *NOBODY)
        check(refused(seen), f"root's ringer answered nobody: {seen}")
        check(wait_for(lambda: "refused a connection from uid 65534" in r.stderr(), 5),
              f"the refusal is not logged: {r.err[-2:]}")
        # The same client as root (our user) is offered both listeners: the client works.
        seen = ho_client(path, 0, 0)
        check(offered(seen, 2), f"root was not offered the listeners: {seen}")
        check(wait_for(lambda: "hung up before serving" in r.stderr(), 5),
              f"the abandoned handover is not logged: {r.err[-2:]}")
        # A real ringer run by nobody, asking for the same port: refused, exits 1.
        n = ringer_as(NOBODY, "--mode", "echo", "--listen", f"127.0.0.1:{r.port}", "--shards",
                      "2", "--no-pin", "--handover", path)
        ringer_ended("nobody's ringer", n.returncode, n.stdout, n.stderr, want=1, stale=None)
        check("cannot take over" in n.stderr, f"nobody's ringer says: {n.stderr[-300:]}")
        check(r.stderr().count("refused a connection from uid 65534") == 2,
              "nobody's ringer was not refused by ringer's check")
        check(r.proc.poll() is None and all(echo(r.port) for _ in range(4)),
              "the first ringer stopped serving")
        r.stop()

        # A ringer run by nobody: nobody (the same user) and root are answered, daemon is not.
        path = os.path.join(d, "nobody.sock")
        r = Ringer("--mode", "echo", "--shards", "1", "--handover", path, admin=False,
                   preexec_fn=lambda: (os.umask(0), as_user(*NOBODY)()))
        check(os.stat(path).st_uid == NOBODY[0], "the socket is not nobody's")
        seen = ho_client(path, *DAEMON)
        check(refused(seen), f"nobody's ringer answered daemon: {seen}")
        check(wait_for(lambda: "refused a connection from uid 1\n" in r.stderr(), 5),
              f"the refusal is not logged: {r.err[-2:]}")
        for who, ids in (("nobody", NOBODY), ("root", (0, 0))):
            seen = ho_client(path, *ids)
            check(offered(seen, 1), f"nobody's ringer did not offer {who} its listener: {seen}")
            wait_for(lambda: r.stderr().count("hung up before serving") >= 1 + (who == "root"),
                     5)
        check(r.proc.poll() is None and echo(r.port), "nobody's ringer stopped serving")
        r.stop()
    finally:
        r.stop()


def ringer_as(ids, *args):
    return subprocess.run([RINGER, *args], capture_output=True, text=True, timeout=30,
                          preexec_fn=as_user(*ids), cwd="/")


# ---- the session log's codes --------------------------------------------------------------


def test_log_connect_timeout():
    """CT: the last connect timed out (--connect-timeout). The upstream's accept queue is
    full, so the kernel drops ringer's SYN and the connect hangs."""
    full = socket.socket()
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    port = full.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port), timeout=5)  # fills the queue
    probe = socket.socket()
    probe.settimeout(0.5)
    try:
        probe.connect(("127.0.0.1", port))
        probe.close()
        full.close()
        filler.close()
        raise Skip("a full accept queue does not drop SYNs here")
    except socket.timeout:
        probe.close()
    log = os.path.join(TMP, "ct.log")
    r = Ringer("--mode", "proxy", "--shards", "1", "--upstream", f"127.0.0.1:{port}",
               "--connect-timeout", "500", "--connect-retries", "0", "--fail-threshold",
               "100", "--log", log)
    try:
        s = socket.create_connection(("127.0.0.1", r.port), timeout=5)
        me = f"127.0.0.1:{s.getsockname()[1]}"
        t0 = time.time()
        # ss: the kernel shows ringer's connect waiting for a SYN-ACK that never comes.
        check(wait_for(lambda: syn_sent(port), 0.4), f"no SYN-SENT socket to port {port}")
        s.settimeout(5)
        try:
            gone = s.recv(10) == b""
        except ConnectionResetError:
            gone = True
        took = time.time() - t0
        s.close()
        check(gone and 0.45 <= took <= 3.0, f"client closed={gone} after {took:.2f} s")
        check(not syn_sent(port), "the timed-out connect is still there")
        r.stop()
        lines = log_lines(open(log).read())
        got = lines.get(me)
        check(got and got[0][1:3] == (f"127.0.0.1:{port}", "CT") and got[0][6] == "1",
              f"wanted upstream 127.0.0.1:{port}, CT, 1 connect: {got}")
        # DURATION_MS is the difference of two readings of the shard's clock,
        # CLOCK_MONOTONIC_COARSE (a tick of 4 ms here), while the connect timeout is the
        # kernel's own timer: the duration can fall short of it by up to a tick and a
        # truncated millisecond (CI once read 496).
        tick = time.clock_getres(getattr(time, "CLOCK_MONOTONIC_COARSE", 6)) * 1000
        check(got and int(got[0][5]) >= 500 - tick - 1, f"duration under the timeout: {got}")
        print("  " + open(log).read().strip())
    finally:
        r.stop()
        filler.close()
        full.close()


def syn_sent(port):
    out = subprocess.run(["ss", "-Htn", "state", "syn-sent", "dst", f"127.0.0.1:{port}"],
                         capture_output=True, text=True).stdout
    return bool(out.strip())


def test_log_no_upstream():
    """NU: no upstream to try (the only one is marked down), and UPSTREAM is '-' when none
    was tried. The first client's connect is refused (CC) and marks it down."""
    dead = socket.socket()  # bound, never listening: connects are refused
    dead.bind(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    log = os.path.join(TMP, "nu.log")
    r = Ringer("--mode", "proxy", "--shards", "1", "--upstream", f"127.0.0.1:{port}",
               "--fail-threshold", "1", "--down-time", "30000", "--connect-retries", "0",
               "--log", log)
    try:
        me = []
        for _ in range(2):
            s = socket.create_connection(("127.0.0.1", r.port), timeout=5)
            me.append(f"127.0.0.1:{s.getsockname()[1]}")
            try:
                gone = s.recv(10) == b""
            except ConnectionResetError:
                gone = True
            check(gone, "a client without an upstream was not closed")
            s.close()
        check(r.metric(f'ringer_upstream_up{{upstream="127.0.0.1:{port}"}}') == 0,
              "the refused upstream is not down")
        r.stop()
        lines = log_lines(open(log).read())
        a, b = lines.get(me[0]), lines.get(me[1])
        check(a and a[0][1:3] == (f"127.0.0.1:{port}", "CC") and a[0][6] == "1",
              f"first client: wanted the upstream, CC, 1 connect: {a}")
        check(b and b[0][1:3] == ("-", "NU") and b[0][3:5] == ("0", "0") and b[0][6] == "0",
              f"second client: wanted -, NU, 0 bytes, 0 connects: {b}")
        print("  " + open(log).read().strip().replace("\n", "\n  "))
    finally:
        r.stop()
        dead.close()


def test_log_half_close():
    """HT: --half-close-timeout ends a session that had one direction finished that long,
    whichever side finished first; a session with both directions open is not bound by it,
    and one whose upstream answers the FIN ends '--'. The log goes to stdout (--log -)."""
    up = Upstream()
    r = Ringer("--mode", "proxy", "--shards", "1", "--upstream", f"127.0.0.1:{up.port}",
               "--half-close-timeout", "800", "--log", "-")
    me = {}
    try:
        # The client finishes first; the upstream never does.
        s = socket.create_connection(("127.0.0.1", r.port), timeout=5)
        me["client-first"] = f"127.0.0.1:{s.getsockname()[1]}"
        s.sendall(b"H" * 100)
        got = b""
        while len(got) < 100:
            got += s.recv(100)
        s.shutdown(socket.SHUT_WR)
        t0 = time.time()
        try:
            gone = s.recv(10) == b""
        except ConnectionResetError:
            gone = True
        took = time.time() - t0
        s.close()
        check(gone and 0.75 <= took <= 3.0, f"half-closed by the client: closed={gone} "
              f"after {took:.2f} s (timeout 0.8 s)")
        # The upstream finishes first; the client never does.
        s = socket.create_connection(("127.0.0.1", r.port), timeout=5)
        me["upstream-first"] = f"127.0.0.1:{s.getsockname()[1]}"
        s.sendall(b"U" * 100)
        got = b""
        while True:
            d = s.recv(100)
            if not d:
                break
            got += d
        check(got == b"U" * 100, f"the upstream's bytes before its FIN: {len(got)}")
        t0 = time.time()
        # Our bytes keep flowing to the upstream until the timeout ends the session.
        closed = wait_for(lambda: not try_send(s), 4)
        took = time.time() - t0
        s.close()
        check(closed and took <= 3.5, f"half-closed by the upstream: still open {took:.2f} s")
        # Both directions open and idle for longer than the timeout: it goes on.
        s = socket.create_connection(("127.0.0.1", r.port), timeout=5)
        me["both-open"] = f"127.0.0.1:{s.getsockname()[1]}"
        s.sendall(b"E" * 10)
        got = b""
        while len(got) < 10:
            got += s.recv(100)
        time.sleep(1.5)
        s.sendall(b"e" * 10)
        got = b""
        while len(got) < 10:
            d = s.recv(100)
            if not d:
                break
            got += d
        check(got == b"e" * 10, "a session with both directions open was ended")
        s.shutdown(socket.SHUT_WR)
        t0 = time.time()
        check(s.recv(10) == b"" and time.time() - t0 < 0.7, "the upstream's FIN did not come")
        s.close()
        check(wait_for(lambda: all(k in "".join(r.out) for k in me.values()), 5),
              "session lines did not reach stdout within 5 s")
        r.stop()
        lines = log_lines("".join(r.out[1:]))
        want = {"client-first": ("HT", "100", "100"), "upstream-first": ("HT", None, "100"),
                "both-open": ("--", "20", "20")}
        for k, (code, bin_, bout) in want.items():
            got = lines.get(me[k])
            check(got and got[0][2] == code and (bin_ is None or got[0][3] == bin_) and
                  got[0][4] == bout and got[0][1] == f"127.0.0.1:{up.port}",
                  f"{k}: wanted {code} {bin_} {bout}: {got}")
            if got and code == "HT":
                check(800 <= int(got[0][5]) <= 4000, f"{k}: duration {got[0][5]} ms")
        print("  " + "  ".join(l for l in r.out[1:] if LINE.match(l.strip())).rstrip())
    finally:
        r.stop()
        up.close()


def try_send(s):
    try:
        s.sendall(b"u")
        return True
    except OSError:
        return False


def test_log_dropped():
    """A log that stops taking lines (a FIFO nobody reads, its pipe shrunk to a page) never
    stalls sessions: lines that find both buffers busy are dropped and counted as
    log_dropped. Every session is a line written or a line dropped, and once the reader
    drains the FIFO the written ones come out whole (two shards, one pipe)."""
    import fcntl
    fifo = os.path.join(TMP, "sessions.fifo")
    os.mkfifo(fifo)
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    fcntl.fcntl(rfd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 4096)  # the smallest pipe: a page
    up = Upstream()
    r = Ringer("--mode", "proxy", "--shards", "2", "--upstream", f"127.0.0.1:{up.port}",
               "--log", fifo)
    made, bad = [0], [0]
    lock = threading.Lock()

    def sessions(n):
        for _ in range(n):
            ok = echo(r.port, b"x")
            with lock:
                made[0] += ok
                bad[0] += not ok

    def batch(n, threads=4):
        ts = [threading.Thread(target=sessions, args=(n // threads,)) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    data = []
    try:
        deadline = time.time() + 60
        while (r.metric("ringer_log_dropped_total") or 0) == 0 and made[0] < 8000 and \
                time.time() < deadline:
            batch(400)
        dropped = r.metric("ringer_log_dropped_total") or 0
        check(dropped > 0, f"no line dropped after {made[0]} sessions")
        # The log is still stuck: sessions go on being served at once.
        t0 = time.time()
        before = made[0]
        batch(100)
        check(made[0] - before == 100 and time.time() - t0 < 10,
              f"sessions with the log stuck: {made[0] - before} of 100 in "
              f"{time.time() - t0:.1f} s")
        check(bad[0] == 0, f"{bad[0]} sessions failed")
        total = lambda: (r.metric("ringer_log_lines_total") or 0) + \
            (r.metric("ringer_log_dropped_total") or 0)  # noqa: E731
        check(wait_for(lambda: total() == made[0], 5),
              f"lines written {r.metric('ringer_log_lines_total')} + dropped "
              f"{r.metric('ringer_log_dropped_total')} != {made[0]} sessions")
        written = r.metric("ringer_log_lines_total")
        # Drain: a reader from now on; ringer's exit flushes the rest and closes the FIFO.
        os.set_blocking(rfd, True)

        def drain():
            while True:
                d = os.read(rfd, 65536)
                if not d:
                    return
                data.append(d)

        t = threading.Thread(target=drain, daemon=True)
        t.start()
        r.stop()
        t.join(20)
        check(not t.is_alive(), "the FIFO was not closed at exit")
        text = b"".join(data).decode(errors="replace")
        lines = text.splitlines()
        malformed = [l for l in lines if not LINE.match(l)]
        check(not malformed, f"{len(malformed)} malformed lines, e.g. {malformed[:2]}")
        check(text.endswith("\n"), "the log ends in a partial line")
        check(len(lines) == written, f"{len(lines)} lines read, {written} written")
        print(f"  {made[0]} sessions: {int(written)} lines written and read back, "
              f"{made[0] - int(written)} dropped")
    finally:
        r.stop()
        up.close()
        os.close(rfd)


# ---- upstream host names ------------------------------------------------------------------


def in_namespace(hosts, nsswitch):
    """A prefix that runs ringer in a mount namespace of its own, where hosts and nsswitch
    are bind-mounted over /etc/hosts and /etc/nsswitch.conf (nowhere else)."""
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            'mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/nsswitch.conf && '
            'shift 2 && exec "$@"', "sh", hosts, nsswitch]


def test_upstream_host_names():
    """The manual: an upstream is IPv4, [IPv6] or a name resolved at startup (getaddrinfo: the
    hosts file); a name that does not resolve exits 2. localhost from the machine's own
    /etc/hosts; alpha.test and beta.test from a hosts file of ours."""
    up = Upstream(tag="lo")
    r = Ringer("--mode", "proxy", "--shards", "1", "--upstream", f"localhost:{up.port}")
    try:
        check(tag_of(r.port, "127.0.0.1") == "lo" and up.accepted == 1,
              "--upstream localhost:PORT did not reach 127.0.0.1:PORT")
        r.stop()
    finally:
        r.stop()
        up.close()

    hosts = os.path.join(TMP, "hosts")
    nss = os.path.join(TMP, "nsswitch.conf")
    with open(nss, "w") as f:
        f.write("hosts: files\n")  # no DNS: an unknown name fails at once
    with open(hosts, "w") as f:
        f.write("127.0.0.1 localhost\n127.0.0.2 alpha.test\n127.0.0.3 beta.test\n")
    if subprocess.run(in_namespace(hosts, nss) + ["getent", "hosts", "alpha.test"],
                      capture_output=True, text=True).stdout.split()[:1] != ["127.0.0.2"]:
        raise Skip("no private mount namespace here (unshare --mount)")
    # Two servers on the same port, one per address: only the address tells them apart.
    a = Upstream("127.0.0.2", tag="at-127.0.0.2")
    b = Upstream("127.0.0.3", a.port, tag="at-127.0.0.3")
    r = Ringer("--mode", "proxy", "--shards", "1", "--upstream", f"alpha.test:{a.port},weight=3",
               "--upstream", f"beta.test:{a.port}", prefix=in_namespace(hosts, nss))
    try:
        tags = [tag_of(r.port, "127.0.0.1") for _ in range(8)]
        check(tags.count("at-127.0.0.2") == 6 and tags.count("at-127.0.0.3") == 2,
              f"alpha.test (weight 3) and beta.test: {tags}")
        # Resolved at startup: a changed hosts file changes nothing for the running ringer.
        with open(hosts, "w") as f:  # the same file (inode): the bind mount shows it
            f.write("127.0.0.1 localhost\n127.0.0.3 alpha.test\n127.0.0.2 beta.test\n")
        tags = [tag_of(r.port, "127.0.0.1") for _ in range(8)]
        check(tags.count("at-127.0.0.2") == 6 and tags.count("at-127.0.0.3") == 2,
              f"after the hosts file changed: {tags}")
        r.stop()
        # A name that does not resolve: exit status 2, naming it; in a file too.
        for args in (["--upstream", f"nowhere.test:{a.port}"],
                     ["--upstreams-file", write(f"alpha.test:{a.port}\nnowhere.test:1\n")]):
            p = subprocess.run(in_namespace(hosts, nss) + [
                RINGER, "--mode", "proxy", "--listen", "127.0.0.1:0", *args],
                capture_output=True, text=True, timeout=20)
            ringer_ended(f"ringer {args[0]} nowhere.test", p.returncode, p.stdout, p.stderr,
                         want=2, stale=None)
            check("nowhere.test" in p.stderr, f"{args[0]}: {p.stderr.strip()[-200:]}")
            print("  " + p.stderr.strip())
    finally:
        r.stop()
        a.close()
        b.close()


def write(text):
    fd, path = tempfile.mkstemp(dir=TMP)
    os.write(fd, text.encode())
    os.close(fd)
    return path


# ---- CPU pinning ----------------------------------------------------------------------------


def threads(pid):
    """ringer's own threads (io_uring's iou-* workers left out): {tid: (Cpus_allowed_list,
    the CPU it last ran on)}, from /proc."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            status = open(f"/proc/{pid}/task/{tid}/status").read()
            stat = open(f"/proc/{pid}/task/{tid}/stat").read()
        except OSError:
            continue
        if re.search(r"^Name:\s*iou-", status, re.M):
            continue
        allowed = re.search(r"^Cpus_allowed_list:\s*(\S+)", status, re.M).group(1)
        last = int(stat.rsplit(")", 1)[1].split()[36])  # field 39, processor
        out[int(tid)] = (allowed, last)
    return out


def cpu_list(s):
    cpus = set()
    for part in s.split(","):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def test_cpu_pinning():
    """README and the manual: one pinned thread per CPU ('shard'); --shards N threads pinned
    round robin over the CPUs ringer may run on; --no-pin pins none. Judged by the kernel:
    each thread's Cpus_allowed_list, and the CPU it last ran on."""
    mine = re.search(r"^Cpus_allowed_list:\s*(\S+)", open("/proc/self/status").read(), re.M)
    cpus = sorted(cpu_list(mine.group(1)))
    if len(cpus) < 2:
        raise Skip(f"one CPU here ({cpus}): pinning cannot be told from not pinning")
    rr = lambda n: {str(cpus[i]): len(range(i, n, len(cpus)))  # noqa: E731
                    for i in range(min(n, len(cpus)))}
    one = str(cpus[-1])
    cases = [  # name, flags, prefix, shards, {CPU: threads pinned there}
        ("default", [], [], len(cpus), rr(len(cpus))),
        ("--shards 3", ["--shards", "3"], [], 3, rr(3)),
        ("--shards 1", ["--shards", "1"], [], 1, rr(1)),
        ("--no-pin", ["--shards", "2", "--no-pin"], [], 2, {}),
        # Only one CPU allowed: the default is one shard, and no thread leaves that CPU.
        (f"taskset -c {one}", [], ["taskset", "-c", one], 1, {}),
        (f"taskset -c {one} --shards 2", ["--shards", "2"], ["taskset", "-c", one], 2, {}),
    ]
    for name, args, prefix, shards, want in cases:
        r = Ringer("--mode", "echo", *args, prefix=prefix, pin="--no-pin" not in args,
                   admin=False)
        try:
            said = re.search(r"(\d+) shards?", "".join(r.out))
            check(said and int(said.group(1)) == shards,
                  f"{name}: ringer says {said and said.group(0)}")
            for _ in range(20):  # traffic, so the shards have run where they may
                check(echo(r.port), f"{name}: no echo")
            t = threads(r.proc.pid)
            process = cpu_list(one) if prefix else set(cpus)
            pinned = {}
            for allowed, last in t.values():
                check(last in cpu_list(allowed),
                      f"{name}: a thread allowed {allowed} ran on {last}")
                check(cpu_list(allowed) <= process, f"{name}: a thread allowed {allowed}")
                if cpu_list(allowed) != process:
                    pinned[allowed] = pinned.get(allowed, 0) + 1
            check(pinned == want, f"{name}: threads pinned {pinned}, wanted {want}")
            check(len(t) == shards + 1, f"{name}: {len(t)} threads for {shards} shards and main")
            print(f"  {name}: allowed (last CPU) " +
                  ", ".join(f"{a} ({last})" for a, last in sorted(t.values())))
            r.stop()
        finally:
            r.stop()


def test_upstream_resolve():
    """The manual: ,resolve looks the name up again every --resolve-interval (a thread of its
    own), each address it gives a server, and at once after a failed connect; a lookup that
    fails keeps the servers. A hosts file of ours in ringer's mount namespace is the resolver."""
    hosts = os.path.join(TMP, "hosts-resolve")
    nss = os.path.join(TMP, "nsswitch-resolve.conf")
    with open(nss, "w") as f:
        f.write("hosts: files\n")

    def name_at(*addrs):
        with open(hosts, "w") as f:  # the same file (inode): the bind mount shows it
            f.write("127.0.0.1 localhost\n" + "".join(f"{a} alpha.test\n" for a in addrs))

    name_at("127.0.0.2")
    if subprocess.run(in_namespace(hosts, nss) + ["getent", "hosts", "alpha.test"],
                      capture_output=True, text=True).stdout.split()[:1] != ["127.0.0.2"]:
        raise Skip("no private mount namespace here (unshare --mount)")
    a = Upstream("127.0.0.2", tag="at-2")
    b = Upstream("127.0.0.3", a.port, tag="at-3")
    r = Ringer("--mode", "proxy", "--shards", "1", "--upstream", f"alpha.test:{a.port},resolve",
               "--resolve-interval", "300", prefix=in_namespace(hosts, nss))
    try:
        tags = [tag_of(r.port, "127.0.0.1") for _ in range(4)]
        check(tags == ["at-2"] * 4, f"alpha.test at 127.0.0.2: {tags}")
        name_at("127.0.0.3")
        check(wait_for(lambda: tag_of(r.port, "127.0.0.1") == "at-3", 5),
              "the name moved to 127.0.0.3: new sessions follow within the interval")
        tags = [tag_of(r.port, "127.0.0.1") for _ in range(4)]
        check(tags == ["at-3"] * 4, f"and stay there: {tags}")
        name_at("127.0.0.2", "127.0.0.3")
        check(wait_for(lambda: len({tag_of(r.port, "127.0.0.1") for _ in range(4)}) == 2, 5),
              "a name with two addresses is two servers")
        tags = [tag_of(r.port, "127.0.0.1") for _ in range(8)]
        check(tags.count("at-2") == 4 and tags.count("at-3") == 4,
              f"round robin over the two: {tags}")
        name_at()  # the name is gone: the lookup fails, the servers stay
        time.sleep(1.0)
        check(len({tag_of(r.port, "127.0.0.1") for _ in range(4)}) == 2,
              "a failed lookup keeps the servers")
        check("cannot resolve 'alpha.test'" in "".join(r.err), f"said: {''.join(r.err)[-300:]}")
        r.stop()
    finally:
        r.stop()

    # A failed connect asks for a lookup at once, however long the interval.
    name_at("127.0.0.2")
    r = Ringer("--mode", "proxy", "--shards", "1", "--upstream", f"alpha.test:{a.port},resolve",
               "--resolve-interval", "600000", prefix=in_namespace(hosts, nss))
    try:
        check(tag_of(r.port, "127.0.0.1") == "at-2", "alpha.test at 127.0.0.2")
        name_at("127.0.0.3")
        a.close()  # the old address refuses: that connect failure is the kick
        check(wait_for(lambda: tag_of(r.port, "127.0.0.1") == "at-3", 5),
              "after a failed connect the name is looked up at once (interval 10 min)")
        r.stop()
    finally:
        r.stop()
        a.close()
        b.close()


TESTS = [test_balance_source, test_handover_other_user, test_log_connect_timeout,
         test_log_no_upstream, test_log_half_close, test_log_dropped, test_upstream_host_names,
         test_upstream_resolve, test_cpu_pinning]


def cleanup():
    import shutil
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    run([t for t in TESTS if not ONLY or t.__name__ in ONLY], cleanup)
