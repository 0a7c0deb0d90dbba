#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
es-sched-chain: where an exec's permission wait goes, from a scheduler
trace of a bench-es run (bench/es-sched-chain.sh records it).

For every process bench-es spawns, the chain starts when the child, in
execve, wakes the responder (ringd's loop or perm thread, or the raw
responder thread in bench-es, or one of bench-es's reference processes)
and ends when the child runs again after being woken.  Through ringd it
passes: ringd runs -> ringd wakes the ES client (the event is sent) -> the
client runs -> the child is woken (the answer reached the kernel); through
the bare relay the same, with bench-es-relay for ringd and
bench-es-answer for the client.  Printed: p10/p50/p90 of each segment,
for ringd + 1 client, the raw responder (in-process thread and own
process) and the bare relay.  The spawn figures of bench-es
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
    # the reference processes (bench-es names them); absent in traces of older bench-es
    rawp = set(per_comm['bench-es-rawp'])
    relay = set(per_comm['bench-es-relay'])
    answer = set(per_comm['bench-es-answer'])
    # each responder's forwarder and the process it wakes: ringd -> client, relay -> answerer
    hop = {'ringd': (ringd, {client}), 'relay': (relay, answer)}
    main_tid = next(e[2] for e in ev if e[1] == 'bench-es')
    # the spawned children: forked by bench-es's main thread, later named "true"
    forked = {int(re.search(r'child_pid=(\d+)', e[5]).group(1)) for e in ev
              if e[4] == 'sched:sched_process_fork' and e[2] == main_tid}
    children = forked & set(per_comm['true'])
    chains, done, seen = {}, {'ringd': [], 'raw': [], 'rawp': [], 'relay': []}, set()
    for t, comm, tid, cpu, name, rest in ev:
        if name == 'sched:sched_waking':
            tgt = int(re.search(r' pid=(\d+)', rest).group(1))
            if tid in children and tid not in seen and tgt != main_tid and tgt != client and tgt not in answer:
                seen.add(tid)  # the first wait only: the exec's own FAN_OPEN_PERM, if marked, comes after
                kind = 'ringd' if tgt in ringd else 'rawp' if tgt in rawp else 'relay' if tgt in relay else 'raw'
                chains[tid] = {'kind': kind, 'start': t, 'resp': tgt}
                continue
            for c, ch in chains.items():
                if 'end' in ch:
                    continue
                if tgt == c and tid != c:
                    ch['end'] = t
                elif ch['kind'] in hop and tid in hop[ch['kind']][0] and tgt in hop[ch['kind']][1] and 'sent' not in ch:
                    ch['sent'] = t
                    ch['second'] = tgt
        elif name == 'sched:sched_switch':
            nxt = int(re.search(r'next_pid=(\d+)', rest).group(1))
            for c, ch in list(chains.items()):
                if 'end' not in ch:
                    if nxt == ch['resp'] and 'rrun' not in ch:
                        ch['rrun'] = t
                    elif 'sent' in ch and nxt == ch['second'] and 'crun' not in ch:
                        ch['crun'] = t
                elif nxt == c:
                    ch['run'] = t
                    done[ch['kind']].append(ch)
                    del chains[c]

    def row(label, v):
        if v:
            print('  %-44s p10 %6.1f  p50 %6.1f  p90 %6.1f us  (%d)' % (label, pct(v, .1), pct(v, .5), pct(v, .9), len(v)))

    for kind, title in (('raw', 'raw in-process responder'), ('rawp', 'raw responder, own process'),
                        ('relay', 'bare relay (two processes)'), ('ringd', 'ringd + one ES client')):
        v = done[kind]
        if not v and kind in ('rawp', 'relay'):
            continue
        print('%s: %d exec permission waits' % (title, len(v)))
        row('child wakes responder -> child runs again', [c['run'] - c['start'] for c in v])
        row('  responder runs after', [c['rrun'] - c['start'] for c in v if 'rrun' in c])
        if kind in hop:
            fw, second = ('ringd', 'the client') if kind == 'ringd' else ('relay', 'the answerer')
            row('  %s runs -> %s wakes %s' % (fw, fw, second), [c['sent'] - c['rrun'] for c in v if 'sent' in c and 'rrun' in c])
            row('  %s woken -> runs' % second, [c['crun'] - c['sent'] for c in v if 'crun' in c])
            row('  %s runs -> child woken' % second, [c['end'] - c['crun'] for c in v if 'crun' in c])
        row('  child woken -> child runs', [c['run'] - c['end'] for c in v])


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
