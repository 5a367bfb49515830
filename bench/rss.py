#!/usr/bin/env python3
"""rss.py NGINX_PIDFILE [INTERVAL_S] [MAX_S]

Samples VmRSS of every worker (child) of the nginx master every INTERVAL_S (0.01) until it
gets SIGTERM/SIGINT or MAX_S (600) pass, then prints one line per worker

  RSS pid=<pid> start_kb=<first sample> max_kb=<largest> growth_kb=<max - start> samples=<n>

and a last line "RSS max_growth_kb=<largest growth over the workers>".
"""
import os
import signal
import sys
import time


def workers(master):
    out = []
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                with open(f'/proc/{d}/stat') as f:
                    s = f.read()
            except OSError:
                continue
            if int(s[s.rindex(')') + 2:].split()[1]) == master:
                out.append(int(d))
    return out


def rss_kb(pid):
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def main():
    with open(sys.argv[1]) as f:
        master = int(f.readline())
    interval = float(sys.argv[2]) if len(sys.argv) > 2 else 0.01
    max_s = float(sys.argv[3]) if len(sys.argv) > 3 else 600
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    pids = workers(master)
    stats = {}
    t_end = time.monotonic() + max_s
    # "ready" tells the caller that the first sample is taken
    first = True
    while not stop and time.monotonic() < t_end:
        for p in pids:
            v = rss_kb(p)
            if v is None:
                continue
            st = stats.setdefault(p, [v, v, 0])
            st[1] = max(st[1], v)
            st[2] += 1
        if first:
            print('READY', flush=True)
            first = False
        time.sleep(interval)
    best = 0
    for p, (start, mx, n) in sorted(stats.items()):
        print(f'RSS pid={p} start_kb={start} max_kb={mx} growth_kb={mx - start} samples={n}')
        best = max(best, mx - start)
    print(f'RSS max_growth_kb={best}', flush=True)


if __name__ == '__main__':
    main()
