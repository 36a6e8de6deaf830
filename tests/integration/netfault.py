# SPDX-License-Identifier: MIT
"""Network faults in network namespaces: the harness behind test_netfault.py
and tools/netfault.py.

    client ns               proxy ns                    upstream ns
    eth0 10.77.1.2 <--veth--> vcli 10.77.1.1   vup 10.77.2.1 <--veth--> eth0 10.77.2.2

Net() builds the three namespaces (names unique to this run: rnf<pid><hex>-cli,
-prx, -up) joined by two veth pairs, with GSO off on every veth (gso_max_segs
1), so iptables sees one TCP segment per packet and a 5 % loss drops 5 % of
segments, not 5 % of 64 KiB bursts. The faults are iptables rules in the
proxy namespace on one of its two links, "cli" (the veth vcli, towards the
client) or "up" (vup, towards the upstreams), so the process under test is ringer in the middle:

    loss(link, pct, 'in'|'out')  random loss (statistic match) in one direction
    blackhole(link)              every TCP segment dropped, both ways
    syn_drop(link, port)         SYNs to port dropped (connect never completes)
    reset(link)                  every segment ringer sends is answered by a
                                 RST (REJECT --reject-with tcp-reset): a peer
                                 that resets mid-stream
    mss(link, n)                 SYNs both ways clamped to MSS n (TCPMSS)
    rate(link, kbytes_s)         segments above this rate dropped each way
                                 (hashlimit), so buffers fill

Processes start in a namespace with net.popen(ns, argv) (ip netns exec: the
PID is the program's) and are stopped by PID at close(); sockets are made in
a namespace by net.socket(ns) (setns on this thread for the socket() call
only: a socket stays in the namespace it was made in). close() always runs
(call it from finally, and it is registered with atexit and for SIGTERM):
it stops what it started and deletes the namespaces, whose veths and rules
go with them.

Usable by hand: python3 tests/integration/netfault.py up|check prints the
namespaces it built (left standing with 'up', deleted with 'down NAME').
"""
import atexit
import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

CLI_IP, PRX_CLI_IP = "10.77.1.2", "10.77.1.1"
PRX_UP_IP, UP_IP = "10.77.2.1", "10.77.2.2"
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _sh(*argv, check=True):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode:
        raise RuntimeError(f"{' '.join(argv)}: {r.stderr.strip()}")
    return r


def unavailable():
    """Why this machine cannot run the faults (a string), or None."""
    if os.geteuid() != 0:
        return "needs root (ip netns, iptables)"
    for tool in ("ip", "iptables"):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], stdout=subprocess.DEVNULL).returncode:
            return f"{tool} is not installed (tools/install-deps.sh installs it)"
    name = f"rnfprobe{os.getpid()}"
    r = _sh("ip", "netns", "add", name, check=False)
    if r.returncode:
        return "cannot create a network namespace: " + r.stderr.strip()
    try:
        for rule in (["-A", "INPUT", "-p", "tcp", "-m", "statistic", "--mode", "random",
                      "--probability", "0.01", "-j", "DROP"],
                     ["-A", "INPUT", "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"],
                     ["-A", "INPUT", "-p", "tcp", "-m", "hashlimit", "--hashlimit-above",
                      "100kb/s", "--hashlimit-name", "probe", "-j", "DROP"],
                     ["-t", "mangle", "-A", "POSTROUTING", "-p", "tcp", "--tcp-flags", "SYN,RST",
                      "SYN", "-j", "TCPMSS", "--set-mss", "88"]):
            r = _sh("ip", "netns", "exec", name, "iptables", *rule, check=False)
            if r.returncode:
                return f"iptables {' '.join(rule)}: {r.stderr.strip()}"
    finally:
        _sh("ip", "netns", "del", name, check=False)
    return None


class Net:
    """Three namespaces and two veth pairs; see the module's text."""

    def __init__(self, tag=None):
        self.tag = tag or f"rnf{os.getpid()}{os.urandom(2).hex()}"
        self.ns = {k: f"{self.tag}-{k}" for k in ("cli", "prx", "up")}
        self.procs = []
        self.closed = False
        self.hashlimits = 0
        atexit.register(self.close)
        self._old_term = signal.signal(signal.SIGTERM, self._on_term)
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _on_term(self, signum, frame):
        self.close()
        sys.exit(128 + signum)

    def _build(self):
        for ns in self.ns.values():
            _sh("ip", "netns", "add", ns)
            _sh("ip", "-n", ns, "link", "set", "lo", "up")
        cli, prx, up = self.ns["cli"], self.ns["prx"], self.ns["up"]
        _sh("ip", "-n", cli, "link", "add", "eth0", "type", "veth", "peer", "name", "vcli",
            "netns", prx)
        _sh("ip", "-n", up, "link", "add", "eth0", "type", "veth", "peer", "name", "vup",
            "netns", prx)
        for ns, dev, addr in ((cli, "eth0", CLI_IP), (prx, "vcli", PRX_CLI_IP),
                              (prx, "vup", PRX_UP_IP), (up, "eth0", UP_IP)):
            _sh("ip", "-n", ns, "addr", "add", addr + "/24", "dev", dev)
            _sh("ip", "-n", ns, "link", "set", dev, "gso_max_segs", "1", "gso_max_size", "1500",
                "up")
        # The client may reach the upstreams' subnet only through the proxy (it never does).
        _sh("ip", "-n", cli, "route", "add", "10.77.2.0/24", "via", PRX_CLI_IP)
        _sh("ip", "-n", up, "route", "add", "10.77.1.0/24", "via", PRX_UP_IP)

    # ---- processes and sockets ------------------------------------------------------------

    def popen(self, ns, argv, **kw):
        """argv started in namespace ns (cli, prx or up); stopped by PID at close()."""
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        kw.setdefault("text", True)
        p = subprocess.Popen(["ip", "netns", "exec", self.ns[ns], *argv], **kw)
        self.procs.append(p)
        return p

    def run(self, ns, argv, timeout=120):
        return subprocess.run(["ip", "netns", "exec", self.ns[ns], *argv], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=timeout)

    def stop(self, p, sig=signal.SIGTERM, timeout=10):
        """Stops one process started here, by its PID; its exit status."""
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p in self.procs:
            self.procs.remove(p)
        return p.returncode

    def socket(self, ns, family=socket.AF_INET, kind=socket.SOCK_STREAM):
        """A socket made in namespace ns: setns on this thread, socket(), setns back."""
        own = os.open(f"/proc/thread-self/ns/net", os.O_RDONLY)
        fd = os.open(f"/run/netns/{self.ns[ns]}", os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET):
                raise OSError(ctypes.get_errno(), "setns " + self.ns[ns])
            try:
                return socket.socket(family, kind)
            finally:
                if _libc.setns(own, CLONE_NEWNET):
                    raise OSError(ctypes.get_errno(), "setns back")
        finally:
            os.close(fd)
            os.close(own)

    def connect(self, ns, addr, timeout=5.0):
        s = self.socket(ns)
        s.settimeout(timeout)
        s.connect(addr)
        return s

    def listen(self, ns, addr, backlog=128):
        s = self.socket(ns)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(addr)
        s.listen(backlog)
        return s

    # ---- faults ---------------------------------------------------------------------------

    def _ipt(self, *rule):
        _sh("ip", "netns", "exec", self.ns["prx"], "iptables", "-w", *rule)

    @staticmethod
    def _dir(link, direction):
        return ["INPUT", "-i", "v" + link] if direction == "in" else ["OUTPUT", "-o", "v" + link]

    def loss(self, link, pct, direction):
        """pct % of the TCP segments coming in on (in) or going out of (out) link dropped."""
        self._ipt("-A", *self._dir(link, direction), "-p", "tcp", "-m", "statistic", "--mode",
                  "random", "--probability", str(pct / 100), "-j", "DROP")

    def blackhole(self, link):
        """Every TCP segment on link dropped, both ways at the same instant (one
        iptables-restore transaction): the path is gone, and nobody says so."""
        rules = "*filter\n" + "".join(f"-I {' '.join(self._dir(link, d))} -p tcp -j DROP\n"
                                       for d in ("in", "out")) + "COMMIT\n"
        r = subprocess.run(["ip", "netns", "exec", self.ns["prx"], "iptables-restore", "-w",
                            "--noflush"], input=rules, text=True, stderr=subprocess.PIPE)
        if r.returncode:
            raise RuntimeError("iptables-restore: " + r.stderr.strip())

    def syn_drop(self, link, port, direction="out"):
        """SYNs to port dropped (out: ringer's connects; in: connects to ringer)."""
        self._ipt("-A", *self._dir(link, direction), "-p", "tcp", "--syn", "--dport", str(port),
                  "-j", "DROP")

    def reset(self, link):
        """Each segment ringer sends on link is refused with a RST to ringer, as a peer that resets."""
        self._ipt("-I", "OUTPUT", "-o", "v" + link, "-p", "tcp", "-j", "REJECT", "--reject-with",
                  "tcp-reset")

    def mss(self, link, n):
        """SYNs and SYN-ACKs both ways over link carry MSS n: every message spans many segments."""
        for chain, io in (("POSTROUTING", "-o"), ("PREROUTING", "-i")):
            self._ipt("-t", "mangle", "-A", chain, io, "v" + link, "-p", "tcp", "--tcp-flags",
                      "SYN,RST", "SYN", "-j", "TCPMSS", "--set-mss", str(n))

    def rate(self, link, kbytes_s, burst_kb=None):
        """Segments above kbytes_s KiB/s (each way) dropped on link, as a policer does."""
        for d in ("in", "out"):
            self.hashlimits += 1
            self._ipt("-A", *self._dir(link, d), "-p", "tcp", "-m", "hashlimit",
                      "--hashlimit-above", f"{kbytes_s}kb/s", "--hashlimit-burst",
                      f"{burst_kb or kbytes_s}kb", "--hashlimit-name", f"rnf{self.hashlimits}", "-j", "DROP")

    def hits(self):
        """Each fault rule (both tables) and how many packets it has matched."""
        out = []
        for table in ("filter", "mangle"):
            text = self.run("prx", ["iptables", "-w", "-t", table, "-L", "-v", "-n", "-x"]).stdout
            for line in text.splitlines():
                f = line.split()
                if len(f) > 2 and f[0].isdigit() and f[2] in ("DROP", "REJECT", "TCPMSS"):
                    out.append((" ".join(f[2:]), int(f[0])))
        return out

    def clear(self):
        """Every fault removed (the rules of both tables flushed)."""
        self._ipt("-F")
        self._ipt("-t", "mangle", "-F")

    # ---- what is left ---------------------------------------------------------------------

    def sockets(self, ns="prx", exclude=("LISTEN", "TIME-WAIT")):
        """TCP sockets in ns (kernel's view, ss), but those in the excluded states."""
        out = self.run(ns, ["ss", "-tanH"]).stdout.splitlines()
        return [l for l in out if l.split() and l.split()[0] not in exclude]

    def tcp_ext(self, ns="prx"):
        """The kernel's TCP counters of namespace ns (/proc/net/netstat's TcpExt), e.g.
        TCPAbortOnTimeout: connections dropped by the retransmission, user, keepalive or
        zero-window probe timeout; TCPAbortOnData/OnClose: reset by their owner."""
        lines = self.run(ns, ["cat", "/proc/net/netstat"]).stdout.splitlines()
        for names, values in zip(lines[::2], lines[1::2]):
            if names.startswith("TcpExt:"):
                return dict(zip(names.split()[1:], map(int, values.split()[1:])))
        return {}

    def close(self):
        if self.closed:
            return
        self.closed = True
        for p in list(self.procs):
            try:
                self.stop(p, signal.SIGKILL, timeout=5)
            except Exception:
                pass
        for ns in self.ns.values():
            _sh("ip", "netns", "del", ns, check=False)
        try:
            signal.signal(signal.SIGTERM, self._old_term)
        except (ValueError, TypeError):
            pass


# ---- ringer in the namespaces -----------------------------------------------------------------


class Ringer:
    """ringer started in a namespace of net, its address read from its first lines."""

    def __init__(self, net, ns, binary, args, listen="0.0.0.0:8000", admin="127.0.0.1:8001"):
        argv = [binary, "--listen", listen, "--shards", "1", "--no-pin", *args]
        if admin:
            argv += ["--admin", admin]
        self.net, self.ns = net, ns
        self.admin = admin
        self.proc = net.popen(ns, argv)
        need = 2 if admin else 1
        self.lines = []
        while need:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("ringer did not start: " + self.proc.stderr.read()[-800:])
            self.lines.append(line)
            if line.startswith("listening on") or line.startswith("admin on"):
                need -= 1

    def get(self, path):
        """GET path on the admin port, over a socket made in ringer's namespace."""
        host, port = self.admin.rsplit(":", 1)
        s = self.net.connect(self.ns, (host, int(port)))
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
        s.close()
        return data.split(b"\r\n\r\n", 1)[1].decode()

    def metrics(self):
        """The /metrics text as {name{labels}: value}, and the sum of each name under 'name'."""
        m = {}
        for line in self.get("/metrics").splitlines():
            if not line or line.startswith("#"):
                continue
            key, val = line.rsplit(" ", 1)
            m[key] = float(val)
            base = key.split("{", 1)[0]
            if base != key:
                m[base] = m.get(base, 0) + float(val)
        return m

    def open_conns(self):
        m = self.metrics()
        return int(m.get("ringer_connections", 0))

    def stop(self):
        """SIGTERM, drain, exit: the exit status, the rest of its stdout (the stats dump at
        exit) and its stderr."""
        rc = self.net.stop(self.proc, signal.SIGTERM, timeout=15)
        return rc, self.proc.stdout.read(), self.proc.stderr.read()


def load(net, ns, binary, args, timeout=120):
    """ringer-load --json in namespace ns: (exit status, parsed JSON or None, stderr)."""
    r = net.run(ns, [binary, "--json", *args], timeout=timeout)
    try:
        doc = json.loads(r.stdout)
    except ValueError:
        doc = None
    return r.returncode, doc, r.stderr


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else "check"
    if cmd == "check":
        why = unavailable()
        print(why or "ok: namespaces, veths and the iptables matches work here")
        sys.exit(1 if why else 0)
    if cmd == "up":
        n = Net()
        atexit.unregister(n.close)
        n.closed = True  # left standing for hand use
        print(" ".join(n.ns.values()))
        print(f"client {CLI_IP} -> proxy {PRX_CLI_IP} (link cli) | proxy {PRX_UP_IP} (link up) "
              f"-> upstream {UP_IP}")
        print(f"remove with: {sys.argv[0]} down {n.tag}")
    elif cmd == "down" and len(sys.argv) > 2 and re.fullmatch(r"rnf[0-9a-f]+", sys.argv[2]):
        for k in ("cli", "prx", "up"):
            _sh("ip", "netns", "del", f"{sys.argv[2]}-{k}", check=False)
    else:
        print(f"usage: {sys.argv[0]} check | up | down TAG", file=sys.stderr)
        sys.exit(2)
