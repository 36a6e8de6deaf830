#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Network faults between namespaces: ringer (echo, http, proxy) in the middle
of a client and its upstreams, with iptables faults on one of its links
(netfault.py: the namespaces, veths and rules).

Usage: test_netfault.py RINGER RINGER_LOAD

For each fault the traffic is verified byte for byte (ringer-load's echo
verification, its HTTP framing, or this script's own echo clients), every
connection must end within the configured bound with the right kind of end,
and nothing may be left behind: ringer's connection gauge back to 0 and no
TCP socket in ringer's namespace but its listeners (and TIME-WAIT, which
holds no descriptor). A leaked fixed file keeps its socket, so ss sees it.

    loss       5 % / 1 % of segments dropped in, 1 % / 5 % out: every
               connection ends cleanly (no reset), every byte arrives
    mss        MSS 536 and 88: messages span dozens to hundreds of segments
    rate       a 256-512 KiB/s policer: buffers fill, the proxy pauses its reader
    syn_drop   SYNs dropped: --connect-timeout, the retry on the next
               upstream, and the counters that say so
    reset      RSTs mid-stream: passed on to the other side at once
    blackhole  every segment dropped mid-stream: --tcp-user-timeout (2 s
               here) resets what has data in flight, the keepalive what is
               silent; never a hang. Without the bound the session is still
               there well past it.

Skips (the reason printed) only when the machine cannot make namespaces or
lacks iptables or its modules.
"""
import os
import shutil
import socket
import sys
import tempfile
import threading
import time

import netfault as nf
from cases import Skip, check, ringer_ended, run, wait_for

RINGER = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/src/server/ringer")
LOAD = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else "build/src/load/ringer-load")
UT_MS = 2000  # --tcp-user-timeout in these cases
KA = "1,1,2"  # keepalive: a probe after 1 s of silence; with the user timeout, gone at 2 s
SCALE = 1  # tools/netfault.py multiplies the requests of the clean runs
ROWS = []  # what each case found, for tools/netfault.py's table
UPSTREAMS = []  # the running case's upstream ringers
PORT = 8000
TARGET = f"{nf.PRX_CLI_IP}:{PORT}"
net = None
tmp = tempfile.mkdtemp(prefix="netfault-")


def get_net():
    global net
    if net is None:
        why = nf.unavailable()
        if why:
            raise Skip(why)
        net = nf.Net()
    UPSTREAMS.clear()
    for p in list(net.procs):  # whatever a failed case left running
        net.stop(p)
    net.clear()
    return net


def start(n, mode, *args, upstreams=(), log=None, ut_ms=None):
    """ringer in the proxy namespace; upstreams: ports of ringer echo servers started in 'up';
    ut_ms: its --tcp-user-timeout (UT_MS unless given)."""
    extra = []
    for port in upstreams:
        UPSTREAMS.append(nf.Ringer(n, "up", RINGER, ["--mode", "echo"],
                                   listen=f"{nf.UP_IP}:{port}", admin=None))
        extra += ["--upstream", f"{nf.UP_IP}:{port}"]
    if log:
        extra += ["--log", log]
    bounds = ["--tcp-user-timeout", str(UT_MS if ut_ms is None else ut_ms), "--keepalive", KA]
    return nf.Ringer(n, "prx", RINGER, ["--mode", mode, *bounds, *extra, *args])


def stop_all(n, r):
    """Stops every process of the case; each ringer must end well (cases.ringer_ended: exit
    0 after its drain, no sanitizer report, no illegal transition, no stale completion)."""
    ringer_ended("ringer", *r.stop())
    while UPSTREAMS:
        ringer_ended("upstream ringer", *UPSTREAMS.pop().stop())
    for p in list(n.procs):
        n.stop(p)


def settled(n, r, what):
    """Nothing left behind: ringer's table empty, no socket in its namespace but listeners.
    Returns how many were left (slots and sockets)."""
    ok = wait_for(lambda: r.open_conns() == 0 and not n.sockets("prx"), 10)
    left = r.open_conns() + len(n.sockets("prx"))
    check(ok, f"{what}: left behind: {r.open_conns()} in ringer's table, "
          f"sockets {n.sockets('prx')}")
    return left


def record(fault, mode, conns, nbytes, ends, leaks, figures=""):
    """A row of tools/netfault.py's table."""
    ROWS.append(dict(fault=fault, mode=mode, conns=conns, bytes=nbytes, ends=ends, leaks=leaks,
                     figures=figures))


def verified_load(n, what, args, count, size=None, http=False):
    """ringer-load from the client namespace: every request answered and verified."""
    target = [] if any(a.startswith("http://") for a in args) else ["--target", TARGET]
    rc, doc, err = nf.load(n, "cli", LOAD, [*target, "--requests", str(count), "--timeout",
                                            "30s", *args])
    if not check(rc == 0 and doc is not None, f"{what}: ringer-load exit {rc}: {err[-300:]}"):
        return None
    check(doc["requests"] == count, f"{what}: {doc['requests']} of {count} requests")
    check(doc["errors"]["total"] == 0, f"{what}: errors {doc['errors']}")
    if size:
        check(doc["bytes_tx"] == doc["bytes_rx"] == count * size,
              f"{what}: {doc['bytes_tx']} bytes sent, {doc['bytes_rx']} echoed, "
              f"{count * size} expected")
    if http:
        check(doc["status"]["2xx"] == count, f"{what}: statuses {doc['status']}")
    return doc


def log_codes(path, expect_lines):
    """The session log's CODE column, once ringer has written every line."""
    wait_for(lambda: os.path.exists(path) and
             len(open(path).read().splitlines()) >= expect_lines, 5)
    if not os.path.exists(path):
        return []
    return [l.split()[3] for l in open(path).read().splitlines() if l.strip()]


# ---- loss, MSS, rate: every byte through, every connection ends cleanly ---------------------


def clean_run(what, label, mode, faults, load_args, count, size=None, upstreams=(), http=False,
              ringer_args=()):
    """A fault that costs time, never a connection: every request verified, every
    connection ended with a FIN, none reset by ringer or aborted by the kernel."""
    n = get_net()
    log = os.path.join(tmp, what + ".log") if upstreams else None
    count *= SCALE
    # UT_MS (2 s) is for the cases that must end a dead path soon. Under loss alone a segment
    # lost four times in a row is retransmitted past 2 s (RTO 200, 400, 800, 1600 ms) and
    # the kernel would abort a connection that was only slow: about one run in twenty at 5 %
    # loss failed on TCPAbortOnTimeout. 30 s covers seven losses in a row.
    r = start(n, mode, *ringer_args, upstreams=upstreams, log=log, ut_ms=max(UT_MS, 30000))
    before = n.tcp_ext()
    try:
        for f in faults:
            f(n)
        doc = verified_load(n, what, load_args, count, size, http)
        leaks = settled(n, r, what)
        m = r.metrics()
        check(m.get("ringer_resets_total", 0) == 0, f"{what}: {m.get('ringer_resets_total')} "
              "connections reset; a loss-only run ends every one cleanly")
        check(m.get("ringer_send_timeouts_total", 0) == 0, f"{what}: send timeouts")
        hits = n.hits()
        check(hits and all(h for _, h in hits), f"{what}: a fault never applied: {hits}")
        ext = n.tcp_ext()
        aborts = {k: ext[k] - before[k] for k in ext if k.startswith("TCPAbortOn")}
        check(not any(aborts.values()), f"{what}: the kernel aborted connections: {aborts}")
        # Every session: ringer-load's connections and the one it opens first to probe.
        conns = int(m.get("ringer_accepts_total", 0))
        ends = "clean" if not any(aborts.values()) and not m.get("ringer_resets_total") else (
            f"{int(m.get('ringer_resets_total', 0))} reset, aborts {aborts}")
        if log:
            codes = log_codes(log, conns)
            check(conns > 0 and codes == ["--"] * conns,
                  f"{what}: session ends {codes}, want {conns} x '--'")
            ends += f" (log: {codes.count('--')} x --)"
        if doc:
            print(f"  {what}: {count} requests, {doc['bytes_rx']} bytes verified, "
                  f"{doc['requests_per_s']:.0f}/s, p99 {doc['latency_us']['p99'] / 1000:.1f} ms",
                  flush=True)
            record(label, mode + side_of(upstreams, faults, label), conns,
                   doc["bytes_rx"] + doc["bytes_tx"], ends, leaks,
                   f"{doc['requests_per_s']:.0f} req/s, p99 "
                   f"{doc['latency_us']['p99'] / 1000:.1f} ms")
        return m
    finally:
        stop_all(n, r)


def side_of(upstreams, faults, label):
    if not upstreams:
        return ""
    sides = [side for side in ("client side", "upstream side") if side in label]
    return f" ({sides[0] if len(sides) == 1 else 'both sides'})"


def loss_echo():
    clean_run("loss_echo", "loss 5 % in, 1 % out", "echo",
              [lambda n: n.loss("cli", 5, "in"), lambda n: n.loss("cli", 1, "out")],
              ["--mode", "echo", "--size", "16k", "--connections", "8"], 400, size=16384)


def loss_http():
    clean_run("loss_http", "loss 1 % in, 5 % out", "http",
              [lambda n: n.loss("cli", 1, "in"), lambda n: n.loss("cli", 5, "out")],
              [f"http://{TARGET}/", "--connections", "8", "--pipeline", "4"], 2000, http=True,
              ringer_args=["--body-size", "8k"])


def loss_proxy_client_side():
    clean_run("loss_proxy_client_side", "loss 5 % in, 1 % out, client side", "proxy",
              [lambda n: n.loss("cli", 5, "in"), lambda n: n.loss("cli", 1, "out")],
              ["--mode", "echo", "--size", "16k", "--connections", "8"], 400, size=16384,
              upstreams=[9001])


def loss_proxy_upstream_side():
    clean_run("loss_proxy_upstream_side", "loss 1 % in, 5 % out, upstream side", "proxy",
              [lambda n: n.loss("up", 1, "in"), lambda n: n.loss("up", 5, "out")],
              ["--mode", "echo", "--size", "16k", "--connections", "8"], 400, size=16384,
              upstreams=[9001])


def mss_echo():
    clean_run("mss_echo_536", "MSS 536", "echo", [lambda n: n.mss("cli", 536)],
              ["--mode", "echo", "--size", "64k", "--connections", "4"], 200, size=65536)


def mss_http():
    clean_run("mss_http_88", "MSS 88", "http", [lambda n: n.mss("cli", 88)],
              [f"http://{TARGET}/", "--connections", "4", "--pipeline", "8"], 1000, http=True,
              ringer_args=["--body-size", "4k"])


def mss_proxy():
    clean_run("mss_proxy_536_88", "MSS 536 client side, 88 upstream side", "proxy",
              [lambda n: n.mss("cli", 536), lambda n: n.mss("up", 88)],
              ["--mode", "echo", "--size", "32k", "--connections", "4"], 60, size=32768,
              upstreams=[9001])


def rate_proxy():
    """A 512 KiB/s policer on the upstream link: 256 KiB messages back up into the proxy."""
    m = clean_run("rate_proxy_upstream_512k", "rate 512 KiB/s, upstream side", "proxy",
                  [lambda n: n.rate("up", 512)],
                  ["--mode", "echo", "--size", "256k", "--connections", "2"], 8, size=262144,
                  upstreams=[9001])
    check(m.get("ringer_paused_total", 0) > 0,
          f"rate_proxy: the proxy never paused a reader ({m.get('ringer_paused_total')}): "
          "the buffers did not fill")


def rate_echo():
    """A 256 KiB/s policer on the client link: 1 MiB each way, well past its burst."""
    clean_run("rate_echo_256k", "rate 256 KiB/s", "echo", [lambda n: n.rate("cli", 256)],
              ["--mode", "echo", "--size", "128k", "--connections", "2"], 8, size=131072)


# ---- SYNs dropped ---------------------------------------------------------------------------


def echo_once(n, size=4096, timeout=10):
    """One client connection from the client namespace: size bytes out and back, verified."""
    data = os.urandom(size)
    s = n.connect("cli", (nf.PRX_CLI_IP, PORT), timeout)
    s.sendall(data)
    got = b""
    while len(got) < size:
        d = s.recv(65536)
        if not d:
            break
        got += d
    s.shutdown(socket.SHUT_WR)
    tail = s.recv(1)
    s.close()
    return got == data and tail == b""


def syn_drop_upstream():
    """SYNs to one of two upstreams dropped: each session that tries it waits the connect
    timeout, then goes on to the other; the counters say how often."""
    n = get_net()
    log = os.path.join(tmp, "syn_drop.log")
    r = start(n, "proxy", "--connect-timeout", "1000", "--connect-retries", "1",
              "--fail-threshold", "100", upstreams=[9001, 9002], log=log)
    try:
        n.syn_drop("up", 9001)
        times = []
        for _ in range(4):
            t0 = time.time()
            check(echo_once(n), "syn_drop_upstream: a session's echo differs")
            times.append(time.time() - t0)
        m = r.metrics()
        up1 = f'{{upstream="{nf.UP_IP}:9001"}}'
        up2 = f'{{upstream="{nf.UP_IP}:9002"}}'
        fails = m.get("ringer_upstream_connect_failures_total" + up1, -1)
        slow = sum(1 for t in times if t >= 0.95)
        check(fails >= 1, f"syn_drop_upstream: no connect failure counted for :9001 ({fails})")
        check(m.get("ringer_connect_failures_total") == fails,
              f"syn_drop_upstream: {m.get('ringer_connect_failures_total')} connect failures in "
              f"all, {fails} for :9001")
        check(m.get("ringer_upstream_connect_failures_total" + up2, -1) == 0,
              "syn_drop_upstream: failures counted for :9002")
        check(slow == fails, f"syn_drop_upstream: {slow} sessions waited the connect timeout "
              f"(times {['%.2f' % t for t in times]}), {fails} connects failed")
        check(all(t < 2.5 for t in times), f"syn_drop_upstream: a session took "
              f"{max(times):.2f} s, more than one connect timeout and a retry")
        codes = log_codes(log, 4)
        check(codes == ["--"] * 4, f"syn_drop_upstream: session ends {codes}")
        print(f"  syn_drop_upstream: 4 sessions, {int(fails)} connect timeouts retried, times "
              f"{' '.join('%.2f' % t for t in times)} s", flush=True)
        leaks = settled(n, r, "syn_drop_upstream")
        record("SYNs to 1 of 2 upstreams dropped", "proxy (upstream side)", 4, 4 * 4096 * 2,
               f"clean; {int(fails)} connects timed out at 1.0 s (bound 1.0 s) and went on to "
               f"the other upstream (sessions took {max(times):.2f} s at most)", leaks)
    finally:
        stop_all(n, r)


def syn_drop_all_upstreams():
    """Both upstreams' SYNs dropped: the client is closed after 1 + retries timeouts, CT."""
    n = get_net()
    log = os.path.join(tmp, "syn_drop_all.log")
    r = start(n, "proxy", "--connect-timeout", "700", "--connect-retries", "1",
              upstreams=[9001, 9002], log=log)
    try:
        n.syn_drop("up", 9001)
        n.syn_drop("up", 9002)
        t0 = time.time()
        s = n.connect("cli", (nf.PRX_CLI_IP, PORT), 10)
        s.sendall(b"hello")
        try:
            end = s.recv(10)
        except ConnectionResetError:
            end = "reset"
        took = time.time() - t0
        s.close()
        check(end in (b"", "reset"), f"syn_drop_all_upstreams: got {end!r}")
        check(1.3 <= took < 2.4, f"syn_drop_all_upstreams: closed after {took:.2f} s, want "
              "2 x 0.7 s")
        m = r.metrics()
        check(m.get("ringer_connect_failures_total") == 2,
              f"syn_drop_all_upstreams: {m.get('ringer_connect_failures_total')} connect "
              "failures, want 2 (one per upstream)")
        codes = log_codes(log, 1)
        check(codes == ["CT"], f"syn_drop_all_upstreams: session ends {codes}, want CT")
        leaks = settled(n, r, "syn_drop_all_upstreams")
        record("SYNs to both upstreams dropped", "proxy (upstream side)", 1, 0,
               f"client closed ({'reset' if end == 'reset' else 'FIN'}) at {took:.2f} s "
               f"(bound 2 x 0.7 s), log {codes}", leaks)
    finally:
        stop_all(n, r)


def syn_drop_client():
    """The client's SYNs dropped: its connect never completes, ringer never sees it."""
    n = get_net()
    r = start(n, "echo")
    try:
        n.syn_drop("cli", PORT, "in")
        try:
            n.connect("cli", (nf.PRX_CLI_IP, PORT), 1.5)
            end = "connected"
        except (socket.timeout, TimeoutError):
            end = "timeout"
        check(end == "timeout", f"syn_drop_client: {end}")
        check(r.metrics().get("ringer_accepts_total") == 0, "syn_drop_client: accepted")
        leaks = settled(n, r, "syn_drop_client")
        record("client's SYNs dropped", "echo", 1, 0,
               "the client's connect timed out (1.5 s, its own); ringer never saw it", leaks)
    finally:
        stop_all(n, r)


# ---- mid-stream: resets and black holes -------------------------------------------------------


class Streamer:
    """A client connection echoing 1 KiB messages every 5 ms in a thread, each verified;
    records how and when it ended."""

    def __init__(self, n, timeout=15):
        self.sock = n.connect("cli", (nf.PRX_CLI_IP, PORT), 5)
        self.sock.settimeout(timeout)
        self.port = self.sock.getsockname()[1]
        self.sent = self.echoed = 0
        self.bad = False
        self.end = None
        self.end_at = None
        self.stop = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        try:
            while not self.stop:
                msg = os.urandom(1024)
                self.sock.sendall(msg)
                self.sent += len(msg)
                got = b""
                while len(got) < len(msg):
                    d = self.sock.recv(len(msg) - len(got))
                    if not d:
                        self.end = "eof"
                        return
                    got += d
                self.bad |= got != msg
                self.echoed += len(got)
                time.sleep(0.005)
            self.end = "stopped"
        except ConnectionResetError:
            self.end = "reset"
        except (socket.timeout, TimeoutError):
            self.end = "timeout"
        except OSError as e:
            self.end = f"error {e.errno}"
        finally:
            self.end_at = time.time()

    def close(self):
        self.stop = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes a recv that waits on a dead path
        except OSError:
            pass
        self.thread.join(20)
        self.sock.close()


class EchoUpstream:
    """A threaded echo server in the upstream namespace that records how each connection ended."""

    def __init__(self, n, port):
        self.sock = n.listen("up", (nf.UP_IP, port))
        self.ends = []
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        c.settimeout(30)
        end = "eof"
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)
        except ConnectionResetError:
            end = "reset"
        except OSError as e:
            end = f"error {e.errno}"
        self.ends.append((end, time.time()))
        c.close()

    def close(self):
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept, so the port is free again
        self.sock.close()


def gone_at(r, ports, limit):
    """When each client port's connection left ringer's /connections, polled every 50 ms."""
    left, at = set(ports), {}
    deadline = time.time() + limit
    while left and time.time() < deadline:
        text = r.get("/connections?limit=1000")
        now = time.time()
        for p in list(left):
            if f':{p}"' not in text:
                at[p] = now
                left.discard(p)
        time.sleep(0.05)
    return at


def in_bound(what, took, lo, hi):
    return check(lo <= took <= hi, f"{what}: ended {took:.2f} s after the fault, "
                 f"want {lo:.1f}..{hi:.1f} s")


def timed_out(n, before, what, count):
    """The kernel dropped exactly count of ringer's connections on a timeout since before
    (its own TCPAbortOnTimeout: nothing else runs in ringer's namespace)."""
    got = n.tcp_ext()["TCPAbortOnTimeout"] - before["TCPAbortOnTimeout"]
    check(got == count, f"{what}: the kernel timed out {got} connections, want {count}")


def requests(s):
    """An HTTP request on s every 2 ms until it fails."""
    try:
        while True:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.002)
    except OSError:
        pass


def drain(s):
    """Reads s until it ends, dropping the bytes."""
    try:
        while s.recv(1 << 16):
            pass
    except OSError:
        pass


def blackhole_server(mode, *args):
    """echo or http: a streaming client and an idle one; then the client link is a black
    hole. The streaming connection has data in flight: --tcp-user-timeout resets it; the
    idle one is silent: the keepalive (a probe, unanswered past the user timeout) does."""
    what = f"blackhole_{mode}"
    n = get_net()
    r = start(n, mode, *args)
    try:
        idle = n.connect("cli", (nf.PRX_CLI_IP, PORT), 5)
        idle_port = idle.getsockname()[1]
        if mode == "echo":
            st = Streamer(n)
            port = st.port
        else:
            st = None
            busy = n.connect("cli", (nf.PRX_CLI_IP, PORT), 5)
            port = busy.getsockname()[1]
            # Requests all along, responses read as they come: data is in flight when the
            # fault comes (a response sent whole and acknowledged would leave it idle).
            threading.Thread(target=requests, args=(busy,), daemon=True).start()
            threading.Thread(target=drain, args=(busy,), daemon=True).start()
        time.sleep(0.5)
        before = n.tcp_ext()
        n.blackhole("cli")
        t0 = time.time()  # the rules are in: the path is gone since at most this long
        at = gone_at(r, [port, idle_port], 10)
        took = {p: at[p] - t0 if p in at else 99 for p in (port, idle_port)}
        # The user timeout counts from the oldest unacknowledged segment (or, with the
        # client's window shut, from the last acknowledgement), which may precede the fault.
        in_bound(f"{what}: the connection with data in flight", took[port], UT_MS / 1000 - 0.4,
                 UT_MS / 1000 + 1.5)
        # Silent since before the fault: its next probe goes unanswered, and it is reset once
        # the user timeout has passed since the last thing it heard.
        in_bound(f"{what}: the idle connection", took[idle_port], 0.5,
                 UT_MS / 1000 + 1.5)
        timed_out(n, before, what, 2)
        print(f"  {what}: in flight ended at {took[port]:.2f} s, idle at "
              f"{took[idle_port]:.2f} s (user timeout {UT_MS / 1000} s, keepalive "
              f"{KA})", flush=True)
        if st:
            check(not st.bad, f"{what}: an echo differed before the fault")
            st.close()
        else:
            busy.shutdown(socket.SHUT_RDWR)
            busy.close()
        idle.close()
        leaks = settled(n, r, what)
        record("black hole mid-stream", mode, 2, (st.echoed * 2 if st else 0),
               f"timed out: in flight {took[port]:.2f} s (user timeout {UT_MS / 1000:.0f} s), "
               f"idle {took[idle_port]:.2f} s (keepalive {KA})", leaks)
    finally:
        stop_all(n, r)


def blackhole_echo():
    blackhole_server("echo")


def blackhole_http():
    # Responses of 256 KiB: more than the path takes at once, so data is in flight.
    blackhole_server("http", "--body-size", "256k")


def blackhole_proxy(side, bound=True):
    """A session streaming through the proxy, then a black hole on one side. The side with
    data in flight times out (TCP_USER_TIMEOUT) and the other side is reset at once."""
    what = f"blackhole_proxy_{side}" + ("" if bound else "_unbounded")
    n = get_net()
    log = os.path.join(tmp, what + ".log")
    up = EchoUpstream(n, 9001)
    extra = [] if bound else ["--tcp-user-timeout", "0", "--keepalive", "60,10,6"]
    r = start(n, "proxy", "--upstream", f"{nf.UP_IP}:9001", *extra, log=log)
    try:
        st = Streamer(n)
        time.sleep(0.5)
        check(st.echoed > 0 and not st.bad, f"{what}: no echo before the fault")
        before = n.tcp_ext()
        n.blackhole(side)
        t0 = time.time()
        if not bound:
            # The kernel alone retransmits for minutes: well past the bound, nothing has ended.
            time.sleep(UT_MS / 1000 + 2.5)
            check(st.end is None and r.open_conns() == 2 and not up.ends,
                  f"{what}: ended without the bound ({st.end}, {r.open_conns()} open, "
                  f"upstream {up.ends})")
            timed_out(n, before, what, 0)
            print(f"  {what}: still open {time.time() - t0:.1f} s after the fault without "
                  "--tcp-user-timeout", flush=True)
            n.clear()
            st.close()
            leaks = settled(n, r, what)
            record("black hole mid-stream", f"proxy ({'upstream' if side == 'up' else 'client'} "
                   "side), --tcp-user-timeout 0", 1, st.echoed * 2,
                   f"still open {UT_MS / 1000 + 2.5:.1f} s after (the kernel retransmits for "
                   "about 15 minutes)", leaks)
            return
        # The far side of the black hole is reset by ringer as soon as its side times out.
        if side == "up":
            wait_for(lambda: st.end is not None, UT_MS / 1000 + 3)
            check(st.end == "reset", f"{what}: the client's connection ended: {st.end}")
            took = (st.end_at or time.time() + 99) - t0
        else:
            wait_for(lambda: up.ends, UT_MS / 1000 + 3)
            check(up.ends and up.ends[0][0] == "reset",
                  f"{what}: the upstream's connection ended: {up.ends}")
            took = (up.ends[0][1] if up.ends else time.time() + 99) - t0
        in_bound(what, took, UT_MS / 1000 - 0.4, UT_MS / 1000 + 1.5)
        # The black-holed side timed out; ringer reset the other (an abort, not a timeout).
        timed_out(n, before, what, 1)
        codes = log_codes(log, 1)
        want = "SR" if side == "up" else "CR"
        check(codes == [want], f"{what}: session ends {codes}, want {want}")
        check(not st.bad, f"{what}: an echo differed before the fault")
        print(f"  {what}: {st.echoed} bytes verified, then reset {took:.2f} s after the fault "
              f"(user timeout {UT_MS / 1000} s), {want}", flush=True)
        st.close()
        leaks = settled(n, r, what)
        record("black hole mid-stream", f"proxy ({'upstream' if side == 'up' else 'client'} "
               "side)", 1, st.echoed * 2, f"timed out at {took:.2f} s (user timeout "
               f"{UT_MS / 1000:.0f} s), the other side reset ({want})", leaks)
    finally:
        stop_all(n, r)
        up.close()


def blackhole_proxy_upstream_side():
    blackhole_proxy("up")


def blackhole_proxy_client_side():
    blackhole_proxy("cli")


def blackhole_proxy_unbounded():
    """The control: the same black hole with --tcp-user-timeout 0 is not ended in that time."""
    blackhole_proxy("up", bound=False)


def reset_echo():
    """ringer's segments to the client answered with RSTs: its connection ends at once."""
    n = get_net()
    r = start(n, "echo")
    try:
        st = Streamer(n, timeout=3)
        time.sleep(0.3)
        t0 = time.time()
        n.reset("cli")
        at = gone_at(r, [st.port], 5)
        took = at.get(st.port, t0 + 99) - t0
        in_bound("reset_echo", took, 0, 1.0)
        m = r.metrics()
        check(m.get('ringer_cqe_errors_total{errno="ECONNRESET"}', 0) >= 1,
              "reset_echo: no ECONNRESET seen")
        check(not st.bad, "reset_echo: an echo differed")
        st.close()
        leaks = settled(n, r, "reset_echo")
        record("RST mid-stream", "echo", 1, st.echoed * 2, f"reset, gone at {took:.2f} s", leaks)
    finally:
        stop_all(n, r)


def reset_proxy(side):
    what = f"reset_proxy_{side}"
    n = get_net()
    log = os.path.join(tmp, what + ".log")
    up = EchoUpstream(n, 9001)
    r = start(n, "proxy", "--upstream", f"{nf.UP_IP}:9001", log=log)
    try:
        st = Streamer(n, timeout=5)
        time.sleep(0.3)
        t0 = time.time()
        n.reset(side)
        if side == "up":
            wait_for(lambda: st.end is not None, 3)
            check(st.end == "reset", f"{what}: the client's end: {st.end}")
            took = (st.end_at or t0 + 99) - t0
        else:
            wait_for(lambda: up.ends, 3)
            check(up.ends and up.ends[0][0] == "reset", f"{what}: the upstream's end: {up.ends}")
            took = (up.ends[0][1] if up.ends else t0 + 99) - t0
        in_bound(what, took, 0, 1.0)
        want = "SR" if side == "up" else "CR"
        codes = log_codes(log, 1)
        check(codes == [want], f"{what}: session ends {codes}, want {want}")
        check(not st.bad, f"{what}: an echo differed")
        st.close()
        leaks = settled(n, r, what)
        record("RST mid-stream", f"proxy ({'upstream' if side == 'up' else 'client'} side)", 1,
               st.echoed * 2, f"reset passed on at {took:.2f} s ({want})", leaks)
    finally:
        stop_all(n, r)
        up.close()


def reset_proxy_upstream_side():
    reset_proxy("up")


def reset_proxy_client_side():
    reset_proxy("cli")


def cleanup():
    if net:
        net.close()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        run([loss_echo, loss_http, loss_proxy_client_side, loss_proxy_upstream_side, mss_echo,
             mss_http, mss_proxy, rate_echo, rate_proxy, syn_drop_client, syn_drop_upstream,
             syn_drop_all_upstreams, reset_echo, reset_proxy_upstream_side,
             reset_proxy_client_side, blackhole_echo, blackhole_http,
             blackhole_proxy_upstream_side, blackhole_proxy_client_side,
             blackhole_proxy_unbounded], cleanup)
    finally:
        cleanup()
