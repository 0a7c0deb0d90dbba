#!/bin/bash
# SPDX-License-Identifier: MIT
# Records the scheduler during one bench-es run (perf sched record -a) and
# prints where each exec's permission wait goes (bench/es-sched-chain.py).
# Usage: bench/es-sched-chain.sh [BUILD-DIR] [ITERATIONS]   (root; needs perf)
set -e
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
n=${2:-300}
command -v perf >/dev/null || { echo "es-sched-chain: needs perf (Debian: linux-perf)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
perf sched record -a -o "$tmp/perf.data" -- "$build/bench/bench-es" "$n" > "$tmp/bench.txt" 2>&1
grep -E "posix_spawn|added by|95%|over the floor" "$tmp/bench.txt" | head -5
perf script -i "$tmp/perf.data" -F comm,tid,cpu,time,event,trace 2>/dev/null > "$tmp/sched.txt"
python3 "$here/es-sched-chain.py" "$tmp/sched.txt"
