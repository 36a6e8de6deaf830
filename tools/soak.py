#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Soak: ringer under mixed, hostile load for a long time, sampled.

    tools/soak.py [--seconds S] [--interval I] [--build DIR] [--json FILE]

Starts three servers from DIR (default build-san, the ASan+UBSan build): echo,
http, and a proxy in front of the echo server, each on its own shard with an
admin port. Then, until S seconds (default 1800) have passed, runs at once:

  churn      ringer-load echo, a new connection per request, open loop
  pipelined  ringer-load http, 16 requests in flight per connection, open loop
  streams    1 MiB echo streams through the proxy, every byte checked
  resets     connections that send half a request and reset (SO_LINGER 0)
  slow       slow readers: echo and pipelined http read 4 KiB every 100 ms
  slowloris  http clients trickling a header byte at a time (answered 408)

Every I seconds (default 10) it samples each server: RSS, registered files
in use (the io_uring fdinfo), kernel sockets on its port by state, ringer's
own connections by TCP state, and the stale / illegal / error counters.
At the end the load stops, the servers get a few seconds to settle, and the
checks run: no sanitizer report, every ringer-load run verified, every stream
intact, no illegal transition, no connection left in ringer's table or in
the kernel, registered files back to the listeners', RSS flat in the second
half, and a clean exit on SIGTERM. Ends with 'N passed, N failed' over
those checks; exit 0 only if all passed.

Loopback only; every load loop is bounded by the end time and stops itself.
"""
import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATES = ("SYN_SENT", "SYN_RCVD", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT",
          "CLOSING", "LAST_ACK", "TIME_WAIT")
# /proc/net/tcp state codes (include/net/tcp_states.h)
KSTATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
           6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN",
           11: "CLOSING"}
SAN_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:quarantine_size_mb=32",
    "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
}


class Server:
    def __init__(self, name, binary, args):
        self.name = name
        env = dict(os.environ, **SAN_ENV)
        self.err_path = f"/tmp/ringer-soak-{os.getpid()}-{name}.err"
        self.err = open(self.err_path, "w+")
        self.proc = subprocess.Popen(
            [binary, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--shards", "1",
             "--no-pin"] + args, stdout=subprocess.PIPE, stderr=self.err, text=True, env=env)
        self.port = self.admin = None
        deadline = time.time() + 10
        while time.time() < deadline and (self.port is None or self.admin is None):
            line = self.proc.stdout.readline()
            if not line:
                break
            m = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
            m = re.match(r"admin on 127\.0\.0\.1:(\d+)", line)
            if m:
                self.admin = int(m.group(1))
        if self.port is None or self.admin is None:
            self.proc.kill()
            raise RuntimeError(f"{name}: did not start: {self.stderr()[-2000:]}")
        # Keep reading stdout so the server never blocks on a full pipe.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def stderr(self):
        self.err.flush()
        with open(self.err_path) as f:
            return f.read()

    def metrics(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/metrics", timeout=3) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            m = re.match(r'ringer_(\w+?)(?:_total)? (\d+)$', line)
            if m:
                out[m.group(1)] = int(m.group(2))
            m = re.match(r'ringer_connections\{state="(\w+)"\} (-?\d+)$', line)
            if m:
                out["state_" + m.group(1)] = int(m.group(2))
        return out

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return -1

    def registered_files(self):
        """Registered files in use over the process's rings (io_uring fdinfo)."""
        used = 0
        fd_dir = f"/proc/{self.proc.pid}/fd"
        for fd in os.listdir(fd_dir):
            try:
                if os.readlink(f"{fd_dir}/{fd}") != "anon_inode:[io_uring]":
                    continue
                with open(f"/proc/{self.proc.pid}/fdinfo/{fd}") as f:
                    text = f.read()
            except OSError:
                continue
            section = text.split("UserFiles:", 1)
            if len(section) < 2:
                continue
            for line in section[1].splitlines()[1:]:
                if not re.match(r"\s+\d+:", line):
                    break
                used += 1
        return used

    def stop(self, timeout=15):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


def kernel_sockets(port):
    """Kernel TCP sockets with local port `port`, by state, listeners excluded."""
    counts = {}
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if int(fields[1].rsplit(":", 1)[1], 16) != port:
                        continue
                    state = KSTATES.get(int(fields[3], 16), fields[3])
                    if state != "LISTEN":
                        counts[state] = counts.get(state, 0) + 1
        except OSError:
            pass
    return counts


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.problems = []

    def add(self, key, n=1):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + n

    def problem(self, what):
        with self.lock:
            if len(self.problems) < 50:
                self.problems.append(what)


def pattern(n, seed):
    base = bytes((seed * 31 + i * 7) & 0xFF for i in range(256))
    return (base * (n // 256 + 1))[:n]


def recv_exact(s, n, deadline):
    buf = bytearray()
    while len(buf) < n:
        s.settimeout(max(0.1, deadline - time.time()))
        chunk = s.recv(min(65536, n - len(buf)))
        if not chunk:
            raise ConnectionError("EOF")
        buf += chunk
    return bytes(buf)


def load_runs(name, cmd, end, tally, chunk=20):
    """ringer-load in bounded runs until the end time; each must exit 0."""
    env = dict(os.environ, **SAN_ENV)
    while time.time() + 2 < end:
        secs = max(1, min(chunk, int(end - time.time()) - 1))
        r = subprocess.run(cmd + ["--duration", f"{secs}s", "--json"], capture_output=True,
                           text=True, env=env, timeout=secs + 60)
        tally.add(name + "_runs")
        if r.returncode != 0:
            tally.problem(f"{name}: ringer-load exited {r.returncode}: {r.stderr[-500:]}")
            tally.add(name + "_failed_runs")
            continue
        try:
            doc = json.loads(r.stdout)
            tally.add(name + "_requests", int(doc.get("requests", 0)))
        except (ValueError, TypeError):
            tally.problem(f"{name}: unreadable JSON")


def streams(port, end, tally):
    seed = 0
    while time.time() + 3 < end:
        seed += 1
        data = pattern(1 << 20, seed)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                deadline = time.time() + 30
                got = bytearray()
                sent = 0
                s.setblocking(False)
                while len(got) < len(data) and time.time() < deadline:
                    if sent < len(data):
                        try:
                            sent += s.send(data[sent:sent + 65536])
                        except BlockingIOError:
                            pass
                    try:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        got += chunk
                    except BlockingIOError:
                        time.sleep(0.001)
                if bytes(got) != data:
                    tally.problem(f"stream {seed}: {len(got)} of {len(data)} bytes, or corrupt")
                    tally.add("streams_bad")
                else:
                    tally.add("streams_ok")
        except OSError as e:
            tally.problem(f"stream {seed}: {e}")
            tally.add("streams_bad")


def resets(ports, end, tally):
    i = 0
    while time.time() + 1 < end:
        port = ports[i % len(ports)]
        i += 1
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nhalf" if i % 2
                      else pattern(3000, i))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
            tally.add("resets")
        except OSError as e:
            tally.problem(f"reset {i}: {e}")
        time.sleep(0.02)


def slow_echo(port, end, tally, seed):
    """Sends 256 KiB, then reads it back 4 KiB every 100 ms; checks every byte."""
    while time.time() + 8 < end:
        data = pattern(256 << 10, seed)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(data)
                got = bytearray()
                deadline = time.time() + 60
                while len(got) < len(data) and time.time() < deadline:
                    got += recv_exact(s, min(4096, len(data) - len(got)), deadline)
                    time.sleep(0.1 if len(got) < 64 << 10 else 0.001)
                if bytes(got) == data:
                    tally.add("slow_echo_ok")
                else:
                    tally.add("slow_echo_bad")
                    tally.problem(f"slow echo {seed}: {len(got)} bytes, or corrupt")
        except OSError as e:
            tally.add("slow_echo_bad")
            tally.problem(f"slow echo {seed}: {e}")


def slow_http(port, end, tally):
    """200 pipelined GETs, responses read 4 KiB every 100 ms; counts them all."""
    req = b"GET / HTTP/1.1\r\nHost: soak\r\n\r\n" * 200
    while time.time() + 8 < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(req)
                got = bytearray()
                deadline = time.time() + 60
                while got.count(b"HTTP/1.1 200 OK") < 200 and time.time() < deadline:
                    s.settimeout(5)
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    got += chunk
                    time.sleep(0.1)
                n = got.count(b"HTTP/1.1 200 OK")
                if n == 200:
                    tally.add("slow_http_ok")
                else:
                    tally.add("slow_http_bad")
                    tally.problem(f"slow http: {n} of 200 responses")
        except OSError as e:
            tally.add("slow_http_bad")
            tally.problem(f"slow http: {e}")


def slowloris(port, end, tally):
    """Trickles a header one byte a second: the server answers 408 (header timeout 3 s)."""
    while time.time() + 10 < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                answer = b""
                deadline = time.time() + 15
                s.setblocking(False)
                while time.time() < deadline and b"\r\n\r\n" not in answer:
                    try:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        answer += chunk
                    except BlockingIOError:
                        try:
                            s.send(b"a")
                        except OSError:
                            break
                        time.sleep(1)
                if answer.startswith(b"HTTP/1.1 408 "):
                    tally.add("slowloris_408")
                else:
                    tally.add("slowloris_bad")
                    tally.problem(f"slowloris: got {answer[:40]!r}")
        except OSError as e:
            tally.add("slowloris_bad")
            tally.problem(f"slowloris: {e}")


def sample(servers, t0):
    row = {"t": round(time.time() - t0)}
    for s in servers:
        try:
            m = s.metrics()
        except OSError:
            m = {}
        row[s.name] = {
            "rss_kib": s.rss_kib(),
            "regfiles": s.registered_files(),
            "ksockets": kernel_sockets(s.port),
            "states": {st: m.get("state_" + st, 0) for st in STATES
                       if m.get("state_" + st, 0)},
            "stale": m.get("stale"), "illegal": m.get("illegal"), "errors": m.get("errors"),
            "accepts": m.get("accepts"),
        }
    return row


def show(row, servers):
    cells = [f"{row['t']:5d}s"]
    for s in servers:
        r = row[s.name]
        est = r["states"].get("ESTABLISHED", 0)
        ks = sum(r["ksockets"].values())
        cells.append(f"{s.name}: rss {r['rss_kib'] // 1024:4d} MiB files {r['regfiles']:4d} "
                     f"est {est:4d} ksock {ks:5d} stale {r['stale']} ill {r['illegal']}")
    print("  ".join(cells), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=1800)
    ap.add_argument("--interval", type=int, default=10)
    ap.add_argument("--build", default=os.path.join(ROOT, "build-san"))
    ap.add_argument("--json", help="write every sample and the summary here")
    args = ap.parse_args()
    if args.seconds < 30:
        ap.error("--seconds: at least 30")
    ringer = os.path.join(args.build, "src/server/ringer")
    load = os.path.join(args.build, "src/load/ringer-load")
    for b in (ringer, load):
        if not os.access(b, os.X_OK):
            ap.error(f"{b}: not built (meson setup/ninja the build first)")

    echo = Server("echo", ringer, ["--mode", "echo"])
    http = Server("http", ringer, ["--mode", "http", "--header-timeout", "3000"])
    proxy = Server("proxy", ringer, ["--mode", "proxy", "--upstream", f"127.0.0.1:{echo.port}"])
    servers = [echo, http, proxy]
    t0 = time.time()
    end = t0 + args.seconds - 10  # the last 10 s: load off, settle, checks
    tally = Tally()
    threads = [
        threading.Thread(target=load_runs, args=(
            "churn", [load, "--target", f"127.0.0.1:{echo.port}", "--mode", "echo", "--size",
                      "512", "--churn", "1", "--connections", "16", "--rate", "300"],
            end, tally)),
        threading.Thread(target=load_runs, args=(
            "pipelined", [load, "--target", f"127.0.0.1:{http.port}", "--mode", "http",
                          "--pipeline", "16", "--connections", "8", "--rate", "4000"],
            end, tally)),
        threading.Thread(target=streams, args=(proxy.port, end, tally)),
        threading.Thread(target=resets, args=([echo.port, http.port, proxy.port], end, tally)),
        threading.Thread(target=slow_http, args=(http.port, end, tally)),
        threading.Thread(target=slowloris, args=(http.port, end, tally)),
    ] + [threading.Thread(target=slow_echo, args=(p, end, tally, i))
         for i, p in enumerate((echo.port, echo.port, proxy.port))]
    for t in threads:
        t.daemon = True
        t.start()

    samples = []
    print(f"soak: {args.seconds} s, sampling every {args.interval} s; servers echo :{echo.port}, "
          f"http :{http.port}, proxy :{proxy.port} -> echo", flush=True)
    next_at = t0
    while time.time() < end:
        if time.time() >= next_at:
            samples.append(sample(servers, t0))
            show(samples[-1], servers)
            next_at += args.interval
        time.sleep(0.2)
    for t in threads:
        t.join(timeout=90)
    # Settle: lingering closes and TIME_WAIT on the client side finish.
    settle_end = time.time() + 8
    while time.time() < settle_end:
        final = sample(servers, t0)
        if all(not final[s.name]["states"] and final[s.name]["regfiles"] <= 2 for s in servers):
            break
        time.sleep(0.5)
    samples.append(final)
    show(final, servers)

    checks = []

    def check(name, ok, detail=""):
        checks.append((name, bool(ok), detail))

    alive = [t.name for t in threads if t.is_alive()]
    check("load threads finished", not alive, ",".join(alive))
    c = tally.counts
    for name in ("churn", "pipelined"):
        check(f"{name}: every ringer-load run verified", c.get(name + "_runs", 0) > 0 and
              not c.get(name + "_failed_runs"), f"{c.get(name + '_runs', 0)} runs, "
              f"{c.get(name + '_requests', 0)} requests")
    for name in ("streams", "slow_echo", "slow_http"):
        check(f"{name}: every byte back", c.get(name + "_ok", 0) > 0 and not c.get(name + "_bad"),
              f"{c.get(name + '_ok', 0)} ok, {c.get(name + '_bad', 0)} bad")
    check("slowloris: answered 408", c.get("slowloris_408", 0) > 0 and
          not c.get("slowloris_bad"), f"{c.get('slowloris_408', 0)} answered")
    check("resets sent", c.get("resets", 0) > 0, f"{c.get('resets', 0)}")
    for s in servers:
        f = final[s.name]
        check(f"{s.name}: no illegal transition", f["illegal"] == 0, f"{f['illegal']}")
        check(f"{s.name}: table empty after the load", not f["states"], json.dumps(f["states"]))
        check(f"{s.name}: registered files back to the listeners'", f["regfiles"] <= 2,
              f"{f['regfiles']}")
        live = {k: v for k, v in f["ksockets"].items() if k != "TIME_WAIT"}
        check(f"{s.name}: no kernel socket left on the port", not live, json.dumps(live))
        rss = [r[s.name]["rss_kib"] for r in samples[:-1] if r[s.name]["rss_kib"] > 0]
        half = len(rss) // 2
        if half:
            first, second = max(rss[:half]), max(rss[half:])
            check(f"{s.name}: RSS flat in the second half", second <= first * 1.10 + 4096,
                  f"{first // 1024} -> {second // 1024} MiB")
    for s in servers:
        code = s.stop()
        err = s.stderr()
        check(f"{s.name}: exit 0 on SIGTERM", code == 0, f"{code}")
        bad = re.search(r"(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:)", err)
        check(f"{s.name}: no sanitizer report", not bad,
              err[bad.start():bad.start() + 400] if bad else "")
        os.unlink(s.err_path)

    for name, ok, detail in checks:
        print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}")
    for p in tally.problems[:20]:
        print("  problem: " + p)
    summary = {k: v for k, v in sorted(c.items())}
    print("load: " + ", ".join(f"{k} {v}" for k, v in summary.items()))
    passed = sum(ok for _, ok, _ in checks)
    failed = len(checks) - passed
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"seconds": args.seconds, "samples": samples, "load": summary,
                       "checks": [{"name": n, "ok": ok, "detail": d} for n, ok, d in checks]},
                      f, indent=1)
    print(f"soak: {passed} of {len(checks)} checks passed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
