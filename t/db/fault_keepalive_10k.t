# Stress: 10,000 idle keep-alive connections on one worker (worker_connections and
# worker_rlimit_nofile raised in the test's nginx), on a private cluster (t::Fault::Pg).
# Every connection first sends a request through the module (GET /api/, and every tenth an
# authenticated GET /api/musics/1/detail/ that reads the database), then stays open and idle.
# The clients are forked processes holding at most 1,000 sockets each, so the client side
# needs no raised ulimit; nginx raises its own soft limit, but only up to the hard limit: under
# a hard limit below 13,000 the test holds fewer connections and says so.
# Expected: every request answers 200; with all of them idle the worker's RSS grows by a
# bounded amount per connection; new requests still succeed at once, and so do requests on
# some of the idle connections; no [alert].
# The long variant (./build/stress) holds 20,000 (as far as the hard limit allows).
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use IO::Select;
use POSIX ();
use File::Temp ();
use Time::HiRes qw(time sleep);
use t::Music qw(request);
use t::Fault qw(stop_nginx responsive pick alert_lines wait_until live_workers start_nginx rss_kb);

plan skip_all => 'TEST_NGINX_PG_URL not set (run build/test)' unless $ENV{TEST_NGINX_PG_URL};

my $N = pick(short => 10_000, long => 20_000);
my $per = 1000;
# nginx raises its own limit (worker_rlimit_nofile) up to the hard limit only (a container may
# not let even root go beyond it)
chomp(my $hard = `sh -c 'ulimit -Hn'`);
if ($hard ne 'unlimited' && $hard < $N + 3000) {
    plan skip_all => "the hard limit on open files ($hard) is too low for this test" if $hard < 5000;
    diag("the hard limit on open files is $hard: holding " . ($hard - 3000) . " connections instead of $N");
    $N = $hard - 3000;
}
my $pg = t::Fault::Pg->new;
$pg->psql(q{INSERT INTO music (song, singer, last_modify_date, created) VALUES ('one', 'x', now(), now())});
my $n = start_nginx(
    name => 'fault-keepalive-10k', url => $pg->url, workers => 1,
    # nginx starts closing idle keep-alive connections once fewer than 1/16 of
    # worker_connections are free: leave more than that
    connections => int($N * 1.1) + 1000,
    main => 'worker_rlimit_nofile ' . ($N + 2500) . ';',
    http => 'keepalive_timeout 300s; music_auth_cache_valid 10m;',
);
my ($worker) = live_workers($n);
my $auth = $t::Music::admin;
my $root = request('GET', '/api/');
my $detail = request('GET', '/api/musics/1/detail/', headers => $auth);
my ($warm) = $n->parallel(5, request('GET', '/api/musics/1/detail/', headers => $auth, close => 1));
is($warm->{status}, 200, 'warm-up answered 200');
my $rss0 = rss_kb($worker);

# Reads one Content-Length response from each socket of @socks; returns how many were 200.
sub read_all_200 {
    my ($timeout, @socks) = @_;
    my %buf;
    my $sel = IO::Select->new(@socks);
    my $ok = 0;
    my $deadline = time + $timeout;
    while ($sel->count && time < $deadline) {
        for my $s ($sel->can_read($deadline - time)) {
            my $k = sysread($s, my $chunk, 4096);
            if (!$k) { $sel->remove($s); next }
            $buf{$s} .= $chunk;
            my $i = index($buf{$s}, "\r\n\r\n");
            next if $i < 0;
            my ($len) = $buf{$s} =~ /^Content-Length: (\d+)/mi;
            next unless defined $len && length($buf{$s}) >= $i + 4 + $len;
            $ok++ if $buf{$s} =~ m{^HTTP/1\.1 200 };
            delete $buf{$s};
            $sel->remove($s);
        }
    }
    return $ok;
}

my $dir = File::Temp::tempdir('ngx-music-ka.XXXXXX', TMPDIR => 1, CLEANUP => 1);
my @kids;
my $t0 = time;
for my $k (0 .. int(($N - 1) / $per)) {
    my $count = $N - $k * $per < $per ? $N - $k * $per : $per;
    my $pid = fork // die;
    if ($pid == 0) {
        $SIG{PIPE} = 'IGNORE';
        my @socks;
        for my $i (1 .. $count) {
            my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $n->port, Timeout => 10) or last;
            syswrite($s, $i % 10 ? $root : $detail);
            push @socks, $s;
        }
        my $ok = read_all_200(60, @socks);
        open my $fh, '>', "$dir/ready-$k"; print $fh scalar(@socks), " $ok\n"; close $fh;
        my $deadline = time + 120;
        sleep 0.1 while !-e "$dir/release" && time < $deadline;
        # reuse ten of the idle connections
        my @again = @socks[0 .. 9];
        syswrite($_, $detail) for @again;
        my $reused = read_all_200(20, @again);
        open $fh, '>', "$dir/reuse-$k"; print $fh "$reused\n"; close $fh;
        close $_ for @socks;
        POSIX::_exit(0);
    }
    push @kids, $pid;
}
my $groups = @kids;
my $ready = wait_until(90, sub { my @r = glob "$dir/ready-*"; @r == $groups }, 0.2);
my ($opened, $answered) = (0, 0);
for (glob "$dir/ready-*") { open my $fh, '<', $_; my ($o, $a) = split ' ', <$fh>; $opened += $o; $answered += $a }
my $took = time - $t0;
ok($ready, sprintf 'the clients opened their connections (%.1fs)', $took);
is($opened, $N, "$N connections open");
is($answered, $N, "every one of them got its first answer: 200");

sleep 1;
my $status = ($n->parallel(5, request('GET', '/status', close => 1)))[0]{body};
my ($active) = $status =~ /Active connections: (\d+)/;
cmp_ok($active // 0, '>=', $N, "nginx counts them as active connections ($active)");
my $rss = rss_kb($worker);
my $per_conn = ($rss - $rss0) * 1024 / $N;
diag(sprintf 'worker RSS %.1f MB before, %.1f MB with %d idle keep-alive connections (%.0f bytes each)', $rss0 / 1024, $rss / 1024, $N, $per_conn);
SKIP: {
    skip 'RSS under AddressSanitizer holds its quarantine of freed memory (build/asan)', 1 if t::Fault::under_asan();
    cmp_ok($per_conn, '<', 4096, 'the worker\'s memory stays bounded: less than 4 KB per idle connection');
}

my $t = time;
my @fresh = $n->parallel(10, (request('GET', '/api/musics/1/detail/', headers => $auth, close => 1)) x 20);
my $dt = time - $t;
is(scalar(grep { $_->{status} == 200 } @fresh), 20, sprintf 'with them idle, 20 new requests answer 200 (%.2fs)', $dt);
ok(responsive($n), 'the worker answers /alive');

open my $fh, '>', "$dir/release"; close $fh;
wait_until(30, sub { my @r = glob "$dir/reuse-*"; @r == $groups }, 0.2);
my $reused = 0;
for (glob "$dir/reuse-*") { open my $f, '<', $_; my $l = <$f> // 0; $reused += $l }
is($reused, 10 * $groups, 'requests on idle connections succeed (' . (10 * $groups) . ' reused)');
for my $pid (@kids) {   # our own clients, by pid
    my $gone = wait_until(10, sub { waitpid($pid, POSIX::WNOHANG()) == $pid }, 0.1);
    kill 'KILL', $pid unless $gone;
}
is_deeply([live_workers($n)], [$worker], 'the worker did not die');
my @stuck = stop_nginx($n);
is(scalar @stuck, 0, 'nginx exits on QUIT (no worker stuck)');
my @alerts = alert_lines($n->error_log);
is(scalar @alerts, 0, 'no [alert], [crit] or crash in the error log') or diag(join "\n", @alerts[0 .. ($#alerts > 9 ? 9 : $#alerts)]);

done_testing;
