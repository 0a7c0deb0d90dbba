#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
es-sched-chain: where an exec's permission wait goes, from a scheduler
trace of a bench-es run (bench/es-sched-chain.sh records it).

For every process bench-es spawns, the chain starts when the child, in
execve, wakes the responder (ringd's loop or perm thread, or the raw
responder thread in bench-es) and ends when the child runs again after
being woken.  Through ringd it passes: ringd runs -> ringd wakes the ES
client (the event is sent) -> the client runs -> the child is woken (the
answer reached the kernel).  Printed: p10/p50/p90 of each segment, for
ringd + 1 client and for the raw responder.  The spawn figures of bench-es
also carry what the responders do to the rest of the spawn; this is the
wait itself.

Input: `perf script -F comm,tid,cpu,time,event,trace` of `perf sched
record -a`.  Usage: es-sched-chain.py PERF-SCRIPT-OUTPUT
"""
import collections
import re
import sys

LINE = re.compile(r'^\s*(.+?)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$')


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))] if v else float('nan')


def main(path):
    ev = []
    per_comm = collections.defaultdict(collections.Counter)
    for line in open(path, errors='replace'):
        m = LINE.match(line)
        if not m:
            continue
        comm, tid, cpu, t, name, rest = m.groups()
        ev.append((float(t) * 1e6, comm, int(tid), int(cpu), name, rest))
        per_comm[comm][int(tid)] += 1
    if not per_comm['ringd'] or not per_comm['bench-es-client'] or not per_comm['bench-es']:
        sys.exit('es-sched-chain: no ringd, bench-es-client or bench-es in the trace')
    ringd = {t for t, _ in per_comm['ringd'].most_common(2)}
    client = per_comm['bench-es-client'].most_common(1)[0][0]
    main_tid = next(e[2] for e in ev if e[1] == 'bench-es')
    # the spawned children: forked by bench-es's main thread, later named "true"
    forked = {int(re.search(r'child_pid=(\d+)', e[5]).group(1)) for e in ev
              if e[4] == 'sched:sched_process_fork' and e[2] == main_tid}
    children = forked & set(per_comm['true'])
    chains, done, seen = {}, {'ringd': [], 'raw': []}, set()
    for t, comm, tid, cpu, name, rest in ev:
        if name == 'sched:sched_waking':
            tgt = int(re.search(r' pid=(\d+)', rest).group(1))
            if tid in children and tid not in seen and tgt not in (main_tid, client):
                seen.add(tid)  # the first wait only: the exec's own FAN_OPEN_PERM, if marked, comes after
                chains[tid] = {'kind': 'ringd' if tgt in ringd else 'raw', 'start': t, 'resp': tgt}
                continue
            for c, ch in chains.items():
                if 'end' in ch:
                    continue
                if tgt == c and tid != c:
                    ch['end'] = t
                elif tid in ringd and tgt == client and 'sent' not in ch:
                    ch['sent'] = t
        elif name == 'sched:sched_switch':
            nxt = int(re.search(r'next_pid=(\d+)', rest).group(1))
            for c, ch in list(chains.items()):
                if 'end' not in ch:
                    if nxt == ch['resp'] and 'rrun' not in ch:
                        ch['rrun'] = t
                    elif nxt == client and 'sent' in ch and 'crun' not in ch:
                        ch['crun'] = t
                elif nxt == c:
                    ch['run'] = t
                    done[ch['kind']].append(ch)
                    del chains[c]

    def row(label, v):
        if v:
            print('  %-44s p10 %6.1f  p50 %6.1f  p90 %6.1f us  (%d)' % (label, pct(v, .1), pct(v, .5), pct(v, .9), len(v)))

    for kind, title in (('raw', 'raw in-process responder'), ('ringd', 'ringd + one ES client')):
        v = done[kind]
        print('%s: %d exec permission waits' % (title, len(v)))
        row('child wakes responder -> child runs again', [c['run'] - c['start'] for c in v])
        row('  responder runs after', [c['rrun'] - c['start'] for c in v if 'rrun' in c])
        if kind == 'ringd':
            row('  ringd runs -> ringd wakes the client', [c['sent'] - c['rrun'] for c in v if 'sent' in c and 'rrun' in c])
            row('  client woken -> client runs', [c['crun'] - c['sent'] for c in v if 'crun' in c])
            row('  client runs -> child woken', [c['end'] - c['crun'] for c in v if 'crun' in c])
        row('  child woken -> child runs', [c['run'] - c['end'] for c in v])


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
