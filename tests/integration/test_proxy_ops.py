#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Proxy mode for operators: active health checks, keepalive on both sides.

Usage: test_proxy_ops.py RINGER_BINARY

Each test function starts its own ringer --mode proxy on 127.0.0.1 with
upstreams this script runs (small threaded echo servers), talks to it over
loopback, and stops it by PID. Prints one line per test function and exits 1
if any failed.
"""
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

from cases import RingerProc, check, free_port, ringer_ended, run, wait_for

RINGER = sys.argv[1] if len(sys.argv) > 1 else "build/src/server/ringer"

class Upstream:
    """A threaded echo server that counts the connections it accepted."""

    def __init__(self, port=0):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.conns = []
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.conns.append(c)
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    @staticmethod
    def serve(c):
        while True:
            try:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)
            except OSError:
                break
        c.close()

    def close(self):
        self.sock.close()


class Proxy(RingerProc):
    def __init__(self, *args):
        super().__init__([RINGER, "--mode", "proxy", "--listen", "127.0.0.1:0", "--admin",
                          "127.0.0.1:0", "--shards", "2", "--no-pin", *args],
                         "ringer --mode proxy", admin=True)

    def echo(self, payload=b"ping"):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(payload)
            got = b""
            while len(got) < len(payload):
                d = s.recv(65536)
                if not d:
                    break
                got += d
            return got == payload


def stop_ringer(r, what):
    """SIGTERM to a ringer started here without the Proxy class; judges how it ended."""
    r.send_signal(signal.SIGTERM)
    try:
        out, err = r.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        r.kill()
        out, err = r.communicate()
    ringer_ended(what, r.returncode, out, err)


def test_health_checks():
    a = Upstream()
    b_port = free_port()  # nothing listens there yet
    p = Proxy("--upstream", f"127.0.0.1:{a.port}", "--upstream", f"127.0.0.1:{b_port}",
              "--check-interval", "1000", "--check-fall", "2", "--check-rise", "2")
    b = None
    try:
        up_b = f'ringer_upstream_up{{upstream="127.0.0.1:{b_port}"}}'
        fail_b = f'ringer_upstream_connect_failures_total{{upstream="127.0.0.1:{b_port}"}}'
        changes_b = f'ringer_upstream_state_changes_total{{upstream="127.0.0.1:{b_port}"}}'
        check(wait_for(lambda: p.metric(up_b) == 0, 6), "the dead upstream is not marked down")
        down_lines = [l for l in p.err if "is DOWN" in l]
        check(len(down_lines) == 1 and f"127.0.0.1:{b_port}" in down_lines[0],
              f"DOWN logged: {down_lines}")
        # Sessions now skip it: no session connect is tried (and fails) against it.
        before = p.metric(fail_b)
        check(all(p.echo() for _ in range(20)), "sessions failed while an upstream was down")
        check(p.metric(fail_b) == before, "sessions still tried the upstream marked down")
        # It comes back: up after --check-rise successes, logged once.
        b = Upstream(b_port)
        check(wait_for(lambda: p.metric(up_b) == 1, 6), "the upstream is not marked up again")
        up_lines = [l for l in p.err if "is UP" in l]
        check(len(up_lines) == 1, f"UP logged: {up_lines}")
        check(p.metric(changes_b) == 2, f"state changes: {p.metric(changes_b)}")
        got_b = b.accepted
        check(all(p.echo() for _ in range(20)), "sessions failed after the upstream came back")
        check(b.accepted > got_b, "no session reached the upstream after it came back")
        # The healthy upstream never changed state.
        check(p.metric(f'ringer_upstream_state_changes_total{{upstream="127.0.0.1:{a.port}"}}')
              == 0, "the healthy upstream changed state")
    finally:
        check(p.stop() == 0, "proxy exit status")
        a.close()
        if b:
            b.close()


def test_keepalive_both_sides():
    """--keepalive applies to the client side (inherited) and the upstream side (set)."""
    a = Upstream()
    p = Proxy("--upstream", f"127.0.0.1:{a.port}", "--keepalive", "30,5,3")
    try:
        s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
        s.sendall(b"x")
        check(s.recv(1) == b"x", "no echo through the proxy")
        out = subprocess.run(["ss", "-Htno", "state", "established"], capture_output=True,
                             text=True).stdout
        up_side = [l for l in out.splitlines() if re.search(rf"\s127\.0\.0\.1:{a.port}\s", l)]
        client_side = [l for l in out.splitlines()
                       if re.search(rf"\s127\.0\.0\.1:{p.port}\s+127\.0\.0\.1:", l)]

        def timer(lines):
            m = [re.search(r"timer:\(keepalive,(\d+)(?:min|sec|ms)", l) for l in lines]
            return [x for x in m if x]

        # the proxy's outbound socket (local: ephemeral, peer: the upstream) and the accepted one
        check(any(timer([l]) for l in up_side), f"no keepalive timer upstream side: {up_side}")
        check(any(timer([l]) for l in client_side),
              f"no keepalive timer client side: {client_side}")
        for m in timer(up_side) + timer(client_side):
            check(int(m.group(1)) <= 30, f"keepalive timer over 30 s: {m.group(0)}")
        s.close()
    finally:
        check(p.stop() == 0, "proxy exit status")
        a.close()


def test_session_log():
    """--log: one line per finished session, with how it ended."""
    import os
    import tempfile
    a = Upstream()
    rst = socket.socket()  # an upstream that accepts and resets at once
    rst.bind(("127.0.0.1", 0))
    rst.listen(16)
    dead = free_port()

    def resetter():
        while True:
            try:
                c, _ = rst.accept()
            except OSError:
                return
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            c.close()

    threading.Thread(target=resetter, daemon=True).start()
    path = os.path.join(tempfile.mkdtemp(prefix="ringer-log-"), "sessions.log")
    logs = {}
    try:
        p = Proxy("--upstream", f"127.0.0.1:{a.port}", "--log", path)
        # a normal session: 1000 bytes each way, then the client's FIN
        s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
        logs["normal"] = f"127.0.0.1:{s.getsockname()[1]}"
        s.sendall(b"n" * 1000)
        got = b""
        while len(got) < 1000:
            got += s.recv(4096)
        s.shutdown(socket.SHUT_WR)
        s.recv(10)
        s.close()
        # a client that resets
        s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
        logs["reset"] = f"127.0.0.1:{s.getsockname()[1]}"
        s.sendall(b"r")
        s.recv(1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
        # lines reach the file within the tick, while ringer runs
        check(wait_for(lambda: os.path.exists(path) and open(path).read().count("\n") >= 2, 5),
              "session lines not written within 5 s")
        check(p.stop() == 0, "proxy exit status")
        p2 = Proxy("--upstream", f"127.0.0.1:{rst.getsockname()[1]}", "--log", path)
        s = socket.create_connection(("127.0.0.1", p2.port), timeout=5)
        logs["upreset"] = f"127.0.0.1:{s.getsockname()[1]}"
        s.sendall(b"x")
        try:
            s.recv(10)
        except OSError:
            pass
        s.close()
        # The session ends when the upstream's reset comes: its line, before the stop.
        check(wait_for(lambda: open(path).read().count("\n") >= 3, 5),
              "the reset session's line not written within 5 s")
        check(p2.stop() == 0, "proxy exit status")
        p3 = Proxy("--upstream", f"127.0.0.1:{dead}", "--log", path, "--connect-retries", "0")
        s = socket.create_connection(("127.0.0.1", p3.port), timeout=5)
        logs["refused"] = f"127.0.0.1:{s.getsockname()[1]}"
        try:
            s.recv(10)
        except OSError:
            pass
        s.close()
        check(wait_for(lambda: open(path).read().count("\n") >= 4, 5),
              "the refused session's line not written within 5 s")
        check(p3.stop() == 0, "proxy exit status")
        lines = open(path).read().splitlines()
        by_client = {l.split()[1]: l.split() for l in lines if len(l.split()) == 8}
        check(len(by_client) == len(lines), f"malformed lines: {lines}")
        want = {"normal": (f"127.0.0.1:{a.port}", "--"), "reset": (f"127.0.0.1:{a.port}", "CR"),
                "upreset": (f"127.0.0.1:{rst.getsockname()[1]}", "SR"),
                "refused": (f"127.0.0.1:{dead}", "CC")}
        for k, (up, code) in want.items():
            f = by_client.get(logs[k])
            check(f is not None and f[2] == up and f[3] == code,
                  f"{k}: wanted upstream {up} code {code}, got {f}")
        f = by_client.get(logs["normal"])
        if f:
            check(f[4] == "1000" and f[5] == "1000" and f[7] == "1",
                  f"normal session bytes/connects: {f}")
            check(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", f[0]), f"time: {f[0]}")
        print("  " + "\n  ".join(lines))
    finally:
        a.close()
        rst.close()


class Haproxy:
    """HAProxy from Debian in the foreground with a config of ours, its log on stdout."""

    def __init__(self, body):
        import os
        import tempfile
        self.dir = tempfile.mkdtemp(prefix="ringer-haproxy-")
        path = os.path.join(self.dir, "haproxy.cfg")
        with open(path, "w") as f:
            f.write("global\n  log stdout format raw local0 info\n"
                    "defaults\n  mode tcp\n  log global\n  option tcplog\n"
                    "  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n" + body)
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", path], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.out = []
        threading.Thread(target=lambda: self.out.extend(self.proc.stdout), daemon=True).start()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def accepts(port):
    """Whether something accepts connections on 127.0.0.1:port."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def connect_from(src, port):
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    return s


def echo_through(s, payload):
    s.sendall(payload)
    got = b""
    while len(got) < len(payload):
        d = s.recv(65536)
        if not d:
            break
        got += d
    return got == payload


def test_accept_proxy_behind_haproxy():
    """HAProxy send-proxy(-v2) in front of ringer --accept-proxy: ringer sees the real client."""
    import json
    if not shutil_which("haproxy"):
        check(False, "haproxy is not installed")
        return
    for version, keyword in ((2, "send-proxy-v2"), (1, "send-proxy")):
        r = subprocess.Popen([RINGER, "--mode", "echo", "--listen", "127.0.0.1:0", "--admin",
                              "127.0.0.1:0", "--shards", "1", "--no-pin", "--accept-proxy"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        port = admin = None
        while port is None or admin is None:
            line = r.stdout.readline()
            m = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
            port = int(m.group(1)) if m else port
            m = re.match(r"admin on 127\.0\.0\.1:(\d+)", line)
            admin = int(m.group(1)) if m else admin
        hport = free_port()
        h = Haproxy(f"frontend fe\n  bind 127.0.0.1:{hport}\n  default_backend be\n"
                    f"backend be\n  server s1 127.0.0.1:{port} {keyword}\n")
        try:
            s = None
            for _ in range(50):
                try:
                    s = connect_from("127.0.0.5", hport)
                    break
                except OSError:
                    time.sleep(0.1)
            check(s is not None, "haproxy did not start")
            if not s:
                continue
            check(echo_through(s, b"through haproxy " * 100), f"v{version}: no echo")
            with urllib.request.urlopen(f"http://127.0.0.1:{admin}/connections") as resp:
                conns = json.loads(resp.read())["connections"]
            peers = [c["peer"] for c in conns]
            want = f"127.0.0.5:{s.getsockname()[1]}"
            check(want in peers, f"v{version}: ringer sees {peers}, not the client {want}")
            s.close()
            # A client without the header is reset and counted.
            d = socket.create_connection(("127.0.0.1", port), timeout=5)
            d.sendall(b"GET / HTTP/1.1\r\n\r\n")
            try:
                gone = d.recv(10) == b""
            except ConnectionResetError:
                gone = True
            check(gone, f"v{version}: a client without a PROXY header was served")
            d.close()
            with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics") as resp:
                m = re.search(r"^ringer_proxy_hdr_errors_total (\d+)", resp.read().decode(), re.M)
            check(m and int(m.group(1)) == 1, f"v{version}: proxy_hdr_errors {m and m.group(1)}")
        finally:
            h.stop()
            stop_ringer(r, f"ringer --accept-proxy (v{version})")


def test_send_proxy_to_haproxy():
    """ringer --send-proxy v1|v2 in front of HAProxy accept-proxy: HAProxy logs the real client."""
    if not shutil_which("haproxy"):
        check(False, "haproxy is not installed")
        return
    a = Upstream()
    for version in ("v2", "v1"):
        hport = free_port()
        h = Haproxy(f"frontend fe\n  bind 127.0.0.1:{hport} accept-proxy\n  default_backend be\n"
                    f"backend be\n  server s1 127.0.0.1:{a.port}\n")
        p = None
        try:
            check(wait_for(lambda: accepts(hport)), f"{version}: haproxy did not start")
            p = Proxy("--upstream", f"127.0.0.1:{hport}", "--send-proxy", version)
            s = connect_from("127.0.0.5", p.port)
            check(echo_through(s, b"to haproxy " * 300), f"{version}: no echo through both")
            client = f"127.0.0.5:{s.getsockname()[1]}"
            s.close()
            check(wait_for(lambda: any(client in l for l in h.out), 5),
                  f"{version}: HAProxy's log does not show {client}: {h.out[-3:]}")
        finally:
            if p:
                check(p.stop() == 0, "proxy exit status")
            h.stop()
    a.close()


def test_accept_proxy_http():
    """http mode behind a PROXY header: split anywhere, v1 and v2; a silent client times out."""
    r = subprocess.Popen([RINGER, "--mode", "http", "--listen", "127.0.0.1:0", "--shards", "1",
                          "--no-pin", "--accept-proxy"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    port = int(re.match(r"listening on 127\.0\.0\.1:(\d+)", r.stdout.readline()).group(1))
    req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    v1 = b"PROXY TCP4 192.0.2.1 192.0.2.2 1234 80\r\n"
    v2 = (b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c" + bytes([192, 0, 2, 1, 192, 0, 2, 2]) +
          (1234).to_bytes(2, "big") + (80).to_bytes(2, "big"))
    try:
        for name, data, step in (("v1 whole", v1 + req, 0), ("v1 by bytes", v1 + req, 1),
                                 ("v2 whole", v2 + req, 0), ("v2 in 3-byte pieces", v2 + req, 3)):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            if step:
                for i in range(0, len(data), step):
                    s.sendall(data[i:i + step])
                    time.sleep(0.002)
            else:
                s.sendall(data)
            got = s.recv(4096)
            check(got.startswith(b"HTTP/1.1 200 OK"), f"{name}: got {got[:30]!r}")
            s.close()
        t0 = time.time()
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(v1[:10])  # a header that never ends
        try:
            gone = s.recv(10) == b""
        except ConnectionResetError:
            gone = True
        took = time.time() - t0
        check(gone and 4 <= took <= 8, f"an unfinished header: closed={gone} after {took:.1f} s")
        s.close()
    finally:
        stop_ringer(r, "ringer --mode http --accept-proxy")


def test_maxconn_queue():
    """maxconn=2: a third client waits (its bytes held) and is served when a slot frees;
    one left waiting past --queue-timeout is closed; the upstream never sees more than 2."""
    import os
    import tempfile
    a = Upstream()
    # The upstream's open sessions, under a lock: a session leaves the set before its socket
    # is closed, so the count never peeks at a closed socket (EBADF would read as "open").
    live = set()
    lock = threading.Lock()

    def ended(c):
        """ringer already closed it: its FIN (or RST) waits in the socket, not yet read by
        the session's own thread."""
        try:
            return c.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False  # open, nothing to read
        except ConnectionResetError:
            return True

    def counting(c):
        # Sessions at once as ringer counts them: one it has closed is not one (its FIN
        # may reach this side's reader a moment after the next session's SYN).
        with lock:
            a.peak = max(getattr(a, "peak", 0), 1 + sum(not ended(x) for x in live))
            live.add(c)
        while True:
            try:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)
            except OSError:
                break
        with lock:
            live.discard(c)
        c.close()

    a.serve = counting
    path = os.path.join(tempfile.mkdtemp(prefix="ringer-q-"), "sessions.log")
    p = Proxy("--upstream", f"127.0.0.1:{a.port},maxconn=2", "--queue-timeout", "1500",
              "--log", path, "--shards", "1")
    try:
        first = [socket.create_connection(("127.0.0.1", p.port), timeout=5) for _ in range(2)]
        for s in first:
            check(echo_through(s, b"a"), "a first session is not served")
        third = socket.create_connection(("127.0.0.1", p.port), timeout=5)
        third.sendall(b"waiting")
        third.settimeout(0.5)
        try:
            early = third.recv(100)
        except socket.timeout:
            early = b""
        check(early == b"", f"the third client was served past maxconn: {early!r}")
        check(p.metric("ringer_queued_total") == 1, "the third client was not queued")
        first[0].close()  # a slot frees: the third goes through with what it sent
        third.settimeout(5)
        got = b""
        while len(got) < 7:
            d = third.recv(100)
            if not d:
                break
            got += d
        check(got == b"waiting", f"the queued client's bytes: {got!r}")
        # A fourth waits while both slots stay taken, and is closed at the queue timeout.
        t0 = time.time()
        fourth = socket.create_connection(("127.0.0.1", p.port), timeout=5)
        fourth.settimeout(6)
        try:
            gone = fourth.recv(10) == b""
        except ConnectionResetError:
            gone = True
        took = time.time() - t0
        check(gone and 1.0 <= took <= 4.0, f"queue timeout: closed={gone} after {took:.1f} s")
        check(p.metric("ringer_queue_timeouts_total") == 1, "queue_timeouts not counted")
        check(getattr(a, "peak", 0) <= 2, f"the upstream saw {getattr(a, 'peak', 0)} at once")
        for s in first[1:] + [third, fourth]:
            s.close()
    finally:
        check(p.stop() == 0, "proxy exit status")
        a.close()
    codes = [l.split()[3] for l in open(path).read().splitlines()]
    check("QT" in codes, f"no QT in the session log: {codes}")


def test_reload_upstreams_file():
    """SIGHUP re-reads --upstreams-file: new sessions use the new set, a running one goes on,
    a bad file is refused and the set in use stays."""
    import os
    import tempfile
    a, b = Upstream(), Upstream()
    path = os.path.join(tempfile.mkdtemp(prefix="ringer-up-"), "upstreams")
    with open(path, "w") as f:
        f.write(f"# the first set\n127.0.0.1:{a.port},weight=2\n")
    p = Proxy("--upstreams-file", path)
    try:
        held = socket.create_connection(("127.0.0.1", p.port), timeout=5)
        check(echo_through(held, b"before"), "no echo through the first set")
        check(a.accepted == 1 and b.accepted == 0, "the first session did not reach a")
        with open(path, "w") as f:
            f.write(f"127.0.0.1:{b.port}   # a replaced by b\n\n")
        p.proc.send_signal(signal.SIGHUP)
        check(wait_for(lambda: any("reloaded" in l for l in p.err), 5), f"no reload: {p.err[-2:]}")
        check(all(p.echo() for _ in range(5)), "sessions failed after the reload")
        check(b.accepted == 5 and a.accepted == 1, f"new sessions: a {a.accepted}, b {b.accepted}")
        check(echo_through(held, b"after"), "the session running through a was cut")
        with open(path, "w") as f:
            f.write("127.0.0.1:not-a-port\n")
        p.proc.send_signal(signal.SIGHUP)
        check(wait_for(lambda: any("reload refused" in l for l in p.err), 5),
              f"a bad file was not refused: {p.err[-2:]}")
        refused = [l for l in p.err if "reload refused" in l]
        check(refused and f"{path}:1:" in refused[0], f"the refusal does not say where: {refused}")
        check(all(p.echo() for _ in range(3)) and b.accepted == 8, "the set changed after a refusal")
        check(p.metric(f'ringer_upstream_connects_total{{upstream="127.0.0.1:{b.port}"}}') == 8,
              "b's metrics")
        held.close()
    finally:
        check(p.stop() == 0, "proxy exit status")
        a.close()
        b.close()


def shutil_which(name):
    import shutil
    return shutil.which(name)


TESTS = [test_health_checks, test_keepalive_both_sides, test_session_log,
         test_accept_proxy_behind_haproxy, test_send_proxy_to_haproxy, test_accept_proxy_http,
         test_maxconn_queue, test_reload_upstreams_file]


if __name__ == "__main__":
    run(TESTS)
