#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Several listeners in one ringer (a configuration file, ringer -c): every mode
side by side on its own addresses, each listener's limits, timeouts and
upstreams kept apart, TLS on one and not another, counters per listener, and
what SIGHUP changes (upstreams in place; a bad file or a new listener refused
while the old configuration serves on).

Usage: test_listeners.py RINGER_BINARY [CASE ...]

Clients are Python sockets (ssl for TLS); the upstreams are ringer's own http
listeners with bodies of their own, so a response names the upstream that
answered. Each case writes its file, starts its own ringer on 127.0.0.1 and
127.0.0.2 and stops it by PID. Prints one line per case and exits 1 if any
failed.
"""
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from cases import check, free_port, ringer_ended, run, wait_for

RINGER = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/src/server/ringer")
ONLY = sys.argv[2:]
TMP = tempfile.mkdtemp(prefix="ringer-lst-")


class Ringer:
    """ringer -c FILE; stdout and stderr collected as they come. stop() judges how it ended."""

    def __init__(self, conf_text, lines, name="ringer.conf"):
        self.path = os.path.join(TMP, name)
        with open(self.path, "w") as f:
            f.write(conf_text)
        self.proc = subprocess.Popen([RINGER, "-c", self.path], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, cwd="/")
        self.out, self.err = [], []
        self.readers = [threading.Thread(target=self._read, args=(f, into), daemon=True)
                        for f, into in ((self.proc.stdout, self.out),
                                        (self.proc.stderr, self.err))]
        for t in self.readers:
            t.start()

        # Every address is listening once its line is out (the shards serve by then).
        def started():
            listening = sum(line.startswith("listening on ") for line in self.out)
            return listening >= lines or self.proc.poll() is not None

        wait_for(started, 20)
        if self.proc.poll() is not None:
            raise RuntimeError(f"ringer exited {self.proc.returncode}: {''.join(self.err)[-800:]}")

    @staticmethod
    def _read(f, lines):
        for line in f:
            lines.append(line)

    def rewrite(self, conf_text):
        with open(self.path, "w") as f:
            f.write(conf_text)

    def hup(self, expect):
        """SIGHUP; waits for a stderr line matching expect (a regex) and returns it."""
        seen = len(self.err)
        self.proc.send_signal(signal.SIGHUP)
        line = wait_for(lambda: next((ln for ln in self.err[seen:] if re.search(expect, ln)),
                                     None), 10)
        check(line is not None, f"SIGHUP: no line like {expect!r} in {self.err[seen:]!r}")
        return line or ""

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            status = self.proc.wait()
        for t in self.readers:  # the pipes end with the process: every line is in
            t.join(5)
        ringer_ended("ringer -c", status, "".join(self.out), "".join(self.err))
        return "".join(self.out)


def connects(host, port):
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def echo_ok(host, port, size=65536):
    data = os.urandom(size)
    with socket.create_connection((host, port), timeout=10) as s:
        threading.Thread(target=s.sendall, args=(data,), daemon=True).start()
        return recv_exact(s, size) == data


def http_get(host, port, sock=None):
    """One GET / (on sock if given, kept open); the response's body, or None."""
    s = sock or socket.create_connection((host, port), timeout=10)
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                return None
            head += chunk
        head, _, rest = head.partition(b"\r\n\r\n")
        m = re.search(rb"content-length: *(\d+)", head, re.I)
        if not head.startswith(b"HTTP/1.1 200") or not m:
            return None
        body = rest + recv_exact(s, int(m.group(1)) - len(rest))
        return body.decode()
    finally:
        if sock is None:
            s.close()


def listener_counts(out):
    """At exit: 'listeners:' lines, by name: {name: {'accepts': N, ...}}."""
    at = out.rfind("listeners:\n")
    counts = {}
    for line in (out[at:].splitlines()[1:] if at >= 0 else []):
        m = re.match(r"^  (\S+) +(\S+) +(.*)$", line)
        if not m:
            break
        pairs = re.findall(r"([a-z]+(?: in| out)?) (\d+)", m.group(3))
        counts[m.group(1)] = {k: int(v) for k, v in pairs}
    return counts


GLOBAL = "global {\n    shards %d;\n    no-pin on;\n}\n"


def test_modes_side_by_side():
    """echo on two addresses, http and a proxy (to the echo listener, in the same process)
    served by one ringer with two shards; the counters at exit are each listener's own."""
    pe, ph, pp, pa = free_port(), free_port(), free_port(), free_port()
    conf = GLOBAL % 2 + f"""
global {{
    admin 127.0.0.1:{pa};
}}
listener plain {{
    bind 127.0.0.1:{pe};
    bind 127.0.0.2:{pe};
    mode echo;
}}
listener web {{
    bind 127.0.0.1:{ph};
    mode http;
    body "side by side";
}}
listener front {{
    bind 127.0.0.1:{pp};
    mode proxy;
    proxy_pass back;
}}
upstream back {{
    server 127.0.0.1:{pe};
}}
"""
    r = Ringer(conf, 4)
    try:
        lines = [ln for ln in r.out if ln.startswith("listening on")]
        check(len(lines) == 4, f"4 'listening on' lines, got {lines}")
        check(any(f"127.0.0.2:{pe}" in ln and "listener plain" in ln for ln in lines),
              f"the second address of 'plain' is named: {lines}")
        check(echo_ok("127.0.0.1", pe), "echo on 127.0.0.1: bytes back exact")
        check(echo_ok("127.0.0.2", pe), "echo on 127.0.0.2: bytes back exact")
        check(http_get("127.0.0.1", ph) == "side by side", "http listener answers its body")
        check(echo_ok("127.0.0.1", pp), "the proxy relays to the echo listener, exact")
        time.sleep(0.3)  # the proxy's session ends on both sides
        with urllib.request.urlopen(f"http://127.0.0.1:{pa}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        for want in ['ringer_listener_accepts_total{listener="plain",mode="echo"} 3',
                     'ringer_listener_accepts_total{listener="web",mode="http"} 1',
                     'ringer_listener_requests_total{listener="web",mode="http"} 1',
                     'ringer_listener_accepts_total{listener="front",mode="proxy"} 1',
                     'ringer_upstream_connects_total{listener="front",upstream="127.0.0.1:%d"} 1'
                     % pe]:
            check(want in text.splitlines(), f"/metrics has {want!r}")
        check(len(re.findall(r"^# TYPE ringer_upstream_active ", text, re.M)) == 1,
              "each metric family once")
    finally:
        out = r.stop()
    # plain: two clients and the proxy's upstream connection; web 1; front 1.
    c = listener_counts(out)
    check(set(c) == {"plain", "web", "front"}, f"a line per listener at exit: {c}")
    check(c.get("plain", {}).get("accepts") == 3, f"plain accepts 3: {c.get('plain')}")
    check(c.get("web", {}).get("accepts") == 1, f"web accepts 1: {c.get('web')}")
    check(c.get("web", {}).get("requests") == 1, f"web requests 1: {c.get('web')}")
    check(c.get("front", {}).get("accepts") == 1, f"front accepts 1: {c.get('front')}")
    check(c.get("plain", {}).get("requests") == 0, f"plain served no HTTP: {c.get('plain')}")


def closed_by_server(s, within=3.0):
    """True once the server closed s (FIN or RST) within the time given."""
    s.settimeout(within)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_limits_and_timeouts_apart():
    """max-conns and idle-timeout of one listener do not touch another's connections."""
    pa, pb = free_port(), free_port()
    conf = GLOBAL % 1 + f"""
listener tight {{
    bind 127.0.0.1:{pa};
    mode echo;
    max-conns 2;
    idle-timeout 400ms;
}}
listener loose {{
    bind 127.0.0.1:{pb};
    mode echo;
    max-conns 100;
}}
"""
    r = Ringer(conf, 2)
    held = []
    try:
        a = [socket.create_connection(("127.0.0.1", pa), timeout=5) for _ in range(2)]
        held += a
        for s in a:
            s.sendall(b"x")
            check(recv_exact(s, 1) == b"x", "tight: the first two are served")
        third = socket.create_connection(("127.0.0.1", pa), timeout=5)
        held.append(third)
        check(closed_by_server(third, 2.0), "tight: a third connection is refused (max-conns 2)")
        b = [socket.create_connection(("127.0.0.1", pb), timeout=5) for _ in range(5)]
        held += b
        for s in b:
            s.sendall(b"y")
            check(recv_exact(s, 1) == b"y", "loose: five served while tight is full")
        # idle-timeout 400ms on tight only
        check(all(closed_by_server(s, 3.0) for s in a), "tight: idle connections closed")
        for s in b:
            s.sendall(b"z")
            check(recv_exact(s, 1) == b"z", "loose: still open after tight's idle timeout")
    finally:
        for s in held:
            s.close()
        out = r.stop()
    c = listener_counts(out)
    check(c.get("tight", {}).get("refused", 0) >= 1, f"tight counts its refusal: {c}")
    check(c.get("loose", {}).get("refused", 1) == 0, f"loose refused nothing: {c}")


def two_backends(p1, p2):
    return f"""
listener one {{
    bind 127.0.0.1:{p1};
    mode http;
    body "one";
}}
listener two {{
    bind 127.0.0.1:{p2};
    mode http;
    body "two";
}}
"""


def test_two_proxies_apart():
    """Two proxy listeners, each to its own upstream block: each reaches only its own, and one's
    maxconn and health do not count the other's sessions (they share the upstream's index)."""
    p1, p2, pa, pb = free_port(), free_port(), free_port(), free_port()
    log = os.path.join(TMP, "sessions.log")
    conf = GLOBAL % 2 + two_backends(p1, p2) + f"""
listener pa {{
    bind 127.0.0.1:{pa};
    mode proxy;
    proxy_pass ua;
    log {log};
}}
listener pb {{
    bind 127.0.0.1:{pb};
    mode proxy;
    proxy_pass ub;
    log {log};
}}
upstream ua {{
    server 127.0.0.1:{p1} maxconn=1;
    check on;
    check-interval 1s;
}}
upstream ub {{
    server 127.0.0.1:{p2} maxconn=1;
    check on;
    check-interval 1s;
}}
"""
    r = Ringer(conf, 4)
    try:
        time.sleep(1.5)  # the checks ran
        held = socket.create_connection(("127.0.0.1", pa), timeout=10)
        check(http_get("127.0.0.1", pa, held) == "one", "pa reaches upstream one")
        # ua's one slot is taken by held; ub's is its own, so pb serves one after another
        for i in range(3):
            check(http_get("127.0.0.1", pb) == "two", f"pb reaches upstream two ({i})")
        check(http_get("127.0.0.1", pa, held) == "one", "pa's session still on one")
        held.close()
        time.sleep(0.3)
        check(http_get("127.0.0.1", pa) == "one", "pa serves again once its slot is free")
    finally:
        r.stop()
    errs = "".join(r.err)
    check("is DOWN" not in errs, f"no upstream marked down by another's checks: {errs[-500:]}")
    # One file, both listeners: each line names its listener, and each its own upstream.
    with open(log) as f:
        lines = f.read().splitlines()
    by = {}
    for line in lines:
        m = re.search(r" (\S+) -- \d+ \d+ \d+ \d+ listener=(\S+)$", line)
        check(m is not None, f"a session line with its listener: {line!r}")
        if m:
            by.setdefault(m.group(2), set()).add(m.group(1))
    check(by == {"pa": {f"127.0.0.1:{p1}"}, "pb": {f"127.0.0.1:{p2}"}},
          f"pa's sessions to one, pb's to two: {by}")
    check(len(lines) == 5, f"5 sessions logged (2 on pa, 3 on pb): {len(lines)}")


def test_reload():
    """SIGHUP: the proxy's upstream moves in place (new sessions to the new one, a running one
    stays); a listener added is bound and served, one removed stops accepting and its open
    connection drains; a file that does not parse, or changes a kept listener's mode, is
    refused with its reason while the configuration in use serves on."""
    p1, p2, pp, p3 = free_port(), free_port(), free_port(), free_port()

    def conf(server, backends=None, extra=""):
        return GLOBAL % 2 + (backends or two_backends(p1, p2)) + f"""
listener front {{
    bind 127.0.0.1:{pp};
    mode proxy;
    proxy_pass back;
}}
upstream back {{
    server 127.0.0.1:{server};
}}
""" + extra

    r = Ringer(conf(p1), 3)
    # A load through every reload below: new sessions through the proxy, keep-alive requests
    # on "two" (kept throughout). Bounded in count and time; every answer must be whole.
    stop, answers, errors = threading.Event(), [], []

    def load():
        keep = None
        for _ in range(3000):
            if stop.is_set():
                break
            got = http_get("127.0.0.1", pp)
            (answers if got in ("one", "two") else errors).append(("front", got))
            try:
                keep = keep or socket.create_connection(("127.0.0.1", p2), timeout=10)
                got = http_get("127.0.0.1", p2, keep)
            except OSError as e:
                got = repr(e)
            (answers if got == "two" else errors).append(("two", got))
            time.sleep(0.005)
        if keep:
            keep.close()

    loader = threading.Thread(target=load, daemon=True)
    loader.start()
    try:
        old = socket.create_connection(("127.0.0.1", pp), timeout=10)
        check(http_get("127.0.0.1", pp, old) == "one", "before: upstream one")
        r.rewrite(conf(p2))
        r.hup(r"reloaded .*ringer\.conf")
        check(http_get("127.0.0.1", pp) == "two", "after the reload: upstream two")
        check(http_get("127.0.0.1", pp, old) == "one", "the running session stays on one")
        old.close()

        r.rewrite(conf(p1) + "listener broken {\n    mode echo;\n")
        line = r.hup(r"reload refused")
        check(re.search(r"ringer\.conf:\d+:", line) is not None, f"FILE:LINE named: {line!r}")
        check(http_get("127.0.0.1", pp) == "two", "a bad file changes nothing")

        # "one" goes, "more" comes; a keep-alive client of "one" is open meanwhile
        held = socket.create_connection(("127.0.0.1", p1), timeout=10)
        check(http_get("127.0.0.1", p1, held) == "one", "one serves before it goes")
        only_two = f"""
listener two {{
    bind 127.0.0.1:{p2};
    mode http;
    body "two";
}}
listener more {{
    bind 127.0.0.1:{p3};
    mode echo;
}}
"""
        r.rewrite(conf(p2, backends=only_two))
        r.hup(r"reloaded .*1 added, 1 removed")
        check(any("listener one removed" in ln for ln in r.err), "the removal is said")
        check(wait_for(lambda: connects("127.0.0.1", p3), 5), "the added listener accepts")
        check(echo_ok("127.0.0.1", p3), "the added echo listener serves, exact")
        check(wait_for(lambda: not connects("127.0.0.1", p1), 5),
              "the removed listener's address refuses new connections")
        check(closed_by_server(held, 5.0), "the removed listener's open connection drains")
        held.close()
        check(http_get("127.0.0.1", pp) == "two", "front still serves through the change")

        r.rewrite(conf(p2, backends=only_two.replace("mode http;\n    body \"two\";",
                                                     "mode echo;")))
        line = r.hup(r"reload refused")
        check("two" in line and "mode" in line and "restart" in line,
              f"a kept listener's new mode is refused, named: {line!r}")
        check(http_get("127.0.0.1", p2) == "two", "a refused reload changes nothing")

        idle = socket.create_connection(("127.0.0.1", p3), timeout=10)
        check(not closed_by_server(idle, 0.8), "more: no idle timeout yet")
        r.rewrite(conf(p2, backends=only_two.replace("mode echo;",
                                                     "mode echo;\n    idle-timeout 300ms;")))
        r.hup(r"reloaded .*0 added, 0 removed")
        time.sleep(0.3)  # the shards take new timeouts at their next tick (100 ms)
        fresh = socket.create_connection(("127.0.0.1", p3), timeout=10)
        check(closed_by_server(fresh, 3.0), "more: the reloaded idle timeout closes a new one")
        fresh.close()
        idle.close()
    finally:
        stop.set()
        loader.join(30)
        out = r.stop()
    check(not errors, f"the load through six reloads: {len(errors)} errors: {errors[:5]}")
    check(len(answers) > 100, f"the load ran: {len(answers)} answers")
    c = listener_counts(out)
    check(set(c) == {"one", "two", "front", "more"}, f"every listener ever served at exit: {c}")
    check(c.get("more", {}).get("accepts") == 4,
          f"more: the probe, the echo and two idle ones: {c.get('more')}")


def test_http_proxy_reload():
    """SIGHUP on an http-proxy listener: servers that change groups move in place (an upstream
    is its address and its group), --upstream-timeout is taken; changed routes or pool-size
    are refused with the reason while the routes in use serve on."""
    p1, p2, pp = free_port(), free_port(), free_port()

    def conf(one="", two=" group=api", extra="route /api/=api;"):
        return GLOBAL % 1 + two_backends(p1, p2) + f"""
upstream u {{
    server 127.0.0.1:{p1}{one};
    server 127.0.0.1:{p2}{two};
}}
listener hp {{
    bind 127.0.0.1:{pp};
    mode http-proxy;
    proxy_pass u;
    {extra}
}}
"""

    def get(path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{pp}{path}", timeout=10) as resp:
                return resp.read().decode()
        except OSError as e:
            return repr(e)

    r = Ringer(conf(), 3)
    try:
        check(get("/x") == "one" and get("/api/x") == "two", "before: / to one, /api/ to two")
        r.rewrite(conf(one=" group=api", two="", extra="route /api/=api; upstream-timeout 5s;"))
        r.hup(r"reloaded .*0 added, 0 removed")
        check(get("/x") == "two" and get("/api/x") == "one",
              f"the groups swapped: / {get('/x')!r}, /api/ {get('/api/x')!r}")
        r.rewrite(conf(one=" group=api", two="", extra="route /apj/=api;"))
        line = r.hup(r"reload refused")
        check("hp" in line and "routes changed" in line and "restart" in line,
              f"changed routes are refused, named: {line!r}")
        check(get("/api/x") == "one", "the routes in use serve on")
        r.rewrite(conf(one=" group=api", two="").replace("server 127.0.0.1:%d group=api;" % p1,
                                                         "server 127.0.0.1:%d group=api;\n"
                                                         "    pool-size 3;" % p1))
        line = r.hup(r"reload refused")
        check("pool-size changed" in line, f"a changed pool-size is refused, named: {line!r}")
        check(get("/x") == "two", "a refused reload changes nothing")
    finally:
        r.stop()


def test_log_reopen_each():
    """SIGUSR1 opens every proxy listener's session log again (logrotate renamed them): the
    next sessions' lines go to the new files, the old ones keep theirs whole."""
    p1, p2, pa, pb = free_port(), free_port(), free_port(), free_port()
    la, lb = os.path.join(TMP, "a.log"), os.path.join(TMP, "b.log")
    conf = GLOBAL % 2 + two_backends(p1, p2) + f"""
listener pa {{
    bind 127.0.0.1:{pa};
    mode proxy;
    proxy_pass ua;
    log {la};
}}
listener pb {{
    bind 127.0.0.1:{pb};
    mode proxy;
    proxy_pass ub;
    log {lb};
}}
upstream ua {{
    server 127.0.0.1:{p1};
}}
upstream ub {{
    server 127.0.0.1:{p2};
}}
"""

    def lines(path):
        try:
            with open(path) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    r = Ringer(conf, 4)
    try:
        check(http_get("127.0.0.1", pa) == "one" and http_get("127.0.0.1", pb) == "two",
              "both proxies serve")
        check(wait_for(lambda: len(lines(la)) == 1 and len(lines(lb)) == 1, 5),
              f"a line each: {lines(la)} {lines(lb)}")
        os.rename(la, la + ".1")
        os.rename(lb, lb + ".1")
        seen = len(r.err)
        r.proc.send_signal(signal.SIGUSR1)
        check(wait_for(lambda: sum("reopened" in ln for ln in r.err[seen:]) == 2, 5),
              f"both logs reopened: {r.err[seen:]}")
        check(http_get("127.0.0.1", pa) == "one" and http_get("127.0.0.1", pb) == "two",
              "both proxies serve after the reopen")
        check(wait_for(lambda: len(lines(la)) == 1 and len(lines(lb)) == 1, 5),
              f"the new files have the new lines: {lines(la)} {lines(lb)}")
    finally:
        r.stop()
    check(all(ln.endswith("listener=pa") for ln in lines(la) + lines(la + ".1")), "pa's files")
    check(all(ln.endswith("listener=pb") for ln in lines(lb) + lines(lb + ".1")), "pb's files")
    check(len(lines(la + ".1")) == 1 and len(lines(lb + ".1")) == 1,
          "the old files keep their one line each")


def make_cert():
    key, crt = os.path.join(TMP, "k.pem"), os.path.join(TMP, "c.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", crt,
                    "-days", "2", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost"], check=True, capture_output=True)
    return crt, key


def test_tls_beside_plain():
    """TLS on one listener, plaintext on another, in the same shards."""
    crt, key = make_cert()
    ps, pp = free_port(), free_port()
    conf = GLOBAL % 2 + f"""
listener secure {{
    bind 127.0.0.1:{ps};
    mode echo;
    tls-cert {crt};
    tls-key {key};
}}
listener clear {{
    bind 127.0.0.1:{pp};
    mode echo;
}}
"""
    r = Ringer(conf, 2)
    try:
        ctx = ssl.create_default_context(cafile=crt)
        with socket.create_connection(("127.0.0.1", ps), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                data = os.urandom(20000)
                s.sendall(data)
                check(recv_exact(s, len(data)) == data, "TLS echo on 'secure', exact")
        check(echo_ok("127.0.0.1", pp), "plaintext echo on 'clear', exact")
        with socket.create_connection(("127.0.0.1", pp), timeout=10) as raw:
            try:
                with ctx.wrap_socket(raw, server_hostname="localhost"):
                    check(False, "a TLS handshake on 'clear' must fail")
            except (ssl.SSLError, OSError):
                pass
    finally:
        r.stop()


TESTS = [test_modes_side_by_side, test_limits_and_timeouts_apart, test_two_proxies_apart,
         test_reload, test_http_proxy_reload, test_log_reopen_each, test_tls_beside_plain]

if __name__ == "__main__":
    run([t for t in TESTS if not ONLY or t.__name__ in ONLY])
