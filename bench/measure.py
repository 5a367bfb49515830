#!/usr/bin/env python3
"""measure.py [--group NAME=PIDFILE ...] [--status URL] -- CMD...

Runs CMD (wrk, pgbench, ...), passes its output through, then prints

  CPU wall=<s> busy=<cores> load=<cores> <name>=<cores> ... rest=<cores> cores=<n>
  CPUSEC load=<s> <name>=<s> ...
  REQUESTS <n>           (only with --status: nginx stub_status "requests" delta)

Cores are CPU-seconds / wall-seconds. A group is the process whose pid is the first line of
PIDFILE (nginx master, postmaster) plus all its children, every thread of each. CPU time of
a live process is read from /proc/<pid>/task/*/schedstat (nanoseconds); the time of
children that exited during the run comes from the parent's cutime+cstime (clock ticks).
"load" is CMD itself and its children (getrusage). "busy" is the whole machine
(/proc/stat); "rest" = busy - load - groups: other processes (e.g. a compiler running
next to the benchmark), i.e. noise, and kernel time charged to no process of these groups;
"softirq" is the machine's softirq time (loopback networking), part of busy.
"""
import base64
import os
import re
import resource
import subprocess
import sys
import time
import urllib.request

TICK = os.sysconf('SC_CLK_TCK')


def read_stat(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(')') + 2:].split()
    # rest[1]=ppid, rest[13]=cutime, rest[14]=cstime, rest[19]=starttime
    return int(rest[1]), int(rest[13]), int(rest[14]), int(rest[19])


def task_ns(pid):
    total = 0
    try:
        tasks = os.listdir(f'/proc/{pid}/task')
    except OSError:
        return None
    for t in tasks:
        try:
            with open(f'/proc/{pid}/task/{t}/schedstat') as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def pidfile(path):
    try:
        with open(path) as f:
            return int(f.readline().strip())
    except (OSError, ValueError):
        return None


def group_snapshot(master):
    """{(pid, starttime): ns} for master and its children, plus master's reaped ticks."""
    if master is None:
        return {}, 0
    procs = {}
    reaped = 0
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        pid = int(d)
        st = read_stat(pid)
        if st is None:
            continue
        ppid, cut, cst, start = st
        if pid == master or ppid == master:
            ns = task_ns(pid)
            if ns is not None:
                procs[(pid, start)] = ns
            if pid == master:
                reaped = cut + cst
    return procs, reaped


def group_seconds(s0, s1):
    (p0, r0), (p1, r1) = s0, s1
    ns = 0
    for key, v in p1.items():
        ns += v - p0.get(key, 0)
    return ns / 1e9 + (r1 - r0) / TICK


def cpu_total():
    """(all ticks, idle ticks, softirq ticks) of the machine."""
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v[:8]), v[3] + v[4], v[6]


def stub_requests(url):
    """The "requests" counter of an nginx stub_status page (http://[user:pass@]host/path)."""
    req = urllib.request.Request(url)
    m = re.match(r'(https?://)([^/@]+)@(.*)$', url)
    if m:
        req = urllib.request.Request(m.group(1) + m.group(3))
        req.add_header('Authorization', 'Basic ' + base64.b64encode(m.group(2).encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            m = re.search(r'^\s*(\d+)\s+(\d+)\s+(\d+)\s*$', r.read().decode(), re.M)
            return int(m.group(3)) if m else None
    except Exception:  # noqa: BLE001 - a missing count is reported as such
        return None


def main():
    argv = sys.argv[1:]
    if '--' not in argv:
        sys.exit(__doc__)
    opts, cmd = argv[:argv.index('--')], argv[argv.index('--') + 1:]
    groups, status = {}, None
    i = 0
    while i < len(opts):
        if opts[i] == '--group':
            name, path = opts[i + 1].split('=', 1)
            groups[name] = path
            i += 2
        elif opts[i] == '--status':
            status = opts[i + 1]
            i += 2
        else:
            sys.exit(f'measure.py: unknown option {opts[i]}')
    masters = {k: pidfile(p) for k, p in groups.items()}
    req0 = stub_requests(status) if status else None
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    g0 = {k: group_snapshot(m) for k, m in masters.items()}
    t0, i0, s0 = cpu_total()
    w0 = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    w1 = time.monotonic()
    t1, i1, s1 = cpu_total()
    g1 = {k: group_snapshot(m) for k, m in masters.items()}
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    req1 = stub_requests(status) if status else None
    wall = w1 - w0
    sys.stdout.write(p.stdout)
    load = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    busy = ((t1 - t0) - (i1 - i0)) / TICK
    secs = {k: group_seconds(g0[k], g1[k]) for k in masters}
    rest = busy - load - sum(secs.values())
    cores = lambda x: f'{x / wall:.2f}'
    softirq = (s1 - s0) / TICK
    print('CPU wall=%.2f busy=%s load=%s %s rest=%s softirq=%s cores=%d' % (
        wall, cores(busy), cores(load), ' '.join(f'{k}={cores(v)}' for k, v in secs.items()),
        cores(rest), cores(softirq), os.cpu_count()))
    print('CPUSEC load=%.4f %s' % (load, ' '.join(f'{k}={v:.4f}' for k, v in secs.items())))
    if req0 is not None and req1 is not None:
        # the second status request is counted already when it reads the counter
        print(f'REQUESTS {req1 - req0 - 1}')
    sys.exit(p.returncode)


if __name__ == '__main__':
    main()
