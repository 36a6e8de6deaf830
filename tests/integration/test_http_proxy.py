#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""--mode http-proxy from outside, against servers and clients nobody here wrote.

Usage: test_http_proxy.py RINGER_BINARY [CASE ...]

The upstreams are Python http.server backends written here (ThreadingHTTPServer, HTTP/1.1
keep-alive) that record what reached them (method, target, headers, body length and SHA-256)
and answer per path (Backend.serve: fixed bodies, chunked, close-delimited, 304, sleeps,
resets, a connection closed after its response, a WebSocket echo), and nginx (a `return` and a
static root). The clients are http.client, curl, wrk and raw sockets where the bytes on the
wire matter (chunked uploads, pipelining, smuggling probes, PROXY headers, WebSocket frames).
Each case starts its own ringer --mode http-proxy on 127.0.0.1 with ports from the OS, bounds
every wait, and stops every process it started by PID. Prints one line per case and
'N passed, N failed'; exits 1 if any failed.
"""
import base64
import hashlib
import http.client
import io
import json
import os
import random
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from cases import RingerProc, Skip, check, free_port, run, wait_for

RINGER = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-")
                         else "build/src/server/ringer")
ONLY = [a for a in sys.argv[2:] if not a.startswith("-")]
TMP = tempfile.mkdtemp(prefix="ringer-hp-")
MiB = 1 << 20

# ---- bodies: generated, never held whole twice; judged by length and SHA-256 ----------------

_BASE = random.Random(22).randbytes(65536)
_SHA = {}


def pattern(n):
    """n bytes in 64 KiB blocks, each starting with its index (a block lost, repeated or
    moved changes the hash)."""
    off, i = 0, 0
    while off < n:
        block = (i.to_bytes(8, "big") + _BASE[8:])[:n - off]
        yield block
        off += len(block)
        i += 1


def pattern_sha(n):
    if n not in _SHA:
        h = hashlib.sha256()
        for b in pattern(n):
            h.update(b)
        _SHA[n] = h.hexdigest()
    return _SHA[n]


def write_pattern_file(n):
    path = os.path.join(TMP, f"body.{n}")
    if not os.path.exists(path):
        with open(path, "wb") as f:
            for b in pattern(n):
                f.write(b)
    return path


# ---- WebSocket frames (RFC 6455) --------------------------------------------------------------

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def ws_accept(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def _xor(data, mask):
    n = len(data)
    if not n:
        return data
    m = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(m, "big")).to_bytes(n, "big")


def ws_frame(op, payload, mask):
    n = len(payload)
    head = bytes([0x80 | op])
    bit = 0x80 if mask else 0
    if n <= 125:
        head += bytes([bit | n])
    elif n <= 0xFFFF:
        head += bytes([bit | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([bit | 127]) + n.to_bytes(8, "big")
    if mask:
        key = os.urandom(4)
        return head + key + _xor(payload, key)
    return head + payload


def read_exact(f, n):
    out = b""
    while len(out) < n:
        d = f.read(n - len(out))
        if not d:
            raise EOFError(f"EOF after {len(out)} of {n} bytes")
        out += d
    return out


def ws_read(f):
    """(opcode, payload, masked, length field width) of the next frame on file f."""
    h = read_exact(f, 2)
    op, masked, n = h[0] & 0x0F, bool(h[1] & 0x80), h[1] & 0x7F
    width = 7
    if n == 126:
        n, width = int.from_bytes(read_exact(f, 2), "big"), 16
    elif n == 127:
        n, width = int.from_bytes(read_exact(f, 8), "big"), 64
    key = read_exact(f, 4) if masked else None
    data = read_exact(f, n)
    return op, (_xor(data, key) if key else data), masked, width


# ---- the backend -------------------------------------------------------------------------------


class BadBody(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pybackend"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        self.server.track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.track(self.connection, False)

    def do_GET(self):
        self.serve()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_PATCH = do_GET

    throttle = False

    def throttled(self, n):
        """/upload-throttled: a pause of 1 ms every 64 KiB read, so the proxy's upstream side
        fills and drains again and again."""
        self.unpaused = getattr(self, "unpaused", 0) + n
        if self.unpaused >= 65536:
            self.unpaused = 0
            time.sleep(0.001)

    def read_body(self):
        """The request body (Content-Length or chunked): (length, sha256); BadBody if its
        framing is broken or it ends early."""
        h, n = hashlib.sha256(), 0
        te = self.headers.get("Transfer-Encoding")
        cl = self.headers.get_all("Content-Length") or []
        if te:
            if te.strip().lower() != "chunked" or cl:
                raise BadBody(f"framing: TE {te!r}, CL {cl}")
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise BadBody(f"chunk size line {line[:40]!r}")
                if size == 0:
                    while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                while size:
                    d = self.rfile.read(min(size, 1 << 16))
                    if not d:
                        raise BadBody("EOF in a chunk")
                    if self.throttle:
                        self.throttled(len(d))
                    h.update(d)
                    n += len(d)
                    size -= len(d)
                if self.rfile.readline(8) not in (b"\r\n", b"\n"):
                    raise BadBody("no CRLF after a chunk")
        elif cl:
            if len(set(v.strip() for v in cl)) != 1:
                raise BadBody(f"Content-Length {cl}")
            size = int(cl[0])
            while size:
                d = self.rfile.read(min(size, 1 << 16))
                if not d:
                    raise BadBody("EOF in the body")
                if self.throttle:
                    self.throttled(len(d))
                h.update(d)
                n += len(d)
                size -= len(d)
        return n, h.hexdigest()

    def head(self, status, headers=(), length=None):
        self.send_response(status)
        self.send_header("X-Backend", self.server.name)
        self.send_header("X-Path", self.path)
        for k, v in headers:
            self.send_header(k, v)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def answer(self, status, body=b"", headers=()):
        self.head(status, headers, None if status in (204, 304) else len(body))
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def reset(self):
        """Closes the connection with a RST (SO_LINGER 0), whatever is in flight."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.wfile.close()
        self.rfile.close()
        self.connection.close()
        # what http.server does after a request (flush, close) finds files that are not the
        # socket's any more
        self.wfile, self.rfile = io.BytesIO(), io.BytesIO()
        self.close_connection = True

    def serve(self):
        srv = self.server
        path = urlsplit(self.path).path
        parts = path.strip("/").split("/")
        rec = {"method": self.command, "target": self.path, "backend": srv.name,
               "headers": [(k.lower(), v) for k, v in self.headers.items()],
               "complete": False, "len": 0, "sha256": None, "time": time.time()}
        if path == "/health":
            srv.health_checks += 1
            self.answer(srv.health, b"health\n")
            return
        srv.log.append(rec)
        self.throttle = path == "/upload-throttled"
        if path.startswith("/slow-upload/"):
            time.sleep(int(parts[1]) / 1000)  # the body waits in the proxy and the kernel
        try:
            rec["len"], rec["sha256"] = self.read_body()
        except BadBody as e:
            rec["bad_body"] = str(e)
            self.close_connection = True
            return
        rec["complete"] = True
        n = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        what = parts[0]
        if what == "size":
            self.head(200, (("Content-Type", "application/octet-stream"),), n)
            if self.command != "HEAD":
                for b in pattern(n):
                    self.wfile.write(b)
        elif what == "chunked":
            self.head(200, (("Transfer-Encoding", "chunked"),))
            if self.command == "HEAD":
                return
            rng = random.Random(n)
            for b in pattern(n):
                while b:
                    k = rng.randint(1, len(b))
                    self.wfile.write(b"%x\r\n" % k + b[:k] + b"\r\n")
                    b = b[k:]
            self.wfile.write(b"0\r\n\r\n")
        elif what == "close":
            # HTTP/1.0 style: no length, the body ends where the connection does.
            self.protocol_version = "HTTP/1.0"
            self.head(200, (("Connection", "close"),))
            if self.command != "HEAD":
                for b in pattern(n):
                    self.wfile.write(b)
            self.close_connection = True
        elif what == "etag":
            if self.headers.get("If-None-Match") == '"v1"':
                self.answer(304, headers=(("ETag", '"v1"'),))
            else:
                self.answer(200, b"etag body\n", (("ETag", '"v1"'),))
        elif what == "sleep":
            time.sleep(n / 1000)
            try:
                self.answer(200, b"slept\n")
            except OSError:
                self.close_connection = True
        elif what == "reset":
            # the head says n bytes; half of them, then a RST
            self.head(200, (), n)
            for b in pattern(n // 2):
                self.wfile.write(b)
            time.sleep(0.1)
            self.reset()
        elif what == "rst":
            self.reset()  # the request whole, then a RST and no answer
        elif what == "idle-close":
            # a keep-alive response, then the connection closed n ms later (a pooled
            # connection the upstream closes while idle)
            self.answer(200, b"bye later\n")
            time.sleep(n / 1000)
            self.close_connection = True
        elif what in ("upload", "headers", "slow-upload", "upload-throttled"):
            self.answer(200, json.dumps(rec).encode(), (("Content-Type", "application/json"),))
        elif what == "status":
            self.answer(n, b"" if n in (204, 304) else b"status %d\n" % n)
        elif what == "hop":
            self.answer(200, b"hop\n", (("Connection", "X-Hop-Resp"), ("X-Hop-Resp", "1"),
                                        ("Keep-Alive", "timeout=9"), ("X-End", "1")))
        elif what == "bad-framing":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
            self.close_connection = True
        elif what == "early":
            # 103 Early Hints, then the response
            self.wfile.write(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n")
            self.answer(200, b"after hints\n")
        elif what == "ws":
            self.websocket(rec)
        else:
            self.answer(200, b"ok " + path.encode() + b"\n")

    def websocket(self, rec):
        key = self.headers.get("Sec-WebSocket-Key")
        if (self.headers.get("Upgrade") or "").lower() != "websocket" or not key:
            rec["ws_refused"] = True
            self.answer(400, b"not a websocket handshake\n")
            return
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", ws_accept(key))
        self.end_headers()
        rec["ws"] = []
        self.connection.settimeout(10)
        try:
            while True:
                op, payload, masked, _ = ws_read(self.rfile)
                if not masked:
                    rec["ws_unmasked"] = True
                if op == 8:
                    # The client closes and then half-closes: its FIN must come through,
                    # and the close frame we send after it must reach the client.
                    rec["ws_eof_after_close"] = self.rfile.read(1) == b""
                    self.wfile.write(ws_frame(8, payload, False))
                    break
                rec["ws"].append(len(payload))
                self.wfile.write(ws_frame(op, payload, False))
        except (EOFError, OSError) as e:
            rec["ws_error"] = repr(e)
        self.close_connection = True


class Backend(ThreadingHTTPServer):
    """A recording HTTP/1.1 upstream on 127.0.0.1 (port from the OS)."""
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256

    def __init__(self, name, health=200):
        super().__init__(("127.0.0.1", 0), Handler)
        self.name, self.health, self.health_checks = name, health, 0
        self.log, self.accepts, self.open, self.closed_at = [], 0, set(), []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    @property
    def port(self):
        return self.server_address[1]

    def handle_error(self, request, client_address):
        # a peer that resets (the proxy giving up on a slow answer, a test's own resets) is
        # expected here; anything else is printed
        if not isinstance(sys.exc_info()[1], (OSError, ValueError)):
            super().handle_error(request, client_address)

    @property
    def addr(self):
        return f"127.0.0.1:{self.port}"

    def get_request(self):
        r = super().get_request()
        with self.lock:
            self.accepts += 1
        return r

    def track(self, conn, opened):
        with self.lock:
            if opened:
                self.open.add(conn)
            else:
                self.open.discard(conn)
                self.closed_at.append(time.time())

    def reqs(self, prefix=""):
        return [r for r in self.log if r["target"].startswith(prefix)]

    def stop(self):
        self.shutdown()
        self.server_close()
        with self.lock:
            conns = list(self.open)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def hdr(rec_headers, name):
    """Every value of header name (lower case) in a recorded header list."""
    return [v for k, v in rec_headers if k == name]


# ---- ringer --mode http-proxy -----------------------------------------------------------------


class Proxy(RingerProc):
    def __init__(self, *args, shards=2):
        super().__init__([RINGER, "--mode", "http-proxy", "--listen", "127.0.0.1:0",
                          "--admin", "127.0.0.1:0", "--shards", str(shards), "--no-pin",
                          "--drain-timeout", "2000", *args], "ringer --mode http-proxy",
                         admin=True)


class Resp:
    def __init__(self, status, headers, body=b"", n=0, sha=None, complete=True, error=None):
        self.status, self.headers, self.body = status, headers, body
        self.n, self.sha, self.complete, self.error = n, sha, complete, error

    def h(self, name):
        return [v for k, v in self.headers if k == name.lower()]

    def h1(self, name):
        v = self.h(name)
        return v[0] if v else None


def fetch(port, path, method="GET", headers=None, body=None, conn=None, timeout=15, keep=MiB):
    """One request by http.client (a new connection unless conn); the body read in pieces,
    its length and SHA-256, and its bytes when at most keep."""
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        h, n, kept = hashlib.sha256(), 0, []
        while True:
            d = r.read(1 << 16)
            if not d:
                break
            h.update(d)
            n += len(d)
            if n <= keep:
                kept.append(d)
        return Resp(r.status, [(k.lower(), v) for k, v in r.getheaders()],
                    b"".join(kept) if n <= keep else b"", n, h.hexdigest())
    finally:
        if conn is None:
            c.close()


def as_json(data):
    """A backend's JSON answer as a dict; what else came instead under "not_json" (an
    error page, nothing), so a check's message shows it."""
    try:
        return json.loads(data)
    except ValueError:
        return {"not_json": data[:300]}


def read_head(f):
    line = f.readline(65537)
    if not line:
        raise EOFError("EOF before a status line")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", line)
    if not m:
        raise ValueError(f"not a status line: {line[:80]!r}")
    headers = []
    while True:
        line = f.readline(65537)
        if line in (b"\r\n", b"\n"):
            break
        if not line:
            raise EOFError("EOF in a response head")
        k, _, v = line.decode("latin-1").partition(":")
        headers.append((k.strip().lower(), v.strip()))
    return int(m.group(1)), headers


def read_response(f, method="GET", head=None):
    """The next response on buffered file f, framed as RFC 9112 says (head: its status and
    headers when read_head already took them); a body cut short (EOF or reset before its
    framing's end) comes back with complete False and the error."""
    status, headers = head or read_head(f)
    while 100 <= status < 200 and status != 101:
        status, headers = read_head(f)
    r = Resp(status, headers)
    if method == "HEAD" or status in (101, 204, 304):
        return r
    te, cl = r.h1("transfer-encoding"), r.h("content-length")
    body = []
    try:
        if te:
            r.complete = False
            while True:
                size = int(f.readline(1024).split(b";")[0].strip() or b"x", 16)
                if size == 0:
                    while f.readline(8192) not in (b"\r\n", b"\n", b""):
                        pass
                    r.complete = True
                    break
                body.append(read_exact(f, size))
                read_exact(f, 2)
        elif cl:
            want = int(cl[0])
            while sum(map(len, body)) < want:
                d = f.read(min(want - sum(map(len, body)), 1 << 16))
                if not d:
                    break
                body.append(d)
            r.complete = sum(map(len, body)) == want
        else:
            while True:
                d = f.read(1 << 16)
                if not d:
                    break
                body.append(d)
    except (EOFError, ValueError, OSError) as e:
        r.complete, r.error = False, e
    r.body = b"".join(body)
    r.n = len(r.body)
    return r


def raw(port, data, timeout=10):
    """A raw connection that sent data; (socket, buffered reader)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if data:
        s.sendall(data)
    return s, s.makefile("rb")


def ringer_answer(r, status, what):
    """A failure answer made by ringer: the status, Server: ringer, a short text/plain body."""
    check(r.status == status, f"{what}: status {r.status}, want {status}")
    check("ringer" in (r.h1("server") or ""), f"{what}: Server {r.h('server')}, want ringer")
    check((r.h1("content-type") or "").startswith("text/plain"),
          f"{what}: Content-Type {r.h('content-type')}")
    check(0 < len(r.body) < 512, f"{what}: body {r.body[:200]!r}")


def curl(*args, timeout=60):
    return subprocess.run(["curl", "-sS", "--max-time", str(timeout - 5), *args],
                          capture_output=True, timeout=timeout)


# ---- cases -------------------------------------------------------------------------------------


def test_bodies_down():
    """Responses byte-exact from 0 B to 64 MiB: Content-Length, chunked and close-delimited,
    on one client connection kept alive across them (the close-delimited ones re-framed or
    the connection closed after them)."""
    b = Backend("b")
    p = Proxy("--upstream", b.addr)
    try:
        c = http.client.HTTPConnection("127.0.0.1", p.port, timeout=60)
        for kind in ("size", "chunked", "close"):
            for n in (0, 1, 16384, MiB, 64 * MiB):
                if kind == "close" and n == 64 * MiB:
                    n = 16 * MiB
                try:
                    r = fetch(p.port, f"/{kind}/{n}", conn=c, timeout=20)
                except (OSError, http.client.HTTPException) as e:
                    check(False, f"/{kind}/{n}: {e!r}")
                    c.close()
                    c = http.client.HTTPConnection("127.0.0.1", p.port, timeout=60)
                    continue
                check(r.status == 200 and r.n == n and r.sha == pattern_sha(n),
                      f"/{kind}/{n}: status {r.status}, {r.n} bytes, hash "
                      f"{'ok' if r.sha == pattern_sha(n) else 'wrong'}")
                check(r.h1("x-backend") == "b", f"/{kind}/{n}: X-Backend {r.h('x-backend')}")
                if kind == "size":
                    check(r.h1("content-length") == str(n),
                          f"/size/{n}: Content-Length {r.h('content-length')}")
                if kind == "close" and r.h1("connection") == "close":
                    c.close()
                    c = http.client.HTTPConnection("127.0.0.1", p.port, timeout=60)
        c.close()
    finally:
        check(p.stop() == 0, "proxy exit status")
        b.stop()


def test_bodies_up():
    """Uploads byte-exact from 0 B to 64 MiB: curl --data-binary @file (Content-Length, and
    Expect: 100-continue, which curl sends for the large ones), chunked by curl, and chunked
    by a raw client in pieces of every size."""
    b = Backend("b")
    p = Proxy("--upstream", b.addr)
    try:
        url = f"http://127.0.0.1:{p.port}/upload"
        for n in (0, 1, 16384, MiB, 64 * MiB):
            f = write_pattern_file(n)
            for chunked in (False, True):
                extra = ["-H", "Transfer-Encoding: chunked"] if chunked else []
                r = curl("--data-binary", "@" + f, *extra, url, timeout=90)
                got = as_json(r.stdout)
                what = f"curl upload {n} B{' chunked' if chunked else ''}"
                check(r.returncode == 0 and got.get("len") == n
                      and got.get("sha256") == pattern_sha(n),
                      f"{what}: curl {r.returncode} {r.stderr[-200:]!r}, backend saw "
                      f"{got.get('len')} bytes, hash "
                      f"{'ok' if got.get('sha256') == pattern_sha(n) else 'wrong'}")
                if got and n:
                    te = hdr(got["headers"], "transfer-encoding")
                    cl = hdr(got["headers"], "content-length")
                    check(len(te) + len(cl) == 1, f"{what}: framed upstream as TE {te} CL {cl}")
        # Expect: 100-continue asked for: the upload goes on after a 100 (from ringer or the
        # backend), not after curl's 1 s wait, and arrives whole.
        f = write_pattern_file(16384)
        r = curl("-v", "-H", "Expect: 100-continue", "--expect100-timeout", "20",
                 "--data-binary", "@" + f, url, timeout=40)
        got = as_json(r.stdout)
        check(b"< HTTP/1.1 100" in r.stderr, f"Expect: 100-continue: no 100 Continue: "
              f"{r.stderr[-400:]!r}")
        check(got.get("len") == 16384 and got.get("sha256") == pattern_sha(16384),
              f"Expect: 100-continue: the upload arrived as {got.get('len')} bytes "
              f"{got.get('not_json', b'')!r}")
        # Chunked by hand: chunk sizes from 1 byte to 64 KiB, with a chunk extension, a
        # trailer, and the whole sent while the response is read on the same connection.
        for n in (0, 1, 100000, 64 * MiB):
            s, fr = raw(p.port, b"", timeout=60)
            s.sendall(b"POST /upload HTTP/1.1\r\nHost: up.example\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n")
            rng = random.Random(n)

            def send():
                try:
                    for blk in pattern(n):
                        while blk:
                            k = rng.randint(1, len(blk))
                            ext = b";x=y" if rng.random() < 0.1 else b""
                            s.sendall(b"%x%s\r\n" % (k, ext) + blk[:k] + b"\r\n")
                            blk = blk[k:]
                    s.sendall(b"0\r\nX-Trailer: t\r\n\r\n")
                except OSError:
                    pass

            t = threading.Thread(target=send, daemon=True)
            t.start()
            r = read_response(fr)
            t.join(60)
            got = as_json(r.body)
            check(r.status == 200 and got.get("len") == n and got.get("sha256") == pattern_sha(n),
                  f"raw chunked upload {n} B: status {r.status} {r.body[:60]!r}, backend saw "
                  f"{got.get('len')} bytes, hash "
                  f"{'ok' if got.get('sha256') == pattern_sha(n) else 'wrong'}")
            s.close()
    finally:
        check(p.stop() == 0, "proxy exit status")
        b.stop()


def test_chunked_upload_small_chunks():
    """Chunked uploads of 64 MiB in chunks of 1 to 300 bytes (about 450,000 chunk heads, so
    many straddle the proxy's receive buffers while the upstream holds it back), four on one
    connection: each arrives whole, none stalls (--body-timeout 2000 would answer 408)."""
    b = Backend("b")
    p = Proxy("--upstream", b.addr, "--body-timeout", "2000", shards=1)
    try:
        s, fr = raw(p.port, b"", timeout=30)
        n = 64 * MiB
        for k in range(4):
            rng = random.Random(k)

            def send():
                try:
                    s.sendall(b"POST /upload-throttled?k=%d HTTP/1.1\r\nHost: up\r\n"
                              b"Transfer-Encoding: chunked\r\n\r\n" % k)
                    for blk in pattern(n):  # a send per chunk: segments of every size
                        while blk:
                            c = min(len(blk), rng.randint(1, 300))
                            s.sendall(b"%x\r\n" % c + blk[:c] + b"\r\n")
                            blk = blk[c:]
                    s.sendall(b"0\r\n\r\n")
                except OSError:
                    pass

            t0 = time.time()
            t = threading.Thread(target=send, daemon=True)
            t.start()
            r = read_response(fr)
            t.join(30)
            got = as_json(r.body)
            ok = check(r.status == 200 and got.get("len") == n
                       and got.get("sha256") == pattern_sha(n),
                       f"upload {k}: {r.status} {r.body[:60]!r} after {time.time() - t0:.1f} s, "
                       f"backend saw {got.get('len')} bytes")
            if not ok:
                break
        s.close()
    finally:
        check(p.stop() == 0, "proxy exit status")
        b.stop()


def test_head_304_204():
    """HEAD (curl -I and http.client), 304 to If-None-Match and 204 are framed without a
    body, and the connection serves the next request after each."""
    b = Backend("b")
    p = Proxy("--upstream", b.addr)
    try:
        r = curl("-I", f"http://127.0.0.1:{p.port}/size/{MiB}")
        check(r.returncode == 0 and b"content-length: 1048576" in r.stdout.lower(),
              f"curl -I: {r.returncode} {r.stdout[:300]!r} {r.stderr[-200:]!r}")
        r = curl("-I", f"http://127.0.0.1:{p.port}/chunked/5000")
        check(r.returncode == 0 and r.stdout.startswith(b"HTTP/1.1 200"),
              f"curl -I chunked: {r.returncode} {r.stdout[:300]!r}")
        c = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10)
        for method, path, hdrs, want in (
                ("HEAD", f"/size/{MiB}", {}, 200), ("GET", "/size/5", {}, 200),
                ("HEAD", "/chunked/100", {}, 200), ("GET", "/etag", {}, 200),
                ("GET", "/etag", {"If-None-Match": '"v1"'}, 304), ("GET", "/size/7", {}, 200),
                ("GET", "/status/204", {}, 204), ("GET", "/size/9", {}, 200)):
            r = fetch(p.port, path, method, hdrs, conn=c)
            n = 0 if method == "HEAD" or want != 200 else \
                (len(b"etag body\n") if path == "/etag" else int(path.rsplit("/", 1)[1]))
            check(r.status == want and r.n == n, f"{method} {path} {hdrs}: {r.status}, {r.n} B")
        # curl's own conditional GET: the ETag from the first answer, 304 the second time
        r = curl("-i", "-H", 'If-None-Match: "v1"', f"http://127.0.0.1:{p.port}/etag")
        check(r.stdout.startswith(b"HTTP/1.1 304") and r.stdout.endswith(b"\r\n\r\n"),
              f"curl If-None-Match: {r.stdout[:300]!r}")
        c.close()
    finally:
        check(p.stop() == 0, "proxy exit status")
        b.stop()


def test_connection_semantics():
    """A 103 before a 200 (both reach the client or the 103 is dropped; the 200 whole, the
    next pipelined request answered after it); a client's Connection: close and an HTTP/1.0
    client: answered whole, then the connection closed."""
    b = Backend("b")
    p = Proxy("--upstream", b.addr)
    try:
        s, f = raw(p.port, b"GET /early HTTP/1.1\r\nHost: e\r\n\r\n"
                           b"GET /size/5 HTTP/1.1\r\nHost: e\r\n\r\n")
        first = read_head(f)  # the 103, or the 200 if the proxy drops 1xx
        r1 = read_response(f, head=first)
        print(f"  /early: the client saw {first[0]} first", flush=True)
        check(first[0] in (103, 200) and r1.status == 200 and r1.body == b"after hints\n",
              f"after a 103: {first} {r1.status} {r1.body!r}")
        r2 = read_response(f)
        check(r2.status == 200 and r2.h1("x-path") == "/size/5" and r2.n == 5,
              f"the request after a 103: {r2.status} {r2.h1('x-path')}")
        s.close()
        for what, req in (("Connection: close", b"GET /size/5 HTTP/1.1\r\nHost: c\r\n"
                                                  b"Connection: close\r\n\r\n"),
                          ("HTTP/1.0", b"GET /size/5 HTTP/1.0\r\nHost: c\r\n\r\n")):
            s, f = raw(p.port, req, timeout=5)
            try:
                r = read_response(f)
            except (EOFError, OSError, ValueError) as e:
                r = Resp(0, [], error=e)
            try:
                rest = f.read(1)
            except OSError as e:
                rest = repr(e)
            check(r.status == 200 and r.n == 5 and r.complete, f"{what}: {r.status} {r.n} B "
                  f"{r.error!r}")
            check(rest == b"", f"{what}: the connection stayed open ({rest!r})")
            s.close()
    finally:
        check(p.stop() == 0, "proxy exit status")
        b.stop()


def test_headers_added_and_removed():
    """At the backend: hop-by-hop headers and the ones Connection names gone, Host kept,
    X-Forwarded-For appended, X-Forwarded-Proto and -Host, Via; at the client: the
    response's hop-by-hop headers gone and Via."""
    b = Backend("b")
    p = Proxy("--upstream", b.addr)
    try:
        r = fetch(p.port, "/headers", headers={
            "Host": "site.example:8080", "X-Forwarded-For": "10.1.2.3",
            "Connection": "keep-alive, X-Secret", "X-Secret": "s", "Keep-Alive": "timeout=5",
            "TE": "trailers", "Trailer": "X-T", "Proxy-Authorization": "Basic eDp5",
            "Proxy-Connection": "keep-alive", "X-Keep": "yes"})
        got = as_json(r.body).get("headers", [])
        check(r.status == 200 and got, f"/headers: {r.status} {r.body[:200]!r}")
        for gone in ("x-secret", "keep-alive", "te", "trailer", "proxy-authorization",
                     "proxy-connection"):
            check(not hdr(got, gone), f"{gone} reached the backend: {hdr(got, gone)}")
        conn = [v.lower() for v in hdr(got, "connection")]
        check(all(v == "keep-alive" for v in conn), f"Connection upstream: {conn}")
        check(hdr(got, "x-keep") == ["yes"], f"X-Keep: {hdr(got, 'x-keep')}")
        check(hdr(got, "host") == ["site.example:8080"], f"Host: {hdr(got, 'host')}")
        xff = ", ".join(hdr(got, "x-forwarded-for"))
        check(re.fullmatch(r"10\.1\.2\.3, *127\.0\.0\.1", xff) is not None, f"XFF: {xff!r}")
        check(hdr(got, "x-forwarded-proto") == ["http"], f"XFP {hdr(got, 'x-forwarded-proto')}")
        check(hdr(got, "x-forwarded-host") == ["site.example:8080"],
              f"X-Forwarded-Host {hdr(got, 'x-forwarded-host')}")
        check(any(re.search(r"1\.1 ringer", v) for v in hdr(got, "via")),
              f"Via upstream: {hdr(got, 'via')}")
        check(not hdr(got, "forwarded"), f"Forwarded without rfc7239: {hdr(got, 'forwarded')}")
        # without an X-Forwarded-For of the client's
        r = fetch(p.port, "/headers")
        got = as_json(r.body).get("headers", [])
        check(hdr(got, "x-forwarded-for") == ["127.0.0.1"], f"XFF {hdr(got, 'x-forwarded-for')}")
        # the response's way
        r = fetch(p.port, "/hop")
        for gone in ("x-hop-resp", "keep-alive"):
            check(not r.h(gone), f"response: {gone} reached the client: {r.h(gone)}")
        check(r.h1("x-end") == "1" and r.body == b"hop\n", f"response: {r.headers} {r.body!r}")
        check(any("ringer" in v for v in r.h("via")), f"Via to the client: {r.h('via')}")
        check(not any("x-hop-resp" in v.lower() for v in r.h("connection")),
              f"response Connection: {r.h('connection')}")
    finally:
        check(p.stop() == 0, "proxy exit status")
        b.stop()


def test_forwarded_modes():
    """--forwarded rfc7239: Forwarded appended (for, proto, host), no X-Forwarded-*;
    --forwarded none: neither, the client's own passed as they are; --accept-proxy: the
    client address is the PROXY header's."""
    b = Backend("b")
    p = Proxy("--upstream", b.addr, "--forwarded", "rfc7239")
    try:
        r = fetch(p.port, "/headers", headers={"Host": "site.example:8080",
                                               "Forwarded": "for=10.1.2.3"})
        got = as_json(r.body).get("headers", [])
        elems = [e.strip() for v in hdr(got, "forwarded") for e in v.split(",")]
        check(len(elems) == 2 and elems[0] == "for=10.1.2.3", f"Forwarded: {elems}")
        last = dict((kv.split("=", 1)[0].strip().lower(), kv.split("=", 1)[1].strip().strip('"'))
                    for kv in (elems[-1].split(";") if elems else []) if "=" in kv)
        check(last.get("for") == "127.0.0.1" and last.get("proto") == "http"
              and last.get("host") == "site.example:8080", f"Forwarded: {elems}")
        check(not hdr(got, "x-forwarded-for") and not hdr(got, "x-forwarded-proto"),
              f"X-Forwarded-* with rfc7239: {got}")
        check(any("ringer" in v for v in hdr(got, "via")), f"Via: {hdr(got, 'via')}")
    finally:
        check(p.stop() == 0, "proxy exit status (rfc7239)")
    p = Proxy("--upstream", b.addr, "--forwarded", "none")
    try:
        r = fetch(p.port, "/headers", headers={"X-Forwarded-For": "10.9.9.9"})
        got = as_json(r.body).get("headers", [])
        check(hdr(got, "x-forwarded-for") == ["10.9.9.9"] and not hdr(got, "forwarded")
              and not hdr(got, "x-forwarded-proto"), f"--forwarded none: {got}")
    finally:
        check(p.stop() == 0, "proxy exit status (none)")
    p = Proxy("--upstream", b.addr, "--accept-proxy")
    try:
        s, f = raw(p.port, f"PROXY TCP4 203.0.113.7 127.0.0.1 5555 {p.port}\r\n"
                   "GET /headers HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        r = read_response(f)
        got = as_json(r.body).get("headers", [])
        check(hdr(got, "x-forwarded-for") == ["203.0.113.7"],
              f"--accept-proxy: XFF {hdr(got, 'x-forwarded-for')} ({r.status})")
        s.close()
    finally:
        check(p.stop() == 0, "proxy exit status (accept-proxy)")
        b.stop()


def test_tls_front():
    """TLS terminated by the proxy (--tls-cert) in front of a plaintext upstream: curl over
    https gets a 1 MiB body byte-exact and uploads one, and the upstream is told
    X-Forwarded-Proto: https."""
    cert, key = os.path.join(TMP, "cert.pem"), os.path.join(TMP, "key.pem")
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                           "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
                           "/CN=localhost", "-keyout", key, "-out", cert],
                          capture_output=True, timeout=30)
    if made.returncode:
        raise Skip(f"openssl could not make a certificate: {made.stderr[-200:]!r}")
    b = Backend("b")
    p = Proxy("--upstream", b.addr, "--tls-cert", cert, "--tls-key", key)
    try:
        url = f"https://127.0.0.1:{p.port}"
        r = curl("-k", "-D", "-", f"{url}/size/{MiB}")
        head, _, body = r.stdout.partition(b"\r\n\r\n")
        check(r.returncode == 0 and head.startswith(b"HTTP/1.1 200") and len(body) == MiB
              and hashlib.sha256(body).hexdigest() == pattern_sha(MiB),
              f"https download: curl {r.returncode}, {len(body)} B, {r.stderr[-200:]!r}")
        r = curl("-k", "--data-binary", "@" + write_pattern_file(MiB), f"{url}/upload")
        got = as_json(r.stdout)
        check(got.get("len") == MiB and got.get("sha256") == pattern_sha(MiB),
              f"https upload: {got.get('len')} B")
        check(hdr(got.get("headers", []), "x-forwarded-proto") == ["https"],
              f"X-Forwarded-Proto behind TLS: {hdr(got.get('headers', []), 'x-forwarded-proto')}")
    finally:
        check(p.stop() == 0, "proxy exit status")
        b.stop()


class TlsBackend(Backend):
    """A Backend that speaks TLS (the certificate given) on every connection it accepts."""

    def __init__(self, name, cert, key):
        import ssl
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        super().__init__(name)

    def get_request(self):
        sock, addr = super().get_request()
        sock.settimeout(10)
        return self.ctx.wrap_socket(sock, server_side=True), addr


def make_cert():
    cert, key = os.path.join(TMP, "up-cert.pem"), os.path.join(TMP, "up-key.pem")
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                           "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
                           "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                           "-keyout", key, "-out", cert], capture_output=True, timeout=30)
    if made.returncode:
        raise Skip(f"openssl could not make a certificate: {made.stderr[-200:]!r}")
    return cert, key


def test_tls_upstream():
    """TLS to the upstream (--upstream ADDR,tls with --upstream-ca): 1 MiB each way byte-exact
    over pooled TLS connections; the same upstream with a CA that did not sign it is never
    sent a request (the handshake fails: 502)."""
    cert, key = make_cert()
    b = TlsBackend("t", cert, key)
    p = Proxy("--upstream", b.addr + ",tls", "--upstream-ca", cert, shards=1)
    try:
        c = http.client.HTTPConnection("127.0.0.1", p.port, timeout=15)
        for _ in range(3):
            r = fetch(p.port, f"/size/{MiB}", conn=c)
            check(r.status == 200 and r.n == MiB and r.sha == pattern_sha(MiB),
                  f"download over TLS upstream: {r.status}, {r.n} B")
        data = b"".join(pattern(MiB))
        r = fetch(p.port, "/upload", "POST", body=data, conn=c)
        got = as_json(r.body)
        check(r.status == 200 and got.get("len") == MiB and got.get("sha256") == pattern_sha(MiB),
              f"upload over TLS upstream: {r.status}, {got.get('len')} B")
        c.close()
        check(b.accepts == 1, f"{b.accepts} TLS connections accepted for 4 requests on one "
              f"client connection, want 1 (the pool)")
    finally:
        check(p.stop() == 0, "proxy exit status")
    other, _ = make_cert()  # a new key: the same name, not the upstream's certificate
    seen = len(b.log)
    p = Proxy("--upstream", b.addr + ",tls", "--upstream-ca", other, shards=1)
    try:
        r = fetch(p.port, "/size/5")
        check(r.status == 502, f"an upstream whose certificate does not verify: {r.status}")
        check(len(b.log) == seen, f"the unverified upstream got {len(b.log) - seen} requests")
    finally:
        check(p.stop() == 0, "proxy exit status")
        b.stop()


def test_slow_body_408():
    """--body-timeout/--body-min-rate on request bodies: a body trickled at 200 B/s against a
    1,000 B/s minimum is answered 408 within the timeout and never completes at the upstream;
    one sent at 4,000 B/s passes whole."""
    b = Backend("b")
    p = Proxy("--upstream", b.addr, "--body-timeout", "1000", "--body-min-rate", "1000")
    try:
        s, f = raw(p.port, b"POST /upload HTTP/1.1\r\nHost: up\r\nContent-Length: 100000\r\n\r\n")
        import select
        t0, status, sent = time.time(), None, 0
        while time.time() - t0 < 6 and status is None and sent < 2000:
            try:
                s.sendall(b"x" * 20)
                sent += 20
            except OSError:
                break
            if select.select([s], [], [], 0.1)[0]:
                line = f.readline()
                status = int(line.split()[1]) if line else -1
        took = time.time() - t0
        check(status == 408 and took < 4, f"trickled body: status {status} after {took:.1f} s")
        s.close()
        check(not any(r.get("complete") and r["target"] == "/upload" for r in b.log),
              f"the trickled body completed at the upstream: {b.log[-1:]}")
        body = b"y" * 6000
        s, f = raw(p.port, b"POST /upload HTTP/1.1\r\nHost: up\r\nContent-Length: 6000\r\n\r\n")
        for k in range(0, len(body), 1000):
            s.sendall(body[k:k + 1000])
            time.sleep(0.25)
        s.settimeout(10)
        line = f.readline()
        check(line.startswith(b"HTTP/1.1 200"), f"a body at 4,000 B/s: {line!r}")
        s.close()
    finally:
        check(p.stop() == 0, "proxy exit status")
        b.stop()


class ChaosUpstream:
    """An upstream that answers each request badly, by a seeded choice: random bytes, a short
    body then the close, a chunked body cut off, a reset, an unasked 101, an interim before a
    204, or (sometimes) a good answer."""

    def __init__(self, seed):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.rng = random.Random(seed)
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c, random.Random(self.rng.random())),
                             daemon=True).start()

    @staticmethod
    def _serve(c, r):
        answers = [lambda: r.randbytes(r.randint(1, 3000)),
                   lambda: b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
                   lambda: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
                   lambda: None,
                   lambda: (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n"
                            b"Connection: upgrade\r\n\r\n" + r.randbytes(100)),
                   lambda: b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
                   lambda: b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"]
        try:
            c.settimeout(3)
            while c.recv(65536):
                k = r.randrange(len(answers))
                data = answers[k]()
                if data is None:
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    break
                c.sendall(data)
                if k in (1, 2, 4):
                    break
        except OSError:
            pass
        finally:
            c.close()

    def stop(self):
        self.stopped = True
        self.sock.close()


def test_hostile_mix():
    """Sixteen clients for 8 s sending good, truncated, smuggling, upgrade, pipelined and
    random requests, some resetting, to a route whose upstream answers badly each time, beside
    a well-behaved one: ringer stays up, answers the good route 200 during and after, ends with
    every connection gone (no illegal transition, no sanitizer report, exit 0)."""
    bad = ChaosUpstream(22)
    good = Backend("good")
    p = Proxy("--upstream-group", "bad=" + bad.addr, "--upstream", good.addr, "--route",
              "/chaos=bad", "--upstream-timeout", "1000", "--header-timeout", "1000")
    reqs = [b"GET /chaos/a HTTP/1.1\r\nHost: a\r\n\r\n",
            b"POST /chaos/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
            b"POST /chaos/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n0\r\n\r\n",
            b"GET /chaos/ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
            b"GET /chaos HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n",
            b"HEAD /chaos HTTP/1.0\r\n\r\n",
            b"PUT /chaos HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nabcd"]
    end = time.time() + 8
    done, good_ok, good_all, good_bad = [0], [0], [0], []

    def client(seed):
        r = random.Random(seed)
        while time.time() < end:
            try:
                if r.random() < 0.1:
                    good_all[0] += 1
                    try:
                        gr = fetch(p.port, "/size/100", timeout=15)
                    except (OSError, http.client.HTTPException) as e:
                        good_bad.append(repr(e))
                        continue
                    good_ok[0] += gr.status == 200
                    if gr.status != 200:
                        good_bad.append((gr.status, gr.body[:80]))
                    continue
                c = socket.create_connection(("127.0.0.1", p.port), timeout=2)
                data = b"".join(r.choice(reqs) for _ in range(r.randint(1, 4)))
                if r.random() < 0.2:
                    data = data[:r.randint(0, len(data))]
                if r.random() < 0.1:
                    data = r.randbytes(r.randint(1, 500))
                c.sendall(data)
                if r.random() < 0.3:
                    c.shutdown(socket.SHUT_WR)
                if r.random() < 0.2:
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                else:
                    try:
                        while c.recv(65536):
                            pass
                    except OSError:
                        pass
                c.close()
                done[0] += 1
            except OSError:
                pass

    try:
        threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        check(done[0] > 100, f"only {done[0]} hostile connections went through")
        check(good_all[0] > 0 and good_ok[0] == good_all[0],
              f"the good route during it: {good_ok[0]} of {good_all[0]} answered 200; "
              f"the others: {good_bad[:5]}")
        r = fetch(p.port, "/size/1000")
        check(r.status == 200 and r.n == 1000, f"the good route after it: {r.status}, {r.n} B")
    finally:
        check(p.stop() == 0, "proxy exit status")
        bad.stop()
        good.stop()
    dump = "".join(p.out)
    m = re.search(r"connections by TCP state: (.*)", dump)
    check(m and all(v == "0" for v in re.findall(r"=(\d+)", m.group(1))),
          f"connections left at exit: {m.group(1) if m else dump[-300:]}")


def test_pipelined_in_order():
    """Requests pipelined on one connection (the first slow, one HEAD, one 304, one chunked)
    are answered in the order they were sent, each whole."""
    b = Backend("b")
    p = Proxy("--upstream", b.addr)
    try:
        reqs = [("GET", "/sleep/300", {}), ("GET", "/size/5", {}), ("HEAD", "/size/70", {}),
                ("GET", "/chunked/3000", {}), ("GET", "/etag", {"If-None-Match": '"v1"'}),
                ("POST", "/upload", {"Content-Length": "3"}), ("GET", "/a/b?c=d", {}),
                ("GET", "/size/100000", {})]
        data = b""
        for m, path, h in reqs:
            data += f"{m} {path} HTTP/1.1\r\nHost: pipe.example\r\n".encode()
            data += b"".join(f"{k}: {v}\r\n".encode() for k, v in h.items()) + b"\r\n"
            if m == "POST":
                data += b"abc"
        s, f = raw(p.port, data)
        got = []
        for m, path, _ in reqs:
            r = read_response(f, m)
            got.append((r.h1("x-path"), r.status, r.complete))
        check([g[0] for g in got] == [r[1] for r in reqs], f"pipelined order: {got}")
        check(all(g[2] for g in got) and [g[1] for g in got] == [200, 200, 200, 200, 304, 200,
                                                                  200, 200], f"pipelined: {got}")
        s.close()
    finally:
        check(p.stop() == 0, "proxy exit status")
        b.stop()


def test_routing():
    """Host routes (exact, *.suffix, port and case ignored) with the longest prefix, then
    routes without a host, then the default group; without a default group, 404 from ringer
    and nothing reaches an upstream."""
    api, web, dflt = Backend("api"), Backend("web"), Backend("default")
    p = Proxy("--upstream-group", f"api={api.addr}", "--upstream-group", f"web={web.addr}",
              "--upstream", dflt.addr, "--route", "/api/=api", "--route", "static.example=web",
              "--route", "static.example/img/big/=api", "--route", "*.cdn.example=web",
              "--route", "static.example/api/=default")
    try:
        for host, path, want in (
                ("any.example", "/api/users", "api"), ("any.example", "/index", "default"),
                ("static.example", "/img/a.png", "web"), ("static.example", "/img/big/b", "api"),
                ("STATIC.Example:8080", "/img/c", "web"), ("x.cdn.example", "/y", "web"),
                ("static.example", "/api/v1", "default"), ("other", "/", "default")):
            r = fetch(p.port, path, headers={"Host": host})
            check(r.status == 200 and r.h1("x-backend") == want,
                  f"Host {host} {path}: {r.status} from {r.h1('x-backend')}, want {want}")
    finally:
        check(p.stop() == 0, "proxy exit status")
    n = len(api.log)
    p = Proxy("--upstream-group", f"api={api.addr}", "--route", "/api/=api")
    try:
        r = fetch(p.port, "/api/x", headers={"Host": "h"})
        check(r.status == 200 and r.h1("x-backend") == "api", f"/api/x: {r.status}")
        r = fetch(p.port, "/other", headers={"Host": "h"})
        ringer_answer(r, 404, "no route")
        check(len(api.log) == n + 1, f"the unrouted request reached the upstream: {api.log[n:]}")
    finally:
        check(p.stop() == 0, "proxy exit status (no default group)")
        for x in (api, web, dflt):
            x.stop()


def test_pool_reuse():
    """Upstream connections are pooled and reused across clients: 40 requests on 40 client
    connections open a handful (one a shard at most, one at a time); --pool-size 0 opens
    one per request; --pool-idle-timeout closes an idle pooled connection in time."""
    b = Backend("b")
    p = Proxy("--upstream", b.addr)
    try:
        bad = [r.status for r in (fetch(p.port, "/size/10") for _ in range(40)) if r.status != 200]
        check(not bad, f"pooled: statuses {bad}")
        check(1 <= b.accepts <= 2, f"40 sequential clients: {b.accepts} upstream connections, "
              "want 1 or 2 (2 shards)")
        reused = p.metric(f'ringer_upstream_pool_reused_total{{upstream="{b.addr}"}}')
        check(reused is not None and 40 - b.accepts <= reused <= 40,
              f"ringer_upstream_pool_reused_total {reused} for 40 requests on {b.accepts} "
              "connections")
    finally:
        check(p.stop() == 0, "proxy exit status")
    b2 = Backend("b2")
    p = Proxy("--upstream", b2.addr, "--pool-size", "0")
    try:
        bad = [r.status for r in (fetch(p.port, "/size/10") for _ in range(10)) if r.status != 200]
        check(not bad and b2.accepts == 10, f"--pool-size 0: {b2.accepts} upstream connections "
              f"for 10 requests, statuses {bad}")
    finally:
        check(p.stop() == 0, "proxy exit status (pool 0)")
    b3 = Backend("b3")
    p = Proxy("--upstream", b3.addr, "--pool-idle-timeout", "500", shards=1)
    try:
        t0 = time.time()
        r = fetch(p.port, "/size/10")
        check(r.status == 200, f"idle timeout: {r.status}")
        closed = wait_for(lambda: b3.closed_at, 4)
        dt = closed[0] - t0 if closed else None
        check(dt is not None and 0.4 <= dt <= 3.0,
              f"--pool-idle-timeout 500: the pooled connection closed after {dt} s")
    finally:
        check(p.stop() == 0, "proxy exit status (idle timeout)")
        for x in (b, b2, b3):
            x.stop()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def test_concurrent_clients():
    """16 clients at once, each 15 requests of its own mix (GET of sizes and framings, POST
    uploads of random bodies) over pooled connections: every answer is its request's, whole
    and byte-exact (no response crosses to another client or another request)."""
    b = Backend("b")
    p = Proxy("--upstream", b.addr, "--pool-size", "4")
    bad = []

    def client(k):
        rng = random.Random(k)
        c = http.client.HTTPConnection("127.0.0.1", p.port, timeout=20)
        try:
            for i in range(15):
                kind = rng.choice(("size", "chunked", "close", "upload"))
                n = rng.choice((0, 1, 100, 5000, 70000, 300000))
                if kind == "upload":
                    body = rng.randbytes(n)
                    r = fetch(p.port, f"/upload?c={k}&i={i}", "POST", body=body, conn=c)
                    got = as_json(r.body)
                    ok = r.status == 200 and got.get("len") == n and \
                        got.get("sha256") == hashlib.sha256(body).hexdigest() and \
                        got.get("target") == f"/upload?c={k}&i={i}"
                else:
                    path = f"/{kind}/{n}?c={k}&i={i}"
                    r = fetch(p.port, path, conn=c)
                    ok = r.status == 200 and r.n == n and r.sha == pattern_sha(n) and \
                        r.h1("x-path") == path
                    if kind == "close" and r.h1("connection") == "close":
                        c.close()
                        c = http.client.HTTPConnection("127.0.0.1", p.port, timeout=20)
                if not ok:
                    bad.append((k, i, kind, n, r.status, r.n))
        except (OSError, http.client.HTTPException) as e:
            bad.append((k, repr(e)))
        finally:
            c.close()

    try:
        threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        check(not any(t.is_alive() for t in threads), "clients still running after 120 s")
        check(not bad, f"{len(bad)} wrong answers: {bad[:10]}")
    finally:
        check(p.stop() == 0, "proxy exit status")
        b.stop()


def test_backpressure():
    """A client that stops reading a 64 MiB response, and an upstream that waits before
    reading a 64 MiB upload: ringer holds neither body (its RSS grows by less than 16 MiB),
    and both arrive whole once the slow side reads."""
    b = Backend("b")
    p = Proxy("--upstream", b.addr, shards=1)
    try:
        base = rss_kib(p.proc.pid)
        s, f = raw(p.port, b"GET /size/%d HTTP/1.1\r\nHost: bp\r\n\r\n" % (64 * MiB), timeout=30)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        status, headers = read_head(f)
        first = f.read(65536)
        time.sleep(1.5)
        grown = rss_kib(p.proc.pid) - base
        check(grown < 16384, f"a client not reading: ringer's RSS grew {grown} KiB")
        h, n = hashlib.sha256(first), len(first)
        while n < 64 * MiB:
            d = f.read(min(1 << 16, 64 * MiB - n))
            if not d:
                break
            h.update(d)
            n += len(d)
        check(status == 200 and n == 64 * MiB and h.hexdigest() == pattern_sha(64 * MiB),
              f"the slow client's download: {status}, {n} B")
        s.close()
        base = rss_kib(p.proc.pid)
        path = write_pattern_file(64 * MiB)
        box = {}
        t = threading.Thread(target=lambda: box.update(r=curl(
            "--data-binary", "@" + path, f"http://127.0.0.1:{p.port}/slow-upload/2000",
            timeout=90)), daemon=True)
        t.start()
        time.sleep(1.5)
        grown = rss_kib(p.proc.pid) - base
        check(grown < 16384, f"an upstream not reading: ringer's RSS grew {grown} KiB")
        t.join(90)
        got = as_json(box["r"].stdout) if "r" in box else {}
        check(got.get("len") == 64 * MiB and got.get("sha256") == pattern_sha(64 * MiB),
              f"the upload to the slow upstream: {got.get('len')} B")
    finally:
        check(p.stop() == 0, "proxy exit status")
        b.stop()


def test_upstream_closes_pooled():
    """An upstream that closes each keep-alive connection after its response, at once or
    200 ms later: the next requests (GET at once, GET after a pause, a POST after the close
    was seen) are all served, never a 502."""
    b = Backend("b")
    p = Proxy("--upstream", b.addr, shards=1)
    try:
        statuses = []
        for delay in (0, 200):
            for pause in (0, 0.05, 0.3, 0, 0.3):
                statuses.append(fetch(p.port, f"/idle-close/{delay}").status)
                time.sleep(pause)
                statuses.append(fetch(p.port, "/size/3").status)
        check(all(s == 200 for s in statuses), f"after upstream closes: {statuses}")
        fetch(p.port, "/idle-close/0")
        time.sleep(0.3)
        n = len(b.reqs("/upload"))
        r = fetch(p.port, "/upload", "POST", body=b"x" * 1000)
        check(r.status == 200 and len(b.reqs("/upload")) == n + 1,
              f"POST after the upstream closed its pooled connection: {r.status}")
    finally:
        check(p.stop() == 0, "proxy exit status")
        b.stop()


def test_pool_gives_way():
    """Idle pooled connections give way when the shard's table is full: with --max-conns 4
    (a table of 8), four clients kept open and four idle connections pooled to group a, a
    request routed to group b gets a slot by the close of one of them and is served (with
    nothing closed it would be a 502); the other three still serve a."""
    a, b = Backend("a"), Backend("b")
    p = Proxy("--upstream-group", f"ga={a.addr}", "--upstream-group", f"gb={b.addr}",
              "--route", "a.test=ga", "--route", "b.test=gb", "--max-conns", "4", shards=1)
    conns = [http.client.HTTPConnection("127.0.0.1", p.port, timeout=10) for _ in range(4)]
    try:
        got = [None] * 4

        def one(k):
            try:
                got[k] = fetch(p.port, "/sleep/1000", headers={"Host": "a.test"},
                               conn=conns[k]).status
            except OSError as e:
                got[k] = repr(e)
        threads = [threading.Thread(target=one, args=(k,), daemon=True) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        check(got == [200] * 4 and a.accepts == 4,
              f"4 requests at once: {got}, {a.accepts} upstream connections, want 4")
        name = f'ringer_upstream_pool_idle{{upstream="{a.addr}"}}'
        wait_for(lambda: p.metric(name) == 4, 3)
        idle = p.metric(name)
        check(idle == 4, f"pooled to a: {idle}, want 4 (the table is full)")
        t0 = time.time()
        r = fetch(p.port, "/size/5", headers={"Host": "b.test"}, conn=conns[0])
        dt = time.time() - t0
        check(r.status == 200 and r.h1("x-backend") == "b",
              f"a request for b with the table full: {r.status} from {r.h1('x-backend')}")
        check(dt < 1.0, f"served after {dt:.2f} s (the slot frees by the next tick)")
        evicted = p.metric(f'ringer_upstream_pool_evicted_total{{upstream="{a.addr}"}}')
        check(evicted == 1, f"ringer_upstream_pool_evicted_total for a: {evicted}, want 1")
        check(wait_for(lambda: len(a.closed_at) >= 1, 3), "the closed pooled connection's FIN "
              "did not reach a")
        for k in (1, 2, 3):
            r = fetch(p.port, "/size/5", headers={"Host": "a.test"}, conn=conns[k])
            check(r.status == 200, f"a again on client {k}: {r.status}")
        check(a.accepts == 4, f"a again: {a.accepts} upstream connections, want the 3 pooled "
              "reused (4 in all)")
    finally:
        for c in conns:
            c.close()
        check(p.stop() == 0, "proxy exit status")
        a.stop()
        b.stop()


def test_upstream_down_502():
    """Connect refused: 502 from ringer, with a short text/plain body, quickly."""
    port = free_port()
    p = Proxy("--upstream", f"127.0.0.1:{port}")
    try:
        t0 = time.time()
        r = fetch(p.port, "/x")
        ringer_answer(r, 502, "upstream down")
        check(time.time() - t0 < 3, f"502 after {time.time() - t0:.1f} s")
    finally:
        check(p.stop() == 0, "proxy exit status")


def test_timeouts_504():
    """504 from ringer within --upstream-timeout when the response head does not come (a
    backend that sleeps; a listener that never accepts), and within --connect-timeout when
    the connect does not finish (a listener whose backlog is full: SYNs dropped)."""
    b = Backend("b")
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(64)  # never accepted, never answered
    full = socket.socket()
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    fillers = []
    for _ in range(3):
        f = socket.socket()
        f.setblocking(False)
        f.connect_ex(full.getsockname())
        fillers.append(f)
    time.sleep(0.2)
    try:
        for target, path, flags, lo, hi in (
                (b.addr, "/sleep/4000", ("--upstream-timeout", "1000"), 0.9, 2.5),
                (f"127.0.0.1:{hole.getsockname()[1]}", "/x", ("--upstream-timeout", "1000"),
                 0.9, 2.5),
                (f"127.0.0.1:{full.getsockname()[1]}", "/x",
                 ("--connect-timeout", "500", "--connect-retries", "0"), 0.4, 2.0)):
            p = Proxy("--upstream", target, *flags)
            try:
                t0 = time.time()
                r = fetch(p.port, path)
                dt = time.time() - t0
                ringer_answer(r, 504, f"{target}{path} {flags}")
                check(lo <= dt <= hi, f"{target}{path} {flags}: 504 after {dt:.2f} s, "
                      f"want {lo} to {hi}")
            finally:
                check(p.stop() == 0, "proxy exit status")
    finally:
        for s in fillers + [hole, full]:
            s.close()
        b.stop()


def test_queue_503():
    """Every upstream at its maxconn past --queue-timeout: 503 from ringer."""
    b = Backend("b")
    p = Proxy("--upstream", f"{b.addr},maxconn=1", "--queue-timeout", "300", shards=1)
    try:
        holder = threading.Thread(target=fetch, args=(p.port, "/sleep/2500"), daemon=True)
        holder.start()
        time.sleep(0.3)
        t0 = time.time()
        r = fetch(p.port, "/size/1")
        dt = time.time() - t0
        ringer_answer(r, 503, "maxconn=1 busy")
        check(0.25 <= dt <= 2.0, f"503 after {dt:.2f} s (--queue-timeout 300)")
        holder.join(10)
    finally:
        check(p.stop() == 0, "proxy exit status")
        b.stop()


def test_reset_mid_response():
    """An upstream that resets after half of a Content-Length body: the client sees its
    connection reset or cut short, never a complete response; an upstream that resets
    before any response byte: 502."""
    b = Backend("b")
    p = Proxy("--upstream", b.addr)
    try:
        for n in (20000, 4 * MiB):
            s, f = raw(p.port, b"GET /reset/%d HTTP/1.1\r\nHost: r\r\n\r\n" % n)
            t0 = time.time()
            try:
                r = read_response(f)
            except (EOFError, OSError) as e:
                r = Resp(0, [], complete=False, error=e)
            dt = time.time() - t0
            check(not r.complete, f"/reset/{n}: a complete response ({r.status}, {r.n} B, "
                  f"{r.headers})")
            check(r.n < n, f"/reset/{n}: {r.n} bytes")
            check(dt < 8 and not isinstance(r.error, socket.timeout),
                  f"/reset/{n}: the connection did not end ({dt:.1f} s, {r.error!r})")
            print(f"  /reset/{n}: {r.status}, {r.n} bytes, then {r.error!r}", flush=True)
            s.close()
        r = fetch(p.port, "/rst")
        ringer_answer(r, 502, "reset before the response")
    finally:
        check(p.stop() == 0, "proxy exit status")
        b.stop()


def test_smuggling_refused():
    """CL+TE, two different Content-Lengths, an obs-fold line, a bad Content-Length and a bad
    chunk size: each 400 from ringer, the connection closed, and nothing reaches the
    upstream (no request; for the bad chunk size, no request whole). A response with both
    Content-Length and Transfer-Encoding: 502."""
    b = Backend("b")
    p = Proxy("--upstream", b.addr)
    probes = {
        "CL+TE": b"POST /upload HTTP/1.1\r\nHost: s\r\nContent-Length: 5\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                 b"GET /smuggled HTTP/1.1\r\nHost: s\r\n\r\n",
        "two CL": b"POST /upload HTTP/1.1\r\nHost: s\r\nContent-Length: 5\r\n"
                  b"Content-Length: 6\r\n\r\nabcdef",
        "obs-fold": b"GET /folded HTTP/1.1\r\nHost: s\r\nX-Folded: a\r\n b\r\n\r\n",
        "bad CL": b"POST /upload HTTP/1.1\r\nHost: s\r\nContent-Length: 5x\r\n\r\nabcde",
        "bad chunk": b"POST /upload HTTP/1.1\r\nHost: s\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"zz\r\nabc\r\n0\r\n\r\n",
    }
    try:
        for what, data in probes.items():
            n = len(b.log)
            s, f = raw(p.port, data, timeout=5)
            try:
                r = read_response(f)
                rest = f.read(1)
            except (EOFError, OSError, ValueError) as e:
                r, rest = Resp(0, [], error=e), b"?"
            ringer_answer(r, 400, what)
            check(rest == b"", f"{what}: the connection stayed open after the 400")
            time.sleep(0.2)
            seen = b.log[n:]
            if what == "bad chunk":
                seen = [x for x in seen if x["complete"]]
            check(not seen, f"{what}: reached the upstream: "
                  f"{[(x['method'], x['target']) for x in seen]}")
            s.close()
        check(not b.reqs("/smuggled"), "the smuggled request reached the upstream")
        r = fetch(p.port, "/bad-framing")
        ringer_answer(r, 502, "a response with CL and TE")
    finally:
        check(p.stop() == 0, "proxy exit status")
        b.stop()


def test_retries():
    """A GET to a refusing upstream and a live one always gets 200; an idempotent request
    whose upstream reset before answering is tried on the next upstream; a POST whose
    upstream died after receiving it is not: 502, and it reached one upstream once."""
    live = Backend("live")
    dead = free_port()
    p = Proxy("--upstream", f"127.0.0.1:{dead}", "--upstream", live.addr)
    try:
        st = [fetch(p.port, f"/size/{i}").status for i in range(10)]
        check(st == [200] * 10, f"GETs with a dead upstream first: {st}")
    finally:
        check(p.stop() == 0, "proxy exit status")
    a, b = Backend("a"), Backend("b")
    p = Proxy("--upstream", a.addr, "--upstream", b.addr, shards=1)
    try:
        r = fetch(p.port, "/rst", "POST", body=b"p" * 5000)
        ringer_answer(r, 502, "POST reset by its upstream")
        posts = [x for x in a.log + b.log if x["method"] == "POST"]
        check(len(posts) == 1 and posts[0]["complete"] and posts[0]["len"] == 5000,
              f"the POST reached the upstreams {len(posts)} times: "
              f"{[(x['backend'], x['len']) for x in posts]}")
        r = fetch(p.port, "/rst", "PUT", body=b"u" * 100)
        puts = [x["backend"] for x in a.log + b.log if x["method"] == "PUT"]
        check(sorted(puts) == ["a", "b"], f"a PUT reset before any answer was tried on "
              f"{puts}, want each upstream once")
        check(r.status == 502, f"PUT reset by both: {r.status}")
    finally:
        check(p.stop() == 0, "proxy exit status")
        for x in (live, a, b):
            x.stop()


def test_max_body_413():
    """--max-body 1000: a 1000-byte body passes; 1001 bytes (Content-Length or chunked) get
    413 from ringer, and no body over the limit reaches the upstream."""
    b = Backend("b")
    p = Proxy("--upstream", b.addr, "--max-body", "1000")
    try:
        r = fetch(p.port, "/upload", "POST", body=b"x" * 1000)
        check(r.status == 200 and as_json(r.body).get("len") == 1000,
              f"1000 bytes: {r.status}")
        n = len(b.log)
        r = fetch(p.port, "/upload", "POST", body=b"x" * 1001)
        ringer_answer(r, 413, "1001 bytes, Content-Length")
        check(len(b.log) == n, f"the 413 request reached the upstream: {b.log[n:]}")
        s, f = raw(p.port, b"POST /upload HTTP/1.1\r\nHost: m\r\nTransfer-Encoding: chunked\r\n"
                   b"\r\n3e8\r\n" + b"y" * 1000 + b"\r\n1\r\nz\r\n0\r\n\r\n")
        r = read_response(f)
        ringer_answer(r, 413, "1001 bytes, chunked")
        time.sleep(0.2)
        check(not [x for x in b.log[n:] if x["complete"]],
              f"a chunked body over --max-body reached the upstream whole: {b.log[n:]}")
        s.close()
    finally:
        check(p.stop() == 0, "proxy exit status")
        b.stop()


def test_health_check_http():
    """--check-http "GET /health": a backend that accepts but answers 500 there is marked
    down (stderr, ringer_upstream_up 0) and gets no traffic; the healthy one gets it all."""
    good, sick = Backend("good"), Backend("sick", health=500)
    p = Proxy("--upstream", good.addr, "--upstream", sick.addr, "--check-http", "GET /health",
              "--check-interval", "200", "--check-fall", "2", "--check-rise", "2")
    try:
        up = f'ringer_upstream_up{{upstream="{sick.addr}"}}'
        check(wait_for(lambda: p.metric(up) == 0, 6), f"the 500 upstream is not marked down "
              f"({p.metric(up)}; checks it saw: {sick.health_checks})")
        check(good.health_checks > 0 and sick.health_checks >= 2,
              f"checks seen: good {good.health_checks}, sick {sick.health_checks}")
        check(any("is DOWN" in l and sick.addr in l for l in p.err), f"no DOWN line: {p.err}")
        check(not any(good.addr in l and "is DOWN" in l for l in p.err),
              "the healthy upstream was marked down")
        n = len(sick.log)
        st = [fetch(p.port, "/size/1").status for _ in range(20)]
        check(st == [200] * 20 and len(sick.log) == n,
              f"with one down: {st}, {len(sick.log) - n} requests reached it")
    finally:
        check(p.stop() == 0, "proxy exit status")
        good.stop()
        sick.stop()


def metric_lines(text, upstream):
    """(name, labels, value) of every sample naming upstream."""
    out = []
    for line in text.splitlines():
        m = re.match(r"^(\w+)\{([^}]*)\} (\S+)$", line)
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
        if labels.get("upstream") == upstream:
            out.append((m.group(1), labels, float(m.group(3))))
    return out


def test_access_log_and_metrics():
    """--log FILE: one line per request (not per connection) in man ringer's format: the
    request line, status, bytes, upstream, connect time (-1 on a pooled connection) and a
    termination code (SR for an upstream's reset); /metrics: per upstream responses by
    status class."""
    b = Backend("b")
    log = os.path.join(TMP, "access.log")
    p = Proxy("--upstream", b.addr, "--log", log, shards=1)
    try:
        c = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10)
        done = [(m, path, fetch(p.port, path, m, body=body, conn=c).status)
                for m, path, body in (("GET", "/size/5", None), ("POST", "/upload", b"abc"),
                                      ("GET", "/status/404", None), ("GET", "/size/6", None),
                                      ("GET", "/status/404", None), ("GET", "/status/503", None))]
        c.close()
        check([d[2] for d in done] == [200, 200, 404, 200, 404, 503], f"statuses {done}")
        got = {}
        for name, labels, v in metric_lines(p.metrics(), b.addr):
            cls = [x for x in labels.values() if re.fullmatch(r"[1-5]xx", x)]
            if cls and not name.endswith(("_bucket", "_sum", "_count")):
                got[(name, cls[0])] = v
        classes = {cls: v for (name, cls), v in got.items()}
        check(classes.get("2xx") == 3 and classes.get("4xx") == 2 and classes.get("5xx") == 1,
              f"per upstream by status class: {got}")
        done.append(("GET", "/rst", fetch(p.port, "/rst").status))
    finally:
        check(p.stop() == 0, "proxy exit status")
        b.stop()
    lines = open(log).read().splitlines() if os.path.exists(log) else []
    check(len(lines) == len(done), f"{len(lines)} access log lines for {len(done)} requests: "
          f"{lines}")
    form = re.compile(r'^(\S+) 127\.0\.0\.1(?::\d+)? "(\S+) (\S+)" (\d{3}) (\d+) (\d+) (\S+) '
                      r'(-?\d+) (-?\d+) (-?\d+) ([A-Z-]{2})(?:\s|$)')
    for k, (line, (m, path, status)) in enumerate(zip(lines, done)):
        f = form.match(line)
        if not check(f is not None, f"not TIME CLIENT \"METHOD PATH\" STATUS BYTES_IN BYTES_OUT "
                     f"UPSTREAM CONNECT_MS RESPONSE_MS TOTAL_MS CODE: {line}"):
            continue
        _, fm, fpath, fstatus, bin_, bout, up, cms, rms, tms, code = f.groups()
        check((fm, fpath, int(fstatus)) == (m, path, status), f"line {k}: {line}, want {m} "
              f"{path} {status}")
        check(up == b.addr, f"line {k}: upstream {up}, want {b.addr}")
        check(int(bin_) > len(f"{m} {path} HTTP/1.1") and int(bout) > (12 if status != 502 else 0),
              f"line {k}: bytes in {bin_}, out {bout}")
        if path != "/rst":
            check(int(cms) >= 0 if k == 0 else int(cms) == -1,
                  f"line {k}: connect {cms} ms (the first request connects, the rest reuse)")
        # the reset GET was retried and found no further upstream: SR or NU
        check(code in (("SR", "NU") if path == "/rst" else ("--",)), f"line {k}: code {code}")
        check(int(tms) >= 0 and (int(rms) >= 0) == (path != "/rst"),
              f"line {k}: response {rms} ms, total {tms} ms")


def test_websocket():
    """Upgrade: websocket through the proxy: the 101 with the right Accept, masked frames of
    1, 125, 126, 65535, 65536 and 70,000 bytes (7-, 16- and 64-bit lengths) echoed
    byte-exact, then a close frame and the client's FIN: the backend sees the FIN and its
    close frame still reaches the client (half-close), then EOF."""
    b = Backend("b")
    p = Proxy("--upstream", b.addr)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        s, f = raw(p.port, (f"GET /ws HTTP/1.1\r\nHost: ws.example\r\nUpgrade: websocket\r\n"
                            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                            f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        status, headers = read_head(f)
        acc = [v for k, v in headers if k == "sec-websocket-accept"]
        check(status == 101 and acc == [ws_accept(key)], f"handshake: {status} {headers}")
        if status != 101:
            return
        sizes = (1, 125, 126, 65535, 65536, 70000)
        for n in sizes:
            payload = os.urandom(n)
            s.sendall(ws_frame(2, payload, True))
            op, back, masked, width = ws_read(f)
            check(op == 2 and back == payload and not masked,
                  f"ws {n} B: op {op}, {len(back)} B back, "
                  f"{'equal' if back == payload else 'different'}")
        s.sendall(ws_frame(8, struct.pack(">H", 1000), True))
        s.shutdown(socket.SHUT_WR)
        op, back, _, _ = ws_read(f)
        check(op == 8 and back == struct.pack(">H", 1000), f"close frame back: {op} {back!r}")
        check(f.read(1) == b"", "no EOF after the close frame")
        s.close()
        rec = [x for x in b.log if x["target"] == "/ws"]
        check(len(rec) == 1 and rec[0].get("ws") == list(sizes) and not rec[0].get("ws_unmasked"),
              f"the backend's frames: {rec[0].get('ws') if rec else None}")
        check(rec and rec[0].get("ws_eof_after_close") is True,
              f"the client's FIN did not reach the backend: {rec[0] if rec else None}")
        up = rec[0]["headers"] if rec else []
        check([v.lower() for v in hdr(up, "upgrade")] == ["websocket"],
              f"Upgrade upstream: {hdr(up, 'upgrade')}")
    finally:
        check(p.stop() == 0, "proxy exit status")
        b.stop()


class Nginx:
    """nginx-light on a port from the OS: `return 200` at /r and a static root at /static/,
    one worker, no master, everything in its own directory; stopped by PID."""

    def __init__(self):
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.access(nginx, os.X_OK):
            raise Skip("no nginx (tools/install-deps.sh installs nginx-light)")
        d = self.dir = tempfile.mkdtemp(prefix="nginx-", dir=TMP)
        os.makedirs(f"{d}/root/static")
        with open(f"{d}/root/static/big.bin", "wb") as f:
            for blk in pattern(3 * MiB):
                f.write(blk)
        self.port = free_port()
        with open(f"{d}/nginx.conf", "w") as f:
            f.write(f"daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n"
                    f"error_log {d}/error.log;\nevents {{ worker_connections 1024; }}\n"
                    "http {\n"
                    f"  access_log {d}/access.log;\n  client_body_temp_path {d};\n"
                    f"  proxy_temp_path {d};\n  fastcgi_temp_path {d};\n  uwsgi_temp_path {d};\n"
                    f"  scgi_temp_path {d};\n"
                    f"  server {{\n    listen 127.0.0.1:{self.port};\n    root {d}/root;\n"
                    "    location = /r { return 200 \"hello from nginx\\n\"; }\n  }\n}\n")
        self.proc = subprocess.Popen([nginx, "-c", f"{d}/nginx.conf", "-p", d, "-e",
                                      f"{d}/error.log"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)

        def up():
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return self.proc.poll() is not None

        wait_for(up, 10)
        if self.proc.poll() is not None:
            raise RuntimeError(f"nginx did not start: {self.proc.stderr.read()[-400:]}")

    def requests(self):
        with open(f"{self.dir}/access.log") as f:
            return sum(1 for _ in f)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def test_nginx_backend_and_wrk():
    """nginx behind the proxy: its `return 200`, a 3 MiB static file byte-exact, HEAD, a 304
    to its own ETag; then wrk -t1 -c20 -d2 through the proxy: every response 2xx, no socket
    error, and nginx logged them (its keep-alive connections end every 1,000 requests)."""
    if not shutil.which("wrk"):
        raise Skip("no wrk (tools/install-deps.sh installs it)")
    n = Nginx()
    p = Proxy("--upstream", f"127.0.0.1:{n.port}")
    try:
        r = fetch(p.port, "/r")
        check(r.status == 200 and r.body == b"hello from nginx\n", f"/r: {r.status} {r.body!r}")
        r = fetch(p.port, "/static/big.bin")
        check(r.status == 200 and r.n == 3 * MiB and r.sha == pattern_sha(3 * MiB),
              f"static 3 MiB: {r.status} {r.n}")
        etag = r.h1("etag")
        r = fetch(p.port, "/static/big.bin", "HEAD")
        check(r.status == 200 and r.h1("content-length") == str(3 * MiB) and r.n == 0,
              f"HEAD static: {r.status} {r.headers}")
        r = fetch(p.port, "/static/big.bin", headers={"If-None-Match": etag or "x"})
        check(r.status == 304 and r.n == 0, f"If-None-Match {etag}: {r.status} {r.n} B")
        before = n.requests()
        out = subprocess.run(["timeout", "30", "wrk", "-t1", "-c20", "-d2", "--timeout", "5s",
                              f"http://127.0.0.1:{p.port}/r"], capture_output=True, text=True)
        m = re.search(r"(\d+) requests in", out.stdout)
        done = int(m.group(1)) if m else 0
        check(out.returncode == 0 and done > 100, f"wrk: {out.returncode} {out.stdout[-600:]}")
        check("Non-2xx" not in out.stdout and "Socket errors" not in out.stdout,
              f"wrk saw errors: {out.stdout[-600:]}")
        check(wait_for(lambda: n.requests() - before >= done, 3),
              f"nginx logged {n.requests() - before} of wrk's {done} requests")
    finally:
        check(p.stop() == 0, "proxy exit status")
        n.stop()


def test_bench_script_smoke():
    """tools/bench-http-proxy.sh --check: the benchmark's setup (backend, ringer, nginx,
    HAProxy) up and one request through each, in a few seconds; no figures."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools",
                          "bench-http-proxy.sh")
    build = os.path.dirname(os.path.dirname(os.path.dirname(RINGER)))
    missing = [t for t in ("haproxy", "wrk", "nginx")
               if not shutil.which(t) and not os.access(f"/usr/sbin/{t}", os.X_OK)]
    if missing:
        raise Skip(f"no {' or '.join(missing)} (tools/install-deps.sh installs them)")
    out = subprocess.run([script, "--check", build], capture_output=True, text=True, timeout=60)
    check(out.returncode == 0 and "check ok" in out.stdout,
          f"bench-http-proxy.sh --check: {out.returncode} {out.stdout[-600:]} {out.stderr[-600:]}")


TESTS = [test_bodies_down, test_bodies_up, test_chunked_upload_small_chunks,
         test_head_304_204, test_connection_semantics,
         test_headers_added_and_removed,
         test_forwarded_modes, test_tls_front, test_tls_upstream, test_slow_body_408,
         test_pipelined_in_order, test_routing,
         test_pool_reuse, test_pool_gives_way, test_concurrent_clients, test_backpressure,
         test_upstream_closes_pooled, test_upstream_down_502, test_timeouts_504, test_queue_503,
         test_reset_mid_response, test_smuggling_refused, test_retries, test_max_body_413,
         test_health_check_http, test_access_log_and_metrics, test_websocket,
         test_hostile_mix, test_nginx_backend_and_wrk, test_bench_script_smoke]

if __name__ == "__main__":
    run([t for t in TESTS if not ONLY or t.__name__ in ONLY],
        cleanup=lambda: shutil.rmtree(TMP, ignore_errors=True))
