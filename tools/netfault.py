#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Network faults by hand: test_netfault's cases, longer, and the figures table.

Usage: tools/netfault.py [--build DIR] [--scale N] [--user-timeout MS]
                         [--compare SECONDS] [--only NAME,...]

Runs every case of tests/integration/test_netfault.py (loss, MSS, rate, SYNs
dropped, resets, black holes; echo, http and proxy on either side) in three
network namespaces it builds for the run (tests/integration/netfault.py),
with the clean runs' requests multiplied by --scale (default 10), and prints
a Markdown table: fault, mode, connections and bytes verified, how the
connections ended (with the times against the configured bounds), leaks
(ringer's table and the kernel's sockets after the case: must be 0), and
throughput and p99 where ringer-load ran. A case's failed checks are printed
as it runs (FAIL: ...) and counted at the end.

--compare SECONDS adds HAProxy and nginx in the same namespaces: an HTTP
responder (ringer --mode http, nginx 'return 200', HAProxy 'http-request
return') and an L4 proxy in front of a ringer echo upstream (ringer --mode
proxy, HAProxy mode tcp, nginx stream, which needs libnginx-mod-stream), each
with one thread, loaded by ringer-load for SECONDS without loss and then with
5 % of the segments dropped each way on the client link: throughput and p99
side by side. It takes /tmp/ringer-bench.lock while it runs (refusing to start
when another benchmark holds it). --compare 0 (the default) skips it.

Needs root, ip netns and iptables (tools/install-deps.sh). Exit status: 0 when
every check held, 1 otherwise, 2 on bad flags.
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import cases  # noqa: E402
import netfault as nf  # noqa: E402
import test_netfault as tn  # noqa: E402

LOCK = "/tmp/ringer-bench.lock"
CASES = [tn.loss_echo, tn.loss_http, tn.loss_proxy_client_side, tn.loss_proxy_upstream_side,
         tn.mss_echo, tn.mss_http, tn.mss_proxy, tn.rate_echo, tn.rate_proxy, tn.syn_drop_client,
         tn.syn_drop_upstream, tn.syn_drop_all_upstreams, tn.reset_echo,
         tn.reset_proxy_upstream_side, tn.reset_proxy_client_side, tn.blackhole_echo,
         tn.blackhole_http, tn.blackhole_proxy_upstream_side, tn.blackhole_proxy_client_side,
         tn.blackhole_proxy_unbounded]


def human(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def run_cases(names):
    bad = 0
    for case in CASES:
        if names and case.__name__ not in names:
            continue
        before = len(cases.failures)
        start = time.time()
        try:
            case()
        except cases.Skip as e:
            print(f"skip {case.__name__}: {e}", flush=True)
            continue
        except Exception as e:  # a crash is that case's failure; the others still run
            cases.check(False, f"{case.__name__}: {type(e).__name__}: {e}")
        ok = len(cases.failures) == before
        bad += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {case.__name__} ({time.time() - start:.1f} s)",
              flush=True)
    return bad


def table(rows):
    print("\n| fault | mode | connections | bytes verified (both ways) | how they ended | leaks | figures |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['fault']} | {r['mode']} | {r['conns']} | {human(r['bytes'])} | {r['ends']} "
              f"| {r['leaks']} | {r['figures']} |")


# ---- HAProxy and nginx beside ringer under 5 % loss ---------------------------------------------

NGINX_HTTP = """daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 4096; }}
http {{ access_log off; keepalive_requests 1000000;
  client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d};
  scgi_temp_path {d};
  server {{ listen 8000; location / {{ default_type text/plain; return 200 "Hello, World!"; }} }}
}}
"""
NGINX_STREAM = """load_module {mod};
daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 4096; }}
stream {{ server {{ listen 8000; proxy_pass {up}; }} }}
"""
HAPROXY_HTTP = """global
  nbthread 1
defaults
  mode http
  timeout connect 3s
  timeout client 60s
  timeout server 60s
frontend f
  bind :8000
  http-request return status 200 content-type text/plain string "Hello, World!"
"""
HAPROXY_TCP = """global
  nbthread 1
defaults
  mode tcp
  timeout connect 3s
  timeout client 60s
  timeout server 60s
listen relay
  bind :8000
  server up {up}
"""
STREAM_MOD = "/usr/lib/nginx/modules/ngx_stream_module.so"


def start_peer(net, kind, server, work, build):
    """The server under comparison in the proxy namespace, listening on :8000; its process."""
    up = f"{nf.UP_IP}:9001"
    if server == "ringer":
        args = ["--mode", kind] + (["--upstream", up] if kind == "proxy" else [])
        return nf.Ringer(net, "prx", os.path.join(build, "src/server/ringer"), args,
                         admin=None).proc
    conf = os.path.join(work, f"{server}-{kind}.conf")
    if server == "nginx":
        if kind == "proxy" and not os.path.exists(STREAM_MOD):
            return None
        text = (NGINX_HTTP if kind == "http" else NGINX_STREAM).format(d=work, mod=STREAM_MOD,
                                                                      up=up)
        argv = ["nginx", "-c", conf, "-p", work, "-e", os.path.join(work, "error.log")]
    else:
        text = (HAPROXY_HTTP if kind == "http" else HAPROXY_TCP).format(up=up)
        argv = ["haproxy", "-db", "-f", conf]
    with open(conf, "w") as f:
        f.write(text)
    p = net.popen("prx", argv, stdout=subprocess.DEVNULL)
    ok = cases.wait_for(lambda: any(":8000 " in l for l in net.run(
        "prx", ["ss", "-tlnH"]).stdout.splitlines()), 5)
    if not ok:
        raise RuntimeError(f"{server} did not start: {p.stderr.read()[-500:]}")
    return p


def compare(seconds, build):
    """Throughput and p99, lossless and with 5 % loss each way on the client link."""
    net = tn.get_net()
    work = tempfile.mkdtemp(prefix="netfault-cmp-")
    load = os.path.join(build, "src/load/ringer-load")
    rows = []
    upstream = nf.Ringer(net, "up", os.path.join(build, "src/server/ringer"), ["--mode", "echo"],
                         listen=f"{nf.UP_IP}:9001", admin=None)
    for kind in ("http", "proxy"):
        for server in ("ringer", "nginx", "haproxy"):
            row = {"kind": kind, "server": server}
            for loss in (0, 5):
                net.clear()
                p = start_peer(net, kind, server, work, build)
                if p is None:
                    row[loss] = None
                    continue
                if loss:
                    net.loss("cli", loss, "in")
                    net.loss("cli", loss, "out")
                target = ([f"http://{tn.TARGET}/"] if kind == "http" else
                          ["--mode", "echo", "--size", "4k", "--target", tn.TARGET])
                rc, doc, err = nf.load(net, "cli", load, [*target, "--connections", "16",
                                                          "--duration", f"{seconds}s",
                                                          "--timeout", "30s"],
                                       timeout=seconds + 60)
                net.stop(p)
                if rc or not doc:
                    row[loss] = f"ringer-load exit {rc}: {err[-200:]}"
                    continue
                row[loss] = (doc["requests_per_s"], doc["latency_us"]["p99"] / 1000,
                             doc["errors"]["total"])
                print(f"  {kind} {server} loss {loss} %: {doc['requests_per_s']:.0f}/s, p99 "
                      f"{doc['latency_us']['p99'] / 1000:.2f} ms, errors "
                      f"{doc['errors']['total']}", flush=True)
            rows.append(row)
    net.stop(upstream.proc)
    net.clear()
    shutil.rmtree(work, ignore_errors=True)
    print(f"\n5 % loss each way on the client link; 16 connections, {seconds} s a run, "
          "one thread each (ringer --shards 1)")
    print("\n| mode | server | lossless req/s | lossless p99 | 5 % loss req/s | 5 % loss p99 "
          "| errors |")
    print("|---|---|---|---|---|---|---|")

    def cell(v):
        if v is None:
            return "n/a", "n/a"
        if isinstance(v, str):
            return v, ""
        return f"{v[0]:.0f}", f"{v[1]:.2f} ms"

    for r in rows:
        a, b = cell(r.get(0)), cell(r.get(5))
        errs = sum(v[2] for v in (r.get(0), r.get(5)) if isinstance(v, tuple))
        what = "HTTP responder" if r["kind"] == "http" else "L4 proxy, 4 KiB echoes"
        print(f"| {what} | {r['server']} | {a[0]} | {a[1]} | {b[0]} | {b[1]} | {errs} |")


def main():
    ap = argparse.ArgumentParser(description="network faults in namespaces, and their figures")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--scale", type=int, default=10)
    ap.add_argument("--user-timeout", type=int, default=tn.UT_MS, metavar="MS")
    ap.add_argument("--compare", type=int, default=0, metavar="SECONDS")
    ap.add_argument("--only", default="", help="case names, comma-separated (none: all)")
    a = ap.parse_args()
    if a.scale < 1 or a.user_timeout < 500 or a.compare < 0:
        ap.error("--scale at least 1, --user-timeout at least 500, --compare at least 0")
    tn.RINGER = os.path.join(a.build, "src/server/ringer")
    tn.LOAD = os.path.join(a.build, "src/load/ringer-load")
    tn.SCALE, tn.UT_MS = a.scale, a.user_timeout
    why = nf.unavailable()
    if why:
        print(f"netfault: cannot run here: {why}", file=sys.stderr)
        return 1
    locked = False
    try:
        bad = 0
        if a.only != "none":
            bad = run_cases(set(filter(None, a.only.split(","))))
            table(tn.ROWS)
            print(f"\nuser timeout {tn.UT_MS} ms, keepalive {tn.KA}; {bad} case(s) failed")
        if a.compare:
            try:
                fd = os.open(LOCK, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                print(f"netfault: {LOCK} exists: another benchmark runs; no comparison",
                      file=sys.stderr)
                return 1
            os.write(fd, f"{os.getpid()} tools/netfault.py\n".encode())
            os.close(fd)
            locked = True
            compare(a.compare, a.build)
        return 1 if bad else 0
    finally:
        if locked:
            os.unlink(LOCK)
        tn.cleanup()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main())
