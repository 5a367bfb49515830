# Stress: slow readers of the streamed list (GET /api/musics/), on a private cluster
# (t::Fault::Pg) holding a few megabytes of rows; one worker, so its RSS is the one measured.
#   1. a fast client reads the whole list: valid JSON, every row;
#   2. several slow clients (a 16 KB receive buffer, reading a little at a time) read it at
#      once (music_pool_stream_size leaves a list connection for each: a stream holds its
#      connection while its client reads): each gets the complete list, and the worker's RSS stays bounded (it
#      grows by far less than the lists' total size: the stream waits for the client instead
#      of buffering);
#   3. one client that stops reading after the headers (a stalled stream) while other requests
#      come: they still answer 200 quickly; when the stalled client goes away the pool is fine.
# The long variant (./build/stress) uses more rows and more slow clients.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use IO::Select;
use Socket qw(SOL_SOCKET SO_RCVBUF pack_sockaddr_in inet_aton);
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(time sleep);
use t::Music qw(request);
use t::Fault qw(stop_nginx responsive pick alert_lines wait_until live_workers start_nginx rss_kb);

plan skip_all => 'TEST_NGINX_PG_URL not set (run build/test)' unless $ENV{TEST_NGINX_PG_URL};

my %P = (
    rows    => pick(short => 30_000, long => 150_000),
    slow    => pick(short => 4, long => 12),
    stalled => pick(short => 4, long => 8),     # seconds the stalled client holds its stream
);
my $pg = t::Fault::Pg->new;
$pg->psql(qq{INSERT INTO music (song, singer, last_modify_date, created)
    SELECT 'song number ' || g || ' with a longer title', 'singer ' || (g % 100), now(), now() FROM generate_series(1, $P{rows}) g});
my $n = start_nginx(
    name => 'fault-slow-client', url => $pg->url, workers => 1,
    # a streamed list holds a list connection while its client reads: room for every reader
    http => 'music_query_timeout 2s; music_pool_timeout 2s; music_auth_cache_valid 10m; music_pool_stream_size ' . ($P{slow} + 2) . ';',
);
my ($worker) = live_workers($n);
my $auth = $t::Music::admin;
my $list = request('GET', '/api/musics/', headers => $auth, close => 1);

# A client socket with a small receive buffer (set before connecting: it bounds the window).
sub small_socket {
    my $s = IO::Socket::INET->new(Proto => 'tcp') or die "socket: $!";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, pack('i', 16384)) or die "setsockopt: $!";
    connect($s, pack_sockaddr_in($n->port, inet_aton('127.0.0.1'))) or die "connect: $!";
    return $s;
}

# Reads a whole response ($chunk bytes at a time, sleeping $pause between reads); returns
# (status, dechunked body).
sub read_all {
    my ($s, $chunk, $pause, $timeout) = @_;
    my $raw = '';
    my $sel = IO::Select->new($s);
    my $deadline = time + $timeout;
    while (time < $deadline) {
        $sel->can_read($deadline - time) or last;
        my $k = sysread($s, my $buf, $chunk);
        last unless $k;
        $raw .= $buf;
        sleep $pause if $pause;
    }
    my ($head, $body) = split /\r\n\r\n/, $raw, 2;
    my ($status) = ($head // '') =~ m{^HTTP/1\.1 (\d+)};
    if (($head // '') =~ /Transfer-Encoding: chunked/i) {
        my ($out, $ok) = ('', 0);
        while ($body =~ /\G([0-9a-f]+)\r\n/gci) {
            my $size = hex $1;
            if ($size == 0) { $ok = 1; last }
            $out .= substr($body, pos($body), $size);
            pos($body) = pos($body) + $size + 2;
        }
        $body = $ok ? $out : undef;
    }
    return ($status // 0, $body);
}

sub items {
    my ($body) = @_;
    return -1 unless defined $body;
    my $data = eval { JSON::PP::decode_json($body) };
    return ref $data eq 'ARRAY' ? scalar @$data : -1;
}

# The same without decoding (JSON::PP takes seconds over megabytes): a [...] holding the rows.
sub items_quick {
    my ($body) = @_;
    return -1 unless defined $body && $body =~ /^\[/ && $body =~ /\]\z/;
    my $n = () = $body =~ /\{"id":/g;
    return $n;
}

# ---- 1. a fast client
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $n->port) or die;
print $s $list;
my ($status, $body) = read_all($s, 1 << 20, 0, 30);
is($status, 200, 'the list answers 200');
is(items($body), $P{rows} + 0, "it is valid JSON with all $P{rows} rows");
my $size = length($body // '');
diag(sprintf 'the list is %.1f MB', $size / 1e6);
my $rss0 = rss_kb($worker);

# ---- 2. slow clients, all at once
my $dir = File::Temp::tempdir('ngx-music-slow.XXXXXX', TMPDIR => 1, CLEANUP => 1);
my @kids;
for my $i (1 .. $P{slow}) {
    my $pid = fork // die;
    if ($pid == 0) {
        my $c = small_socket();
        print $c $list;
        my ($st, $b) = read_all($c, 16384, 0.004, 20);
        open my $fh, '>', "$dir/$i";
        print $fh "$st " . items_quick($b) . "\n";
        close $fh;
        POSIX::_exit(0);
    }
    push @kids, $pid;
}
my ($peak, $t0) = ($rss0, time);
while (grep { waitpid($_, POSIX::WNOHANG()) == 0 } @kids) {
    my $r = rss_kb($worker) // 0;
    $peak = $r if $r > $peak;
    last if time - $t0 > 30;
    sleep 0.05;
}
waitpid($_, 0) for @kids;
my $took = time - $t0;
my @got = map { open my $fh, '<', "$dir/$_"; my $l = <$fh> // '0 -1'; chomp $l; $l } 1 .. $P{slow};
is(scalar(grep { $_ eq "200 $P{rows}" } @got), $P{slow}, "each of the $P{slow} slow clients got the complete list")
    or diag explain \@got;
my $growth = ($peak - $rss0) / 1024;
my $total = $P{slow} * $size / 1e6;
diag(sprintf 'slow readers: %.1fs; worker RSS %.1f MB before, peak %.1f MB (+%.1f MB) while streaming %.1f MB in all',
    $took, $rss0 / 1024, $peak / 1024, $growth, $total);
SKIP: {
    skip 'the slow clients did not all get their list: no memory figure', 1 unless !grep { $_ ne "200 $P{rows}" } @got;
    skip 'RSS under AddressSanitizer holds its quarantine of freed memory (build/asan)', 1 if t::Fault::under_asan();
    cmp_ok($growth, '<', $total / 3, 'the worker\'s memory stays bounded (it grew by less than a third of what was streamed)');
}
ok(responsive($n, 3, 3), 'the worker still answers (/alive) after the slow readers');

# ---- 3. a stalled reader while other requests come
my $stalled = small_socket();
print $stalled $list;
sleep 0.5;   # its stream has filled the socket buffers and waits
my @lat;
my $t_end = time + $P{stalled};
while (time < $t_end) {
    my $t = time;
    my ($r) = $n->parallel(5, request('GET', '/api/musics/1/detail/', headers => $auth, close => 1));
    push @lat, [$r->{status}, time - $t, $r->{body}];
    sleep 0.05;
}
my @slow_or_bad = grep { $_->[0] != 200 || $_->[1] > 1 } @lat;
is(scalar @slow_or_bad, 0, sprintf('with a stalled list stream, other requests still answer 200 within 1s (%d requests)', scalar @lat))
    or diag(sprintf "%d of %d requests failed or were slow; first: %s", scalar @slow_or_bad, scalar @lat,
        join(' | ', map { sprintf '%d %.2fs %s', @$_ } @slow_or_bad[0 .. ($#slow_or_bad > 2 ? 2 : $#slow_or_bad)]));
close $stalled;
my $ok = wait_until(5, sub { my ($r) = $n->parallel(3, request('GET', '/api/musics/1/detail/', headers => $auth, close => 1)); $r->{status} == 200 }, 0.2);
ok($ok, 'after the stalled client left, requests answer 200');
is_deeply([live_workers($n)], [$worker], 'the worker did not die');
ok(responsive($n), 'every worker still answers (/alive)');
my @stuck = stop_nginx($n);
is(scalar @stuck, 0, 'nginx exits on QUIT (no worker stuck)') or diag("had to SIGKILL stuck worker(s) @stuck");
my @alerts = alert_lines($n->error_log);
is(scalar @alerts, 0, 'no [alert], [crit] or crash in the error log') or diag(join "\n", @alerts);

done_testing;
