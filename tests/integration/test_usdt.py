#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Traces one connection's life through ringer's USDT probes with perf.

include/ringer/trace.h promises five probes of provider "ringer" (accept,
connect, tcp_transition, cqe, close). This test holds the binary (argv[1])
to that promise twice: `readelf -n` must list each probe's stapsdt note, once
and with the promised arguments, and perf must be able to use them: the
probes become uprobe events (perf probe), ringer runs under `perf record` in
echo mode, and one client connects, sends a few bytes, reads the echo and
closes. `perf script` must then show, for that connection's slot and
generation and in this order: the accept, CLOSED -> LISTEN -> SYN_RCVD ->
ESTABLISHED, the CQEs of the recv, the send and the peer's FIN, ESTABLISHED
-> CLOSE_WAIT -> LAST_ACK, the CQE of our close, LAST_ACK -> CLOSED, and the
close probe saying "clean", last.

The client half-closes and waits for ringer's FIN before closing, so ringer
has taken the CLOSE_WAIT -> LAST_ACK path before it is told to stop (SIGTERM:
a graceful drain, which exits only once every slot is freed, so the close
probe has fired by then). State, op and close numbers are read from the
headers, not copied here.

The perf events go into a private build-id directory and a copy of the
binary, and are deleted again (perf probe -d 'sdt_ringer:*') however the test
ends. Exit 77 (skip) only where perf cannot attach at all: no perf, no
tracefs, no uprobe events in the kernel, no permission. Anything else that
goes wrong is a failure. Takes a few seconds; gives up after DEADLINE_S.
"""
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
INCLUDE = os.path.join(HERE, "..", "..", "include", "ringer")
PROBES = {"accept": 3, "connect": 3, "tcp_transition": 4, "cqe": 4, "close": 3}
GROUP = "sdt_ringer"
TMP_PREFIX = "ringer-usdt-"
PAYLOAD = b"usdt: one connection, traced\n"
DEADLINE_S = 50
NO_SLOT = 0xFFFFFFFF

start = time.monotonic()
failures = []


class Skip(Exception):
    pass


def check(ok, what):
    print(("ok: " if ok else "FAIL: ") + what)
    if not ok:
        failures.append(what)
    return ok


def left():
    """Seconds left of the whole test's budget (at least 1, for cleanup)."""
    return max(1.0, DEADLINE_S - (time.monotonic() - start))


def run(cmd):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=left())


def enum_values(header, name):
    """NAME -> value for `enum name { ... }` in header (plain or "= N" members)."""
    with open(os.path.join(INCLUDE, header)) as f:
        text = f.read()
    body = re.search(r"enum\s+%s\s*\{(.*?)\};" % name, text, re.S).group(1)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    values, nxt = {}, 0
    for item in body.split(","):
        m = re.match(r"\s*(\w+)\s*(?:=\s*(\w+))?\s*$", item)
        if not m:
            continue
        nxt = values[m.group(2)] if m.group(2) in values else \
            int(m.group(2), 0) if m.group(2) else nxt
        values[m.group(1)] = nxt
        nxt += 1
    return values


# ---- the notes in the binary ------------------------------------------------------------------

def check_notes(exe):
    r = run(["readelf", "-n", "--wide", exe])
    if not check(r.returncode == 0, "readelf -n %s exits 0 (%s)" % (exe, r.stderr.strip())):
        return
    found = {}
    for block in r.stdout.split("stapsdt")[1:]:
        prov = re.search(r"Provider:\s*(\S+)", block)
        name = re.search(r"Name:\s*(\S+)", block)
        args = re.search(r"Arguments:\s*(.*)", block)
        if prov and name and prov.group(1) == "ringer":
            found.setdefault(name.group(1), []).append(args.group(1).split() if args else [])
    for probe, arity in PROBES.items():
        sites = found.get(probe, [])
        check(len(sites) == 1, "readelf: stapsdt note ringer:%s, one site (found %d)"
              % (probe, len(sites)))
        for args in sites:
            # perf drops constant arguments ("4@$3"): every argument must be a location.
            check(len(args) == arity and not any("@$" in a for a in args),
                  "readelf: ringer:%s has %d non-constant arguments (%s)"
                  % (probe, arity, " ".join(args)))
    extra = sorted(set(found) - set(PROBES))
    check(not extra, "readelf: no ringer probes beyond trace.h's (%s)" % ", ".join(extra))


# ---- perf ---------------------------------------------------------------------------------------

def tracefs():
    """Where tracefs is mounted, or None."""
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 2 and parts[2] == "tracefs":
                return parts[1]
    return None


def uprobe_events():
    """Our group's lines in uprobe_events, or [] when tracefs is not there (yet)."""
    path = tracefs()
    try:
        with open(os.path.join(path, "uprobe_events")) as f:
            return [line.strip() for line in f if line.startswith("p:%s/" % GROUP)]
    except (OSError, TypeError):
        return []


def why_perf_cannot_attach(stderr):
    """A named reason when perf cannot attach uprobes on this machine, else None."""
    fs = tracefs()
    denied = "no permission to add uprobes or open their events (uid %d; root, " \
        "perf_event_paranoid)" % os.geteuid()
    if fs is None:
        return "tracefs is not mounted and perf could not mount it"
    if not os.access(fs, os.R_OK | os.X_OK):
        return denied
    if not os.path.exists(os.path.join(fs, "uprobe_events")):
        return "the kernel has no uprobe events (CONFIG_UPROBE_EVENTS) in %s" % fs
    if not os.access(os.path.join(fs, "uprobe_events"), os.W_OK) or \
            re.search(r"Permission denied|perf_event_paranoid|Operation not permitted", stderr):
        return denied
    return None


def perf(bid, *args):
    return ["perf", "--buildid-dir", bid] + list(args)


def add_probes(exe, bid):
    stale = uprobe_events()
    if stale:
        # Only our own leftovers (a killed run's binary copy) are ours to delete.
        if not all("/" + TMP_PREFIX in line for line in stale):
            raise RuntimeError("%s events exist already, not ours (someone is tracing ringer?): "
                               "%s" % (GROUP, stale))
        print("note: deleting %d %s events a killed run left" % (len(stale), GROUP))
        run(["perf", "probe", "-d", GROUP + ":*"])
    r = run(perf(bid, "probe", "-x", exe, "--add", GROUP + ":*"))
    if r.returncode != 0 and why_perf_cannot_attach(r.stderr) is None:
        # Older perf finds SDT notes only in its build-id cache.
        run(perf(bid, "buildid-cache", "--add", exe))
        r = run(perf(bid, "probe", "-x", exe, "--add", GROUP + ":*"))
    if r.returncode != 0:
        reason = why_perf_cannot_attach(r.stderr)
        if reason:
            raise Skip(reason)
        raise RuntimeError("perf probe --add failed:\n" + r.stderr)
    events = uprobe_events()
    for probe, arity in PROBES.items():
        line = next((x for x in events if x.startswith("p:%s/%s " % (GROUP, probe))), "")
        check(line.count(" arg") == arity, "perf probe: %s:%s with %d arguments (%s)"
              % (GROUP, probe, arity, line or "missing"))


def children_of(ppid, comm):
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        if int(stat[stat.rindex(")") + 2:].split()[1]) == ppid and name == comm:
            pids.append(int(d))
    return pids


def read_port(proc, deadline):
    out = ""
    while time.monotonic() < deadline and proc.poll() is None:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 4096).decode(errors="replace")
            if not chunk:
                break
            out += chunk
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", out)
            if m:
                return int(m.group(1))
    return None


def one_connection(port):
    """Connect, send PAYLOAD, read the echo, half-close, wait for ringer's FIN, close."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(PAYLOAD)
        echo = b""
        while len(echo) < len(PAYLOAD):
            chunk = s.recv(4096)
            if not chunk:
                break
            echo += chunk
        check(echo == PAYLOAD, "the echo came back (%d of %d bytes)" % (len(echo), len(PAYLOAD)))
        s.shutdown(socket.SHUT_WR)
        check(s.recv(4096) == b"", "ringer answered our FIN with its own")
    finally:
        s.close()


def record(exe, bid, data):
    """Runs ringer under perf record for one connection; returns perf's stderr."""
    perf_proc = subprocess.Popen(
        perf(bid, "record", "-q", "-e", GROUP + ":*", "-o", data, "--",
             exe, "--mode", "echo", "--shards", "1", "--listen", "127.0.0.1:0", "--quiet"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ringer = []
    try:
        port = read_port(perf_proc, time.monotonic() + min(15, left()))
        if port is None:
            perf_proc.kill()
            err = perf_proc.communicate(timeout=5)[1].decode(errors="replace")
            reason = why_perf_cannot_attach(err)
            if reason:
                raise Skip(reason)
            raise RuntimeError("ringer under perf record printed no port:\n" + err)
        ringer = children_of(perf_proc.pid, "ringer")
        check(len(ringer) == 1, "ringer runs under perf record (pid %s, port %d)"
              % (ringer, port))
        one_connection(port)
        for pid in ringer:
            os.kill(pid, signal.SIGTERM)  # a drain: it exits once every slot is freed
        _, err = perf_proc.communicate(timeout=min(20, left()))
        check(perf_proc.returncode == 0, "perf record exits 0 (%d)" % perf_proc.returncode)
        return err.decode(errors="replace")
    finally:
        if perf_proc.poll() is None:
            for pid in ringer:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            perf_proc.kill()
            perf_proc.wait(timeout=5)


def parse_script(text):
    """[(probe, [args...])] in the order perf script printed them (time order)."""
    events = []
    for line in text.splitlines():
        m = re.search(r"%s:(\w+):.*?((?:\s+arg\d+=-?\d+)+)\s*$" % GROUP, line)
        if m:
            events.append((m.group(1), [int(v) for v in re.findall(r"arg\d+=(-?\d+)",
                                                                   m.group(2))]))
    return events


# ---- what the trace must show ------------------------------------------------------------------

def check_lifecycle(events):
    st = enum_values("tcp_state.h", "tcp_state")
    op = enum_values("user_data.h", "ud_op")
    how = enum_values("trace.h", "trace_close")
    names = {v: k for k, v in st.items() if k.startswith("TCPS_")}

    accepts = [a for p, a in events if p == "accept"]
    if not check(len(accepts) == 1, "one accept event (got %d)" % len(accepts)):
        return
    slot, gen, fd = accepts[0]
    print("note: the connection is slot %d, gen %d, fd %d" % (slot, gen, fd))

    def ours(p, a):
        if p == "cqe":
            return a[1] == slot and a[2] == gen
        return a[0] == slot and a[1] == gen

    conn = [(p, a) for p, a in events if ours(p, a)]
    moves = [a[2:] for p, a in conn if p == "tcp_transition"]
    check(bool(moves) and all(x[1] == y[0] for x, y in zip(moves, moves[1:])),
          "each transition starts where the one before ended")
    path = [names.get(s, str(s)) for s in [m[0] for m in moves[:1]] + [m[1] for m in moves]]
    want = ["TCPS_CLOSED", "TCPS_LISTEN", "TCPS_SYN_RCVD", "TCPS_ESTABLISHED",
            "TCPS_CLOSE_WAIT", "TCPS_LAST_ACK", "TCPS_CLOSED"]
    check(path == want, "transitions: %s" % " -> ".join(s.replace("TCPS_", "") for s in path))

    rx = sum(a[3] for p, a in conn if p == "cqe" and a[0] == op["UD_OP_RECV"] and a[3] > 0)
    tx = sum(a[3] for p, a in conn if p == "cqe" and a[0] == op["UD_OP_SEND"] and a[3] > 0)
    check(rx == len(PAYLOAD) and tx == len(PAYLOAD),
          "recv and send CQEs carry the %d bytes (recv %d, send %d)" % (len(PAYLOAD), rx, tx))
    check(not [a for p, a in events if p == "connect"], "no connect events (echo dials nobody)")
    closes = [a for p, a in events if p == "close"]
    check(len(closes) == 1 and ours("close", closes[0]), "one close event, ours (%s)" % closes)
    check(bool(conn) and conn[-1][0] == "close", "the close event is the connection's last")
    check(any(p == "cqe" and a[0] == op["UD_OP_ACCEPT"] and a[1] == NO_SLOT and a[3] == fd
              for p, a in events[:events.index(("accept", accepts[0]))]),
          "the accept's own CQE (res = fd %d) came before the accept event" % fd)

    def t(a, b):
        return lambda p, x: p == "tcp_transition" and x[2:] == [st[a], st[b]]

    def cqe(o, res_ok):
        return lambda p, x: p == "cqe" and x[0] == op[o] and res_ok(x[3])

    milestones = [
        ("accept", lambda p, x: p == "accept"),
        ("CLOSED -> LISTEN", t("TCPS_CLOSED", "TCPS_LISTEN")),
        ("LISTEN -> SYN_RCVD", t("TCPS_LISTEN", "TCPS_SYN_RCVD")),
        ("SYN_RCVD -> ESTABLISHED", t("TCPS_SYN_RCVD", "TCPS_ESTABLISHED")),
        ("cqe recv > 0", cqe("UD_OP_RECV", lambda r: r > 0)),
        ("cqe send > 0", cqe("UD_OP_SEND", lambda r: r > 0)),
        ("cqe recv = 0 (the peer's FIN)", cqe("UD_OP_RECV", lambda r: r == 0)),
        ("ESTABLISHED -> CLOSE_WAIT", t("TCPS_ESTABLISHED", "TCPS_CLOSE_WAIT")),
        ("CLOSE_WAIT -> LAST_ACK", t("TCPS_CLOSE_WAIT", "TCPS_LAST_ACK")),
        ("cqe close = 0", cqe("UD_OP_CLOSE", lambda r: r == 0)),
        ("LAST_ACK -> CLOSED", t("TCPS_LAST_ACK", "TCPS_CLOSED")),
        ("close, clean", lambda p, x: p == "close" and x[2] == how["TRACE_CLOSE_CLEAN"]),
    ]
    i = 0
    for p, a in conn:
        if i < len(milestones) and milestones[i][1](p, a):
            i += 1
    check(i == len(milestones), "in order: " + ", ".join(m[0] for m in milestones) +
          ("" if i == len(milestones) else "; missing from '%s' on" % milestones[i][0]))


def main():
    if len(sys.argv) != 2:
        print("usage: test_usdt.py RINGER_BINARY", file=sys.stderr)
        return 2
    for tool, pkg in (("readelf", "binutils"), ("perf", "linux-perf")):
        if not shutil.which(tool):
            print("skip: %s is not installed (package %s)" % (tool, pkg))
            return 77
    tmp = tempfile.mkdtemp(prefix=TMP_PREFIX)
    exe, bid = os.path.join(tmp, "ringer"), os.path.join(tmp, "buildid")
    added = False
    skipped = None
    try:
        check_notes(sys.argv[1])
        shutil.copy2(sys.argv[1], exe)  # the events name this copy, not the build's binary
        added = True  # from here on, whatever perf probe managed to add goes again
        add_probes(exe, bid)
        data = os.path.join(tmp, "perf.data")
        err = record(exe, bid, data)
        r = run(perf(bid, "script", "-i", data))
        check(r.returncode == 0, "perf script exits 0 (%s)" % r.stderr.strip())
        events = parse_script(r.stdout)
        check(events, "perf script shows %s events (stderr of perf record and ringer: %s)"
              % (GROUP, err.strip() or "empty"))
        check_lifecycle(events)
        if failures:
            print("perf script:\n" + r.stdout)
    except Skip as e:
        skipped = str(e)
    except Exception as e:  # noqa: BLE001 - anything unexpected is a failure, said so
        check(False, "%s: %s" % (type(e).__name__, e))
    finally:
        if added and uprobe_events():
            subprocess.run(["perf", "probe", "-d", GROUP + ":*"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=30)
        check(not uprobe_events(), "no %s events left behind" % GROUP)
        shutil.rmtree(tmp, ignore_errors=True)
    # A skip counts only when nothing failed before it (readelf's notes, the cleanup).
    if failures:
        if skipped is not None:
            print("FAIL: skipped after %d failed check(s): %s" % (len(failures), skipped))
        return 1
    if skipped is not None:
        print("skip: " + skipped)
        return 77
    return 0


if __name__ == "__main__":
    sys.exit(main())
