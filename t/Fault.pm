package t::Fault;

# Helpers for the fault and stress tests (t/db/fault_*.t, t/stress/*.t):
#
#   t::Fault::Pg     a private PostgreSQL cluster for one test file (build/pg + build/bootstrap-db
#                    in a temporary directory), which the test may stop (pg_ctl -m fast or
#                    immediate, as the data directory's owner), freeze (SIGSTOP of the
#                    postmaster and its children) and start again without disturbing the shared
#                    test database that other files use in parallel; psql bounded in time;
#                    backends(): the module's rows of pg_stat_activity. At exit (END) it is
#                    thawed, stopped and removed, whatever happened.
#   start_nginx      t::Nginx with nginx_conf(): the API at /api/, /alive and /status (nginx's
#                    own); stop_nginx() also SIGKILLs (by pid, after printing its stack with gdb)
#                    a worker that did not exit on QUIT, so a deadlocked worker cannot hang the
#                    suite; responsive(): every worker answers /alive. Every nginx started here
#                    is stopped at exit.
#   load(...)        forked Perl clients (keep-alive loops with IO::Socket::INET) sending
#                    requests for a bounded time; every answer is recorded (status, detail,
#                    latency); an answer that does not come within the client timeout is
#                    recorded as status 0 ("hung"); summarize() prints counts and latencies.
#   write_outcomes   POSTs of unique songs checked against the table (201: there once, with its
#                    id; "outcome unknown": maybe; any other answer: not there).
#   proc helpers     RSS, open fds, children, command lines, the TCP ports a process has open to
#                    a port (which worker a PostgreSQL backend belongs to), alert lines of a log.
#
# Variants: a test file picks its parameters with pick(short => ..., long => ...); the long
# variants run when NGX_MUSIC_STRESS_LONG=1 (t/stress/*.t set it; ./build/stress runs them).
# NGX_MUSIC_FAULT_DEBUG=1 adds a debug log to every nginx; NGX_MUSIC_FAULT_KEEP=1 keeps the
# private clusters' directories.
#
# Everything talks to 127.0.0.1 only; every loop is bounded in time; processes are stopped by
# their pid only.

use strict;
use warnings;
use Exporter 'import';
use Cwd ();
use File::Temp ();
use File::Path qw(remove_tree);
use IO::Socket::INET;
use IO::Select;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use t::Music qw(request);
use t::Nginx;

our @EXPORT_OK = qw(pick long_variant load summarize by_status rss_kb fd_count nginx_conf start_nginx live_workers
    stop_nginx responsive
    children_of cmdline tcp_ports_to alert_lines wait_until detail_of write_outcomes);

sub long_variant { $ENV{NGX_MUSIC_STRESS_LONG} ? 1 : 0 }

# pick(short => X, long => Y): the value for the variant that runs.
sub pick {
    my (%v) = @_;
    return long_variant() ? $v{long} : $v{short};
}

# Whether nginx runs as build/asan's AddressSanitizer build (it sets NGX_MUSIC_UNDER_ASAN=1):
# RSS figures then include ASan's quarantine of freed memory (up to 256 MB), so RSS bounds say
# nothing about the module and are skipped; the run still fails on any ASan report.
sub under_asan { $ENV{NGX_MUSIC_UNDER_ASAN} ? 1 : 0 }

sub project_root { $ENV{TEST_NGINX_PROJECT} // Cwd::getcwd() }

# Polls $cond every $step seconds for at most $seconds; returns its last value.
sub wait_until {
    my ($seconds, $cond, $step) = @_;
    my $deadline = time + $seconds;
    my $v;
    while (1) {
        $v = $cond->();
        return $v if $v || time >= $deadline;
        sleep($step // 0.1);
    }
}

# ------------------------------------------------------------------ processes (Linux /proc)

sub _status_field {
    my ($pid, $field) = @_;
    open my $fh, '<', "/proc/$pid/status" or return undef;
    local $_;
    while (<$fh>) { return $1 if /^\Q$field\E:\s+(\d+)/ }
    return undef;
}

sub rss_kb { _status_field($_[0], 'VmRSS') }

sub fd_count {
    my ($pid) = @_;
    opendir my $d, "/proc/$pid/fd" or return undef;
    return scalar grep { /^\d+$/ } readdir $d;
}

sub children_of { t::Nginx::children_of(@_) }

sub cmdline {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/cmdline" or return '';
    local $/;
    my $c = <$fh> // '';
    $c =~ s/\0+/ /g;
    $c =~ s/\s+\z//;
    return $c;
}

# The local ports of the TCP connections process $pid has open to 127.0.0.1:$port.
sub tcp_ports_to {
    my ($pid, $port) = @_;
    my %inodes;
    opendir my $d, "/proc/$pid/fd" or return ();
    for my $fd (readdir $d) {
        my $l = readlink "/proc/$pid/fd/$fd" or next;
        $inodes{$1} = 1 if $l =~ /^socket:\[(\d+)\]/;
    }
    my @ports;
    open my $fh, '<', "/proc/net/tcp" or return ();
    local $_;
    <$fh>;
    while (<$fh>) {
        my @f = split ' ';
        my (undef, $lport) = split /:/, $f[1];
        my (undef, $rport) = split /:/, $f[2];
        push @ports, hex($lport) if hex($rport) == $port && $inodes{ $f[9] };
    }
    return sort { $a <=> $b } @ports;
}

# [alert]/[emerg]/[crit] lines and "exited on signal" in an error log text.
sub alert_lines {
    my ($log) = @_;
    return grep { /\[(alert|emerg|crit)\]|exited on signal|open socket #\d+ left/ } split /\n/, $log;
}

# ------------------------------------------------------------------------------- nginx

# nginx.conf for a fault test: the API at /api/, /alive answered by nginx alone.
#   url, workers (2), connections (1024), main (extra main-level text), http (extra http-level
#   directives, e.g. timeouts), location (extra directives in the API location), server
#   (extra server-level text). /alive and /status (stub_status) are nginx's own.
#   With NGX_MUSIC_FAULT_DEBUG=1 every worker also writes a debug log, logs/debug.log.
sub nginx_conf {
    my (%o) = @_;
    my $workers = $o{workers} // 2;
    my $conns = $o{connections} // 1024;
    my $main = $o{main} // '';
    my $http = $o{http} // '';
    my $loc = $o{location} // '';
    my $server = $o{server} // '';
    # NGX_MUSIC_FAULT_DEBUG=1: also a debug log (logs/debug.log; the nginx is built --with-debug)
    $main .= "\nerror_log logs/debug.log debug;" if $ENV{NGX_MUSIC_FAULT_DEBUG};
    return <<"EOC";
worker_processes $workers;
$main
events { worker_connections $conns; }
http {
    access_log off;
    keepalive_requests 1000000;
    music_database "$o{url}";
    $http
    server {
        listen 127.0.0.1:$o{port};
        location /api/ { music_api; $loc }
        location = /alive { return 200 "alive\\n"; }
        location = /status { stub_status; }
        $server
    }
}
EOC
}

our @NGINX;   # every nginx started here, for stop_nginx at exit

# A started t::Nginx with nginx_conf(%o).
sub start_nginx {
    my (%o) = @_;
    my $n = t::Nginx->new(name => $o{name});
    $n->write_conf(nginx_conf(port => $n->port, %o));
    $n->start;
    push @NGINX, $n;
    # The master listens before it forks the workers: a test that picks "the worker" must not
    # look before they exist (slow under valgrind and ASan).
    my $want = $o{workers} // 2;
    wait_until(10 * t::Nginx::slowdown(), sub { live_workers($n) >= $want }, 0.02);
    return $n;
}

# Stops nginx (QUIT, then KILL of the master after 10 s: t::Nginx::stop) and then SIGKILLs,
# by pid, any of its worker processes still alive (a worker stuck in a deadlock ignores QUIT
# and, orphaned, would keep the test's output pipe open for ever). Returns the pids that had to
# be killed that way (none when all is well).
sub stop_nginx {
    my ($n) = @_;
    return () unless $n->{pid};
    my @kids = $n->workers;
    $n->stop;
    my @left = grep { kill 0, $_ } @kids;
    wait_until(3, sub { !grep { kill 0, $_ } @left }, 0.1) if @left;
    @left = grep { kill(0, $_) && cmdline($_) =~ /^nginx: / } @left;
    for my $pid (@left) {
        my $bt = backtrace($pid);
        print STDERR "# nginx worker $pid did not exit on QUIT; its main thread:\n", map { "#   $_\n" } split /\n/, $bt;
    }
    kill 'KILL', @left if @left;
    return @left;
}

# The main thread's stack of a live process (gdb, when installed), for a stuck worker.
sub backtrace {
    my ($pid) = @_;
    my $gdb = -x '/usr/bin/gdb' ? '/usr/bin/gdb' : return '(no gdb to show the stack)';
    my $out = `timeout 60 $gdb -p $pid -batch -ex 'thread apply 1 bt 25' 2>/dev/null`;
    my @frames = grep { /^#\d/ } split /\n/, $out;
    s/ \(\) from \S+$// for @frames;
    return @frames ? join("\n", @frames) : '(no stack)';
}

# True when every worker answers a plain nginx location (/alive) within $timeout seconds
# ($tries requests, each on its own connection): a worker stuck in a deadlock does not.
sub responsive {
    my ($n, $timeout, $tries) = @_;
    my @r = $n->parallel($timeout // 3, (request('GET', '/alive', close => 1)) x ($tries // 6));
    return !grep { $_->{status} != 200 } @r;
}


# The pids of the master's children that are current workers (not shutting down).
sub live_workers {
    my ($n) = @_;
    return grep { cmdline($_) !~ /shutting down/ } $n->workers;
}

# --------------------------------------------------------------------------- HTTP client

# Reads one response to the request already written on $s, until $deadline.
# Returns { status, head, body, error, got } (got: bytes of response received).
sub read_response {
    my ($s, $deadline, $head_only) = @_;
    my $buf = '';
    my $sel = IO::Select->new($s);
    my ($status, $head, $len, $chunked, $body_start);
    while (1) {
        if (defined $head) {
            my $avail = length($buf) - $body_start;
            if (defined $len && $avail >= $len) {
                return { status => $status, head => $head, body => substr($buf, $body_start, $len), got => length $buf };
            }
            if ($chunked) {
                my ($done, $body) = _dechunk(substr($buf, $body_start));
                return { status => $status, head => $head, body => $body, got => length $buf } if $done;
            }
        }
        my $left = $deadline - time;
        if ($left <= 0) {
            return { status => 0, head => $head // '', body => '', error => 'timeout', got => length $buf };
        }
        my @r = $sel->can_read($left);
        next unless @r;
        my $n = sysread($s, my $chunk, 65536);
        if (!$n) {
            my $why = defined $n ? 'closed' : "read: $!";
            if (defined $head && !defined $len && !$chunked) {   # close-delimited body
                return { status => $status, head => $head, body => substr($buf, $body_start), got => length $buf };
            }
            return { status => 0, head => $head // '', body => '', error => $why, got => length $buf };
        }
        $buf .= $chunk;
        if (!defined $head) {
            my $i = index($buf, "\r\n\r\n");
            next if $i < 0;
            $head = substr($buf, 0, $i);
            $body_start = $i + 4;
            ($status) = $head =~ m{^HTTP/1\.\d (\d{3})};
            $status //= 0;
            if ($head_only || $status == 204 || $status == 304) { $len = 0 }
            elsif ($head =~ /^Content-Length:\s*(\d+)/mi) { $len = $1 }
            elsif ($head =~ /^Transfer-Encoding:\s*chunked/mi) { $chunked = 1 }
        }
    }
}

sub _dechunk {
    my ($data) = @_;
    my ($body, $pos) = ('', 0);
    while (1) {
        my $e = index($data, "\r\n", $pos);
        return (0) if $e < 0;
        my ($size) = substr($data, $pos, $e - $pos) =~ /^([0-9a-fA-F]+)/;
        return (0) unless defined $size;
        $size = hex $size;
        if ($size == 0) {
            return (index($data, "\r\n\r\n", $e - 2) >= 0 ? 1 : 0, $body);
        }
        return (0) if length($data) < $e + 2 + $size + 2;
        $body .= substr($data, $e + 2, $size);
        $pos = $e + 2 + $size + 2;
    }
}

# One exchange on a keep-alive connection ($$sockref is opened when needed). A request sent on
# a reused connection that the server closed before answering a single byte (the keep-alive
# race: nginx closes idle connections at a reload) is retried once on a new connection when
# $r->{retry_stale} (idempotent requests only).
sub exchange {
    my ($sockref, $port, $r, $timeout) = @_;
    my $t0 = time;
    my $retried = 0;
    while (1) {
        my $fresh = 0;
        if ($$sockref && $r->{req} =~ /^Connection: close/mi) {
            # a request meant for its own connection (a POST that must not meet the keep-alive
            # race: it could not be retried) does not reuse the previous one
            close $$sockref;
            undef $$sockref;
        }
        if (!$$sockref) {
            $$sockref = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => $timeout)
                or return { t0 => $t0, t1 => time, status => 0, error => "connect: $!", retried => $retried };
            $fresh = 1;
        }
        my $s = $$sockref;
        my $lport = $s->sockport // '?';
        my $ok = defined syswrite($s, $r->{req});
        my $res = $ok ? read_response($s, $t0 + $timeout, $r->{head_only})
                      : { status => 0, error => "write: $!", got => 0 };
        # the client port finds the connection in nginx's debug log (NGX_MUSIC_FAULT_DEBUG=1)
        $res->{error} .= " [client port $lport" . ($fresh ? '' : ', reused') . ']' if $res->{status} == 0;
        if ($res->{status} == 0 && !$res->{got} && !$fresh && $res->{error} !~ /^timeout/
            && $r->{retry_stale} && !$retried) {
            close $s;
            undef $$sockref;
            $retried = 1;
            next;
        }
        if ($res->{status} == 0 || $r->{req} =~ /^Connection: close/mi || ($res->{head} // '') =~ /^Connection: close/mi) {
            close $s;
            undef $$sockref;
        }
        $res->{t0} = $t0;
        $res->{t1} = time;
        $res->{retried} = $retried;
        return $res;
    }
}

# ---------------------------------------------------------------------------------- load

# load(port => P, clients => N, seconds => S, timeout => T, pace => s, max_requests => n,
#      make => sub { my ($client, $seq) = @_; { tag => ..., req => raw, retry_stale => 0|1 } })
# Forks N clients that loop for S seconds (or until ->stop); returns a handle whose ->finish
# waits for them and returns every result:
#   { client, seq, tag, t0, t1, status, detail, body, error, retried }
sub load {
    my (%o) = @_;
    my $dir = File::Temp::tempdir('ngx-music-load.XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $self = bless { %o, dir => $dir, pids => [], start => time, owner => $$ }, 't::Fault::Load';
    $self->{timeout} //= 10;
    $self->{t_end} = time + $o{seconds};
    for my $c (1 .. $o{clients}) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            _client($self, $c);
            POSIX::_exit(0);
        }
        push @{ $self->{pids} }, $pid;
    }
    return $self;
}

sub _client {
    my ($self, $c) = @_;
    $SIG{PIPE} = 'IGNORE';
    $SIG{TERM} = sub { POSIX::_exit(0) };
    open my $out, '>', "$self->{dir}/client-$c" or POSIX::_exit(1);
    $out->autoflush(1);
    my $sock;
    my $seq = 0;
    while (time < $self->{t_end} && !-e "$self->{dir}/stop") {
        last if defined $self->{max_requests} && $seq >= $self->{max_requests};
        my $r = $self->{make}->($c, $seq);
        my $res = exchange(\$sock, $self->{port}, $r, $self->{timeout});
        my $body = $res->{body} // '';
        $body = substr($body, 0, 400);
        $body =~ s/[\t\r\n]/ /g;
        my $err = $res->{error} // '';
        $err =~ s/[\t\r\n]/ /g;
        print $out join("\t", $c, $seq, $r->{tag} // '', sprintf('%.4f', $res->{t0}), sprintf('%.4f', $res->{t1}),
            $res->{status}, $res->{retried} ? 1 : 0, $err, $body), "\n";
        $seq++;
        sleep $self->{pace} if $self->{pace};
    }
    close $sock if $sock;
}

package t::Fault::Load;

use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);

sub stop {
    my ($self) = @_;
    open my $fh, '>', "$self->{dir}/stop";
    close $fh;
}

sub running { scalar grep { kill 0, $_ } @{ $_[0]{pids} } }

sub finish {
    my ($self) = @_;
    my $deadline = $self->{t_end} + $self->{timeout} + 10;
    my %left = map { $_ => 1 } @{ $self->{pids} };
    while (%left && time < $deadline) {
        for my $pid (keys %left) { delete $left{$pid} if waitpid($pid, WNOHANG) == $pid }
        sleep 0.05 if %left;
    }
    for my $pid (keys %left) {   # our own clients only, by pid
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
    $self->{pids} = [];
    my @results;
    for my $file (glob "$self->{dir}/client-*") {
        open my $fh, '<', $file or next;
        while (my $line = <$fh>) {
            chomp $line;
            my @f = split /\t/, $line, 9;
            next unless @f >= 8;
            my %r;
            @r{qw(client seq tag t0 t1 status retried error body)} = @f;
            $r{body} //= '';
            $r{detail} = t::Fault::detail_of($r{body});
            $r{dt} = $r{t1} - $r{t0};
            push @results, \%r;
        }
    }
    return sort { $a->{t0} <=> $b->{t0} } @results;
}

sub DESTROY {
    my ($self) = @_;
    return unless $self->{owner} == $$;
    for my $pid (@{ $self->{pids} || [] }) { kill 'KILL', $pid; waitpid($pid, 0) }
}

package t::Fault;

sub detail_of {
    my ($body) = @_;
    return $body =~ /^\{"detail":"((?:[^"\\]|\\.)*)"\}\s*$/ ? $1 : undef;
}

sub by_status {
    my (@results) = @_;
    my %n;
    $n{ $_->{status} }++ for @results;
    return \%n;
}

our $UNKNOWN = 'Database connection lost during the write; its outcome is unknown.';

# Checks the POSTs of a load (tag "post:<unique song>") against the table:
#   201 -> exactly one row, whose id the answer gave; the "outcome unknown" 503 -> zero or one row; any other answer
#   (error, hung) -> no row; no song twice. Returns (\%counts, \@problems).
#   lost_is_unknown => 1: a request whose connection closed without an answer (status 0: the
#   worker was killed) counts as "outcome unknown" too.
sub write_outcomes {
    my ($pg, $like, $results, %opt) = @_;
    my @results = @$results;
    my %rows;
    my %id;
    for (split /\n/, $pg->psql("SELECT song || '|' || count(*) || '|' || min(id) FROM music WHERE song LIKE '$like' GROUP BY song")) {
        my ($s, $c, $i) = split /\|/;
        $rows{$s} = $c;
        $id{$s} = $i;
    }
    my (%n, @problems, %asked);
    for my $r (grep { $_->{tag} =~ /^post:/ } @results) {
        (my $song = $r->{tag}) =~ s/^post://;
        $asked{$song} = 1;
        my $c = $rows{$song} // 0;
        push @problems, "$song is in the table $c times" if $c > 1;
        if ($r->{status} == 201) {
            $n{created}++;
            push @problems, "$song answered 201 but is not in the table" if $c == 0;
            my ($got) = $r->{body} =~ /^\{"id":(\d+),"song":"\Q$song\E"/;
            push @problems, "$song answered 201 with " . ($got // 'no id') . " but its row has id $id{$song}"
                if $c && (!defined $got || $got != $id{$song});
        } elsif ($r->{status} == 503 && ($r->{detail} // '') eq $UNKNOWN
            || $opt{lost_is_unknown} && $r->{status} == 0 && ($r->{error} // '') !~ /^timeout/) {
            $n{unknown}++;
            $n{ $c ? 'unknown_committed' : 'unknown_absent' }++;
        } else {
            $n{failed}++;
            $n{"failed $r->{status}"}++;
            push @problems, "$song answered $r->{status} $r->{body}" . ($r->{error} ? " ($r->{error})" : '') . " but is in the table" if $c;
        }
    }
    for my $song (grep { !$asked{$_} } keys %rows) {
        push @problems, "$song is in the table but no answer was recorded for it";
    }
    return (\%n, \@problems);
}

# A one-paragraph account of a load's results: counts by status and detail, latencies.
sub summarize {
    my (@results) = @_;
    return 'no requests' unless @results;
    my %n;
    for my $r (@results) {
        my $k = $r->{status};
        $k .= " $r->{detail}" if $r->{status} !~ /^2/ && defined $r->{detail};
        (my $e = $r->{error} // '') =~ s/ \[client port [^\]]*\]//;
        $k .= " ($e)" if $e;
        $n{$k}++;
    }
    my @dt = sort { $a <=> $b } map { $_->{dt} } @results;
    my $retried = grep { $_->{retried} } @results;
    my $span = $results[-1]{t1} - $results[0]{t0};
    return sprintf("%d requests in %.1fs (%.0f/s); max latency %.3fs, p99 %.3fs; keep-alive retries %d\n", scalar @results,
        $span, @results / ($span || 1), $dt[-1], $dt[int(0.99 * $#dt)], $retried)
        . join('', map { sprintf "    %6d  %s\n", $n{$_}, $_ } sort { $n{$b} <=> $n{$a} } keys %n);
}

# ============================================================== a private PostgreSQL cluster

package t::Fault::Pg;

use POSIX qw(:sys_wait_h);
use File::Path qw(remove_tree);
use Time::HiRes qw(time sleep);

our @CLUSTERS;

# Starts (initdb on first use) a cluster in a new temporary directory with build/pg and
# bootstraps the ngx-music schema and admin user into it with build/bootstrap-db. With
# tls => 1 (or NGX_MUSIC_FAULT_TLS=1) the cluster has TLS on (enable_tls) and url() asks for
# it with sslmode=verify-full.
sub new {
    my ($class, %o) = @_;
    my $root = t::Fault::project_root();
    my $area = File::Temp::tempdir('ngx-music-fault.XXXXXX', TMPDIR => 1, CLEANUP => 0);
    chmod 0755, $area;
    my $port = t::Nginx::free_port();
    my $self = bless { area => $area, dir => "$area/pg", port => $port, root => $root, owner => $$,
        frozen => [] }, $class;
    push @CLUSTERS, $self;
    my $out = `"$root/build/pg" start "$self->{dir}" $port 2>&1`;
    die "build/pg start failed:\n$out" if $?;
    ($self->{url}) = $out =~ m{^(postgres://\S+)\s*$}m or die "no URL from build/pg:\n$out";
    $out = `"$root/build/bootstrap-db" "$self->{url}" 2>&1`;
    die "bootstrap-db failed:\n$out" if $?;
    if ($o{tls} // $ENV{NGX_MUSIC_FAULT_TLS}) {
        # every session over TLS, checked as strictly as libpq can (the certificate names
        # "localhost")
        my $d = $self->enable_tls;
        $self->{tls} = $d;
        $self->{url} =~ s{\@127\.0\.0\.1:}{\@localhost:} or die "no 127.0.0.1 in $self->{url}";
        $self->{url} .= "?sslmode=verify-full&sslrootcert=$d/ca.pem";
    }
    return $self;
}

sub url  { $_[0]{url} }
sub port { $_[0]{port} }
sub dir  { $_[0]{dir} }
sub log_file { "$_[0]{dir}.log" }

sub pgbin { $ENV{PGBIN} // '/usr/lib/postgresql/15/bin' }

# The data directory's owner runs pg_ctl (as root: runuser, as build/pg does).
sub _as_owner {
    my ($self, @cmd) = @_;
    my $uid = (stat $self->{dir})[4];
    return @cmd if !defined $uid || $uid == $>;
    my $name = getpwuid($uid) // die "no user for uid $uid";
    return ('runuser', '-u', $name, '--', @cmd);
}

# SQL through psql, bounded in time (a frozen server must not hang the test).
# Returns the unaligned output; dies on failure unless allow_fail => 1 (then undef).
sub psql {
    my ($self, $sql, %o) = @_;
    my $psql = pgbin() . '/psql';
    $psql = 'psql' unless -x $psql;
    local $ENV{PGCONNECT_TIMEOUT} = 3;
    my $t = $o{timeout} // 20;
    open(my $fh, '-|', 'timeout', '-k', '2', $t, $psql, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
        '-d', $self->{url}, '-c', $sql) or die "psql: $!";
    local $/;
    my $out = <$fh> // '';
    my $ok = close $fh;
    $out =~ s/\s+\z//;
    return $out if $ok;
    return undef if $o{allow_fail};
    die "psql failed (exit $?) for: $sql\n";
}

# TLS on the cluster (ssl = on, by ALTER SYSTEM and a reload): a CA and a server certificate
# for "localhost" signed by it, a second CA that signed nothing here, and a client certificate
# (CN = client, default "postgres", for pg_hba's `cert`), all made here with openssl in the
# cluster's area. Returns that directory: ca.pem, other-ca.pem, client.pem, client.key.
sub enable_tls {
    my ($self, %o) = @_;
    my $d = "$self->{area}/tls";
    mkdir $d or die "$d: $!";
    my $client = $o{client} // 'postgres';
    open my $ext, '>', "$d/server.ext" or die $!;
    print $ext "subjectAltName = DNS:localhost\n";
    close $ext;
    my $ca_ext = '-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign';
    for my $cmd (
        "req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=ngx-music test CA' $ca_ext -keyout $d/ca.key -out $d/ca.pem",
        "req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=some other CA' $ca_ext -keyout $d/other-ca.key -out $d/other-ca.pem",
        "req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout $d/server.key -out $d/server.csr",
        "x509 -req -in $d/server.csr -CA $d/ca.pem -CAkey $d/ca.key -CAcreateserial -days 2 -extfile $d/server.ext -out $d/server.pem",
        "req -newkey rsa:2048 -nodes -subj /CN=$client -keyout $d/client.key -out $d/client.csr",
        "x509 -req -in $d/client.csr -CA $d/ca.pem -CAkey $d/ca.key -CAcreateserial -days 2 -out $d/client.pem",
    ) {
        my $out = `openssl $cmd 2>&1`;
        die "openssl $cmd:\n$out" if $?;
    }
    # the server's key: its own, mode 0600, or PostgreSQL refuses it
    my ($uid, $gid) = (stat $self->{dir})[4, 5];
    chown $uid, $gid, "$d/server.key";
    chmod 0600, "$d/server.key", "$d/client.key";
    chmod 0755, $d;
    $self->psql("ALTER SYSTEM SET $_") for ("ssl = on", "ssl_cert_file = '$d/server.pem'",
        "ssl_key_file = '$d/server.key'", "ssl_ca_file = '$d/ca.pem'");
    $self->psql('SELECT pg_reload_conf()');
    for (1 .. 50) {
        last if ($self->psql('SHOW ssl') // '') eq 'on';
        sleep 0.1;
    }
    return $d;
}

# Of the module's sessions: how many, and how many are TLS (pg_stat_ssl).
sub ssl_sessions {
    my ($self, $app) = @_;
    $app //= 'ngx-music';
    my $out = $self->psql("SELECT count(*), count(*) FILTER (WHERE s.ssl) FROM pg_stat_activity a
        JOIN pg_stat_ssl s USING (pid) WHERE a.application_name = '$app' AND a.backend_type = 'client backend'");
    return split /\|/, $out;
}

sub postmaster_pid {
    my ($self) = @_;
    open my $fh, '<', "$self->{dir}/postmaster.pid" or return undef;
    my $pid = <$fh>;
    return undef unless defined $pid;
    chomp $pid;
    return $pid =~ /^\d+$/ && kill(0, $pid) ? $pid : undef;
}

sub running { defined $_[0]->postmaster_pid }

# pg_ctl stop -m MODE (smart, fast or immediate), waiting for the server to go.
sub stop {
    my ($self, $mode) = @_;
    $self->thaw;
    return 1 unless $self->running;
    my @cmd = $self->_as_owner(pgbin() . '/pg_ctl', '-D', $self->{dir}, '-m', $mode // 'fast', '-w', '-t', '60', 'stop');
    my $out = `@cmd 2>&1`;
    die "pg_ctl stop failed: $out" if $?;
    return 1;
}

# Starts it again on the same port (build/pg start: the same options as the first start).
sub start {
    my ($self) = @_;
    my $out = `"$self->{root}/build/pg" start "$self->{dir}" $self->{port} 2>&1`;
    die "build/pg start failed:\n$out" if $?;
    return 1;
}

# SIGSTOP the postmaster first (so it forks nothing new), then every child of it (backends
# and auxiliary processes); returns the pids stopped.
sub freeze {
    my ($self) = @_;
    my $pm = $self->postmaster_pid // die "PostgreSQL is not running";
    kill 'STOP', $pm;
    my @kids = t::Fault::children_of($pm);
    kill 'STOP', @kids if @kids;
    $self->{frozen} = [$pm, @kids];
    return ($pm, @kids);
}

sub thaw {
    my ($self) = @_;
    my @pids = @{ $self->{frozen} || [] };
    return unless @pids;
    my ($pm, @kids) = @pids;
    # children first, then the postmaster; any child forked meanwhile was never stopped
    kill 'CONT', @kids if @kids;
    kill 'CONT', $pm;
    $self->{frozen} = [];
}

# Backends of the module (application_name 'ngx-music' unless given):
# list of { pid, port, state, secs, query }.
sub backends {
    my ($self, $app) = @_;
    $app //= 'ngx-music';
    my $out = $self->psql("SELECT pid, coalesce(client_port, -1), coalesce(state, ''),
            coalesce(extract(epoch FROM now() - query_start)::numeric(10,3), 0), replace(replace(query, chr(10), ' '), '|', '/')
        FROM pg_stat_activity WHERE application_name = '$app' AND backend_type = 'client backend' ORDER BY pid");
    my @b;
    for (split /\n/, $out) {
        my ($pid, $port, $state, $secs, $query) = split /\|/, $_, 5;
        push @b, { pid => $pid, port => $port, state => $state, secs => $secs, query => $query // '' };
    }
    return @b;
}

sub count_backends { scalar(my @b = $_[0]->backends($_[1])) }

sub cleanup {
    my ($self) = @_;
    return unless $self->{owner} == $$ && !$self->{cleaned}++;
    eval { $self->thaw };
    if ($self->running) {
        my @cmd = $self->_as_owner(pgbin() . '/pg_ctl', '-D', $self->{dir}, '-m', 'immediate', '-w', '-t', '30', 'stop');
        system("@cmd >/dev/null 2>&1");
    }
    if ($ENV{NGX_MUSIC_FAULT_KEEP}) {
        print STDERR "# kept the private PostgreSQL cluster in $self->{area}\n";
    } else {
        remove_tree($self->{area});
    }
}

# At exit (the test process only, not its forked clients): nginx first, then the clusters.
END {
    my $rc = $?;
    for my $n (grep { $_->{owner} == $$ } @t::Fault::NGINX) {
        my @left = t::Fault::stop_nginx($n);
        print STDERR "# killed nginx worker(s) @left that did not exit on QUIT\n" if @left;
    }
    $_->cleanup for @CLUSTERS;
    $? = $rc;
}

1;
