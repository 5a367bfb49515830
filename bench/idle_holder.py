#!/usr/bin/env python3
"""idle_holder.py HOST PORT N PATH [REFRESH_S] : N idle keep-alive HTTP/1.1 connections.

Opens N connections to HOST:PORT (at most 500 connecting at once), sends one
`GET PATH HTTP/1.1` on each and reads its answer (Content-Length), so that every connection
has been through a request and nginx holds it as an idle keep-alive connection (stub_status
"Waiting"). Then prints `HELD <n> ok=<200 answers> failed=<other>` and keeps them open, idle,
until SIGTERM or SIGINT; a connection idle for REFRESH_S seconds (default 50: below nginx's
keepalive_timeout 65s) sends one more request so that nginx keeps it. On exit it prints
`DONE still_open=<n> closed_by_server=<n> refreshed=<requests>`.

The client side needs N file descriptors: the soft limit is raised to the hard limit.
"""
import resource
import selectors
import signal
import socket
import sys
import time

host, port, n, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
refresh = float(sys.argv[5]) if len(sys.argv) > 5 else 50.0
REQUEST = f'GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: idle_holder\r\n\r\n'.encode()

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft < hard:
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
if n + 64 > hard:
    sys.exit(f'idle_holder: {n} connections need more than the hard limit of {hard} open files')

stop = False


def on_signal(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)

sel = selectors.DefaultSelector()


class Conn:
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.buf = b''
        self.state = 'connecting'
        self.last = time.monotonic()
        self.sock.connect_ex((host, port))
        sel.register(self.sock, selectors.EVENT_WRITE, self)

    def send(self):
        self.sock.send(REQUEST)  # a few dozen bytes: fits in an empty socket buffer
        self.state = 'waiting'
        self.buf = b''
        sel.modify(self.sock, selectors.EVENT_READ, self)

    def answer(self):
        """The status of a complete answer in buf, or None while it is incomplete."""
        end = self.buf.find(b'\r\n\r\n')
        if end < 0:
            return None
        head = self.buf[:end].decode('latin-1').lower()
        length = 0
        for line in head.split('\r\n')[1:]:
            k, _, v = line.partition(':')
            if k.strip() == 'content-length':
                length = int(v)
        if len(self.buf) < end + 4 + length:
            return None
        self.buf = self.buf[end + 4 + length:]
        return int(head.split()[1])


conns, ok, failed, closed, refreshed = [], 0, 0, 0, 0
answered = 0
t0 = time.monotonic()
while (answered < n or len(conns) < n) and not stop:
    while len(conns) < n and len(conns) - answered < 500:
        conns.append(Conn())
    for key, ev in sel.select(timeout=1):
        c = key.data
        if c.state == 'connecting':
            if c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                failed += 1
                answered += 1
                c.state = 'dead'
                sel.unregister(c.sock)
                c.sock.close()
                continue
            c.send()
            continue
        try:
            data = c.sock.recv(65536)
        except OSError:
            data = b''
        if not data:
            if c.state == 'idle':
                closed += 1
            else:
                failed += 1
                answered += 1
            c.state = 'dead'
            sel.unregister(c.sock)
            c.sock.close()
            continue
        c.buf += data
        status = c.answer()
        if status is not None:
            ok += status == 200
            failed += status != 200
            answered += 1
            c.state = 'idle'
            c.last = time.monotonic()
    if time.monotonic() - t0 > 120:
        break
live = [c for c in conns if c.state == 'idle']
print(f'HELD {len(live)} ok={ok} failed={failed} seconds={time.monotonic() - t0:.1f}', flush=True)

while not stop:
    for key, ev in sel.select(timeout=1):
        c = key.data
        try:
            data = c.sock.recv(65536)
        except OSError:
            data = b''
        if not data:
            closed += 1
            c.state = 'dead'
            sel.unregister(c.sock)
            c.sock.close()
            continue
        c.buf += data
        if c.answer() is not None:
            c.state = 'idle'
            c.last = time.monotonic()
    now = time.monotonic()
    for c in live:
        if c.state == 'idle' and now - c.last > refresh:
            c.send()
            c.last = now
            refreshed += 1
print(f'DONE still_open={sum(c.state != "dead" for c in live)} closed_by_server={closed} refreshed={refreshed}', flush=True)
