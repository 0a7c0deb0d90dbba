#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Sum test cases from a meson testlog.txt.

Each test program prints a closing "N passed, N failed" line; a test whose
output has none (it crashed, or timed out) counts as one failure, and a test
meson marked failed although its own line says 0 failed counts as one too.
A skipped test (exit status 77: e.g. the QEMU lane without QEMU) counts as
neither, and is named on stderr.
Prints "PASSED FAILED".
"""
import re
import sys

text = open(sys.argv[1], errors="replace").read()
# meson separates tests with lines of '='; each block holds "result:" and output
blocks = re.split(r"\n=+ \d+/\d+ =+\n", text)
passed = failed = 0
for block in blocks:
    m = re.search(r"^result:\s+(.*)$", block, re.M)
    if not m:
        continue
    if m.group(1).startswith("exit status 77") or m.group(1).startswith("skipped"):
        name = re.search(r"^test:\s+(.*)$", block, re.M)
        print("skipped:", name.group(1) if name else "?", file=sys.stderr)
        continue
    ok = m.group(1).startswith("exit status 0") or "passed" in m.group(1)
    lines = re.findall(r"^(\d+) passed, (\d+) failed", block, re.M)
    if lines:
        p, f = map(int, lines[-1])
        passed += p
        failed += f
        if not ok and f == 0:
            failed += 1
    else:
        if ok:
            passed += 1
        else:
            failed += 1
print(passed, failed)
