# music_list_buffer_size: a list answer up to that size is read whole on a shared (pipelined)
# connection and answered from memory; a larger one streams on a connection of its own. On a
# private cluster (t::Fault::Pg) whose list is a few megabytes, one worker:
#   1. the same bytes either way: the list and all_singer/ at a bound of exactly their size
#      (read whole: Content-Length) and one byte less (streamed: chunked) are byte for byte the
#      answer of a location where every list streams (music_list_buffer_size 0);
#   2. a list below the bound gives its connection back before its client has read it: with
#      music_pool_stream_size 1, a client that stops reading a list larger than the socket
#      buffers (sndbuf=16k, a small receive buffer) holds no connection, and a second list
#      answers at once;
#   3. a list above the bound still streams, waiting for its client, on a connection of its
#      own: the stalled reader holds the one stream connection (a second large list gets the
#      "All list streams are busy" 503 after music_pool_timeout), the worker's memory does not
#      grow by the list's size, and short requests still answer at once.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use IO::Select;
use Socket qw(SOL_SOCKET SO_RCVBUF pack_sockaddr_in inet_aton);
use Time::HiRes qw(time sleep);
use t::Music qw(request);
use t::Fault qw(stop_nginx start_nginx alert_lines wait_until rss_kb);

plan skip_all => 'TEST_NGINX_PG_URL not set (run build/test)' unless $ENV{TEST_NGINX_PG_URL};

my $rows = 20_000;
my $pg = t::Fault::Pg->new;
$pg->psql(qq{INSERT INTO music (song, singer, last_modify_date, created)
    SELECT 'song number ' || g || ' with a longer title', 'singer ' || (g % 1000), now(), now() FROM generate_series(1, $rows) g});
my $auth = $t::Music::admin;

# One request on its own connection: { status, head, body (de-chunked) }.
sub fetch {
    my ($n, $method, $path) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $n->port) or die "connect: $!";
    print $s request($method, $path, headers => $auth, close => 1);
    return t::Fault::read_response($s, time + 30, $method eq 'HEAD');
}

# ---- 1. the same bytes below and above the bound
my $n = start_nginx(name => 'list-buffer-sizes', url => $pg->url, workers => 1,
    http => 'music_list_buffer_size 0; music_auth_cache_valid 10m;');
my $list = fetch($n, 'GET', '/api/musics/');
my $singers = fetch($n, 'GET', '/api/musics/all_singer/');
is("$list->{status} $singers->{status}", '200 200', 'every list streamed: the list and all_singer/ answer 200');
like($list->{head}, qr/^Transfer-Encoding: chunked/mi, 'a streamed list is chunked');
my $items = () = $list->{body} =~ /\{"id":/g;
is($items, $rows, "the list has its $rows rows");
my ($size, $ssize) = (length $list->{body}, length $singers->{body});
diag(sprintf 'the list is %d bytes, all_singer/ %d bytes', $size, $ssize);
stop_nginx($n);

$n = start_nginx(name => 'list-buffer-sizes-2', url => $pg->url, workers => 1,
    http => 'music_auth_cache_valid 10m;',
    location => 'music_list_buffer_size 0;',
    server => join "\n", map { "location /$_->[0]/ { music_api; music_list_buffer_size $_->[1]; }" }
        ['fits', $size], ['over', $size - 1], ['sfits', $ssize], ['sover', $ssize - 1]);
for my $case (['fits', '/musics/', $list, 1], ['over', '/musics/', $list, 0],
    ['sfits', '/musics/all_singer/', $singers, 1], ['sover', '/musics/all_singer/', $singers, 0]) {
    my ($loc, $path, $want, $whole) = @$case;
    my $r = fetch($n, 'GET', "/$loc$path");
    my $how = $whole ? 'read whole: Content-Length' : 'streamed: chunked';
    is($r->{status}, 200, "/$loc$path: 200");
    if ($whole) {
        like($r->{head}, qr/^Content-Length: \Q@{[length $want->{body}]}\E\r?$/mi, "/$loc$path at a bound of its size: $how");
    } else {
        like($r->{head}, qr/^Transfer-Encoding: chunked/mi, "/$loc$path at a bound one byte below its size: $how");
    }
    ok($r->{body} eq $want->{body}, "/$loc$path: the same bytes as the streamed answer")
        or diag(sprintf 'got %d bytes, want %d', length $r->{body}, length $want->{body});
    my ($ct) = $r->{head} =~ /^(Content-Type: .*?)\r?$/mi;
    my ($want_ct) = $want->{head} =~ /^(Content-Type: .*?)\r?$/mi;
    is($ct, $want_ct, "/$loc$path: the same Content-Type");
}
my $head = fetch($n, 'HEAD', '/fits/musics/');
like("$head->{status} $head->{head}", qr/^200 .*^Content-Length: $size\r?$/ms, 'HEAD of a list read whole: 200 and its Content-Length');
stop_nginx($n);

# ---- 2. and 3. slow readers, one stream connection
my $slow_port = t::Nginx::free_port();
$n = start_nginx(name => 'list-buffer-slow', url => $pg->url, workers => 1,
    http => "music_pool_size 1; music_pool_stream_size 1; music_pool_timeout 1s; music_auth_cache_valid 10m;
        music_list_buffer_size 8m;
        server {
            listen 127.0.0.1:$slow_port sndbuf=16k;
            location /api/ { music_api; }
            location /big/ { music_api; music_list_buffer_size 64k; }
        }",
    server => 'location /big/ { music_api; music_list_buffer_size 64k; }');
my ($worker) = $n->workers;
fetch($n, 'GET', '/api/musics/1/');   # the auth cache, the connections
fetch($n, 'GET', '/big/musics/1/');

# A client with a small receive buffer that sends GET $path, reads a few KB, and then stops
# reading (nginx's small send buffer fills: the answer waits for it).
sub stalled_reader {
    my ($path) = @_;
    my $s = IO::Socket::INET->new(Proto => 'tcp') or die "socket: $!";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, pack('i', 8192)) or die "setsockopt: $!";
    connect($s, pack_sockaddr_in($slow_port, inet_aton('127.0.0.1'))) or die "connect: $!";
    print $s request('GET', $path, headers => $auth, close => 1);
    my ($got, $deadline) = ('', time + 5);
    my $sel = IO::Select->new($s);
    while (length $got < 4096 && time < $deadline) {
        next unless $sel->can_read($deadline - time);
        sysread($s, my $buf, 4096 - length $got) or last;
        $got .= $buf;
    }
    sleep 0.3;   # nginx fills the socket buffers and waits
    return ($s, $got);
}

{   # 2. a small list's stalled reader holds no connection
    my $rss0 = rss_kb($worker);
    my ($s, $got) = stalled_reader('/api/musics/');
    like($got, qr{^HTTP/1\.1 200 .*\r\nContent-Length: $size\r\n}s, 'a stalled reader of a list below the bound: 200, Content-Length');
    my $t = time;
    my $r = fetch($n, 'GET', '/api/musics/');
    my $dt = time - $t;
    ok($r->{status} == 200 && $r->{body} eq $list->{body}, 'a second list answers 200 with every row')
        or diag("$r->{status} " . substr($r->{body}, 0, 200));
    cmp_ok($dt, '<', 0.8, 'at once (music_pool_stream_size 1, music_pool_timeout 1s)');
    diag(sprintf 'second list: %.3fs; worker RSS +%.1f MB with the list held in memory', $dt, ((rss_kb($worker) // 0) - ($rss0 // 0)) / 1024);
    close $s;
}

{   # 3. a large list's stalled reader streams: it holds the stream connection, little memory
    wait_until(3, sub { !grep { $_->{state} ne 'idle' } $pg->backends }, 0.1);
    my $rss0 = rss_kb($worker);
    my ($s, $got) = stalled_reader('/big/musics/');
    like($got, qr{^HTTP/1\.1 200 .*\r\nTransfer-Encoding: chunked\r\n}s, 'a stalled reader of a list above the bound: 200, chunked');
    my $grew = ((rss_kb($worker) // 0) - ($rss0 // 0)) * 1024;
    SKIP: {
        skip 'RSS under AddressSanitizer holds its quarantine of freed memory (build/asan)', 1 if t::Fault::under_asan();
        cmp_ok($grew, '<', $size / 3, 'the worker did not take the list into memory')
            or diag(sprintf 'RSS grew by %.1f MB, the list is %.1f MB', $grew / 1e6, $size / 1e6);
    }
    my $t = time;
    my $r = fetch($n, 'GET', '/big/musics/');
    is($r->{status}, 503, 'a second large list: 503 (the one stream connection is held)');
    like($r->{body}, qr/All list streams are busy/, '  saying the list streams are busy');
    cmp_ok(time - $t, '>=', 0.9, '  after music_pool_timeout (1s)');
    $t = time;
    my $small = fetch($n, 'GET', '/big/musics/1/');
    ok($small->{status} == 200 && time - $t < 0.5, 'a short request still answers at once');
    close $s;
}

my @stuck = stop_nginx($n);
is(scalar @stuck, 0, 'nginx exits on QUIT (no worker stuck)');
my @alerts = alert_lines($n->error_log);
is(scalar @alerts, 0, 'no [alert], [crit] or crash in the error log') or diag(join "\n", @alerts);

done_testing;
