#!/usr/bin/env python3
"""Checks a manual against its binary: every flag `BINARY --help` prints has an entry in the
manual's OPTIONS section, every entry there is a flag the binary knows, and the rendered page
(go-md2man, then man) shows each of them.

Usage: check-man.py BINARY MANUAL.md [RENDERED.1]
Prints one line per difference and the count line; exits 1 on any difference.
"""
import re
import shutil
import subprocess
import sys

FLAG = re.compile(r"(?<![\w\[-])(--?[a-zA-Z][\w-]*)")


def help_flags(binary):
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
    if out.returncode != 0:
        sys.exit(f"{binary} --help exited {out.returncode}")
    flags = set()
    for line in out.stdout.splitlines():
        # an option line: two spaces, then the flag(s) and their arguments, then the text
        m = re.match(r"^  (-\S.*?)(?:\s{2,}|$)", line)
        if m:
            flags.update(FLAG.findall(m.group(1)))
    return flags


def manual_flags(path):
    text = open(path).read()
    section = re.search(r"^# OPTIONS\n(.*?)^# ", text, re.M | re.S)
    if not section:
        sys.exit(f"{path}: no OPTIONS section")
    flags = set()
    for line in section.group(1).splitlines():
        if line.startswith("**-"):  # a definition list entry: **--flag** *ARG*
            flags.update(FLAG.findall(re.sub(r"\*[^*]*\*(?!\*)", "", line.replace("**", " "))))
    return flags


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    binary, manual = argv[1], argv[2]
    have, documented = help_flags(binary), manual_flags(manual)
    bad = []
    for f in sorted(have - documented):
        bad.append(f"{manual}: {f} is in --help but has no entry under OPTIONS")
    for f in sorted(documented - have):
        bad.append(f"{manual}: {f} has an entry under OPTIONS but {binary} does not know it")
    if len(argv) > 3:
        if shutil.which("man"):
            page = subprocess.run(["man", "-l", argv[3]], capture_output=True, text=True,
                                  env={"MANWIDTH": "100", "PATH": "/usr/bin:/bin"}, timeout=30)
            shown = page.stdout.replace("\u2010", "-")
            for f in sorted(have):
                if not re.search(r"(?<![\w-])" + re.escape(f) + r"(?![\w-])", shown):
                    bad.append(f"{argv[3]}: the rendered page does not show {f}")
        else:
            bad.append("man is missing: cannot render " + argv[3])
    for line in bad:
        print(line)
    print(f"{len(have)} flags in --help, {len(documented)} in the manual: "
          f"{0 if bad else 1} passed, {1 if bad else 0} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
