#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The admin port's access rules: where it listens, who may ask what, which
methods, and /ready through a drain.

Usage: test_admin_access.py RINGER_BINARY

Each case starts its own ringer on loopback with ephemeral ports and stops
it by PID. Clients pick their source address on 127.0.0.0/8 (loopback takes
all of it) to stand for hosts inside and outside an --admin-allow list.
Prints one line per case and exits 1 if any failed.
"""
import http.client
import re
import signal
import socket
import subprocess
import sys
import threading
import time

from cases import Skip, check, free_port, ringer_ended, run, wait_for

RINGER = sys.argv[1] if len(sys.argv) > 1 else "build/src/server/ringer"


class Ringer:
    def __init__(self, *args):
        self.proc = subprocess.Popen([RINGER, "--listen", "127.0.0.1:0", "--no-pin", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.port = self.admin_addr = None
        self.out = []
        deadline = time.time() + 10
        while time.time() < deadline and (self.port is None or self.admin_addr is None):
            line = self.proc.stdout.readline()
            if not line:
                break
            self.out.append(line)
            m = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
            m = re.match(r"admin on (\S+):(\d+)$", line.strip())
            if m:
                self.admin_addr = (m.group(1).strip("[]"), int(m.group(2)))
        if self.port is None or self.admin_addr is None:
            self.proc.kill()
            raise RuntimeError("ringer did not start: " + self.proc.stderr.read()[-1000:])
        self.admin = self.admin_addr[1]
        self.err = []
        self.readers = [threading.Thread(target=lambda: self.out.append(self.proc.stdout.read()),
                                         daemon=True),
                        threading.Thread(target=lambda: self.err.append(self.proc.stderr.read()),
                                         daemon=True)]
        for t in self.readers:
            t.start()

    def request(self, method, path, host="127.0.0.1", source="127.0.0.1"):
        """(status, headers, body) of one request from the source address given."""
        c = http.client.HTTPConnection(host, self.admin, timeout=5,
                                       source_address=(source, 0))
        try:
            c.request(method, path)
            r = c.getresponse()
            return r.status, r.getheaders(), r.read()
        finally:
            c.close()

    def get(self, path, **kw):
        """(status, body) of a GET; the error's name for the status when there was no answer."""
        try:
            status, _, body = self.request("GET", path, **kw)
            return status, body
        except OSError as e:
            return type(e).__name__, b""

    def status(self, path, **kw):
        return self.get(path, **kw)[0]

    def metric(self, name, source="127.0.0.1"):
        for line in self.get("/metrics", source=source)[1].decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def stop(self):
        """SIGTERM unless it has exited; (exit status, stdout, stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for t in self.readers:
            t.join(5)
        return self.proc.returncode, "".join(self.out), "".join(self.err)


def refused(host, port):
    """True when a TCP connect to host:port is refused (nobody listens there)."""
    try:
        socket.create_connection((host, port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    return False


def test_bare_port_is_loopback():
    """--admin PORT listens on 127.0.0.1 alone; ADDR:PORT still binds what it says."""
    port = free_port()
    r = Ringer("--shards", "1", "--admin", str(port))
    try:
        check(r.admin_addr == ("127.0.0.1", port), f"--admin {port}: admin on {r.admin_addr}")
        check(r.status("/ready") == 200, "--admin PORT: /ready from 127.0.0.1")
        check(r.status("/metrics") == 200, "--admin PORT: /metrics from 127.0.0.1")
        # Loopback accepts every 127/8 address: a socket on 0.0.0.0 would take this one.
        check(refused("127.0.0.2", port), f"--admin {port}: 127.0.0.2:{port} is served")
    finally:
        code, out, err = r.stop()
        ringer_ended("--admin PORT", code, out, err)
    port = free_port()
    r = Ringer("--shards", "1", "--admin", f"127.0.0.2:{port}")
    try:
        check(r.admin_addr == ("127.0.0.2", port), f"--admin 127.0.0.2:{port}: {r.admin_addr}")
        check(r.status("/ready", host="127.0.0.2") == 200, "--admin 127.0.0.2:PORT: /ready")
        check(refused("127.0.0.1", port), f"--admin 127.0.0.2:{port}: 127.0.0.1 is served")
    finally:
        code, out, err = r.stop()
        ringer_ended("--admin ADDR:PORT", code, out, err)
    r = Ringer("--shards", "1", "--admin", ":0")
    try:
        check(r.status("/ready", host="127.0.0.3") == 200, "--admin :0 (every IPv4 address): "
              "/ready on 127.0.0.3")
    finally:
        code, out, err = r.stop()
        ringer_ended("--admin :PORT", code, out, err)


def test_allow_list():
    """Outside --admin-allow: 403 for everything but /ready, each counted; inside: served."""
    r = Ringer("--shards", "1", "--admin", "0", "--admin-allow", "10.0.0.0/8,127.0.0.2",
               "--admin-allow", "192.0.2.0/24")
    try:
        outside = [("GET", "/metrics"), ("GET", "/connections"), ("GET", "/"),
                   ("GET", "/nothing-here"), ("HEAD", "/metrics"), ("POST", "/metrics"),
                   ("GET", "/metrics?x=/ready"), ("GET", "/readyz")]
        for method, path in outside:
            status, _, body = r.request(method, path)
            check(status == 403, f"outside the list: {method} {path} got {status}, want 403")
            check(body == (b"" if method == "HEAD" else b"403\n"),
                  f"outside the list: {method} {path} body {body[:40]!r}")
        # The same from 127.0.0.3, also outside; and a request that does not parse.
        check(r.status("/metrics", source="127.0.0.3") == 403, "127.0.0.3: /metrics not 403")
        s = socket.create_connection(("127.0.0.1", r.admin), timeout=5)
        s.sendall(b"\x16\x03\x01 no HTTP at all\r\n\r\n")
        got = s.recv(100)
        s.close()
        check(got.startswith(b"HTTP/1.1 403 "), f"outside, malformed request: {got[:30]!r}")
        denied = len(outside) + 2
        # /ready is for anybody (load balancers and probes), HEAD and a query included.
        for source in ("127.0.0.1", "127.0.0.3"):
            status, _, body = r.request("GET", "/ready", source=source)
            check(status == 200 and body == b"ready\n", f"{source}: /ready got {status} {body!r}")
        check(r.request("HEAD", "/ready")[0] == 200, "outside: HEAD /ready")
        check(r.status("/ready?probe=1") == 200, "outside: /ready?probe=1")
        # Inside (a bare address in a comma list): everything, and the refusals were counted.
        for path in ("/metrics", "/connections", "/"):
            check(r.status(path, source="127.0.0.2") == 200, f"127.0.0.2 (allowed): {path}")
        n = r.metric("ringer_admin_denied_total", source="127.0.0.2")
        check(n == denied, f"ringer_admin_denied_total {n}, want {denied}")
        check(r.metric("ringer_ready", source="127.0.0.2") == 1, "ringer_ready is not 1")
    finally:
        code, out, err = r.stop()
        ringer_ended("--admin-allow", code, out, err)
    # Without --admin-allow, loopback is allowed: 127.0.0.3 gets /metrics.
    r = Ringer("--shards", "1", "--admin", ":0")
    try:
        check(r.status("/metrics", host="127.0.0.3", source="127.0.0.3") == 200,
              "no --admin-allow: a loopback client (127.0.0.3) refused")
    finally:
        code, out, err = r.stop()
        ringer_ended("default allow list", code, out, err)


def ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


def test_allow_list_ipv6():
    """::1 is loopback; an IPv4 client of a dual-stack admin port ([::]) is judged as IPv4."""
    if not ipv6_loopback():
        raise Skip("no ::1 on this machine: IPv6 loopback is off")
    r = Ringer("--shards", "1", "--admin", "[::]:0")
    try:
        check(r.status("/metrics", host="::1", source="::1") == 200, "default list: ::1 refused")
        check(r.status("/metrics", host="127.0.0.1") == 200,
              "default list: 127.0.0.1 (as ::ffff:127.0.0.1) refused")
    finally:
        code, out, err = r.stop()
        ringer_ended("[::] admin", code, out, err)
    r = Ringer("--shards", "1", "--admin", "[::]:0", "--admin-allow", "127.0.0.2,fd00::/8")
    try:
        check(r.status("/metrics", host="::1", source="::1") == 403, "fd00::/8 list: ::1 served")
        check(r.status("/metrics", host="127.0.0.1", source="127.0.0.2") == 200,
              "127.0.0.2 in the list, reaching [::] as ::ffff:127.0.0.2: refused")
        check(r.status("/metrics", host="127.0.0.1") == 403, "127.0.0.1: served")
        check(r.status("/ready", host="::1", source="::1") == 200, "::1 outside: /ready")
    finally:
        code, out, err = r.stop()
        ringer_ended("[::] admin, a list", code, out, err)


def test_methods():
    """GET and HEAD only: every other method is 405 with Allow: GET, HEAD, on every path."""
    r = Ringer("--shards", "1", "--admin", "0")
    try:
        for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FROB"):
            for path in ("/metrics", "/ready", "/connections", "/"):
                status, headers, _ = r.request(method, path)
                allow = dict((k.lower(), v) for k, v in headers).get("allow")
                check(status == 405 and allow == "GET, HEAD",
                      f"{method} {path}: {status}, Allow: {allow}")
        status, headers, body = r.request("HEAD", "/metrics")
        length = int(dict((k.lower(), v) for k, v in headers).get("content-length", 0))
        check(status == 200 and body == b"" and length > 1000,
              f"HEAD /metrics: {status}, {len(body)} body bytes, Content-Length {length}")
        check(r.status("/metrics") == 200, "GET /metrics")
    finally:
        code, out, err = r.stop()
        ringer_ended("methods", code, out, err)


class Upstream:
    """An echo server for the proxy, one thread per connection."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
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
            while True:
                try:
                    d = c.recv(65536)
                    if not d:
                        return
                    c.sendall(d)
                except OSError:
                    return


def echoes(s, payload):
    try:
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


def test_ready_through_a_drain():
    """/ready: 200 while serving, 503 from SIGTERM on while an open session is still served;
    /metrics serves on, /connections says 503; the drain ends when the session does."""
    up = Upstream()
    r = Ringer("--shards", "2", "--admin", "0", "--mode", "proxy", "--upstream",
               f"127.0.0.1:{up.port}", "--drain-timeout", "20000")
    s = socket.create_connection(("127.0.0.1", r.port), timeout=5)
    try:
        check(echoes(s, b"before"), "no echo through the proxy before the drain")
        check(r.status("/ready") == 200, "/ready before the drain")
        check(r.status("/connections") == 200, "/connections before the drain")
        r.proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        got = wait_for(lambda: r.status("/ready") == 503, 5)
        check(got, "/ready not 503 within 5 s of SIGTERM")
        print(f"  /ready 503 {1000 * (time.monotonic() - t0):.0f} ms after SIGTERM")
        status, body = r.get("/ready")
        check(status == 503 and body == b"draining\n", f"/ready draining: {status} {body!r}")
        # The drain goes on: the session is served, and the admin port with it.
        for i in range(3):
            check(echoes(s, b"during %d" % i), f"the open session not served in the drain ({i})")
            check(r.status("/ready") == 503, "/ready went back to 200 in the drain")
            time.sleep(0.3)
        check(r.proc.poll() is None, "ringer exited with a session open in a 20 s drain")
        check(r.metric("ringer_ready") == 0, "ringer_ready is not 0 in the drain")
        check(r.status("/connections") == 503, "/connections in the drain is not 503")
        s.close()
        check(wait_for(lambda: r.proc.poll() is not None, 10),
              "ringer did not exit once its last session ended")
    finally:
        s.close()
        code, out, err = r.stop()
        ringer_ended("drain", code, out, err)
        up.sock.close()


def test_bad_flags():
    for args, want in ((["--admin", "0", "--admin-allow", "10.0.0.0/33"], "10.0.0.0/33"),
                       (["--admin", "0", "--admin-allow", "nonsense"], "nonsense"),
                       (["--admin", "0", "--admin-allow", "10.0.0.0/8,"], "''"),
                       (["--admin", "0", "--admin-allow", "::/129"], "::/129"),
                       (["--admin-allow", "10.0.0.0/8"], "needs --admin"),
                       (["--admin", "65536"], "65536")):
        p = subprocess.run([RINGER, *args], capture_output=True, text=True, timeout=10)
        lines = p.stderr.strip().splitlines()
        check(p.returncode == 2 and len(lines) == 1 and want in lines[0] and
              lines[0].startswith("ringer: --admin"),
              f"{' '.join(args)}: exit {p.returncode}, stderr {p.stderr.strip()!r}")


TESTS = [test_bare_port_is_loopback, test_allow_list, test_allow_list_ipv6, test_methods,
         test_ready_through_a_drain, test_bad_flags]


if __name__ == "__main__":
    run(TESTS)
