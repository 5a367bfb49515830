#!/usr/bin/env python3
"""static_locations.py MATCH=CAPTURE ... : nginx locations answering captured responses.

Each CAPTURE is a response of the module saved by `curl -si` (status line, headers, blank
line, body). For each pair this prints a location block (MATCH is what follows `location`,
e.g. "= /api/" or "^~ /post/") that answers, whatever the method, with the same status,
Content-Type, the module's own added headers (Vary: Accept, Allow, Location) and the very
body bytes, through `return`: nginx's part of the request at its least, for the composed
ceiling of build/bench. nginx adds Server, Date, Content-Length and Connection itself, and
`Vary: Accept-Encoding` through gzip_vary exactly where the module's answer has it.

nginx's configuration parser takes no string longer than its 4 KB buffer: a longer body (a
list) is written to CAPTURE.body and served as a static file (`try_files`, which serves it
in the same location although the URI ends with "/"; GET and HEAD only,
with ETag off; nginx's Last-Modified and Accept-Ranges headers come on top, ~70 bytes).

The body goes into a single-quoted nginx string: backslashes and quotes are escaped, and a
`$` (which nginx would read as a variable) becomes ${bench_dollar}, a variable holding "$"
(static-nginx.conf defines it).
"""
import os
import sys

# headers nginx writes itself (or its gzip filter): not repeated with add_header
MAX_RETURN = 3000  # body bytes `return` can take (the parser's buffer is 4,096, escapes included)
OWN = {'server', 'date', 'content-length', 'connection', 'transfer-encoding', 'content-type'}


def parse(path):
    data = open(path, 'rb').read()
    head, sep, body = data.partition(b'\r\n\r\n')
    if not sep:
        sys.exit(f'{path}: no end of headers')
    lines = head.decode('latin-1').split('\r\n')
    parts = lines[0].split(' ', 2)
    if len(parts) < 2 or not parts[1].isdigit():
        sys.exit(f'{path}: not a status line: {lines[0]!r}')
    headers = [tuple(x.strip() for x in line.split(':', 1)) for line in lines[1:] if ':' in line]
    # (curl has already decoded a chunked body)
    return int(parts[1]), headers, body


def quote(s):
    return "'" + s.replace('\\', '\\\\').replace("'", "\\'").replace('$', '${bench_dollar}') + "'"


def location(match, path):
    status, headers, body = parse(path)
    text = body.decode('utf-8')
    if '\n' in text or '\r' in text:
        sys.exit(f'{path}: a body with line breaks cannot be returned byte for byte')
    ctype = next((v for k, v in headers if k.lower() == 'content-type'), 'application/octet-stream')
    out = [f'        location {match} {{', f'            default_type {quote(ctype)};']
    large = len(body) > MAX_RETURN
    for k, v in headers:
        if k.lower() in OWN or (k.lower() == 'vary' and v.lower() == 'accept-encoding'):
            continue
        out.append(f'            add_header {k} {quote(v)};')
    if large:
        if status != 200:
            sys.exit(f'{path}: a body over {MAX_RETURN} bytes can only be served with status 200')
        with open(path + '.body', 'wb') as f:
            f.write(body)
        d, name = os.path.split(os.path.abspath(path + '.body'))
        out += ['            types { }', '            etag off;', f'            root {quote(d)};',
                f'            try_files {quote("/" + name)} =404;']
    else:
        out.append(f'            return {status} {quote(text)};')
    out.append('        }')
    return '\n'.join(out)


def main():
    blocks = []
    for arg in sys.argv[1:]:
        match, sep, path = arg.rpartition('=')
        if not sep or not match:
            sys.exit(f'usage: static_locations.py MATCH=CAPTURE ... (got {arg!r})')
        blocks.append(location(match, path))
    print('\n'.join(blocks))


if __name__ == '__main__':
    main()
