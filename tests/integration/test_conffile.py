#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The configuration file from outside (src/server/conffile.c): ringer -t, -T and -c.

Usage: test_conffile.py RINGER_BINARY EXAMPLE_CONF

-t on the shipped example (tools/dist/ringer.conf) says 'syntax ok' and exits 0; a broken
file exits 1 with FILE:LINE: why on stderr, the line being the broken directive's; -T's
output checks and prints again to the same text; -c refuses flags beside it (exit 2); a
one-listener file serves as the same settings given as flags do, byte for byte on stdout.
Files live in a temporary folder; each ringer started is stopped by PID.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile

from cases import check, ringer_ended, run

RINGER = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") \
    else "build/src/server/ringer"
EXAMPLE = sys.argv[2] if len(sys.argv) > 2 else "tools/dist/ringer.conf"
TMP = tempfile.mkdtemp(prefix="ringer-conffile-")


def write(name, text):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def ringer(*args):
    return subprocess.run([RINGER, *args], capture_output=True, text=True, timeout=20)


def example_checks():
    r = ringer("-t", "-c", EXAMPLE)
    check(r.returncode == 0, f"-t on the example: exit {r.returncode}: {r.stderr}")
    check(r.stdout == f"{EXAMPLE}: syntax ok, 2 listeners\n", f"-t said {r.stdout!r}")
    r = ringer("--test-config", "--config", EXAMPLE)
    check(r.returncode == 0 and "syntax ok" in r.stdout, f"long flags: {r.returncode} {r.stderr}")


def example_http_proxy_uncommented():
    """The example's commented-out http-proxy blocks, uncommented, are a good configuration."""
    with open(EXAMPLE) as f:
        text = f.read()
    start = text.index("#upstream apps {")
    tail = "\n".join(line[1:] if line.startswith("#") else line
                     for line in text[start:].splitlines())
    check("listener web {" in tail and "mode http-proxy;" in tail, "no http-proxy example")
    path = write("example-http-proxy.conf", text[:start] + tail + "\n")
    r = ringer("-T", "-c", path)
    check(r.returncode == 0 and "syntax ok, 3 listeners" in r.stderr,
          f"the http-proxy example: exit {r.returncode}: {r.stderr}")
    for want in ("\tmode http-proxy;\n", "\troute api.example.com api;\n",
                 "\tserver 127.0.0.1:9005 weight=1 group=static;\n",
                 "\tcheck-http \"GET /health\";\n", "\tmax-body 10m;\n"):
        check(want in r.stdout, f"-T of the http-proxy example lacks {want!r}")


BROKEN = [
    # (text, line, what the message says)
    ("listener a {\n  bind 127.0.0.1:7000;\n  frobnicate 3;\n}\n", 3,
     "unknown directive 'frobnicate'"),
    ("listener a {\n  bind 127.0.0.1:7000;\n  mode echo\n}\n", 3, "';' missing"),
    ("listener a {\n  bind 127.0.0.1:7000;\n", 1, "not closed ('}' missing)"),
    ("global {\n  buf-count 3;\n}\nlistener a { bind 127.0.0.1:7000; }\n", 2,
     "not a power of two"),
    ("listener a { bind 127.0.0.1:7000; }\nlistener b {\n  bind 127.0.0.1:7000;\n}\n", 3,
     "binds that address already"),
    ("listener a {\n  bind 127.0.0.1:7000;\n  mode proxy;\n  proxy_pass nowhere;\n}\n", 4,
     "no upstream block of that name"),
    ("listener a {\n  bind 127.0.0.1:7000;\n  shards 2;\n}\n", 3, "process-wide"),
    ("bind 127.0.0.1:7000;\n", 1, "outside a block"),
]


def broken_files_exit_1():
    for i, (text, line, needle) in enumerate(BROKEN):
        path = write(f"broken{i}.conf", text)
        r = ringer("-t", "-c", path)
        first = r.stderr.splitlines()[0] if r.stderr else ""
        check(r.returncode == 1, f"{text!r}: exit {r.returncode}, want 1")
        check(first.startswith(f"{path}:{line}: ") and needle in first,
              f"{text!r}: stderr {first!r}, want {path}:{line}: ...{needle}")
        check("syntax ok" not in r.stdout, f"{text!r}: said ok")


def print_loads_back():
    r = ringer("-T", "-c", EXAMPLE)
    check(r.returncode == 0, f"-T: exit {r.returncode}: {r.stderr}")
    check("syntax ok, 2 listeners" in r.stderr, f"-T's stderr: {r.stderr!r}")
    # Defaults filled in: the example sets none of these.
    for want in ("\tring-entries 1024;", "\tsend-timeout 1m;", "\ttls-min 1.2;",
                 "\tserver 127.0.0.1:9001 weight=2;", "\tproxy_pass backends;"):
        check(want in r.stdout.splitlines(), f"-T lacks {want!r}")
    path = write("printed.conf", r.stdout)
    again = ringer("-T", "-c", path)
    check(again.returncode == 0, f"-T of -T: exit {again.returncode}: {again.stderr}")
    body = lambda out: out.split("\n", 1)[1]  # the first line names the file
    check(body(again.stdout) == body(r.stdout), "-T of -T's output differs")


def flags_beside_c_refused():
    path = write("one.conf", "listener a { bind 127.0.0.1:0; }\n")
    r = ringer("-c", path, "--shards", "2")
    check(r.returncode == 2, f"-c with --shards: exit {r.returncode}, want 2")
    check("--shards" in r.stderr and "in the file" in r.stderr, f"stderr {r.stderr!r}")
    r = ringer("--mode", "http", "-t", "-c", path)
    check(r.returncode == 2, f"--mode with -t -c: exit {r.returncode}, want 2")


def start(args):
    p = subprocess.Popen([RINGER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    lines = [p.stdout.readline(), p.stdout.readline()]
    m = re.match(r"listening on 127\.0\.0\.1:(\d+)", lines[0])
    if not m:
        p.kill()
        out, err = p.communicate(timeout=10)
        raise RuntimeError(f"ringer {args} did not start: {lines} {err[-500:]}")
    return p, int(m.group(1)), lines


def stop(what, p):
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=20)
    ringer_ended(what, p.returncode, out, err)


def get(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                return data
            data += d


def one_listener_serves():
    path = write("http.conf", """
global { shards 1; no-pin on; drain-timeout 2s; }
listener web {
  bind 127.0.0.1:0;
  mode http;
  max-conns 100;
  body "from the file";
  idle-timeout 30s;
}
""")
    p, port, lines = start(["-c", path])
    try:
        reply = get(port)
        check(reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"from the file"),
              f"file: reply {reply[-200:]!r}")
    finally:
        stop("ringer -c", p)
    q, qport, qlines = start(["--listen", "127.0.0.1:0", "--mode", "http", "--shards", "1",
                              "--no-pin", "--drain-timeout", "2000", "--max-conns", "100",
                              "--body", "from the file", "--idle-timeout", "30000"])
    try:
        reply = get(qport)
        check(reply.endswith(b"from the file"), f"flags: reply {reply[-200:]!r}")
    finally:
        stop("ringer with flags", q)
    check(lines[1] == qlines[1] == "mode http, 1 shard, max-conns 100 per shard\n",
          f"startup lines differ: file {lines[1]!r}, flags {qlines[1]!r}")


def echo_file_serves():
    path = write("echo.conf", "global { shards 1; no-pin on; }\n"
                              "listener e { bind 127.0.0.1:0; }  # mode echo by default\n")
    p, port, _ = start(["-c", path])
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            msg = os.urandom(100000)
            s.sendall(msg)
            s.shutdown(socket.SHUT_WR)
            got = b""
            while True:
                d = s.recv(65536)
                if not d:
                    break
                got += d
        check(got == msg, f"echo: {len(got)} bytes back of {len(msg)}")
    finally:
        stop("ringer -c echo", p)


def cleanup():
    subprocess.run(["rm", "-rf", TMP])


run([example_checks, example_http_proxy_uncommented, broken_files_exit_1, print_loads_back, flags_beside_c_refused,
     one_listener_serves, echo_file_serves], cleanup)
