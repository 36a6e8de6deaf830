#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ringer-load over TLS: https:// URLs and echo over TLS, against ringer
(--tls-cert/--tls-key, http and echo modes) and against nginx with ssl, each
started here on 127.0.0.1 and stopped by PID. Certificates are made per run
with the openssl command line: a CA and a server certificate it signs
(localhost, 127.0.0.1), a client certificate, and a second CA nobody used.

Every run is a couple of seconds and reads ringer-load's --json: responses
verified (no mismatch, no error), the handshake timed apart from the
requests (connect_us, tls_handshake_us, first_response_us, as many as the
connections that carried measured requests), what TLS negotiated and how
often it resumed, and failed handshakes counted by kind with the first
reason said once.

Peers nobody here wrote: openssl s_server -www (HTTP/1.0, a connection per
request: TLS 1.2 and 1.3, tickets on, off, stateful), HAProxy terminating TLS
in front of plain ringer, and failures: an expired certificate, a self-signed
one, a name a strict server refuses, a response cut without close_notify.

Usage: test_load_tls.py RINGER RINGER_LOAD [CASE ...]
"""
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cases import RingerProc, Skip, check, free_port, run, wait_for  # noqa: E402

RINGER = sys.argv[1] if len(sys.argv) > 1 else "build/src/server/ringer"
LOAD = sys.argv[2] if len(sys.argv) > 2 else "build/src/load/ringer-load"
DIR = tempfile.mkdtemp(prefix="ringer-load-tls-")
PHASES = ("connect_us", "tls_handshake_us", "first_response_us")
SHAPE = {"count", "min", "mean", "stddev", "p50", "p90", "p99", "p99.9", "p99.99", "max"}


def sh(*args):
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def make_cert(name, cn, san=None, ca=None):
    """An ECDSA P-256 key and certificate: self-signed (a CA) or signed by ca, SANs kept."""
    key, crt = f"{DIR}/{name}.key", f"{DIR}/{name}.pem"
    newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ext = ["-addext", f"subjectAltName={san}"] if san else []
    if ca is None:
        r = sh("openssl", "req", "-x509", *newkey, "-keyout", key, "-out", crt, "-days", "30",
               "-subj", f"/CN={cn}", *ext)
    else:
        csr = f"{DIR}/{name}.csr"
        r = sh("openssl", "req", *newkey, "-keyout", key, "-out", csr, "-subj", f"/CN={cn}",
               *ext)
        if r.returncode == 0:
            r = sh("openssl", "x509", "-req", "-in", csr, "-CA", ca[1], "-CAkey", ca[0],
                   "-CAcreateserial", "-copy_extensions", "copy", "-out", crt, "-days", "30")
    if r.returncode:
        raise RuntimeError(f"openssl: {r.stderr}")
    return key, crt


CA = make_cert("ca", "ringer-load-test-ca")
SERVER = make_cert("server", "localhost", "DNS:localhost,IP:127.0.0.1", ca=CA)
CLIENT = make_cert("client", "load-client", ca=CA)
OTHER_CA = make_cert("otherca", "someone-else")


def make_expired(name, cn, ca):
    """A certificate ca signed that expired in 2020: openssl ca, which takes start and end
    dates (OpenSSL 3.0's req and x509 take only a number of days from now)."""
    key, crt, csr = f"{DIR}/{name}.key", f"{DIR}/{name}.pem", f"{DIR}/{name}.csr"
    d = tempfile.mkdtemp(prefix="ca-", dir=DIR)
    open(f"{d}/index.txt", "w").close()
    with open(f"{d}/serial", "w") as f:
        f.write("01\n")
    with open(f"{d}/ca.cnf", "w") as f:
        f.write(f"[ca]\ndefault_ca = d\n[d]\ndatabase = {d}/index.txt\nnew_certs_dir = {d}\n"
                f"serial = {d}/serial\ndefault_md = sha256\npolicy = p\n"
                "copy_extensions = copy\n[p]\ncommonName = supplied\n")
    r = sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
           "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={cn}",
           "-addext", f"subjectAltName=DNS:{cn}")
    if r.returncode == 0:
        r = sh("openssl", "ca", "-batch", "-notext", "-config", f"{d}/ca.cnf", "-cert", ca[1],
               "-keyfile", ca[0], "-in", csr, "-out", crt, "-startdate", "20200101000000Z",
               "-enddate", "20200102000000Z")
    if r.returncode:
        raise RuntimeError(f"openssl: {r.stderr}")
    return key, crt


class Ringer(RingerProc):
    """ringer on 127.0.0.1:0 (TLS unless cert is None); stop() checks it exits 0."""

    def __init__(self, *args, mode="http", cert=SERVER):
        tls = ["--tls-cert", cert[1], "--tls-key", cert[0]] if cert else []
        super().__init__([RINGER, "--mode", mode, "--listen", "127.0.0.1:0", "--shards", "1",
                          "--no-pin", *tls, *args],
                         f"ringer --mode {mode}" + (" over TLS" if cert else ""))

    def stop(self, timeout=20):
        super().stop(timeout)


class Nginx:
    """nginx with ssl on a free 127.0.0.1 port, as an unprivileged config in its own dir."""

    def __init__(self):
        if not os.access("/usr/sbin/nginx", os.X_OK):
            raise Skip("no /usr/sbin/nginx")
        self.dir = tempfile.mkdtemp(prefix="ringer-load-nginx-", dir=DIR)
        self.port = free_port()
        d = self.dir
        with open(f"{d}/nginx.conf", "w") as f:
            f.write(
                f"daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n"
                f"error_log {d}/error.log;\nevents {{ worker_connections 1024; }}\n"
                "http {\n"
                f"  access_log {d}/access.log;\n  client_body_temp_path {d};\n"
                f"  proxy_temp_path {d};\n  fastcgi_temp_path {d};\n  uwsgi_temp_path {d};\n"
                f"  scgi_temp_path {d};\n  keepalive_requests 1000000;\n"
                f"  server {{\n    listen 127.0.0.1:{self.port} ssl;\n"
                f"    ssl_certificate {SERVER[1]};\n    ssl_certificate_key {SERVER[0]};\n"
                "    location = / { return 200 \"hello from nginx\\n\"; }\n  }\n}\n")
        self.proc = subprocess.Popen(
            ["/usr/sbin/nginx", "-c", f"{d}/nginx.conf", "-p", d, "-e", f"{d}/error.log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if not wait_for(lambda: self.listening() or self.proc.poll() is not None) or \
                self.proc.poll() is not None:
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""
            self.stop()
            raise Skip(f"nginx did not start (no ssl module?): {err[-400:]}")

    def listening(self):
        import socket
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def requests(self):
        with open(f"{self.dir}/access.log") as f:
            return sum(1 for _ in f)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class SServer:
    """openssl s_server -www on 127.0.0.1: an HTTP/1.0 page per request, then its
    close_notify and a close; one connection at a time. args: its version and ticket flags."""

    def __init__(self, *args, cert=SERVER):
        self.proc = subprocess.Popen(
            ["openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", cert[1], "-key", cert[0],
             "-www", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.out = []
        for line in self.proc.stdout:  # until it says where it listens, or exits
            self.out.append(line)
            m = re.match(r"ACCEPT 127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
        else:
            self.stop()
            raise RuntimeError(f"openssl s_server did not start: {''.join(self.out)[-800:]}")
        threading.Thread(target=lambda: self.out.extend(self.proc.stdout), daemon=True).start()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class CutServer:
    """A Python TLS server that answers every request with the head and the first bytes of
    a longer body, then shuts the TCP connection without close_notify: a truncation.
    head is the response head; body what follows of its body."""

    def __init__(self, head, body):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(SERVER[1], SERVER[0])
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.reply = head + body
        self.cut = 0
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stopping:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                continue
            raw.settimeout(2)
            try:
                conn = self.ctx.wrap_socket(raw, server_side=True)
                got = b""
                while b"\r\n\r\n" not in got:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    got += chunk
                if got:
                    conn.sendall(self.reply)
                    # SSLSocket.shutdown is the socket's: a FIN, no close_notify.
                    conn.shutdown(socket.SHUT_RDWR)
                    self.cut += 1
                conn.close()
            except (OSError, ssl.SSLError):
                raw.close()

    def stop(self):
        self.stopping = True
        self.thread.join(10)
        self.sock.close()


def load(*args, json_out=True):
    """ringer-load with args (bounded: each run passes its own short --duration)."""
    p = subprocess.run([LOAD, *args] + (["--json"] if json_out else []),
                       capture_output=True, text=True, timeout=60)
    check("runtime error" not in p.stderr and "Sanitizer" not in p.stderr,
          "a sanitizer report in ringer-load: " + p.stderr[-1500:])
    doc = None
    if json_out:
        try:
            doc = json.loads(p.stdout)
        except ValueError:
            check(False, f"not JSON (exit {p.returncode}): {p.stdout[-400:]} {p.stderr[-400:]}")
    return p, doc


def clean(p, doc, what):
    """Exit 0, requests made, every response verified, no error of any kind."""
    ok = check(p.returncode == 0 and doc is not None,
               f"{what}: exit {p.returncode}: {p.stderr[-600:]}")
    if not ok:
        return False
    e = doc["errors"]
    return check(doc["requests"] > 0 and e["total"] == 0 and e["mismatch"] == 0,
                 f"{what}: requests {doc['requests']}, errors {e}")


def phases_shaped(doc, what, tls=True):
    """The setup objects are there, shaped like latency_us, and count the same connections."""
    names = PHASES if tls else ("connect_us", "first_response_us")
    for k in names:
        if not check(k in doc and set(doc[k]) == SHAPE, f"{what}: {k} {doc.get(k)}"):
            return False
    counts = {doc[k]["count"] for k in names}
    return check(len(counts) == 1, f"{what}: the phases count different connections {counts}")


def test_https_url_ringer():
    """https://127.0.0.1:PORT/ against ringer --mode http with TLS: every response a 2xx."""
    r = Ringer()
    try:
        p, doc = load(f"https://127.0.0.1:{r.port}/", "--connections", "4", "--duration", "2s")
        if clean(p, doc, "https"):
            check(doc["mode"] == "http" and doc["url"] == f"https://127.0.0.1:{r.port}/"
                  and doc["status"]["2xx"] == doc["requests"], f"mode, url, 2xx: {doc}")
            t = doc["tls"]
            check(t["version"] == "TLSv1.3" and t["cipher"].startswith("TLS_")
                  and t["group"] != "" and t["alpn"] == "http/1.1",
                  f"negotiated: {t}")
            check(t["handshakes"] == 4 and t["resumed"] == 0 and t["first_error"] is None,
                  f"4 connections, 4 full handshakes: {t}")
            check(doc["errors"]["tls_handshake"] == 0, "tls_handshake errors")
            if phases_shaped(doc, "https"):
                check(doc["tls_handshake_us"]["count"] == 4
                      and doc["tls_handshake_us"]["min"] > 0, f"{doc['tls_handshake_us']}")
        # The text report: the setup lines and what TLS negotiated.
        p, _ = load(f"https://127.0.0.1:{r.port}/", "--connections", "2", "--duration", "1s",
                    "--tls-max", "1.2", json_out=False)
        out = p.stdout
        check(p.returncode == 0 and "http over TLS" in out and "tls handshake 0" in out
              and re.search(r"^    tls handshake\s+p50 \d", out, re.M)
              and re.search(r"^    connect\s+p50 \d", out, re.M)
              and re.search(r"^    first response\s+p50 \d", out, re.M)
              and re.search(r"^  tls\s+TLSv1\.2 ECDHE-ECDSA-\S+ \S+ ALPN http/1\.1, 2 handshakes",
                            out, re.M),
              f"the text report: {out}")
    finally:
        r.stop()


def test_resumption_tickets_and_off():
    """--tls-resume tickets: all but the first connection resume; off: none does."""
    r = Ringer()
    try:
        url = f"https://127.0.0.1:{r.port}/"
        p, doc = load(url, "--connections", "1", "--churn", "1", "--duration", "2s",
                      "--tls-resume", "tickets")
        if clean(p, doc, "tickets"):
            t = doc["tls"]
            check(t["handshakes"] == doc["requests"] and t["handshakes"] > 20,
                  f"a handshake per request: {t['handshakes']} for {doc['requests']}")
            check(t["resumed"] == t["handshakes"] - 1 and t["resumed_ratio"] > 0.95,
                  f"every handshake after the first resumed: {t}")
        p, doc = load(url, "--connections", "1", "--churn", "1", "--duration", "1s",
                      "--tls-resume", "off")
        if clean(p, doc, "off"):
            t = doc["tls"]
            check(t["handshakes"] == doc["requests"] and t["resumed"] == 0
                  and t["resumed_ratio"] == 0, f"off: every handshake full: {t}")
        # TLS 1.2 resumes from tickets too.
        p, doc = load(url, "--connections", "2", "--churn", "1", "--duration", "1s",
                      "--tls-resume", "tickets", "--tls-max", "1.2")
        if clean(p, doc, "tickets, TLS 1.2"):
            t = doc["tls"]
            check(t["version"] == "TLSv1.2" and t["resumed"] >= t["handshakes"] - 2
                  and t["handshakes"] == doc["requests"], f"TLS 1.2 tickets: {t}")
    finally:
        r.stop()


def test_churn_one_at_a_fixed_rate():
    """--churn 1 --rate: a handshake per request, each phase counted once per request, and
    the interval rows' phases add up to the totals."""
    r = Ringer()
    try:
        # 2 s of the schedule as a count (--requests): all answered, in no less than
        # the schedule's time (exact) and at most 1.5 times it (a loaded machine's lag).
        p, doc = load(f"https://127.0.0.1:{r.port}/", "--connections", "4", "--churn", "1",
                      "--rate", "200", "--requests", "400", "--interval", "500ms")
        if clean(p, doc, "churn 1 at 200/s"):
            n = doc["requests"]
            check(n == 400 and 399 / 200 - 1e-6 <= doc["duration_s"] <= 1.5 * 399 / 200,
                  f"400 requests at 200/s: {n} in {doc['duration_s']} s")
            check(doc["tls"]["handshakes"] == n, f"handshakes {doc['tls']['handshakes']} != {n}")
            if phases_shaped(doc, "churn"):
                check(doc["tls_handshake_us"]["count"] == n, "a timed handshake per request")
            rows = doc["intervals"]
            for k in PHASES:
                check(all(k in w and {"count", "p50", "p99", "max"} <= set(w[k]) for w in rows),
                      f"rows carry {k}")
            check(sum(w["tls_handshake_us"]["count"] for w in rows) == n,
                  "the rows' handshakes add up to the total")
    finally:
        r.stop()


def test_cacert_right_wrong_and_name():
    """--cacert: the CA that signed the server passes (chain and name); another CA fails every
    handshake with the verify error, counted as tls_handshake; a name the certificate lacks
    fails too."""
    r = Ringer()
    try:
        url = f"https://localhost:{r.port}/"
        p, doc = load(url, "--cacert", CA[1], "--connections", "2", "--duration", "1s")
        if clean(p, doc, "the right CA"):
            check(doc["tls"]["handshakes"] == 2, f"verified: {doc['tls']}")
        p, doc = load(url, "--cacert", OTHER_CA[1], "--connections", "2", "--duration", "1s")
        if check(p.returncode == 0 and doc is not None, f"a wrong CA: exit {p.returncode}"):
            e, t = doc["errors"], doc["tls"]
            check(doc["requests"] == 0 and e["tls_handshake"] > 0 and e["connect"] == 0
                  and e["total"] == e["tls_handshake"], f"every handshake failed: {e}")
            check(t["handshakes"] == 0 and "certificate verify failed" in (t["first_error"] or "")
                  and "unable to get local issuer certificate" in t["first_error"],
                  f"the verify error: {t}")
            said = [l for l in p.stderr.splitlines() if "TLS handshake that failed" in l]
            check(len(said) == 1 and "certificate verify failed" in said[0],
                  f"the reason said once: {p.stderr!r}")
        p, doc = load(url, "--cacert", CA[1], "--sni", "elsewhere.test", "--connections", "1",
                      "--duration", "1s")
        if check(doc is not None, "a wrong name: JSON"):
            check(doc["requests"] == 0 and doc["errors"]["tls_handshake"] > 0
                  and "hostname mismatch" in (doc["tls"]["first_error"] or ""),
                  f"the name is verified: {doc['errors']} {doc['tls']['first_error']}")
    finally:
        r.stop()


def test_plaintext_server():
    """A server that answers a ClientHello in plaintext: a clear TLS error, not a crash."""
    for mode in ("http", "echo"):
        r = Ringer(mode=mode, cert=None)
        try:
            args = [f"https://127.0.0.1:{r.port}/"] if mode == "http" else \
                ["--tls", "--mode", "echo", "--target", f"127.0.0.1:{r.port}"]
            p, doc = load(*args, "--connections", "2", "--duration", "1s")
            if check(p.returncode == 0 and doc is not None, f"{mode}: exit {p.returncode}"):
                e, why = doc["errors"], doc["tls"]["first_error"] or ""
                check(doc["requests"] == 0 and e["tls_handshake"] > 0
                      and e["total"] == e["tls_handshake"], f"{mode}: {e}")
                want = "not TLS" if mode == "http" else ""
                check(why and want in why and "the first TLS handshake that failed: " + why
                      in p.stderr, f"{mode}: the reason {why!r}, stderr {p.stderr!r}")
        finally:
            r.stop()


def test_echo_over_tls():
    """--tls --mode echo: every byte verified, small and large messages, pipelined."""
    r = Ringer(mode="echo")
    try:
        for size, pipeline in (("64", "1"), ("4k", "4"), ("64k", "2")):
            p, doc = load("--tls", "--mode", "echo", "--target", f"localhost:{r.port}",
                          "--size", size, "--pipeline", pipeline, "--connections", "8",
                          "--duration", "1s")
            if clean(p, doc, f"echo {size} x {pipeline}"):
                check(doc["tls"]["handshakes"] == 8 and doc["tls"]["alpn"] == "",
                      f"echo {size}: 8 handshakes, no ALPN: {doc['tls']}")
                phases_shaped(doc, f"echo {size}")
        # A handshake per message, and the client certificate ringer asks for.
        r2 = Ringer("--tls-verify-client", "required", "--tls-ca", CA[1], mode="echo")
        try:
            p, doc = load("--tls", "--mode", "echo", "--target", f"127.0.0.1:{r2.port}",
                          "--cert", CLIENT[1], "--key", CLIENT[0], "--churn", "1",
                          "--connections", "2", "--duration", "1s")
            if clean(p, doc, "a client certificate"):
                check(doc["tls"]["handshakes"] == doc["requests"], "a handshake per message")
            p, doc = load("--tls", "--mode", "echo", "--target", f"127.0.0.1:{r2.port}",
                          "--connections", "1", "--duration", "1s")
            check(doc is not None and doc["requests"] == 0
                  and doc["errors"]["tls_handshake"] + doc["errors"]["reset"] > 0,
                  f"no client certificate: refused: {doc and doc['errors']}")
        finally:
            r2.stop()
    finally:
        r.stop()


def test_nginx_https():
    """nginx with ssl: https works, nginx logged the requests, tickets resume there too."""
    n = Nginx()
    try:
        url = f"https://127.0.0.1:{n.port}/"
        p, doc = load(url, "--connections", "4", "--duration", "2s")
        if clean(p, doc, "nginx"):
            check(doc["status"]["2xx"] == doc["requests"] and doc["tls"]["handshakes"] == 4,
                  f"nginx: {doc['status']} {doc['tls']}")
            check(n.requests() >= doc["requests"], f"nginx logged {n.requests()}")
        p, doc = load(url, "--connections", "1", "--churn", "1", "--rate", "100",
                      "--duration", "2s", "--tls-resume", "tickets")
        if clean(p, doc, "nginx, churn 1, tickets"):
            t = doc["tls"]
            check(t["handshakes"] == doc["requests"] and t["resumed"] == t["handshakes"] - 1,
                  f"nginx resumes: {t}")
        # Full handshakes as fast as they go, each verifying the chain: the client's CPU is
        # what binds, and the warning says why.
        p, doc = load(f"https://localhost:{n.port}/", "--cacert", CA[1], "--connections", "2",
                      "--churn", "1", "--duration", "1s")
        if clean(p, doc, "nginx, verified, a handshake per request"):
            check(doc["tls"]["handshakes"] == doc["requests"], "a handshake per request")
            if doc["cpu"]["client_bound"]:
                check("TLS handshakes and encryption" in p.stderr and "ECDSA" in p.stderr,
                      f"the client-bound warning names TLS and verification: {p.stderr!r}")
    finally:
        n.stop()


def test_bad_files_and_flags():
    """An unreadable CA, certificate or key, a key that does not match: one line, exit 2."""
    url = "https://127.0.0.1:1/"
    junk = f"{DIR}/junk.pem"
    with open(junk, "w") as f:
        f.write("not a certificate\n")
    cases = [
        (["--cacert", f"{DIR}/missing.pem"], "--cacert " + f"{DIR}/missing.pem: No such file"),
        (["--cert", f"{DIR}/missing.pem", "--key", SERVER[0]], "--cert "),
        (["--cert", SERVER[1], "--key", f"{DIR}/missing.key"], "--key "),
        (["--cert", SERVER[1], "--key", CLIENT[0]], "TLS key"),
        (["--cert", junk, "--key", SERVER[0]], "TLS certificate"),
        (["--tls-ciphers", "NOPE-CIPHER"], "TLS ciphers 'NOPE-CIPHER'"),
        (["--tls-min", "1.1"], "--tls-min: '1.1' is not 1.2 or 1.3"),
        (["--insecure", "--cacert", CA[1]], "--insecure and --cacert"),
    ]
    for args, want in cases:
        p = subprocess.run([LOAD, url, "--duration", "1s", *args], capture_output=True,
                           text=True, timeout=20)
        lines = p.stderr.strip().splitlines()
        check(p.returncode == 2 and len(lines) == 1 and want in lines[0],
              f"{args}: exit {p.returncode}, {p.stderr!r}")
    p = subprocess.run([LOAD, "127.0.0.1:1", "--cacert", CA[1]], capture_output=True,
                       text=True, timeout=20)
    check(p.returncode == 2 and "need an https:// URL or --tls" in p.stderr,
          f"a TLS flag without TLS: {p.returncode} {p.stderr!r}")
    p = subprocess.run([LOAD, "--help"], capture_output=True, text=True, timeout=20)
    check(p.returncode == 0 and "--insecure" in p.stdout and "--tls-resume" in p.stdout
          and "URL" in p.stdout, "--help tells of URLs and the TLS flags")


def resumption(doc):
    t = doc["tls"]
    return t["version"], t["handshakes"], t["resumed"], t["resumed_ratio"]


def test_openssl_s_server():
    """openssl s_server -www, TLS 1.2 and 1.3: a connection (and a handshake) per request, as
    HTTP/1.0 has it. --tls-resume off: no resumption; tickets: all but the first resume. With
    -no_ticket TLS 1.2 resumes by session ID and TLS 1.3 by stateful tickets (its session
    cache); only -num_tickets 0 under TLS 1.3 leaves nothing to resume."""
    for version in ("1.2", "1.3"):
        for flags, resumes in (([], True), (["-no_ticket"], True), (["-num_tickets", "0"],
                                                                    version == "1.2")):
            s = SServer(f"-tls1_{version[-1]}", *flags)
            what = f"s_server TLS {version} {' '.join(flags)}"
            try:
                url = f"https://127.0.0.1:{s.port}/"
                for mode in ("off", "tickets") if not flags else ("tickets",):
                    p, doc = load(url, "--connections", "1", "--duration", "1s",
                                  "--tls-resume", mode)
                    if not clean(p, doc, f"{what}, --tls-resume {mode}"):
                        continue
                    v, hs, resumed, ratio = resumption(doc)
                    check(v == f"TLSv{version}" and doc["status"]["2xx"] == doc["requests"]
                          and hs == doc["requests"] and hs > 20,
                          f"{what}: a handshake per 2xx: {v} {hs} {doc['requests']}")
                    check(doc["server_closes"]["count"] == 0,
                          f"{what}: HTTP/1.0 ends are no idle closes: {doc['server_closes']}")
                    if mode == "off" or not resumes:
                        check(resumed == 0 and ratio == 0, f"{what}, {mode}: resumed {resumed}")
                    else:
                        check(ratio > 0.9 and resumed == hs - 1,
                              f"{what}, {mode}: resumed {resumed} of {hs} ({ratio})")
            finally:
                s.stop()


def test_haproxy_terminates_tls():
    """HAProxy (mode http, bind ... ssl crt) in front of plain ringer http: every response a
    verified 2xx, HAProxy's ALPN, its chain and name checked with --cacert, and HAProxy's
    tickets resumed."""
    if not shutil.which("haproxy"):
        raise Skip("no haproxy")
    both = f"{DIR}/both.pem"
    with open(both, "w") as f:
        f.write(open(SERVER[1]).read() + open(CA[1]).read() + open(SERVER[0]).read())
    r = Ringer(cert=None)
    hp = None
    try:
        port = free_port()
        cfg = f"{DIR}/haproxy.cfg"
        with open(cfg, "w") as f:
            f.write("defaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n"
                    "  timeout server 30s\n"
                    f"frontend fe\n  bind 127.0.0.1:{port} ssl crt {both} alpn http/1.1\n"
                    "  default_backend be\n"
                    f"backend be\n  server r 127.0.0.1:{r.port}\n")
        hp = subprocess.Popen(["haproxy", "-db", "-f", cfg], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)

        def up():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False
        if not wait_for(lambda: hp.poll() is not None or up(), 10) or hp.poll() is not None:
            check(False, f"haproxy did not start: {hp.stdout.read()[-800:]}")
            return
        p, doc = load(f"https://localhost:{port}/", "--cacert", CA[1], "--connections", "4",
                      "--duration", "2s")
        if clean(p, doc, "haproxy ssl -> ringer"):
            t = doc["tls"]
            check(doc["status"]["2xx"] == doc["requests"] and doc["requests"] > 100,
                  f"haproxy: {doc['requests']} requests, {doc['status']}")
            check(t["handshakes"] == 4 and t["version"] == "TLSv1.3" and t["alpn"] == "http/1.1",
                  f"haproxy: 4 handshakes, TLS 1.3, ALPN http/1.1: {t}")
        # One connection: each new one resumes with the ticket the one before it got.
        # With two, a pair reconnecting together after a stall of the client offer
        # the same ticket, and HAProxy (OpenSSL's TLS 1.3 anti-replay) takes it
        # once: a full handshake that says nothing about resumption.
        p, doc = load(f"https://127.0.0.1:{port}/", "--connections", "1", "--churn", "1",
                      "--rate", "200", "--duration", "1s", "--tls-resume", "tickets")
        if clean(p, doc, "haproxy, churn 1, tickets"):
            v, hs, resumed, ratio = resumption(doc)
            check(hs == doc["requests"] and resumed == hs - 1 and ratio > 0.9,
                  f"haproxy resumes: {hs} handshakes, {resumed} resumed")
    finally:
        if hp:
            hp.terminate()
            try:
                hp.wait(10)
            except subprocess.TimeoutExpired:
                hp.kill()
                hp.wait()
        r.stop()


def failed_handshakes(p, doc, what, reason):
    """Nothing counted as a success: every connection a failed handshake, reason said."""
    if not check(p.returncode == 0 and doc is not None, f"{what}: exit {p.returncode}"):
        return
    e, t = doc["errors"], doc["tls"]
    check(doc["requests"] == 0 and doc["status"]["2xx"] == 0 and e["tls_handshake"] > 0
          and e["total"] == e["tls_handshake"] and t["handshakes"] == 0,
          f"{what}: every handshake failed, no request: {doc['requests']} {e} {t['handshakes']}")
    check(reason in (t["first_error"] or ""), f"{what}: the reason {t['first_error']!r}")
    check(f"the first TLS handshake that failed: {t['first_error']}" in p.stderr,
          f"{what}: the reason said on stderr: {p.stderr!r}")


def test_bad_certificates():
    """s_server with a certificate that expired, then with a self-signed one, each against
    --cacert: a verify error, counted as tls_handshake, never a response."""
    expired = make_expired("expired", "localhost", CA)
    selfsigned = make_cert("selfsigned", "localhost", "DNS:localhost")
    for cert, ca, reason in ((expired, CA, "certificate has expired"),
                             (selfsigned, OTHER_CA, "self-signed certificate")):
        s = SServer(cert=cert)
        try:
            p, doc = load(f"https://localhost:{s.port}/", "--cacert", ca[1], "--connections", "1",
                          "--duration", "1s")
            failed_handshakes(p, doc, reason, "certificate verify failed")
            check(reason in (doc and doc["tls"]["first_error"] or ""),
                  f"{reason}: {doc and doc['tls']['first_error']!r}")
            # The same server without verification: the certificate is no longer asked about.
            p, doc = load(f"https://localhost:{s.port}/", "--connections", "1", "--duration", "1s")
            clean(p, doc, f"{reason}, --insecure by default")
        finally:
            s.stop()


def test_strict_sni_wrong_name():
    """ringer --tls-strict-sni with a certificate for a.test: --sni other.test, or no SNI at
    all (an IP address), fails every handshake with OpenSSL's 'tlsv1 unrecognized name' (the
    server's unrecognized_name alert); --sni a.test passes, verified."""
    a = make_cert("a", "a.test", "DNS:a.test", ca=CA)
    r = Ringer("--tls-strict-sni", cert=a)
    try:
        url = f"https://127.0.0.1:{r.port}/"
        for sni in (["--sni", "other.test"], []):
            p, doc = load(url, *sni, "--connections", "2", "--duration", "1s")
            failed_handshakes(p, doc, f"strict SNI {sni}", "tlsv1 unrecognized name")
        p, doc = load(url, "--sni", "a.test", "--cacert", CA[1], "--connections", "2",
                      "--duration", "1s")
        if clean(p, doc, "strict SNI, the right name"):
            check(doc["tls"]["handshakes"] == 2, f"a.test: {doc['tls']}")
    finally:
        r.stop()


def test_cut_without_close_notify():
    """A server that sends a response's head and 10 bytes of its body, then ends the TCP
    stream without close_notify: an error every time, never a success. Both a body of
    Content-Length 1000 and one that would run to the end of the stream (HTTP/1.0 without
    a length, where only close_notify tells an end from a truncation)."""
    cases = ((b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", "Content-Length 1000"),
             (b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n", "up to the end"))
    for head, what in cases:
        s = CutServer(head, b"0123456789")
        try:
            p, doc = load(f"https://127.0.0.1:{s.port}/", "--connections", "1",
                          "--duration", "1s")
        finally:
            s.stop()
        if not check(p.returncode == 0 and doc is not None, f"{what}: exit {p.returncode}"):
            continue
        e = doc["errors"]
        check(s.cut > 5, f"{what}: the server cut {s.cut} responses")
        check(doc["requests"] == 0 and doc["status"]["2xx"] == 0,
              f"{what}: a cut response counted: {doc['requests']} {doc['status']}")
        check(e["reset"] > 0 and e["total"] == e["reset"] and e["total"] + 2 >= s.cut,
              f"{what}: every cut an error: {e}, {s.cut} cut")
        check(doc["tls"]["handshakes"] == 0,
              f"{what}: a connection with no response is no measured handshake: {doc['tls']}")


TESTS = [test_https_url_ringer, test_resumption_tickets_and_off, test_churn_one_at_a_fixed_rate,
         test_cacert_right_wrong_and_name, test_plaintext_server, test_echo_over_tls,
         test_nginx_https, test_bad_files_and_flags, test_openssl_s_server,
         test_haproxy_terminates_tls, test_bad_certificates, test_strict_sni_wrong_name,
         test_cut_without_close_notify]

if __name__ == "__main__":
    # test_load_tls.py RINGER RINGER_LOAD [CASE ...]: only those cases (by hand)
    picked = [t for t in TESTS if t.__name__ in sys.argv[3:]]
    run(picked or TESTS, cleanup=lambda: shutil.rmtree(DIR, ignore_errors=True))
