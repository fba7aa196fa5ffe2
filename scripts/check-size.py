#!/usr/bin/env python3
"""Keeps the code readable as it grows: no file in lib/ or src/ over
MAX_FILE lines, no function over MAX_FUNC lines unless the comment right
above it says why (a line containing "long:").  Prints offenders; exit 1."""
import os
import re
import sys

MAX_FILE = 1200
MAX_FUNC = 120
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
bad = []
for top in ("lib", "src"):
    for d, _, files in os.walk(os.path.join(root, top)):
        for f in sorted(files):
            if not f.endswith(".c"):
                continue
            p = os.path.join(d, f)
            rel = os.path.relpath(p, root)
            lines = open(p, encoding="utf-8", errors="replace").read().split("\n")
            if len(lines) > MAX_FILE:
                bad.append(f"{rel}: {len(lines)} lines (limit {MAX_FILE})")
            i = 0
            while i < len(lines):
                # A function definition: "{" alone in column 0 after its signature.
                if lines[i] == "{" and i > 0 and re.search(r"\)\s*$", lines[i - 1]):
                    start = i - 1
                    while start > 0 and lines[start - 1] and not lines[start - 1].startswith(("}", "/*", " *", "#")) \
                            and not lines[start - 1].endswith(";"):
                        start -= 1
                    j = i + 1
                    while j < len(lines) and lines[j] != "}":
                        j += 1
                    n = j - i + 1
                    above = "\n".join(lines[max(0, start - 6):start])
                    if n > MAX_FUNC and "long:" not in above:
                        m = re.search(r"(\w+)\s*\(", lines[start] + lines[i - 1])
                        bad.append(f"{rel}:{start + 1}: {m.group(1) if m else '?'}() is {n} lines (limit {MAX_FUNC})")
                    i = j
                i += 1
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
