#!/usr/bin/env bash
# bench/instructions.sh <out dir> <nginx.conf of the running stack> <port> <name> <path> [ab args]
#
# Instructions per request of one nginx process, counted by valgrind's callgrind: a stable
# regression metric on a machine without hardware counters, and unaffected by other load.
# The stack's own configuration is copied with one process (master_process off, so the one
# callgrind output holds every instruction), its own port, pid and logs; it runs twice under
# callgrind: once for WARM requests only, once for WARM + COUNT. The difference of the two
# totals divided by COUNT is the cost of a request, without start-up, warm-up (first
# connections, prepared statements, the PBKDF2 of the first credential) and shutdown.
# Requests go through `ab` (apache2-utils) with keep-alive, 4 at a time; a run where any
# request fails or answers non-2xx is an error, not a figure.
#
# Prints `<name> instructions_per_request=N ir_warm=A ir_total=B count=COUNT` on stdout.
# env: INSTR_WARM (200), INSTR_COUNT (2000)
set -euo pipefail

out=$1 conf=$2 port=$3 name=$4 path=$5
shift 5
warm=${INSTR_WARM:-200} count=${INSTR_COUNT:-2000}
nginx_bin=${NGINX_BIN:?NGINX_BIN must name the nginx binary}
mkdir -p "$out"

# one_run <tag> <requests>: the callgrind total of an nginx that served <requests>
one_run() {
    local tag=$1 n=$2 dir="$out/$name-$1" pid i rc=0
    shift 2
    mkdir -p "$dir/logs"
    [ ! -f "$(dirname "$conf")/mime.types" ] || cp "$(dirname "$conf")/mime.types" "$dir/"
    sed -E -e "s|^worker_processes .*;|worker_processes 1;\nmaster_process off;\ndaemon off;|" \
        -e "s|^pid .*;|pid $dir/nginx.pid;|" \
        -e "s|^error_log [^ ;]+|error_log $dir/logs/error.log|" \
        -e "s|access_log +[^ ;]+/access\.log|access_log $dir/logs/access.log|" \
        -e "s|listen 127\.0\.0\.1:[0-9]+|listen 127.0.0.1:$port|" \
        "$conf" >"$dir/nginx.conf"
    valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out" \
        "$nginx_bin" -c "$dir/nginx.conf" -e "$dir/logs/error.log" >"$dir/valgrind.log" 2>&1 &
    pid=$!
    for ((i = 0; i < 300; i++)); do
        ss -Hltn "sport = :$port" | grep -q . && break
        kill -0 $pid 2>/dev/null || { cat "$dir/valgrind.log" "$dir/logs/error.log" >&2; return 1; }
        sleep 0.1
    done
    ab -q -k -l -c 4 -n "$n" "$@" "http://127.0.0.1:$port$path" >"$dir/ab.txt" 2>&1 || rc=$?
    kill -QUIT $pid
    # a single-process nginx can miss a QUIT that lands just before epoll_wait: repeat it
    for ((i = 0; i < 120; i++)); do
        kill -0 $pid 2>/dev/null || break
        sleep 0.5
        kill -QUIT $pid 2>/dev/null || true
    done
    wait $pid || true
    [ $rc = 0 ] || { cat "$dir/ab.txt" >&2; return 1; }
    if ! grep -q "^Complete requests: *$n\$" "$dir/ab.txt" || ! grep -q '^Failed requests: *0$' "$dir/ab.txt" ||
        grep -q '^Non-2xx responses' "$dir/ab.txt"; then
        echo "instructions: $name ($tag) had failed or non-2xx requests:" >&2
        cat "$dir/ab.txt" >&2
        return 1
    fi
    awk '/^(summary|totals):/ {print $2; exit}' "$dir/callgrind.out"
}

# ab needs n >= c
a=$(one_run warm "$warm" "$@")
b=$(one_run total "$((warm + count))" "$@")
[ -n "$a" ] && [ -n "$b" ] || { echo "instructions: no callgrind total for $name" >&2; exit 1; }
echo "$name instructions_per_request=$(((b - a) / count)) ir_warm=$a ir_total=$b count=$count"
