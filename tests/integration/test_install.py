#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""meson install: what goes where (meson.build, src/server/meson.build, src/load/meson.build).

Usage: test_install.py SOURCE_ROOT BUILD_ROOT

debian_layout: the source configured (configure only: no compiling) with --prefix=/usr, as
Debian's package builds it, must install exactly ringer in /usr/sbin, ringer-load in /usr/bin,
each manual NAME.SECTION.md beside the code as /usr/share/man/manSECTION/NAME.SECTION (when
go-md2man is here to render them), and each file of tools/dist/ where Debian 12 keeps it
(/lib/systemd/system, /etc/ringer, /etc/logrotate.d, /usr/share/ringer): nothing missing,
nothing else (a test program or a library installed by mistake).
this_build_installs: this build installed into a scratch DESTDIR puts every file its install
plan names there and nothing else, the manuals rendered, the installed ringer says the
project's version; a file of tools/dist/ the build does not install means it was configured
before that file existed (meson setup --reconfigure).
tools/README.md, "Packaging", says why each place.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from cases import Skip, check, run

SRC = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-")
                      else ".")
BUILD = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else "build")
TMP = tempfile.mkdtemp(prefix="ringer-install-")

# tools/dist/ file -> where Debian 12 keeps it (prefix /usr).
DIST = {
    "ringer.service": "/lib/systemd/system/ringer.service",
    "ringer.conf": "/etc/ringer/ringer.conf",
    "ringer.logrotate": "/etc/logrotate.d/ringer",
    "seccomp-ringer.json": "/usr/share/ringer/seccomp-ringer.json",
}


def meson(*args):
    return subprocess.run(["meson", *args], capture_output=True, text=True, timeout=120)


def introspect(build, what):
    r = meson("introspect", build, what)
    if r.returncode != 0:
        raise RuntimeError(f"meson introspect {what}: {r.stderr.strip()[-300:]}")
    return json.loads(r.stdout)


def manuals():
    """(source, NAME.SECTION) of every manual beside the code: src/*/NAME.SECTION.md."""
    found = []
    for md in sorted(glob.glob(os.path.join(SRC, "src", "*", "*.md"))):
        m = re.fullmatch(r"([a-z][a-z0-9-]*\.([1-9][a-z]*))\.md", os.path.basename(md))
        if m:
            found.append((md, m.group(1)))
    return found


def compare(what, got, want):
    for p in sorted(want - got):
        check(False, f"{what}: {p} not installed")
    for p in sorted(got - want):
        check(False, f"{what}: {p} installed, not expected")


def debian_layout():
    build = os.path.join(TMP, "usr-build")
    r = meson("setup", build, SRC, "--prefix=/usr")
    if not check(r.returncode == 0, f"meson setup --prefix=/usr: {r.stdout[-500:]}{r.stderr[-500:]}"):
        return
    got = set(introspect(build, "--installed").values())
    want = {"/usr/sbin/ringer", "/usr/bin/ringer-load"}
    if shutil.which("go-md2man"):
        for _, page in manuals():
            want.add(f"/usr/share/man/man{page.rsplit('.', 1)[1]}/{page}")
    else:
        print("go-md2man is not installed: no manual is rendered, none expected", flush=True)
    check(len(manuals()) >= 2, f"manuals beside the code: {manuals()}")
    for name, dest in DIST.items():
        if os.path.exists(os.path.join(SRC, "tools", "dist", name)):
            want.add(dest)
        else:
            print(f"tools/dist/{name} does not exist yet: not expected", flush=True)
    compare("prefix /usr", got, want)


def this_build_installs():
    plan = introspect(BUILD, "--installed")  # built or source file -> where it goes
    if not plan:
        raise Skip("this build installs nothing")
    dest = os.path.join(TMP, "destdir")
    r = meson("install", "-C", BUILD, "--no-rebuild", "--destdir", dest)
    if not check(r.returncode == 0, f"meson install: {r.stdout[-500:]}{r.stderr[-500:]}"):
        return
    got = set()
    for root, _, files in os.walk(dest):
        got.update("/" + os.path.relpath(os.path.join(root, f), dest) for f in files)
    compare(f"meson install of {BUILD}", got, set(plan.values()))

    dist = os.path.join(SRC, "tools", "dist")
    for name in DIST:
        path = os.path.join(dist, name)
        if os.path.exists(path):
            check(path in plan, f"tools/dist/{name} exists but this build does not install it: "
                                f"it was configured before the file was there "
                                f"(meson setup --reconfigure {BUILD})")
    for src, to in plan.items():
        if re.fullmatch(r".*/man[1-9][a-z]*/[^/]+", to):
            with open(dest + to, errors="replace") as f:
                head = f.read(200)
            check(head.startswith(".") and ".TH" in head,
                  f"{to}: not a rendered man page: {head[:80]!r}")
    ringer = [to for src, to in plan.items() if src == os.path.join(BUILD, "src/server/ringer")]
    if check(len(ringer) == 1 and "/sbin/" in ringer[0], f"ringer installed as {ringer}"):
        version = introspect(BUILD, "--projectinfo")["version"]
        r = subprocess.run([dest + ringer[0], "--version"], capture_output=True, text=True,
                           timeout=20)
        check(r.returncode == 0 and version in r.stdout,
              f"installed ringer --version: exit {r.returncode}, {r.stdout!r}{r.stderr[-200:]!r}, "
              f"want {version}")


def cleanup():
    shutil.rmtree(TMP, ignore_errors=True)


run([debian_layout, this_build_installs], cleanup)
