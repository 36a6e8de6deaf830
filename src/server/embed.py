#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Embeds a file in C: embed.py IN OUT NAME -> const char NAME[]; const unsigned NAME_len."""
import sys

src, out, name = sys.argv[1:4]
data = open(src, "rb").read()
with open(out, "w") as f:
    f.write(f"/* Generated from {src.split('/')[-1]} by embed.py: do not edit. */\n")
    f.write(f"const char {name}[] = {{\n")
    for i in range(0, len(data), 16):
        f.write("\t" + ", ".join(str(b) for b in data[i:i + 16]) + ",\n")
    f.write("\t0\n};\n")
    f.write(f"const unsigned {name}_len = {len(data)};\n")
